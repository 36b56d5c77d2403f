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
    mean_residual_test,
    support_step,
    t_sf,
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
    stats = require("scipy.stats").stats
    report = metricsense.check(CASES / "MS403" / "fail.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS403"]
    x = np.loadtxt(CASES / "MS403" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    ch = np.diff(x)
    before, after = ch[:17], ch[17:]  # the midpoint of 36 periods is row 18: changes into rows >= 18
    assert d.evidence["ratio"] == pytest.approx(np.var(after, ddof=1) / np.var(before, ddof=1), rel=1e-10)
    F, p2 = stats.levene(before, after, center="median")
    assert d.evidence["F"] == pytest.approx(F, rel=1e-10)
    assert d.evidence["p"] == pytest.approx(p2 / 2, rel=1e-8)


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
