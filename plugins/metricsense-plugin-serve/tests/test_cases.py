"""Every SRV rule's cases: a spec whose offending lines end with `# [SRV00N]` is a test."""

from __future__ import annotations

from pathlib import Path

import pytest

import metricsense_serve
from metricsense.testing import assert_case, collect_cases, markers, with_plugins

CASES = Path(__file__).parent / "cases"
# The plugin's rules with the built-in ones, exactly as `msense` would load it; no entry point
# needed, so the tests run from a checkout as well as against the installed package.
PM = with_plugins(serve=metricsense_serve)


@pytest.mark.parametrize(("code", "spec"), collect_cases(CASES), ids=lambda v: getattr(v, "name", v))
def test_case(code, spec):
    result = assert_case(spec, code, plugin_manager=PM)
    if spec.stem.startswith("fail"):
        assert result.expected, f"{spec} is a failing case but carries no [{code}] marker"
    else:
        assert not markers(spec.read_text()).get(code), f"{spec} is a passing case with a marker"


def test_every_rule_has_a_failing_and_a_passing_case():
    for r in metricsense_serve.RULES:
        specs = [p.stem for p in (CASES / r.code).glob("*.msense")]
        assert any(s.startswith("fail") for s in specs), f"{r.code} has no failing case"
        assert any(s.startswith("pass") for s in specs), f"{r.code} has no passing case"
