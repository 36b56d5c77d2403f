"""Noise rules (MS3xx): the numbers checked against SciPy and a plain NumPy recomputation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.noise import MAD_SCALE, phi, robust_noise
from metricsense.evaluators.records import KpiNoise, NoiseAnalysis
from support import EXAMPLES, require, weekly_trigger_check

CASES = Path(__file__).parent / "cases"


def _kpi(analysis, name: str) -> KpiNoise:
    return NoiseAnalysis.of(analysis).kpis[name]


def _analysis(path, config=None):
    report = metricsense.check(path, config=config or {})
    (analysis,) = report.analysis.values()
    return report, analysis


def test_phi_matches_scipy():
    stats = require("scipy.stats").stats
    for x in np.linspace(-6, 6, 49):
        assert phi(float(x)) == pytest.approx(stats.norm.cdf(x), abs=1e-14)


def test_robust_noise_matches_scipy_mad():
    stats = require("scipy.stats").stats
    rng = np.random.default_rng(7)
    d = rng.standard_t(3, 500)
    # scipy's 'normal' scale is 1/Phi^-1(3/4) = 1.482602...; the rule uses the rounded 1.4826
    assert robust_noise(d) == pytest.approx(stats.median_abs_deviation(d, scale="normal"), rel=2e-6)
    assert robust_noise(d) == pytest.approx(MAD_SCALE * np.median(np.abs(d - np.median(d))), rel=1e-12)
    assert math.isnan(robust_noise([np.nan]))


def _ar1_by_statsmodels(x):
    """Kendall-corrected AR(1) on the demeaned series, by statsmodels OLS (an independent fit)."""
    require("statsmodels.api")
    import statsmodels.api as sm

    m = x.mean()
    fit = sm.OLS(x[1:] - m, x[:-1] - m).fit()
    phi = min(1.0, fit.params[0] + (1 + 3 * fit.params[0]) / (len(x) - 1))
    resid = (x[1:] - m) - phi * (x[:-1] - m)
    return m, phi, np.sqrt(resid @ resid / (len(x) - 3))


def _spread_test_by_scipy(x, h, k, gap, ratio, lags):
    """MS301's statistic recomputed with statsmodels' acf and SciPy's kurtosis and chi-square."""
    require("statsmodels")
    stats = require("scipy.stats").stats
    from statsmodels.tsa.stattools import acf

    level = np.array([np.median(x[t - k + 1: t + 1]) for t in range(k - 1, len(x) - h)])
    e = x[k - 1 + h:] - level
    s = e.std(ddof=1)
    r = acf(e, nlags=max(lags, len(e) // 4), adjusted=False, fft=False)[1:]
    nu = (len(e) - 1) / ((1 + 2 * r @ r) * max(1.0, (stats.kurtosis(e, fisher=False) - 1) / 2))
    return s, nu, stats.chi2.sf(nu * s ** 2 * ratio ** 2 / gap ** 2, nu), len(e)


def test_target_noise_recomputed_from_the_csv():
    report, analysis = _analysis(CASES / "MS301" / "fail.msense")
    e = _kpi(analysis, "csat")
    x = np.loadtxt(CASES / "MS301" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    d = np.diff(x)
    assert e.changes == len(d)
    assert e.noise == pytest.approx(1.4826 * np.median(np.abs(d - np.median(d))), rel=1e-12)
    assert e.horizon == 1 and e.level == pytest.approx(np.median(x[-3:]), rel=1e-12)  # today's level
    assert e.target_gap == pytest.approx(4.03 - e.level, rel=1e-12)
    s, nu, p, n = _spread_test_by_scipy(x, 1, 3, 4.03 - e.level, 1.0, 1 + 3)
    assert e.model["moves"] == n
    assert e.spread == pytest.approx(s, rel=1e-10)
    assert e.model["df"] == pytest.approx(nu, rel=1e-10)
    assert e.p_value == pytest.approx(p, rel=1e-8)
    assert e.gap_in_noise < 1.0 and 0 < e.p_value <= 0.05
    (diag,) = [d for d in report.diagnostics if d.code == "MS301"]
    assert diag.message.startswith("`csat` ")  # plain words first, the test in the help line
    assert "p =" not in diag.message and "p =" in diag.help


def test_spread_test_matches_scipy_with_a_review_cadence_and_gaps():
    from metricsense.evaluators import serial

    rng = np.random.default_rng(11)
    x = np.cumsum(rng.standard_normal(120)) + rng.standard_normal(120)
    for h, k in ((4, 3), (1, 1), (13, 5)):
        e = serial.moves(x, h, k)
        s, nu, p = serial.spread_test(e, 2.0, 1.0, h + k)
        s2, nu2, p2, n = _spread_test_by_scipy(x, h, k, 2.0, 1.0, h + k)
        assert len(e) == n and s == pytest.approx(s2, rel=1e-12) and nu == pytest.approx(nu2, rel=1e-10)
        assert p == pytest.approx(p2, rel=1e-8)
    # a missing period: the level is the median of the last k observed values, and no move
    # starts at (or ends on) a missing period
    y = x.copy()
    y[50] = np.nan
    lv = serial.level_path(y, 3)
    assert math.isnan(lv[50]) and lv[51] == np.median([y[48], y[49], y[51]])
    assert len(serial.moves(y, 4, 3)) == len(serial.moves(x, 4, 3)) - 2


def _true_spread(make, h, k, rng, reps=20_000, n=40):
    """The spread of h-period moves from the median-of-k level, by plain simulation (long run)."""
    x = make(rng, reps, n)
    level = np.median(np.stack([x[:, n - h - 1 - j] for j in range(k)]), axis=0)
    return float(np.std(x[:, n - 1] - level))


def _rw(rng, reps, n):
    return np.cumsum(rng.standard_normal((reps, n)), axis=1)


def _ar08(rng, reps, n):
    x = np.empty((reps, n))
    x[:, 0] = rng.standard_normal(reps) / 0.6
    for t in range(1, n):
        x[:, t] = 0.8 * x[:, t - 1] + rng.standard_normal(reps)
    return x


def _local_level(rng, reps, n):  # a wandering level seen through independent noise
    return _rw(rng, reps, n) * 0.6 + rng.standard_normal((reps, n))


@pytest.mark.parametrize("make", [_rw, _ar08, _local_level])
def test_target_test_holds_its_size_and_has_power(make):
    """Fixed seed: a target exactly one true spread away (the null's boundary) is reported at
    most 5% + 2 Monte Carlo SE of the time; one at 0.5 spreads (truly inside the noise) at least
    80% of the time. 104 weekly values, a monthly review (h = 4), today's level the median of 3."""
    from metricsense.evaluators import serial

    rng = np.random.default_rng(21)
    h, k, reps = 4, 3, 300
    true = _true_spread(make, h, k, rng)
    x = make(rng, reps, 104)
    size = power = 0
    for row in x:
        e = serial.moves(row, h, k)
        size += serial.spread_test(e, 1.0 * true, 1.0, h + k)[2] <= 0.05
        power += serial.spread_test(e, 0.5 * true, 1.0, h + k)[2] <= 0.05
    assert size / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)
    assert power / reps >= 0.8
    # fine p-values: a target at 0.3 spreads is below 1e-4 (Benjamini-Hochberg over ~100 tests)
    assert serial.spread_test(serial.moves(x[0], h, k), 0.3 * true, 1.0, h + k)[2] < 1e-4


def test_segmented_target_is_not_judged_as_noise():
    _, analysis = _analysis(EXAMPLES / "school-district" / "school-district.msense")
    e = _kpi(analysis, "class_scores")
    assert e.segments and e.p_value is None and e.spread is None
    assert e.model["method"].startswith("not judged")


def test_trigger_false_alarm_rate_is_the_model_forecast_tail():
    stats = require("scipy.stats").stats
    report, analysis = _analysis(CASES / "MS302" / "fail.msense")
    x = np.loadtxt(CASES / "MS302" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    m, ph, sigma = _ar1_by_statsmodels(x)
    info = _kpi(analysis, "queue").triggers["queue_up"]
    part = info["comparisons"][0]
    h = np.arange(1, part["horizon"] + 1)
    mean = m + ph ** h * (x[-1] - m)
    sd = sigma * np.sqrt((1 - ph ** (2 * h)) / (1 - ph ** 2))
    assert info["rate"] == pytest.approx(stats.norm.sf((52 - mean) / sd).mean(), rel=1e-6)
    # for one period the simulated rate of "runs" estimates the same number (200 paths x 36 periods)
    assert info["rate_per_run"] == pytest.approx(info["rate"], abs=0.03)
    # the trigger's own history: fired in 10 of 36 periods
    assert abs(info["rate"] - 10 / 36) < 0.1
    (diag,) = [d for d in report.diagnostics if d.code == "MS302"]
    assert diag.evidence["false_alarm_rate"] == pytest.approx(info["rate"], rel=1e-12)
    assert diag.evidence["history"] == {"fired": 10, "evaluable": 36, "share": pytest.approx(10 / 36)}
    assert 0 < diag.evidence["p_value"] <= 0.05


def test_a_run_of_n_periods_is_simulated_not_the_nth_power():
    _, analysis = _analysis(CASES / "MS302" / "pass.msense")
    stuck = _kpi(analysis, "queue").triggers["queue_stuck"]
    assert stuck["for_periods"] == 3
    assert stuck["rate_per_run"] > stuck["rate"] ** 3  # persistence holds runs together
    assert stuck["rate_per_run"] < 0.1 and stuck["p_value"] > 0.05


def test_run_rate_matches_a_plain_simulation_of_a_persistent_series():
    from metricsense.evaluators import serial

    rng = np.random.default_rng(7)
    x = np.zeros(60)
    for t in range(1, 60):
        x[t] = 0.9 * x[t - 1] + rng.standard_normal()
    model = serial.fit_ar1(x)
    z = rng.standard_normal((4000, 40))
    ours = float(serial.run_rate(serial.simulate_paths(model, 40, z), 2.5, ">", 3).mean())
    # the same model, simulated by a plain loop and counted with a sliding window
    rng2 = np.random.default_rng(8)
    hits = []
    for _ in range(4000):
        y, path = x[-1], []
        for _ in range(40):
            y = model.mean[0] + model.phi * (y - model.mean[0]) + model.sigma * rng2.standard_normal()
            path.append(y > 2.5)
        p = np.array(path)
        hits.append(np.mean(p[2:] & p[1:-1] & p[:-2]))
    assert ours == pytest.approx(np.mean(hits), abs=0.01)
    # and far above the cube of the per-period rate, which assumes independent periods
    per = float(serial.run_rate(serial.simulate_paths(model, 40, z), 2.5, ">", 1).mean())
    assert ours > 3 * per ** 3


def test_norm_ppf_matches_scipy():
    stats = require("scipy.stats").stats
    from metricsense.evaluators.serial import norm_ppf

    for p in (1e-10, 0.001, 0.025, 0.3, 0.5, 0.9, 0.975, 0.999999):
        assert norm_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-9, abs=1e-12)


def test_segmented_trigger_judged_per_unit_and_past_units_left_out():
    _, analysis = _analysis(EXAMPLES / "school-district" / "school-district.msense")
    part = _kpi(analysis, "class_scores").triggers["class_below"]["comparisons"][0]
    assert part["units"] == 80 and 0 < part["units_past"] < 80
    assert 0 < part["rate"] < 0.5


def test_review_against_declared_lags_needs_no_data():
    report, analysis = _analysis(CASES / "MS303" / "fail.msense")
    e = _kpi(analysis, "proficiency").review
    assert e.every_days == pytest.approx(365.25 / 12)
    assert e.lags["tutoring"].to_json() == {"days": pytest.approx(365.25 / 4), "source": "declared"}
    (diag,) = [d for d in report.diagnostics if d.code == "MS303"]
    assert diag.evidence["review_days"] == pytest.approx(365.25 / 12)


def test_example_review_faster_than_the_security_lag():
    report = metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    assert [d.message for d in report.diagnostics if d.code == "MS303" and "vuln_age" in d.message]


def test_options_recompute_and_are_recorded():
    config = {"rules": {"MS301": {"level_periods": 1, "ratio": 0.01}}}
    report, analysis = _analysis(CASES / "MS301" / "fail.msense", config)
    assert not [d for d in report.diagnostics if d.code == "MS301"]
    assert analysis["noise_options"]["MS301"].kpis["csat"].level_periods == 1
    assert analysis["noise_options"]["MS301"].kpis["csat"].p_value > 0.05  # H0 |gap| >= 0.01 spreads
    assert _kpi(analysis, "csat").level_periods == 3  # the default analysis stays


def test_analysis_present_when_no_rule_fires():
    report, analysis = _analysis(CASES / "MS301" / "pass.msense")
    assert not [d for d in report.diagnostics if d.code.startswith("MS3")]
    assert _kpi(analysis, "csat").noise > 0
    report.to_json()  # JSON-safe


def test_trigger_needs_its_history_and_the_model_to_agree():
    report, analysis = _analysis(CASES / "MS302" / "fail.msense")
    info = _kpi(analysis, "queue").triggers["queue_up"]
    assert info["history_share"] == pytest.approx(10 / 36)  # what MS601/MS602 count
    assert info["p_value"] == max(info["p_model"], info["p_history"])  # intersection-union
    (diag,) = [d for d in report.diagnostics if d.code == "MS302"]
    assert diag.message.startswith("trigger `queue_up` fires too often") and "p =" not in diag.message
    assert "10 of 36 periods" in diag.message
    # the same threshold with `for 3 periods` held in fewer periods than 10%: no finding
    stuck = _kpi(_analysis(CASES / "MS302" / "pass.msense")[1], "queue").triggers["queue_stuck"]
    assert stuck["p_value"] > 0.05


def test_planted_trigger_in_the_examples_is_found():
    report = metricsense.check(EXAMPLES / "engineering-estimates" / "engineering.msense", config={})
    (diag,) = [d for d in report.diagnostics if d.code == "MS302"]
    assert "rework_rising" in diag.message and diag.evidence["p_value"] < 0.01


def _weekly_check(tmp_path, x, trigger: str):
    report = weekly_trigger_check(tmp_path, x, trigger)
    return [d for d in report.diagnostics if d.code == "MS302"]


def test_trigger_power_and_quiet_on_fixed_seeds(tmp_path):
    """Two years of weekly, independent values (mean 50, SD 1): a threshold half an SD above the
    mean (fires in 31% of weeks) is reported; one 1.645 SDs above (5%) is not."""
    x = 50 + np.random.default_rng(30).standard_normal(104)
    (found,) = _weekly_check(tmp_path, x, "x > 50.5 for 1 period")
    assert found.evidence["p_value"] < 1e-3 and 0.2 < found.evidence["history_share"] < 0.45
    assert not _weekly_check(tmp_path, x, "x > 51.645 for 1 period")
