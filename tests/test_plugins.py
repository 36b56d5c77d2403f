"""The plugin door: every hook, data sources from plugins, blocking the built-in plugins."""

from __future__ import annotations

import metricsense
from metricsense.evaluators.records import DataSummary
from metricsense import hookimpl
from metricsense.diagnostics import Severity
from metricsense.registry import build_registry
from metricsense.plugins import get_plugin_manager
from support import PLUGIN_SPEC as SPEC
from support import kpi_named_csat, manager_with, plugin_module


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
    summary = DataSummary.of(report.analysis[next(iter(report.analysis))]).series["csat"]
    assert summary.to_json() == {"source": "fixed", "observed": 3, "missing": 0, "first": "1", "last": "3"}


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
    assert DataSummary.of(report.analysis[next(iter(report.analysis))]).series["b"].observed == 1
    assert report.exit_code == 3
