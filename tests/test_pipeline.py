"""One spec through the pipeline: data, analysis, rules (their runner and time budget), suppressions, filters."""

from __future__ import annotations

import metricsense
from metricsense import hookimpl
from metricsense.diagnostics import Severity
from support import PLUGIN_SPEC as SPEC
from support import manager_with, plugin_module


# Review regression: a suppression naming its rule in lower case was not honoured.
def test_suppressions_name_rules_case_insensitively():
    bare = 'mission "M"\nlever idle "I"\n'
    assert [d.code for d in metricsense.check(bare, config={}).diagnostics if d.code == "MS017"] == ["MS017"]
    spec = 'mission "M"\nlever idle "I"  # msense: ignore[ms017] reason "kept"\n'
    report = metricsense.check(spec, config={})
    assert not [d for d in report.diagnostics if d.code in ("MS017", "MS007")]
    assert report.suppressed == 1


def test_the_rules_that_keep_a_broken_run_visible_cannot_be_ignored_or_suppressed():
    spec = 'mission "M"\nkpi k "K" { target 4.5 }  # msense: ignore[MS001] reason "no"\n'
    report = metricsense.check(spec, config={"ignore": ["MS0"]})
    assert [d.code for d in report.diagnostics] == ["MS001"] and report.exit_code == 2
    assert report.suppressed == 0


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


def _one_rule(fn):
    @hookimpl
    def metricsense_register_rules(register):
        register(fn)

    return manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))


def test_the_time_budget_is_processor_time_not_a_busy_machine(monkeypatch):
    # a rule that computes past its budget is stopped; one that takes longer on the clock than its
    # budget while queued for a processor (a loaded machine) is not
    import time

    import metricsense.pipeline as pipeline

    @metricsense.rule(code="XYZ005", name="computes-forever", severity=Severity.WARNING)
    def computes_forever(ctx):
        """Never finishes, computing."""
        x = 0
        while True:
            x += 1

    @metricsense.rule(code="XYZ006", name="slow-on-the-clock", severity=Severity.WARNING)
    def slow_on_the_clock(ctx):
        """Takes 0.6 s on the clock (three budgets), then reports."""
        time.sleep(0.6)
        yield ctx.report(ctx.spec.kpis[0], "reported after waiting")

    started = time.process_time()
    report = metricsense.check(SPEC, config={"time-budget": 0.2}, plugin_manager=_one_rule(computes_forever))
    (crash,) = [d for d in report.diagnostics if d.code == "MS005"]
    assert "XYZ005" in crash.message and "time budget of 0.2 s (processor time)" in crash.message
    assert time.process_time() - started < 5
    # the scheduler says those 0.6 s were spent queued for a processor, not sleeping
    monkeypatch.setattr(pipeline, "_blocked_seconds", lambda: 0.0)
    report = metricsense.check(SPEC, config={"time-budget": 0.2}, plugin_manager=_one_rule(slow_on_the_clock))
    assert not any(d.code == "MS005" for d in report.diagnostics)
    assert [d.message for d in report.diagnostics if d.code == "XYZ006"] == ["reported after waiting"]
    # and when it says they were spent sleeping, the rule is stopped (waiting counts as its own)
    monkeypatch.undo()
    report = metricsense.check(SPEC, config={"time-budget": 0.2}, plugin_manager=_one_rule(slow_on_the_clock))
    (crash,) = [d for d in report.diagnostics if d.code == "MS005"]
    assert "XYZ006" in crash.message and "(waiting)" in crash.message
    # a schedstat that reads no run time is no measurement (a running thread has run)
    import builtins
    import io

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: io.BytesIO(b"0 0 0\n")
                        if f == "/proc/thread-self/schedstat" else real_open(f, *a, **k))
    assert pipeline._blocked_seconds() is None
    monkeypatch.undo()
    # without the scheduler's statistics (not Linux), ten budgets on the clock
    monkeypatch.setattr(pipeline, "_blocked_seconds", lambda: None)
    report = metricsense.check(SPEC, config={"time-budget": 0.05}, plugin_manager=_one_rule(slow_on_the_clock))
    assert any(d.code == "MS005" and "XYZ006" in d.message for d in report.diagnostics)


def test_time_budget_must_be_positive():
    report = metricsense.check(SPEC, config={"time-budget": 0})
    assert any(d.code == "MS006" and "time-budget" in d.message for d in report.diagnostics)


# Attack regression: a plugin's analysis the JSON report cannot write (a record whose to_json
# raises, whose segment form raises, a dict with a tuple key) crashed `--format json` and `--by`
# runs with a traceback; it is MS005 now, left out, and the rest of the report is written.
def test_an_analysis_the_report_cannot_write_is_left_out_and_reported(tmp_path):
    import json
    from dataclasses import dataclass

    from metricsense.analysis import Record
    from metricsense.reports.json import render_json

    @dataclass(frozen=True)
    class BadJson(Record):
        name = "xbadjson"
        a: int = 0

        def to_json(self):
            raise ValueError("to_json boom")

    @dataclass(frozen=True)
    class BadSegment(Record):
        name = "xbadseg"
        a: int = 0

        def in_segment(self):
            raise RuntimeError("in_segment boom")

    class Plugin:
        @hookimpl
        def metricsense_register_analyses(register):
            register("xbadjson", BadJson)
            register("xbadseg", BadSegment)

        @hookimpl
        def metricsense_analyze(analysis):
            analysis["xbadjson"], analysis["xbadseg"] = BadJson(), BadSegment()
            analysis["xplain"] = {("a", 1): 2}  # an unregistered plain value JSON cannot write

    (tmp_path / "k.csv").write_text("period,region,k\n1,n,1\n2,n,2\n1,s,3\n2,s,4\n")
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi k "K" { }\n')
    for by in (None, "region"):
        report = metricsense.check(tmp_path / "k.msense", config={}, plugin_manager=manager_with(Plugin), by=by)
        crashed = sorted(d.message.split("'")[1] for d in report.diagnostics if d.code == "MS005")
        assert crashed == ["xbadjson", "xbadseg", "xplain"], by
        doc = json.loads(render_json(report))
        assert not {"xbadjson", "xbadseg", "xplain"} & set(doc["analysis"][str(tmp_path / "k.msense")])
        assert report.exit_code == 3
        if by:
            assert doc["segments"]["count"] == 2  # every segment is still reported


def test_an_analysis_stopped_by_its_budget_is_not_run_again_by_its_rules(monkeypatch):
    """The distortion and noise analyses stopped (MS005) are not computed again by each of their
    rules, which read the record and, finding none, ran the analysis themselves: the same 30 s
    again and a report that depended on the machine's load (a cold attack found a 300-KPI
    system at 60 s for one MS005). One MS005 per analysis, none for its rules, one call each."""
    from pathlib import Path

    from metricsense.evaluators import distortion, noise
    from metricsense.pipeline import EvaluatorTimeout

    calls = {"distortion": 0, "noise": 0}

    def stopped(name):
        def run(*args, **kwargs):
            calls[name] += 1
            raise EvaluatorTimeout("ran longer than its time budget of 30 s (processor time)")
        return run

    monkeypatch.setattr(distortion, "distortion_of", stopped("distortion"))
    monkeypatch.setattr(noise, "noise_of", stopped("noise"))
    spec = Path(__file__).resolve().parent.parent / "examples" / "customer-love" / "customer-love.msense"
    report = metricsense.check(spec)
    timeouts = [d.message for d in report.diagnostics if d.code == "MS005"]
    assert calls == {"distortion": 1, "noise": 1}
    assert len(timeouts) == 2, timeouts
    assert all("while analysing" in m for m in timeouts)
    assert {"metricsense.evaluators.distortion", "metricsense.evaluators.noise"} == {
        m.split("'")[1] for m in timeouts}
    assert not [d for d in report.diagnostics if d.code[:4] in ("MS30", "MS40")]


def test_a_crashed_noise_analysis_is_not_run_again_by_ms303_without_data(monkeypatch, tmp_path):
    """MS303 reads review cadences from a spec without data: there too a crashed noise analysis
    is one MS005, not a second crash of the rule that computed it again."""
    from metricsense.evaluators import noise

    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(noise, "noise_of", crash)
    spec = tmp_path / "s.msense"
    spec.write_text('lever deploys "Deploys"\n'
                    'kpi csat "CSAT" { better higher  responds deploys +0.4 lag 3 months  review every 1 month }\n')
    report = metricsense.check(spec)
    crashed = [d.message for d in report.diagnostics if d.code == "MS005"]
    assert len(calls) == 1 and len(crashed) == 1 and "while analysing" in crashed[0], crashed


def test_a_check_leaves_the_callers_frozen_objects_frozen_and_the_collector_as_found():
    # A host that froze its start-up objects (gc.freeze before forking workers) keeps them frozen
    # after a check, and a check that crashes leaves nothing frozen and the collector running.
    import gc

    @metricsense.rule(code="XYZ009", name="crashes-in-check", severity=Severity.WARNING)
    def crashes(ctx):
        """Crashes."""
        raise ZeroDivisionError("no levers")
        yield

    @hookimpl
    def metricsense_register_rules(register):
        register(crashes)

    pm = manager_with(plugin_module("p", metricsense_register_rules=metricsense_register_rules))
    host = [object() for _ in range(5000)]
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        metricsense.check(SPEC, config={}, plugin_manager=pm)
        assert gc.get_freeze_count() >= before // 2 > 0
    finally:
        gc.unfreeze()
    report = metricsense.check(SPEC, config={}, plugin_manager=pm)
    assert any(d.code == "MS005" for d in report.diagnostics)
    assert gc.get_freeze_count() == 0 and gc.isenabled() and host
