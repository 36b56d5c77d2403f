"""Configuration: select, ignore, severity, fail-on, rule options; unknown keys are errors."""

from __future__ import annotations

import pytest

import metricsense
from metricsense.diagnostics import Severity

SPEC = 'mission "M"\nlever deploys "D"\nlever idle "I"\nkpi csat "C" { responds deploys +1 }\n'


def codes(report):
    return sorted({d.code for d in report.diagnostics})


def test_default_fail_on_is_warning():
    report = metricsense.check(SPEC, config={})
    assert "MS017" in codes(report) and report.exit_code == 1


def test_select_and_ignore_by_code_prefix_and_name():
    assert codes(metricsense.check(SPEC, config={"select": ["MS017"]})) == ["MS017"]
    assert "MS017" not in codes(metricsense.check(SPEC, config={"ignore": ["idle-lever"]}))
    assert all(c.startswith("MS01") for c in codes(metricsense.check(SPEC, config={"select": ["MS01"]})))


def test_severity_override_and_fail_on():
    report = metricsense.check(SPEC, config={"severity": {"MS017": "info"}, "select": ["MS017"]})
    assert report.diagnostics[0].severity is Severity.INFO and report.exit_code == 0
    report = metricsense.check(SPEC, config={"severity": {"MS017": "info"}, "select": ["MS017"], "fail-on": "info"})
    assert report.exit_code == 1
    assert metricsense.check(SPEC, config={"fail-on": "never"}).exit_code == 0


def test_rule_options_change_verdicts():
    spec = ('mission "M"\nlever p "P"\ndisturbance h "H"\n'
            'kpi sales "S" { responds p +0.5\n disturbed h +0.7 }\n')
    assert "MS019" in codes(metricsense.check(spec, config={}))
    assert "MS019" not in codes(metricsense.check(spec, config={"rules": {"MS019": {"ratio": 2.0}}}))
    assert "MS019" not in codes(metricsense.check(spec, config={"rules": {"disturbance-dominated-kpi": {"ratio": 2}}}))


def _error(report):
    (d,) = [d for d in report.diagnostics if d.code == "MS006"]
    assert report.exit_code == 2
    return d


def test_unknown_key_is_an_error_with_its_line(tmp_path):
    cfg = tmp_path / "msense.toml"
    cfg.write_text('select = ["MS0"]\nfail_on = "warning"\n')
    d = _error(metricsense.check(SPEC, config=cfg))
    assert "unknown key `fail_on`" in d.message and d.span.line == 2 and d.span.file == str(cfg)


def test_unknown_rule_option_and_bad_types_are_errors(tmp_path):
    assert "matches no rule" in _error(metricsense.check(SPEC, config={"ignore": ["MS999"]})).message
    assert "no option `ration`" in _error(metricsense.check(SPEC, config={"rules": {"MS019": {"ration": 2}}})).message
    assert "expected float" in _error(metricsense.check(SPEC, config={"rules": {"MS019": {"ratio": "2"}}})).message
    assert "fail-on" in _error(metricsense.check(SPEC, config={"fail-on": "sometimes"})).message
    assert "unknown severity" in _error(metricsense.check(SPEC, config={"severity": {"MS017": "loud"}})).message


def test_invalid_toml_points_at_the_line(tmp_path):
    cfg = tmp_path / "msense.toml"
    cfg.write_text('select = ["MS0"]\nignore = [\n')
    d = _error(metricsense.check(SPEC, config=cfg))
    assert "invalid TOML" in d.message and d.span.line >= 2


def test_pyproject_table_is_discovered(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.metricsense]\nignore = ["MS017"]\n')
    spec = tmp_path / "sub" / "k.msense"
    spec.parent.mkdir()
    spec.write_text(SPEC)
    assert "MS017" not in codes(metricsense.check(spec))
    (tmp_path / "sub" / "msense.toml").write_text('select = ["MS017"]\n')  # the nearer file wins
    assert codes(metricsense.check(spec)) == ["MS017"]


def test_suppression_needs_a_reason_but_still_suppresses():
    spec = SPEC.replace('lever idle "I"', 'lever idle "I"  # msense: ignore[MS017]')
    report = metricsense.check(spec, config={})
    assert "MS017" not in codes(report) and "MS007" in codes(report)
    assert report.suppressed == 1
    spec = SPEC.replace('lever idle "I"', 'lever idle "I"  # msense: ignore[idle-lever] reason "audit"')
    report = metricsense.check(spec, config={})
    assert "MS017" not in codes(report) and "MS007" not in codes(report)


# Review regression: options given twice (by code and by name) or by a lower-case code were not seen.
def test_rule_options_name_rules_by_code_or_name_case_insensitively():
    spec = 'mission "M"\nlever idle "I"  # msense: ignore[ms017] reason "kept"\n'
    two = {"rules": {"MS019": {"ratio": 2.0}, "disturbance-dominated-kpi": {"ratio": 3.0}}}
    assert any(d.code == "MS006" for d in metricsense.check(spec, config=two).diagnostics)
    lower = {"rules": {"ms019": {"ratio": 100.0}}}
    spec2 = 'mission "M"\nlever p "P"\ndisturbance h "H"\nkpi s "S" { responds p +0.5\n disturbed h +0.7 }\n'
    assert not [d for d in metricsense.check(spec2, config=lower).diagnostics if d.code == "MS019"]


# Review regression: option values outside their range were accepted.
@pytest.mark.parametrize("options", [{"method": "kendall"}, {"basis": "level"}, {"threshold": -5.0}])
def test_option_values_outside_their_range_are_config_errors(options):
    report = metricsense.check('mission "M"\n', config={"rules": {"MS101": options}})
    assert [d.code for d in report.diagnostics] == ["MS006"] and report.exit_code == 2
