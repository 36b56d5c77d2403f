"""The registry of rules, formats and commands: codes and names are checked, a taken code is refused."""

from __future__ import annotations

import pytest

import metricsense
from metricsense import hookimpl
from metricsense.registry import RegistrationError, Registry, build_registry
from support import PLUGIN_SPEC as SPEC
from support import kpi_named_csat, manager_with, plugin_module


def test_a_taken_code_is_an_error_naming_both_plugins():
    from dataclasses import replace

    clash = replace(kpi_named_csat, code="MS013")

    @hookimpl
    def metricsense_register_rules(register):
        register(clash)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    registry = build_registry(pm)
    assert registry.rules["MS013"].name == "more-kpis-than-levers"  # never silently replaced
    problem = registry.problems[0]
    assert problem.code == "MS005" and problem.subject == "test-plugin-0"
    assert "MS013" in problem.message and "metricsense.evaluators.structure" in problem.message
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert report.exit_code == 3


def test_registry_rejects_bad_codes_and_names():
    from dataclasses import replace

    reg = Registry()
    with pytest.raises(RegistrationError):
        reg.add_rule(replace(kpi_named_csat, code="X1"), "p")
    with pytest.raises(RegistrationError):
        reg.add_rule(replace(kpi_named_csat, name="Not Kebab"), "p")
    with pytest.raises(RegistrationError):
        reg.add_rule("not a rule", "p")


def test_an_analysis_type_must_be_a_frozen_record_dataclass():
    from dataclasses import dataclass, field

    from metricsense.analysis import Record

    @dataclass
    class NotFrozen(Record):
        name = "xnotfrozen"
        a: list = field(default_factory=list)

    class NotADataclass(Record):
        name = "xplain"

    for kind in (NotFrozen, NotADataclass, dict):
        class Plugin:
            @hookimpl
            def metricsense_register_analyses(register, _kind=kind):
                register("x", _kind)

        registry = build_registry(manager_with(Plugin))
        assert "x" not in registry.analyses
        assert "is not a frozen dataclass deriving from metricsense.analysis.Record" in registry.problems[0].message


def test_an_analysis_is_registered_under_its_record_name():
    # Review regression: register("counts", Counts) with Counts.name == "count" registered, and
    # Counts.of() then never found what the plugin stored.
    from dataclasses import dataclass

    from metricsense.analysis import Record

    @dataclass(frozen=True)
    class Counts(Record):
        name = "count"
        n: int

    class Plugin:
        @hookimpl
        def metricsense_register_analyses(register):
            register("counts", Counts)

    registry = build_registry(manager_with(Plugin))
    assert "counts" not in registry.analyses
    assert "register it as 'count'" in registry.problems[0].message
