"""Noise rules (MS3xx): the numbers checked against SciPy and a plain NumPy recomputation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.noise import MAD_SCALE, phi, robust_noise
from metricsense.evaluators.records import KpiNoise, NoiseAnalysis
from support import EXAMPLES, require

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


def test_target_noise_recomputed_from_the_csv():
    _, analysis = _analysis(CASES / "MS301" / "fail.msense")
    e = _kpi(analysis, "csat")
    x = np.loadtxt(CASES / "MS301" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    d = np.diff(x)
    assert e.changes == len(d)
    assert e.noise == pytest.approx(1.4826 * np.median(np.abs(d - np.median(d))), rel=1e-12)
    assert e.level == pytest.approx(np.median(x[-3:]), rel=1e-12)
    assert e.target_gap == pytest.approx(4.03 - np.median(x[-3:]), rel=1e-12)
    assert e.gap_in_noise < 1.0


def test_trigger_false_alarm_rate_is_the_normal_tail():
    stats = require("scipy.stats").stats
    report, analysis = _analysis(CASES / "MS302" / "fail.msense")
    x = np.loadtxt(CASES / "MS302" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    d = np.diff(x)
    s = stats.median_abs_deviation(d, scale=1 / 1.4826)
    level = np.median(x[-3:])
    info = _kpi(analysis, "queue").triggers["queue_up"]
    assert info["rate"] == pytest.approx(stats.norm.sf((52 - level) / s), rel=1e-9)
    (diag,) = [d for d in report.diagnostics if d.code == "MS302"]
    assert diag.evidence["false_alarm_rate"] == pytest.approx(info["rate"], rel=1e-12)
    assert diag.evidence["noise"] == pytest.approx(s, rel=1e-12)


def test_a_run_of_n_periods_takes_the_nth_power():
    _, analysis = _analysis(CASES / "MS302" / "pass.msense")
    stuck = _kpi(analysis, "queue").triggers["queue_stuck"]
    assert stuck["for_periods"] == 3
    assert stuck["rate_per_run"] == pytest.approx(stuck["rate"] ** 3, rel=1e-12)
    assert stuck["rate"] > 0.1 > stuck["rate_per_run"]  # one period would be noise; three in a row are not


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
    x = np.loadtxt(CASES / "MS301" / "kpis.csv", delimiter=",", skiprows=1, usecols=1)
    assert analysis["noise_options"]["MS301"].kpis["csat"].level == pytest.approx(x[-1])
    assert _kpi(analysis, "csat").level_periods == 3  # the default analysis stays


def test_analysis_present_when_no_rule_fires():
    report, analysis = _analysis(CASES / "MS301" / "pass.msense")
    assert not [d for d in report.diagnostics if d.code.startswith("MS3")]
    assert _kpi(analysis, "csat").noise > 0
    report.to_json()  # JSON-safe
