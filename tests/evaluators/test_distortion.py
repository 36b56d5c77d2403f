"""Distortion rules (MS4xx): statistics checked against SciPy, statsmodels and plain NumPy
simulations (fixed seeds). McCrary's original test, the iid mean residual test and the plain
Brown-Forsythe the rules used before issue 21 live in benchmarks/calib_distortion.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.distortion import betainc, mccrary_bandwidth, support_step, t_sf
from metricsense.evaluators.distortion_stats import (
    ar1_corr,
    clustered_density_test,
    mass_point_test,
    mean_residual_ar1,
    spread_break_test,
    step_test,
)
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


def test_mean_residual_matches_statsmodels_prediction():
    """The fit and the iid t (rho = 0) are statsmodels' OLS and prediction variance (rel 1e-10)."""
    require("statsmodels.api")
    import statsmodels.api as sm

    rng = np.random.default_rng(12)
    x1, x2 = rng.normal(0, 1, 20), rng.normal(1, 1, 9)
    y1, y2 = 1 + 0.5 * x1 + rng.normal(0, 0.3, 20), 1 + 0.5 * x2 + rng.normal(-0.2, 0.3, 9)
    res = mean_residual_ar1(x1, y1, np.arange(20), x2, y2, np.arange(20, 29))
    fit = sm.OLS(y1, sm.add_constant(x1)).fit()
    pred = fit.get_prediction(np.array([[1.0, x2.mean()]]))
    var = fit.scale / len(x2) + pred.se_mean[0] ** 2
    r = (y2 - fit.predict(sm.add_constant(x2))).mean()
    assert res["slope"] == pytest.approx(fit.params[1], rel=1e-10)
    assert res["mean_residual"] == pytest.approx(r, rel=1e-10)
    assert res["t_iid"] == pytest.approx(r / math.sqrt(var), rel=1e-10)
    # rho is at or above the plain lag-1 autocorrelation (it is never taken below what the data say)
    assert res["rho"] >= min(res["r1"], 0.995) - 1e-12


# ---- the rules on the examples ------------------------------------------------------------------


def _school(config=None):
    report = metricsense.check(EXAMPLES / "school-district" / "school-district.msense", config=config or {})
    (analysis,) = report.analysis.values()
    return report, analysis


def test_school_district_bunching_and_divergence():
    report, analysis = _school()
    found = {d.code: d for d in report.diagnostics if d.code.startswith("MS4")}
    assert found["MS401"].evidence["z"] > 3 and found["MS401"].evidence["units"] == 80
    entry = DistortionAnalysis.of(analysis).kpis["class_scores"]
    assert entry.set_from == "since" and entry.set == "2024-09"
    # six school years (40 school months before the target, 20 after): the planted shortfall of
    # the state test behind the class averages is found, and survives the spec's BH control
    div = entry.divergence["proficiency"]
    assert div["n_before"] == 40 and div["n_after"] == 20
    assert div["p"] < 0.005 and div["mean_residual"] < 0
    d = found["MS402"]
    assert d.evidence["p_value"] == div["p"] and d.evidence["q_value"] < 0.05
    assert "`proficiency` did not follow" in d.message and "2024-09" in d.message
    assert "MS403" not in found


def test_target_set_option_moves_the_split():
    config = {"rules": {"MS401": {"target_set": {"class_scores": "2025-01-01"}}}}
    report, analysis = _school(config)
    (d,) = [d for d in report.diagnostics if d.code == "MS401"]
    assert d.evidence["set"] == "2025-01" and d.evidence["set_from"] == "target_set"
    assert analysis["distortion_options"]["MS401"].kpis["class_scores"].bunching["n"] == d.evidence["n"]
    assert DistortionAnalysis.of(analysis).kpis["class_scores"].set_from == "since"


def _break_by_statsmodels(d, t, after, cycle):
    """spread_break_test recomputed: |d - side median|^(2/3) on [1, years, step], OLS
    with HC3 standard errors (statsmodels), one-sided Student's t (SciPy)."""
    import statsmodels.api as sm
    from scipy import stats

    z = np.empty_like(d)
    for side in (False, True):
        z[after == side] = np.abs(d[after == side] - np.median(d[after == side])) ** (2 / 3)
    cols = [np.ones_like(d), (t - t[after].min()) / cycle, after.astype(float)]
    fit = sm.OLS(z, np.column_stack(cols)).fit(cov_type="HC3")
    tt = -fit.params[2] / fit.bse[2]
    return tt, stats.t.sf(tt, len(d) - len(cols))


def test_spread_break_test_matches_statsmodels_hc3():
    require("statsmodels.api")
    require("scipy.stats")
    rng = np.random.default_rng(4031)
    t = np.arange(1, 104, dtype=float)
    after = t >= 52
    for scale in (1.0, 0.6):
        d = rng.normal(0, 1, len(t)) * np.where(after, scale, 1.0)
        res = spread_break_test(d, t, after, 52)
        tt, p = _break_by_statsmodels(d, t, after, 52)
        assert res["t"] == pytest.approx(tt, rel=1e-9)
        assert res["p"] == pytest.approx(p, rel=1e-8)


def test_variance_collapse_recomputed_with_statsmodels():
    """Monthly 2022-01..2026-06, the target `since 2024-07-01`: two whole years on each side
    (2022-07..2024-06 and 2024-07..2026-06), the changes within each; as is and in logs, the larger
    p is reported."""
    require("statsmodels.api")
    require("scipy.stats")
    report = metricsense.check(CASES / "MS403" / "fail.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS403"]
    x = np.loadtxt(CASES / "MS403" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    assert d.evidence["years"] == 2
    ps, ratios = [], []
    for v in (x, np.log(x)):
        before, after = np.diff(v[6:30]), np.diff(v[30:54])
        ratios.append(np.var(after, ddof=1) / np.var(before, ddof=1))
        ch = np.concatenate([before, after])
        t = np.concatenate([np.arange(7, 30), np.arange(31, 54)]).astype(float)
        ps.append(_break_by_statsmodels(ch, t, t >= 30, 12)[1])
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
    # (UPPER_Z = 0: the matched value itself); the rule's rho is never below it
    import metricsense.evaluators.distortion_stats as stats_module

    got, raw, used = [], [], []
    for k in range(400):
        y1 = 1 + 0.5 * x1 + u[k, :n1]
        res = mean_residual_ar1(x1, y1, t1, x2, 1 + 0.5 * x2 + u[k, n1:], t2)
        used.append(res["rho"])
        raw.append(res["r1"])
        got.append(stats_module.ar1_rho(y1 - np.column_stack([np.ones(n1), x1]) @ [res["intercept"], res["slope"]],
                                        X1, t1, upper_z=0.0)[1])
    assert np.mean(raw) < rho - 0.15  # Kendall's bias in 18 periods
    assert abs(np.mean(got) - rho) < abs(np.mean(raw) - rho) - 0.1
    assert all(a >= b - 1e-12 for a, b in zip(used, got))


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
    # with each value its own cluster (iid), the se ignores that a unit's values move together
    iid = clustered_density_test(x, np.arange(len(x)), 0.3, step=0.0, bandwidth_of=lambda *a: res["bandwidth"])
    assert res["se"] > 1.25 * iid["se"]


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
    assert mean_residual_ar1([0.3] * 20, [0.3] * 20, range(20), [0.3] * 5, [0.3] * 5, range(20, 25)) is None
    rows = ["period,a,b"] + [f"{i},,0.3" for i in range(1, 11)] + [f"{i},0.3,0.3" for i in range(11, 31)]
    (tmp_path / "k.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "k.msense").write_text(
        'mission "M"\ndata "k.csv"\nkpi a "A" {\n kind output\n target >= 1 by 2027-01-01\n}\n'
        'kpi b "B" {\n kind outcome\n target >= 1 by 2027-01-01\n}\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    assert "MS005" not in {d.code for d in report.diagnostics}
    a = DistortionAnalysis.of(next(iter(report.analysis.values()))).kpis["a"]
    assert a.divergence["b"]["status"] == "the output did not vary before"


# ---- MS401 on coarse scores: masses at the target's score against its neighbours ------------------


def _scores(rng, units=20, periods=52, icc=0.5):
    lat = rng.normal(0, math.sqrt(icc), (units, 1)) + rng.normal(0, math.sqrt(1 - icc), (units, periods))
    return np.clip(np.round(4 + 1.2 * lat), 1, 7), np.broadcast_to(np.arange(units)[:, None], (units, periods))


def test_mass_point_theta_and_jackknife_recomputed_with_numpy():
    """theta = (ln m0 - ln m-1) - ((ln m-1 - ln m-2) + (ln m1 - ln m0)) / 2 at the scores 4, 5 | 6, 7
    for `>= 5.5`; its se a delete-one-unit jackknife recomputed by a plain loop (rel 1e-10); and
    exactly 0 when the masses follow exp(quadratic)."""
    rng = np.random.default_rng(4011)
    v, u = _scores(rng)
    res = clustered_density_test(v.ravel(), u.ravel(), 5.5, "above", True, step=1.0, bandwidth_of=mccrary_bandwidth)
    assert res["test"] == "mass points" and res["status"] == "evaluated"

    def theta(vals):
        m = np.array([(vals == s).sum() for s in (4, 5, 6, 7)], dtype=float)
        return 0.5 * math.log(m[0]) - 1.5 * math.log(m[1]) + 1.5 * math.log(m[2]) - 0.5 * math.log(m[3])

    assert res["theta"] == pytest.approx(theta(v), rel=1e-10)
    loo = np.array([theta(np.delete(v, g, axis=0)) for g in range(v.shape[0])])
    se = math.sqrt((len(loo) - 1) / len(loo) * ((loo - loo.mean()) ** 2).sum())
    assert res["se"] == pytest.approx(se, rel=1e-10)
    # masses proportional to exp(-0.3 k^2 + 0.2 k) on every score: no jump (theta 0 up to rounding)
    k = np.arange(1, 8)
    counts = np.rint(1e5 * np.exp(-0.3 * (k - 4) ** 2 + 0.2 * k)).astype(int)
    vals = np.repeat(k, counts).astype(float)
    units = np.arange(len(vals)) % 30
    got = mass_point_test(vals, units, 5.5, "above", True, 1.0)
    assert abs(got["theta"]) < 1e-4
    # a `<=` target mirrors it: the first meeting score is 2 for `<= 2.5`, compared with 3, 4 and 1
    low = mass_point_test(8.0 - vals, units, 2.5, "below", True, 1.0)
    assert low["masses"] == got["masses"] and low["theta"] == pytest.approx(-got["theta"], abs=1e-12)


def test_mass_point_size_and_power_by_simulation():
    """Scores 1-7 pooled over 20 units x 52 periods with persistent unit levels (ICC 0.5), `>= 5.5`:
    false-positive rate at most 0.05 + 2 MC SE over 200 draws (fixed seed; measured 0.05); when 5%
    of the values move from just short to 6, found in most draws (measured 0.85)."""
    rng = np.random.default_rng(4012)
    null = hit = 0
    reps = 200
    for r in range(reps):
        v, u = _scores(rng)
        res = clustered_density_test(v.ravel(), u.ravel(), 5.5, "above", True, step=1.0,
                                     bandwidth_of=mccrary_bandwidth)
        null += res.get("status") == "evaluated" and res["p"] <= 0.05
        if r < 60:
            flat = v.ravel().copy()
            short = np.flatnonzero(flat < 5.5)
            near = short[np.argsort(5.5 - flat[short], kind="stable")][: int(0.15 * flat.size)]
            flat[rng.choice(near, int(0.05 * flat.size), replace=False)] = 6.0
            res = clustered_density_test(flat, u.ravel(), 5.5, "above", True, step=1.0,
                                         bandwidth_of=mccrary_bandwidth)
            hit += res.get("status") == "evaluated" and res["p"] <= 0.05
    assert null / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)
    assert hit / 60 >= 0.6


# ---- MS402 and MS403 hold their size where the old tests did not (plain NumPy simulations) ---------


def test_divergence_size_under_persistent_errors():
    """Outcome = 1 + 0.5 output + AR(1) errors (phi 0.8) over 26 + 26 periods, no divergence:
    MS402's step test at 0.05 rejects at most 0.05 + 2 MC SE over 60 draws (the iid test: about
    0.2)."""
    rng = np.random.default_rng(4021)
    n1 = n2 = 26
    t = np.arange(n1 + n2)
    reps, hits = 60, 0
    for _ in range(reps):
        x = np.cumsum(rng.normal(0, 1, n1 + n2)) * 0.3 + rng.normal(0, 1, n1 + n2)
        e = np.empty(n1 + n2)
        e[0] = rng.normal() / 0.6
        for i in range(1, n1 + n2):
            e[i] = 0.8 * e[i - 1] + rng.normal()
        y = 1 + 0.5 * x + e
        res = step_test(x[:n1], y[:n1], t[:n1], x[n1:], y[n1:], t[n1:])
        hits += t_sf(-res["t"], res["df"]) <= 0.05
    assert hits / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)


def test_variance_collapse_not_reported_on_improvement_with_a_wandering_part():
    """The calibration suite's improvement family: a KPI = a constant + lever-driven random walk +
    defects falling 40 -> 8 a week with multiplicative noise (no log makes that additive): the old
    before/after comparison reported about 3 in 4; the break test at most 0.05 + 2 MC SE (150 draws)."""
    from types import SimpleNamespace

    from metricsense.data.dataset import Series
    from metricsense.evaluators.distortion import _variance

    rng = np.random.default_rng(4032)
    n = 104
    per = np.datetime64("2022-01-03", "D") + 7 * np.arange(n)
    data = SimpleNamespace(periods=per, unit_of=lambda name: "week")
    after = np.arange(n) >= n // 2
    reps, hits = 150, 0
    for _ in range(reps):
        level = 40 * 0.2 ** (np.arange(n) / (n - 1)) * np.exp(rng.normal(0, 0.25, n))
        v = 60 + 0.6 * level + np.cumsum(rng.normal(0, 2.5, n))
        res = _variance(Series("defects", v, "sim"), data, n // 2, after, "week", 6)
        hits += res is not None and res.get("p") is not None and res["p"] <= 0.05 and res["ratio"] <= 0.5
    assert hits / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)


# ---- MS402's step test: statsmodels' GLS, a NumPy REML, and its size by simulation ----------------


def _walk_plus_noise(rng, n, walk=0.5, noise=0.7):
    return np.cumsum(rng.normal(0, walk, n)) + rng.normal(0, noise, n)


def test_step_test_is_statsmodels_gls_at_the_least_favourable_reml_fit():
    """The restricted likelihood of the fit before the split is recomputed with plain NumPy
    (inverse and determinants) at every grid model; over those within STEP_SLACK of the best, the
    step's t is statsmodels' GLS with that covariance, and the rule's t is the one nearest zero
    (rel 1e-8), with its step, slope and standard error."""
    require("statsmodels.api")
    import statsmodels.api as sm

    from metricsense.evaluators.distortion_stats import STEP_QS, STEP_RHOS, STEP_SLACK

    rng = np.random.default_rng(402)
    n1, n2 = 40, 24
    t = np.arange(n1 + n2, dtype=float)
    t[30:] += 1  # one missing period: times are steps on the grid, not positions
    x = _walk_plus_noise(rng, n1 + n2, 1.0, 0.5)
    y = 2 + 0.6 * x + _walk_plus_noise(rng, n1 + n2) - 1.5 * (np.arange(n1 + n2) >= n1)
    res = step_test(x[:n1], y[:n1], t[:n1], x[n1:], y[n1:], t[n1:])
    lag = np.abs(t[:, None] - t[None, :])
    tau = t - t.min() + 1
    walk = np.minimum(tau[:, None], tau[None, :])
    X = np.column_stack([np.ones(n1 + n2), x, np.arange(n1 + n2) >= n1])

    def reml(rho, q):
        V = rho ** lag[:n1, :n1] + q * walk[:n1, :n1]
        Vi = np.linalg.inv(V)
        X1 = X[:n1, :2]
        A = X1.T @ Vi @ X1
        b = np.linalg.solve(A, X1.T @ Vi @ y[:n1])
        e = y[:n1] - X1 @ b
        return -0.5 * (np.linalg.slogdet(V)[1] + np.linalg.slogdet(A)[1] + (n1 - 2) * math.log(e @ Vi @ e / (n1 - 2)))

    lls = {(r, q): reml(r, q) for r in STEP_RHOS for q in STEP_QS}
    top = max(lls.values())
    fits = {m: sm.GLS(y, X, sigma=m[0] ** lag + m[1] * walk).fit() for m, ll in lls.items() if ll >= top - STEP_SLACK}
    assert len(fits) >= 1
    chosen = min(fits, key=lambda m: abs(fits[m].tvalues[2]))
    fit = fits[chosen]
    assert (res["rho"], res["q"]) == chosen
    assert res["mean_residual"] == pytest.approx(fit.params[2], rel=1e-8)
    assert res["slope"] == pytest.approx(fit.params[1], rel=1e-8)
    assert res["se"] == pytest.approx(fit.bse[2], rel=1e-8)
    assert res["t"] == pytest.approx(fit.tvalues[2], rel=1e-8)
    assert res["df"] == n1 + n2 - 5


def test_step_test_size_and_power_on_a_wandering_gap():
    """The outcome's gap to the output is a random walk plus noise (what other levers and
    disturbances leave in it), 40 + 30 periods: the one-sided test at 0.05 rejects at most
    0.05 + 2 MC SE over 50 draws with no shortfall (the AR(1) test it replaces: about 0.09 on
    the calibration suite's iid-noise family), and finds a shortfall of 2.5 noise SDs most times."""
    rng = np.random.default_rng(4022)
    n1, n2, reps = 40, 30, 50
    t = np.arange(n1 + n2)
    null = power = 0
    for _ in range(reps):
        x = _walk_plus_noise(rng, n1 + n2, 0.5, 0.7)
        gap = _walk_plus_noise(rng, n1 + n2, 0.4, 0.7)
        for shift, hits in ((0.0, "null"), (-2.5 * 0.7, "power")):
            y = 1 + 0.8 * x + gap + shift * (t >= n1)
            res = step_test(x[:n1], y[:n1], t[:n1], x[n1:], y[n1:], t[n1:])
            p = t_sf(-res["t"], res["df"])
            if hits == "null":
                null += p <= 0.05
            else:
                power += p <= 0.05
    assert null / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)
    assert power / reps >= 0.6


def test_step_test_without_variation_is_none():
    assert step_test([0.3] * 20, [0.3] * 20, range(20), [0.3] * 5, [0.3] * 5, range(20, 25)) is None


@pytest.mark.parametrize("values", [[np.inf, 1.0, 2.0, 2.0], [np.nan, 1.0, 2.0, 2.0], [-np.inf, 0.5, 0.5, 1.0]])
def test_support_step_of_a_first_value_not_finite_is_continuous(values):
    """A first value that is not a number on any grid (an infinity from the Python API; NaN) says
    0.0 as the whole array's test does, instead of Python's round() raising on it."""
    assert support_step(np.array(values)) == 0.0


def test_cluster_codes_are_numpys_unique_inverse():
    from metricsense.evaluators.distortion_stats import cluster_codes

    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 200))
        for cl in (np.sort(rng.integers(0, 20, n)), rng.integers(-5, 5, n), np.arange(n) * 20 // n,
                   np.sort(rng.integers(0, 3, n)).astype(np.uint8), np.array(["b", "a", "b"][: n % 3 + 1])):
            got, want = cluster_codes(cl), np.unique(cl, return_inverse=True)[1]
            assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def test_support_steps_are_support_step_row_by_row():
    from metricsense.evaluators.distortion_edges import support_steps

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, m = int(rng.integers(2, 60)), int(rng.integers(1, 30))
        kind = trial % 6
        if kind == 0:
            x = rng.normal(50, 5, (m, n))
        elif kind == 1:
            x = np.round(rng.normal(50, 5, (m, n)), int(rng.integers(0, 5)))
        elif kind == 2:
            x = rng.integers(1, 8, (m, n)).astype(float)
        elif kind == 3:  # a heaped support (minutes rounded to 5)
            x = rng.integers(0, 4, (m, n)) * 5.0 + 0.25 * rng.integers(0, 2, (m, 1))
        elif kind == 4:
            x = np.round(rng.normal(0, 1, (m, n)), 2)
            x[:, 0] = rng.choice([np.nan, -np.inf, 0.5, -0.0], m)
        else:
            x = np.round(rng.normal(0, 3, (m, n)) * rng.choice([1e-3, 1, 1e3]), 3)
        got = support_steps(x, support_step)
        assert [repr(v) for v in got.tolist()] == [repr(support_step(r)) for r in x]
