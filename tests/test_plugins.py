"""The plugin door: hooks, isolation of crashing plugins, no silent replacement of rules."""

from __future__ import annotations

import types

import pytest

import metricsense
from metricsense import hookimpl
from metricsense.diagnostics import Severity
from metricsense.engine import RegistrationError, Registry, build_registry
from metricsense.plugins import get_plugin_manager

SPEC = 'mission "M"\nlever deploys "D"\nkpi csat "C" { responds deploys +1 }\n'


def manager_with(*plugins):
    pm, problems = get_plugin_manager(entrypoints=False)
    assert not problems
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"test-plugin-{i}")
    return pm


def plugin_module(name, **hooks):
    mod = types.ModuleType(name)
    for key, value in hooks.items():
        setattr(mod, key, value)
    return mod


@metricsense.rule(code="XYZ001", name="kpi-named-csat", severity=Severity.INFO)
def kpi_named_csat(ctx):
    """A KPI is called csat.

    ## Why is this bad?
    It is not; this rule exists to test the plugin door (seed 002).
    ## Example
    ## What to do instead
    """
    for kpi in ctx.spec.kpis:
        if kpi.name == "csat":
            yield ctx.report(kpi, "a KPI named csat", evidence={"n": 1})


def test_hook_metricsense_register_rules():
    @hookimpl
    def metricsense_register_rules(register):
        register(kpi_named_csat)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    (d,) = [d for d in report.diagnostics if d.code == "XYZ001"]
    assert d.span.line == 3 and d.severity is Severity.INFO and d.evidence == {"n": 1}
    assert build_registry(pm).rules["XYZ001"].plugin == "test-plugin-0"


def test_hook_metricsense_register_formats():
    @hookimpl
    def metricsense_register_formats(register):
        register("count", lambda report, options: f"{len(report.diagnostics)}\n")

    pm = manager_with(plugin_module("p", metricsense_register_formats=metricsense_register_formats))
    registry = build_registry(pm)
    render, plugin = registry.formats["count"]
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert render(report, {}) == f"{len(report.diagnostics)}\n" and plugin == "test-plugin-0"


def test_hook_metricsense_register_commands():
    import click
    from click.testing import CliRunner

    from metricsense.cli import _Group

    group = _Group(name="msense")

    @hookimpl
    def metricsense_register_commands(cli):
        @cli.command()
        def hello():
            click.echo("hello from a plugin")

    pm = manager_with(plugin_module("p", metricsense_register_commands=metricsense_register_commands))
    pm.hook.metricsense_register_commands(cli=group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0 and "hello from a plugin" in result.output


def test_hook_metricsense_analyze():
    @hookimpl
    def metricsense_analyze(spec, analysis):
        analysis["counts"] = {"kpis": len(spec.kpis)}

    pm = manager_with(plugin_module("p", metricsense_analyze=metricsense_analyze))
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert report.analysis["<string>"]["counts"] == {"kpis": 1}
    assert report.analysis["<string>"]["structure"].structural_rank == 1


def test_hook_metricsense_register_analyses():
    from dataclasses import dataclass

    from metricsense.analysis import Record

    @dataclass(frozen=True)
    class Counts(Record):
        name = "counts"
        kpis: int
        names: tuple[str, ...]

    @metricsense.rule(code="XYZ003", name="few-kpis", severity=Severity.INFO)
    def few_kpis(ctx):
        """Few KPIs.

        ## Why is this bad?
        A test rule reading a record by field (seed 002).
        """
        counts = Counts.of(ctx.analysis)
        if counts is not None and counts.kpis < 2:
            yield ctx.report(ctx.spec.kpis[0], f"{counts.kpis} KPI: {', '.join(counts.names)}")

    class Plugin:
        @hookimpl
        def metricsense_register_analyses(register):
            register("counts", Counts)

        @hookimpl
        def metricsense_register_rules(register):
            register(few_kpis)

        @hookimpl
        def metricsense_analyze(spec, analysis):
            analysis["counts"] = Counts(len(spec.kpis), tuple(k.name for k in spec.kpis))

    pm = manager_with(Plugin)
    assert build_registry(pm).analyses["counts"] == (Counts, "test-plugin-0")
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert [d.message for d in report.diagnostics if d.code == "XYZ003"] == ["1 KPI: csat"]
    import json

    assert json.loads(report.to_json())["analysis"]["<string>"]["counts"] == {"kpis": 1, "names": ["csat"]}

    class Wrong:  # a plugin storing a plain dict under a name registered for a record
        @hookimpl
        def metricsense_analyze(analysis):
            analysis["counts"] = {"kpis": 1}

    pm = manager_with(Plugin, Wrong)
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert "counts" not in report.analysis["<string>"]
    crash = [d for d in report.diagnostics if d.code == "MS005"]
    assert len(crash) == 1 and "'counts' holds a dict, not the Counts" in crash[0].message

    class Taken:
        @hookimpl
        def metricsense_register_analyses(register):
            register("counts", Counts)

    registry = build_registry(manager_with(Plugin, Taken))
    assert "already registered by plugin 'test-plugin-0'" in registry.problems[0].message


def test_a_crashing_rule_is_a_diagnostic_and_the_others_still_run():
    @metricsense.rule(code="XYZ002", name="always-crashes", severity=Severity.WARNING)
    def always_crashes(ctx):
        """Crashes."""
        raise ZeroDivisionError("no levers")
        yield

    @hookimpl
    def metricsense_register_rules(register):
        register(always_crashes)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    report = metricsense.check(SPEC + 'lever idle "I"\n', config={}, plugin_manager=pm)
    crash = [d for d in report.diagnostics if d.code == "MS005"]
    assert len(crash) == 1 and "XYZ002" in crash[0].message and "test-plugin-0" in crash[0].message
    assert "ZeroDivisionError" in crash[0].message
    assert any(d.code == "MS017" for d in report.diagnostics)  # the built-in rules still ran
    assert report.exit_code == 3


def test_a_rule_returning_garbage_is_a_crash():
    @metricsense.rule(code="XYZ003", name="returns-garbage", severity=Severity.WARNING)
    def garbage(ctx):
        """Garbage."""
        yield "not a diagnostic"

    @hookimpl
    def metricsense_register_rules(register):
        register(garbage)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert any(d.code == "MS005" and "not a Diagnostic" in d.message for d in report.diagnostics)


def test_a_crashing_analysis_is_isolated():
    @hookimpl
    def metricsense_analyze(spec, analysis):
        raise RuntimeError("boom")

    pm = manager_with(plugin_module("p", metricsense_analyze=metricsense_analyze))
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert any(d.code == "MS005" and "boom" in d.message for d in report.diagnostics)
    assert "structure" in report.analysis["<string>"]
    assert report.exit_code == 3


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


def test_builtins_can_be_blocked(monkeypatch):
    monkeypatch.setenv("METRICSENSE_DISABLE_PLUGINS", "metricsense.evaluators.structure")
    pm, _ = get_plugin_manager(entrypoints=False)
    assert "MS013" not in build_registry(pm).rules
    assert "MS001" in build_registry(pm).rules


def test_hook_metricsense_register_data_sources(tmp_path):
    from metricsense.data import Table

    calls = []

    def read_fixed(request):
        calls.append(request.source.path)
        yield Table({"period": __import__("numpy").array([1, 2, 3]), "csat": __import__("numpy").array([1.0, 2.0, 4.0])},
                    "fixed")

    @hookimpl
    def metricsense_register_data_sources(register):
        register(".fixed", read_fixed)

    pm = manager_with(plugin_module("p", metricsense_register_data_sources=metricsense_register_data_sources))
    spec = tmp_path / "k.msense"
    spec.write_text('mission "M"\nkpi csat "C" { data "any.fixed" }\n')
    report = metricsense.check(spec, config={}, plugin_manager=pm)
    assert calls == ["any.fixed"]
    summary = report.analysis[next(iter(report.analysis))]["data"]["series"]["csat"]
    assert summary == {"source": "fixed", "observed": 3, "missing": 0, "first": "1", "last": "3"}


def test_a_crashing_data_source_is_isolated(tmp_path):
    def broken(request):
        raise KeyError("boom")

    @hookimpl
    def metricsense_register_data_sources(register):
        register(".broken", broken)

    pm = manager_with(plugin_module("p", metricsense_register_data_sources=metricsense_register_data_sources))
    (tmp_path / "ok.csv").write_text("period,b\n1,2\n")
    spec = tmp_path / "k.msense"
    spec.write_text('mission "M"\nkpi a "A" { data "x.broken" }\nkpi b "B" { data "ok.csv" }\n')
    report = metricsense.check(spec, config={}, plugin_manager=pm)
    crash = [d for d in report.diagnostics if d.code == "MS005"]
    assert len(crash) == 1 and "test-plugin-0" in crash[0].message and "boom" in crash[0].message
    assert report.analysis[next(iter(report.analysis))]["data"]["series"]["b"]["observed"] == 1
    assert report.exit_code == 3


def test_a_rule_over_its_time_budget_is_stopped_and_named():
    import time

    @metricsense.rule(code="XYZ004", name="takes-forever", severity=Severity.WARNING)
    def takes_forever(ctx):
        """Never finishes."""
        yield ctx.report(ctx.spec.kpis[0], "a partial finding that must not be reported")
        while True:
            time.sleep(0.01)

    @hookimpl
    def metricsense_register_rules(register):
        register(takes_forever)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    started = time.perf_counter()
    report = metricsense.check(SPEC + 'lever idle "I"\n', config={"time-budget": 0.3}, plugin_manager=pm)
    assert time.perf_counter() - started < 10
    (crash,) = [d for d in report.diagnostics if d.code == "MS005"]
    assert "XYZ004" in crash.message and "time budget of 0.3 s" in crash.message and "test-plugin-0" in crash.message
    assert not any(d.code == "XYZ004" for d in report.diagnostics)
    assert any(d.code == "MS017" for d in report.diagnostics)  # the others still ran
    assert report.exit_code == 3


def test_time_budget_must_be_positive():
    report = metricsense.check(SPEC, config={"time-budget": 0})
    assert any(d.code == "MS006" and "time-budget" in d.message for d in report.diagnostics)
