"""The registry's own rules: every rule is declared once, documented, and has its cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricsense import hookspecs
from metricsense.diagnostics import CODE_PATTERN, NAME_PATTERN
from metricsense.registry import build_registry
from metricsense.plugins import get_plugin_manager

CASES = Path(__file__).parent / "evaluators" / "cases"
TESTS = Path(__file__).parent
# Rules about the tooling itself (parsing, files, plugins, configuration) cite no seed.
ENGINE_RULES = {"MS001", "MS004", "MS005", "MS006"}


@pytest.fixture(scope="module")
def registry():
    pm, problems = get_plugin_manager(entrypoints=False)
    assert not problems
    return build_registry(pm)


def builtin(registry):
    return [r for r in registry.rules.values() if r.plugin.startswith("metricsense")]


def test_codes_and_names_are_unique_and_well_formed(registry):
    rules = list(registry.rules.values())
    assert len({r.code for r in rules}) == len(rules)
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        assert CODE_PATTERN.match(r.code), r.code
        assert NAME_PATTERN.match(r.name), r.name


def test_the_contract_codes_exist(registry):
    contract = {
        "MS001": "syntax-error", "MS002": "undefined-name", "MS003": "duplicate-name", "MS004": "include-error",
        "MS010": "missing-mission", "MS011": "kpi-without-link", "MS012": "target-not-specific",
        "MS013": "more-kpis-than-levers", "MS014": "failure-level-uncovered", "MS015": "unguarded-failure",
        "MS016": "no-relationship-kpis", "MS017": "idle-lever", "MS018": "uncontrolled-kpi",
        "MS019": "disturbance-dominated-kpi", "MS020": "owner-without-lever", "MS021": "public-inspection",
    }
    for code, name in contract.items():
        assert registry.rules[code].name == name


def test_every_rule_is_explained(registry):
    for r in builtin(registry):
        assert r.summary and r.summary.endswith("."), r.code
        assert "## Why is this bad?" in r.explanation, r.code
        assert "## Example" in r.explanation, r.code
        assert "## What to do instead" in r.explanation, r.code
        if r.code not in ENGINE_RULES:
            assert "seed" in r.explanation.lower(), f"{r.code} cites no seed idea"


def test_every_rule_has_a_failing_and_a_passing_case(registry):
    for r in builtin(registry):
        folder = CASES / r.code
        specs = [p.name for p in folder.glob("*.msense")] if folder.is_dir() else []
        if r.code == "MS005" or r.code == "MS006":
            continue  # plugin crashes and config errors have their own tests (test_plugins, test_config)
        assert any(s.startswith("fail") for s in specs), f"{r.code} has no failing case"
        assert any(s.startswith("pass") for s in specs), f"{r.code} has no passing case"


def test_every_hook_is_documented_and_tested():
    tested = "\n".join(p.read_text() for p in TESTS.rglob("test_*.py"))
    for name in dir(hookspecs):
        if name.startswith("metricsense_"):
            spec = getattr(hookspecs, name)
            assert spec.__doc__ and ":param" in spec.__doc__, f"{name} is not documented"
            assert f"def test_hook_{name}" in tested, f"{name} has no test_hook_{name}"
