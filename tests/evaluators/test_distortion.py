"""Distortion rules (MS4xx): statistics checked against SciPy and statsmodels, the McCrary test
validated by simulation (fixed seeds, 200 replications, n = 2000)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.distortion import (
    betainc,
    brown_forsythe,
    mccrary,
    mccrary_bandwidth,
    mean_residual_test,
    support_step,
    t_sf,
)
from metricsense.evaluators.distortion_stats import ar1_corr, clustered_density_test, mean_residual_ar1
from metricsense.evaluators.records import DistortionAnalysis
from support import EXAMPLES, require

CASES = Path(__file__).parent / "cases"
REPS, N = 200, 2000


# ---- distributions ------------------------------------------------------------------------------


def test_t_and_beta_match_scipy():
    scipy = require("scipy")
    import scipy.special
    import scipy.stats

    for df in (1, 2, 5, 13, 40, 2361):
        for t in (-8, -2.5, -0.3, 0.0, 0.7, 1.96, 4.2, 12):
            assert t_sf(t, df) == pytest.approx(scipy.stats.t.sf(t, df), rel=1e-9, abs=1e-300)
    for a, b, x in [(0.5, 0.5, 0.3), (2, 7, 0.9), (30, 0.5, 0.97), (6.5, 0.5, 0.01)]:
        assert betainc(a, b, x) == pytest.approx(scipy.special.betainc(a, b, x), rel=1e-10)


def test_brown_forsythe_matches_scipy_levene_median():
    stats = require("scipy.stats").stats
    rng = np.random.default_rng(11)
    before, after = rng.normal(0, 2, 40), rng.standard_t(4, 31)
    res = brown_forsythe(before, after)
    F, p2 = stats.levene(before, after, center="median")
    assert res["F"] == pytest.approx(F, rel=1e-10)
    assert 2 * min(res["p"], 1 - res["p"]) == pytest.approx(p2, rel=1e-8)


def test_mean_residual_test_matches_statsmodels_prediction():
    sm = require("statsmodels.api")
    import statsmodels.api as sm

    rng = np.random.default_rng(12)
    x1, x2 = rng.normal(0, 1, 20), rng.normal(1, 1, 9)
    y1, y2 = 1 + 0.5 * x1 + rng.normal(0, 0.3, 20), 1 + 0.5 * x2 + rng.normal(-0.2, 0.3, 9)
    res = mean_residual_test(x1, y1, x2, y2)
    fit = sm.OLS(y1, sm.add_constant(x1)).fit()
    pred = fit.get_prediction(np.array([[1.0, x2.mean()]]))
    var = fit.scale / len(x2) + pred.se_mean[0] ** 2
    assert res["slope"] == pytest.approx(fit.params[1], rel=1e-10)
    assert res["mean_residual"] == pytest.approx((y2 - fit.predict(sm.add_constant(x2))).mean(), rel=1e-10)
    assert res["se"] == pytest.approx(math.sqrt(var), rel=1e-10)
    assert res["df"] == fit.df_resid
    rho = np.corrcoef(fit.resid[1:], fit.resid[:-1])[0, 1]  # roughly the lag-1 autocorrelation
    assert res["rho"] == pytest.approx(max(rho, 0.0), abs=0.15)


# ---- McCrary -------------------------------------------------------------------------------------


def test_mccrary_recomputed_with_numpy_histogram_and_statsmodels_wls():
    require("statsmodels.api")
    import statsmodels.api as sm

    rng = np.random.default_rng(13)
    x = rng.normal(0, 1, N)
    c = 0.3
    res = mccrary(x, c, "above")
    b, h, n = res["bin"], res["bandwidth"], len(x)
    assert b == pytest.approx(2 * x.std(ddof=1) / math.sqrt(n), rel=1e-12)
    lo = c - b * math.ceil((c - x.min()) / b)
    edges = np.arange(lo, x.max() + b, b)
    counts, edges = np.histogram(x, edges)
    mids, y = (edges[:-1] + edges[1:]) / 2 - c, counts / (n * b)
    fits = {}
    for side, mask in (("below", mids < 0), ("above", mids > 0)):
        w = np.maximum(0, 1 - np.abs(mids[mask]) / h)
        keep = w > 0
        wls = sm.WLS(y[mask][keep], sm.add_constant(mids[mask][keep]), weights=w[keep]).fit()
        fits[side] = wls.params[0]
    assert res["f_below"] == pytest.approx(fits["below"], rel=1e-8)
    assert res["f_above"] == pytest.approx(fits["above"], rel=1e-8)
    theta = math.log(fits["above"]) - math.log(fits["below"])
    se = math.sqrt(24 / 5 / (n * h) * (1 / fits["above"] + 1 / fits["below"]))
    assert res["theta"] == pytest.approx(theta, rel=1e-8)
    assert res["se"] == pytest.approx(se, rel=1e-8)
    # the bandwidth: 3.348 [mse * range / sum f''^2]^(1/5) per side from a quartic, averaged
    hs = []
    for mask in (mids < 0, mids > 0):
        X, Y = mids[mask], y[mask]
        coef = np.polynomial.polynomial.polyfit(X, Y, 4)
        resid = Y - np.polynomial.polynomial.polyval(X, coef)
        fpp = np.polynomial.polynomial.polyval(X, np.polynomial.polynomial.polyder(coef, 2))
        hs.append(3.348 * ((resid @ resid) / (len(X) - 5) * np.abs(X).max() / (fpp @ fpp)) ** 0.2)
    assert h == pytest.approx(np.mean(hs), rel=1e-6)


def _manipulated(rng, n, pi, c=0.3, window=0.5, reps=REPS):
    """reps x n normal values; a share pi of those within `window` sd short of c moved just past it."""
    x = rng.normal(0, 1, (reps, n))
    short = (x >= c - window) & (x < c)
    moved = short & (rng.random((reps, n)) < pi)
    x[moved] = c + rng.uniform(0, 0.1, moved.sum())
    return x


def _rejections(samples, c, meets="above", alpha=0.05, inclusive=True):
    return np.mean([mccrary(s, c, meets, inclusive)["p"] < alpha for s in samples])


def test_mccrary_size_and_power_by_simulation():
    rng = np.random.default_rng(401)
    fpr = _rejections(_manipulated(rng, N, 0.0), 0.3)
    power = _rejections(_manipulated(rng, N, 0.2), 0.3)
    print(f"McCrary n={N}, {REPS} reps: false-positive rate {fpr:.3f}, power at pi=0.2 {power:.3f}")
    assert fpr <= 0.10
    assert power >= 0.9


def test_mccrary_is_direction_aware():
    rng = np.random.default_rng(402)
    # a `<=` target: units just above it are moved just below (waits reported as 3h59)
    x = -_manipulated(rng, N, 0.2, reps=100)
    assert _rejections(x, -0.3, "below") >= 0.9
    # the same pile-up read as a `>=` target is no evidence of gaming past it
    assert _rejections(x, -0.3, "above") <= 0.10


def test_mccrary_on_integer_scores_uses_aligned_bins():
    rng = np.random.default_rng(403)
    raw = rng.normal(60, 12, (REPS, N))
    null = np.round(raw)
    assert support_step(null[0]) == 1.0
    res = mccrary(null[0], 70, "above")
    assert res["bin"] == float(round(res["bin"])) and res["boundary"] == 69.5  # 70 meets `>= 70`
    assert _rejections(null, 70) <= 0.10
    gamed = raw.copy()
    short = (gamed >= 64) & (gamed < 69.5)
    move = short & (rng.random(gamed.shape) < 0.2)
    gamed[move] = 70 + rng.uniform(0, 1.4, move.sum())
    assert _rejections(np.round(gamed), 70) >= 0.9


# ---- the rules on the examples ------------------------------------------------------------------


def _school(config=None):
    report = metricsense.check(EXAMPLES / "school-district" / "school-district.msense", config=config or {})
    (analysis,) = report.analysis.values()
    return report, analysis


def test_school_district_bunching_and_divergence():
    report, analysis = _school()
    found = {d.code: d for d in report.diagnostics if d.code.startswith("MS4")}
    assert found["MS401"].evidence["z"] > 3 and found["MS401"].evidence["units"] == 80
    assert found["MS402"].evidence["outcome"] == "proficiency"
    assert DistortionAnalysis.of(analysis).kpis["class_scores"].set_from == "midpoint"
    assert "MS403" not in found


def test_target_set_option_moves_the_split():
    config = {"rules": {"MS401": {"target_set": {"class_scores": "2024-09-01"}}}}
    report, analysis = _school(config)
    (d,) = [d for d in report.diagnostics if d.code == "MS401"]
    assert d.evidence["set"] == "2024-09" and d.evidence["set_from"] == "target_set"
    assert analysis["distortion_options"]["MS401"].kpis["class_scores"].bunching["n"] == d.evidence["n"]
    assert DistortionAnalysis.of(analysis).kpis["class_scores"].set_from == "midpoint"


def test_variance_collapse_recomputed_with_scipy():
    """Monthly 2023-01..2025-12 split at 2024-07: a whole year on each side (2023-07..2024-06 and
    2024-07..2025-06), the changes within each; as is and in logs, the larger p is reported."""
    stats = require("scipy.stats").stats
    report = metricsense.check(CASES / "MS403" / "fail.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS403"]
    x = np.loadtxt(CASES / "MS403" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    assert d.evidence["years"] == 1
    ps, ratios = [], []
    for v in (x, np.log(x)):
        before, after = np.diff(v[6:18]), np.diff(v[18:30])
        ratios.append(np.var(after, ddof=1) / np.var(before, ddof=1))
        F, p2 = stats.levene(before, after, center="median")
        ps.append(p2 / 2)
    assert d.evidence["ratio"] == pytest.approx(max(ratios), rel=1e-10)
    assert d.evidence["p"] == pytest.approx(max(ps), rel=1e-8)
    assert d.evidence["p_value"] == d.evidence["p"]


def test_ar1_mean_residual_variance_matches_a_numpy_simulation():
    """Var(mean prediction residual) = s^2 c'Rc under AR(1) errors: checked against 20,000 simulated
    error paths at a known rho (tolerance 5%, about 5 MC SE); at rho = 0 the classical formula
    (statsmodels' prediction variance, test above) holds."""
    rng = np.random.default_rng(21)
    n1, n2, rho = 18, 18, 0.7
    t1, t2 = np.arange(n1), np.arange(n1, n1 + n2)
    x1, x2 = rng.normal(0, 1, n1), rng.normal(1, 1, n2)
    X1 = np.column_stack([np.ones(n1), x1])
    G = np.linalg.inv(X1.T @ X1)
    m = np.array([1.0, x2.mean()])
    c = np.concatenate([-(X1 @ G @ m), np.full(n2, 1.0 / n2)])
    R = ar1_corr(np.concatenate([t1, t2]), rho)
    e = rng.normal(0, 1, (20000, n1 + n2))
    u = np.empty_like(e)
    u[:, 0] = e[:, 0]
    for i in range(1, n1 + n2):
        u[:, i] = rho * u[:, i - 1] + math.sqrt(1 - rho * rho) * e[:, i]
    assert np.var(u @ c) == pytest.approx(float(c @ R @ c), rel=0.05)
    # the rho matched from residuals is not biased toward zero like r1: mean over 400 series
    got, raw = [], []
    for k in range(400):
        y1 = 1 + 0.5 * x1 + u[k, :n1]
        res = mean_residual_ar1(x1, y1, t1, x2, 1 + 0.5 * x2 + u[k, n1:], t2)
        got.append(res["rho"])
        raw.append(res["r1"])
    assert np.mean(raw) < rho - 0.15  # Kendall's bias in 18 periods
    assert abs(np.mean(got) - rho) < abs(np.mean(raw) - rho) - 0.1


def test_clustered_density_jackknife_matches_a_unit_bootstrap():
    """The jackknife se of theta against a bootstrap over units (NumPy), on a panel with persistent
    unit levels: within 25% (bootstrap MC error about 5%); with ICC 0.9 it is well above the iid
    McCrary se, which ignored that a unit's values move together."""
    rng = np.random.default_rng(2101)
    units, periods = 80, 12
    lvl = rng.normal(0, math.sqrt(0.9), units)
    block = lvl[None, :] + rng.normal(0, math.sqrt(0.1), (periods, units))
    ids = np.broadcast_to(np.arange(units), block.shape).ravel()
    x = block.ravel()
    res = clustered_density_test(x, ids, 0.3, step=0.0, bandwidth_of=mccrary_bandwidth)
    assert res["status"] == "evaluated" and res["df"] == units - 1
    boot = []
    for _ in range(300):
        pick = rng.integers(0, units, units)
        xb = block[:, pick].ravel()
        idb = np.broadcast_to(np.arange(units), block.shape).ravel()
        r = clustered_density_test(xb, idb, 0.3, step=0.0, bandwidth_of=lambda *a: res["bandwidth"])
        if r.get("status") == "evaluated":
            boot.append(r["theta"])
    assert np.std(boot, ddof=1) == pytest.approx(res["se"], rel=0.25)
    assert res["se"] > 1.5 * mccrary(x, 0.3)["se"]


def test_clustered_density_weights_are_a_local_quadratic_fit():
    """The boundary weights reproduce a triangular-weighted quadratic fit (statsmodels WLS)."""
    sm = require("statsmodels.api").api
    from metricsense.evaluators.distortion_stats import _boundary_weights

    rng = np.random.default_rng(7)
    mid = -(np.arange(30) + 0.5) * 0.1
    y = 0.4 + 0.1 * mid + rng.normal(0, 0.02, 30)
    h = 1.7
    w = np.maximum(0, 1 - np.abs(mid) / h)
    keep = w > 0
    X = np.column_stack([np.ones(keep.sum()), mid[keep], mid[keep] ** 2])
    fit = sm.WLS(y[keep], X, weights=w[keep]).fit()
    assert _boundary_weights(mid, h, 2) @ y == pytest.approx(fit.params[0], rel=1e-9)


def test_variance_collapse_not_reported_on_improvement_or_winters():
    """Regression inputs from issue 21: defects falling 40 -> 8 a week with multiplicative noise,
    and a year of weekly data with volatile winters (less than a whole year on each side)."""
    from types import SimpleNamespace

    from metricsense.data.dataset import Series
    from metricsense.evaluators.distortion import _variance

    rng = np.random.default_rng(403)
    n = 104
    per = np.datetime64("2022-01-03", "D") + 7 * np.arange(n)
    data = SimpleNamespace(periods=per, unit_of=lambda name: "week")
    after = np.arange(n) >= n // 2
    hits = 0
    for _ in range(100):
        v = 40 * 0.2 ** (np.arange(n) / (n - 1)) * np.exp(rng.normal(0, 0.2, n))
        res = _variance(Series("defects", v, "sim"), data, n // 2, after, "week", 6)
        hits += res["p"] <= 0.05 and res["ratio"] <= 0.5
    assert hits <= 10  # 100 draws: the old rule reported all of them
    year = SimpleNamespace(periods=per[:52], unit_of=lambda name: "week")
    res = _variance(Series("x", 100 + rng.normal(0, 2, 52), "sim"), year, 26, np.arange(52) >= 26, "week", 6)
    assert res["status"].startswith("less than a whole year")
    # a real collapse is still found: the variance to a quarter after the target
    v = 100 + rng.normal(0, 5, n) * np.where(after, 0.5, 1.0)
    res = _variance(Series("x", v, "sim"), data, n // 2, after, "week", 6)
    assert res["p"] <= 0.05 and res["ratio"] <= 0.5


def test_analysis_present_when_no_rule_fires():
    report = metricsense.check(CASES / "MS403" / "pass.msense", config={})
    (analysis,) = report.analysis.values()
    assert not [d for d in report.diagnostics if d.code.startswith("MS4")]
    assert DistortionAnalysis.of(analysis).kpis["honest"].variance["ratio"] > 0.5
    report.to_json()


# Issue 19: an output that is blank, then a value that does not change (0.3: its std is 5e-17,
# not 0), beside a constant outcome made X1'X1 singular: four MS005 (LinAlgError).
def test_constant_output_before_is_cannot_test_not_a_crash(tmp_path):
    assert mean_residual_test([0.3] * 20, [0.3] * 20, [0.3] * 5, [0.3] * 5) is None
    rows = ["period,a,b"] + [f"{i},,0.3" for i in range(1, 11)] + [f"{i},0.3,0.3" for i in range(11, 31)]
    (tmp_path / "k.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "k.msense").write_text(
        'mission "M"\ndata "k.csv"\nkpi a "A" {\n kind output\n target >= 1 by 2027-01-01\n}\n'
        'kpi b "B" {\n kind outcome\n target >= 1 by 2027-01-01\n}\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    assert "MS005" not in {d.code for d in report.diagnostics}
    a = DistortionAnalysis.of(next(iter(report.analysis.values()))).kpis["a"]
    assert a.divergence["b"]["status"] == "the output did not vary before"
