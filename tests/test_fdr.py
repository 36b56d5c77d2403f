"""Multiple-testing control (metricsense.fdr): Benjamini-Hochberg over a spec's statistical
findings, or over every segment of a `--by` run, checked against statsmodels."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricsense
from metricsense import hookimpl
from metricsense.diagnostics import Diagnostic, EvalContext, Severity
from metricsense.fdr import bh_adjust, control, decide, p_value_of
from metricsense.span import Span
from support import manager_with, plugin_module

multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests


@pytest.mark.parametrize("seed", range(40))
def test_q_values_and_decisions_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # a mix of nulls and signals, with ties (rounded) and the edges 0 and 1
    p = np.concatenate([rng.random(n), rng.random(n // 3) * 1e-3])
    p = np.round(p, int(rng.integers(2, 6)))
    if seed % 5 == 0:
        p[:2] = (0.0, 1.0)
    ours = np.array(bh_adjust(p))
    reject, theirs, _, _ = multipletests(p, alpha=0.05, method="fdr_bh")
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
    assert np.array_equal(ours <= 0.05, reject)


@pytest.mark.parametrize("seed", range(20))
def test_a_family_larger_than_the_p_values_seen_is_the_same_as_padding_with_ones(seed):
    # tests that gave no finding count in the family; their p-values (above 0.05) never change
    # the q-values of those that did, as if they were 1
    rng = np.random.default_rng(100 + seed)
    p = rng.random(int(rng.integers(1, 20))) * 0.05
    m = len(p) + int(rng.integers(0, 200))
    ours = np.array(bh_adjust(p, m))
    _, theirs, _, _ = multipletests(np.concatenate([p, np.ones(m - len(p))]), method="fdr_bh")
    assert np.allclose(ours, theirs[:len(p)], rtol=0, atol=1e-12)
    assert np.array_equal(np.array(bh_adjust(p, 0)), np.array(bh_adjust(p)))  # never below the p-values seen


def _finding(p, code="XYZ101"):
    ev = {} if p is None else {"p_value": p}
    return Diagnostic(code, "x", Severity.WARNING, f"finding {p}", Span.point("s.msense"), evidence=ev)


def test_control_drops_above_q_keeps_the_rest_and_writes_q_and_family():
    found = [_finding(None), _finding(0.001), _finding(0.04), _finding(0.01), _finding("n/a"), _finding(float("nan"))]
    kept = control(found, tests=10, q=0.05)
    # m = 10: q(0.001) = 0.01, q(0.01) = 0.05, q(0.04) = 0.133: dropped
    assert [d.message for d in kept] == ["finding None", "finding 0.001", "finding 0.01", "finding n/a", "finding nan"]
    assert kept[1].evidence["q_value"] == pytest.approx(0.01) and kept[1].evidence["family"] == 10
    assert kept[2].evidence["q_value"] == pytest.approx(0.05)
    assert "q_value" not in kept[0].evidence and p_value_of(kept[3]) is None
    assert decide(found, 10, 0.05)[2] is None
    # q = 1 keeps every finding
    assert len(control(found, tests=10, q=1.0)) == len(found)


def test_tests_adds_up_and_refuses_what_is_no_count():
    ctx = EvalContext(spec=None, rule=None, options={})
    ctx.tests(3)
    ctx.tests(0)
    ctx.tests(4)
    assert ctx.tested == 7
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            ctx.tests(bad)


# ---- end to end: a statistical rule registered by hand ---------------------------------------

P_VALUES = (0.0001, 0.004, 0.02, 0.045)


def _with_rules(*rules, **hooks):
    """A plugin manager with the built-in plugins and one that registers ``rules`` (and has ``hooks``)."""

    @hookimpl
    def metricsense_register_rules(register):
        for rule in rules:
            register(rule)

    return manager_with(plugin_module("xyz_rules", metricsense_register_rules=metricsense_register_rules, **hooks))


def _plugin(tests: int):
    @metricsense.rule(code="XYZ101", name="many-tests", severity=Severity.WARNING)
    def many_tests(ctx):
        """Runs `tests` tests and reports those with p <= 0.05."""
        ctx.tests(tests)
        series = ctx.data.series("k") if ctx.data is not None else None
        if ctx.data is not None and (series is None or series.values[0] != 0):
            return  # with data, only a series starting at 0 (segment u0 of the `--by` test) has findings
        if ctx.data is None and ctx.spec.data_defaults:
            return  # a spec that reads data is tested on its data (the spec's own pass of a `--by` run)
        for p in P_VALUES:
            yield ctx.report(ctx.spec.kpis[0], f"a test at p = {p}", evidence={"p_value": p})

    return _with_rules(many_tests)


SPEC = 'mission "M"\nkpi k "K" { }\n'


def _kept(report):
    return sorted(d.evidence["p_value"] for d in report.diagnostics if d.code == "XYZ101")


def test_the_pipeline_applies_bh_over_the_family_the_rules_report():
    expect = lambda m: sorted(p for p, q in zip(P_VALUES, bh_adjust(P_VALUES, m)) if q <= 0.05)  # noqa: E731
    for tests in (4, 20, 200):
        report = metricsense.check(SPEC, config={"fdr-q": 0.05}, plugin_manager=_plugin(tests))
        assert _kept(report) == expect(tests), tests
        for d in report.diagnostics:
            if d.code == "XYZ101":
                assert d.evidence["family"] == tests
    assert _kept(metricsense.check(SPEC, config={"fdr-q": 0.05}, plugin_manager=_plugin(200))) == [0.0001]
    # fdr-q = 1 keeps what the rule said; a stricter q keeps less
    assert _kept(metricsense.check(SPEC, config={"fdr-q": 1}, plugin_manager=_plugin(200))) == list(P_VALUES)
    assert _kept(metricsense.check(SPEC, config={"fdr-q": 0.00001}, plugin_manager=_plugin(4))) == []


def _two_rules():
    """XYZ101 (4 tests, the P_VALUES found) beside XYZ102: 200 tests, one finding at p = 0.0002."""

    @metricsense.rule(code="XYZ101", name="few-tests", severity=Severity.WARNING)
    def few(ctx):
        """Runs 4 tests."""
        ctx.tests(4)
        for p in P_VALUES:
            yield ctx.report(ctx.spec.kpis[0], f"a test at p = {p}", evidence={"p_value": p})

    @metricsense.rule(code="XYZ102", name="many-quiet-tests", severity=Severity.WARNING)
    def many(ctx):
        """Runs 200 tests."""
        ctx.tests(200)
        yield ctx.report(ctx.spec.kpis[0], "a test at p = 0.0002", evidence={"p_value": 0.0002})

    return _with_rules(few, many)


@pytest.mark.parametrize("how", [{"ignore": ["XYZ102"]}, {"select": ["XYZ101"]}])
def test_a_rule_left_out_of_the_report_is_left_out_of_the_family(how):
    # the family is what the user sees: an ignored rule's 200 tests (and its finding) would
    # otherwise make the shown rule's findings harder to keep
    both = metricsense.check(SPEC, config={"fdr-q": 0.05}, plugin_manager=_two_rules())
    assert {d.evidence.get("family") for d in both.diagnostics if d.code.startswith("XYZ")} == {204}
    assert _kept(both) == sorted(p for p, q in zip(P_VALUES, bh_adjust([*P_VALUES, 0.0002], 204)) if q <= 0.05)
    alone = metricsense.check(SPEC, config={"fdr-q": 0.05, **how}, plugin_manager=_two_rules())
    assert not [d for d in alone.diagnostics if d.code == "XYZ102"]
    assert _kept(alone) == sorted(p for p, q in zip(P_VALUES, bh_adjust(P_VALUES, 4)) if q <= 0.05)
    assert {d.evidence["family"] for d in alone.diagnostics if d.code == "XYZ101"} == {4}


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "0.05", True])
def test_a_bad_fdr_q_is_a_config_error(bad):
    report = metricsense.check(SPEC, config={"fdr-q": bad})
    assert [d.code for d in report.diagnostics] == ["MS006"]
    assert "fdr-q" in report.diagnostics[0].message


def test_a_by_run_adjusts_over_every_segment(tmp_path):
    # 5 segments, each running 10 tests; only segment u0 has findings: alone its family is 10
    # (0.0001 and 0.004 kept), in the rollup 50 (only 0.0001 kept)
    (tmp_path / "k.csv").write_text("period,unit,k\n" + "".join(f"{t},u{u},{t + u}\n" for u in range(5) for t in range(4)))
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi k "K" { }\n')
    report = metricsense.check(tmp_path / "k.msense", config={"fdr-q": 0.05}, plugin_manager=_plugin(10), by="unit")
    found = [d for d in report.diagnostics if d.code == "XYZ101"]
    assert [(d.evidence["p_value"], d.evidence["family"], d.segment) for d in found] == [(0.0001, 50, "u0")]
    assert found[0].evidence["q_value"] == pytest.approx(0.005)
    # the rollup and each segment's own result count only what was kept
    assert [(r.segment, r.to_dict()["codes"]) for r in report.segment_results if r.to_dict()["codes"]] == \
        [("u0", {"XYZ101": 1})]
    assert json.loads(report.segment_results[0].encoded[1])["codes"] == {"XYZ101": 1}
    assert [(i["code"], i["fired"]) for i in report.segments.rules()] == [("XYZ101", 1)]
    # a streamed run (the command line's text and JSON) adjusts over the rollup too: the
    # segments go out unadjusted, the report's decisions say which findings are kept, and the
    # spooled output leaves out the others: what is written is what the kept run writes
    from metricsense.cli import _SegmentSpool
    from metricsense.reports.json import render_json

    for q, kept in ((0.05, [0.0001]), (0.5, [0.0001, 0.004, 0.02])):
        kept_run = metricsense.check(tmp_path / "k.msense", config={"fdr-q": q}, plugin_manager=_plugin(10), by="unit")
        assert _kept(kept_run) == kept
        for fmt in ("json", "text"):
            streamed = []
            spool = _SegmentSpool(fmt, False, kept_run.registry)

            def add(result, streamed=streamed, spool=spool):
                streamed.append(result)
                spool.add(result)

            report = metricsense.check(tmp_path / "k.msense", config={"fdr-q": q}, plugin_manager=_plugin(10),
                                       by="unit", on_segment=add, keep_segments=False)
            raw = [d.evidence["p_value"] for r in streamed for d in r.diagnostics if d.code == "XYZ101"]
            assert raw == list(P_VALUES)  # on_segment saw them unadjusted
            decided = sorted(report.streamed_fdr.items())
            assert [k for k, v in decided if v is not None] == [(0, P_VALUES.index(p)) for p in kept]
            assert report.summary() == kept_run.summary() and report.exit_code == kept_run.exit_code
            assert report.segments.rules() == kept_run.segments.rules()
            if fmt == "json":  # a held segment's findings and result wait on disk, not in memory
                # with the flags and the kind of each finding (an index into the spool's kinds)
                spool.results.seek(0)
                held = [line.split(" ", 3)[1:3] for line in spool.results if line.startswith("H")]
                assert held and not hasattr(spool, "held")
                assert all(len(flags) == len(kinds.split(",")) and set(flags) <= set("0123")
                           and all(len(spool.kinds[int(k)]) == 3 for k in kinds.split(",")) for flags, kinds in held)
                assert len(spool.kinds) == len({k for _, kinds in held for k in kinds.split(",")})
            text = "".join(spool.chunks(report))
            if fmt == "json":
                doc, whole = json.loads(text), json.loads(render_json(kept_run))
                assert doc["diagnostics"] == whole["diagnostics"]
                assert doc["segments"] == whole["segments"]
            else:
                assert text.count("XYZ101") == len(kept) + 1  # each kept finding, and the rollup's line


def _keys_written_alike():
    """XYZ103: in each segment, a statistical finding whose evidence has keys JSON writes alike
    (1 and "1"), beside an analysis entry that has such keys too."""

    @metricsense.rule(code="XYZ103", name="keys-written-alike", severity=Severity.WARNING)
    def alike(ctx):
        """Runs one test."""
        ctx.tests(1)
        if ctx.data is not None:
            yield ctx.report(ctx.spec.kpis[0], "a test at p = 0.001",
                             evidence={"p_value": 0.001, 1: "int", "1": "str", "deep": [{True: 1, "true": 2}]})

    @hookimpl
    def metricsense_analyze(spec, data, analysis, surveys):
        if data is not None:
            analysis["xyz"] = {"counts": {1: "int", "1": "str"}}

    return _with_rules(alike, metricsense_analyze=metricsense_analyze)


def test_a_streamed_run_writes_keys_written_alike_as_reading_and_writing_again(tmp_path):
    # A held segment's kept findings and its result are written as the text of reading them and
    # writing them again (as they always were): of two keys of one object that JSON writes alike,
    # the last is left. Written in place (the q-value spliced in, the result's head only read),
    # the text would keep both.
    from metricsense.cli import _SegmentSpool
    from metricsense.encoding import dumps

    (tmp_path / "k.csv").write_text("period,unit,k\n" + "".join(f"{t},u{u},{t + u}\n" for u in range(3) for t in range(4)))
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi k "K" { }\n')
    pm = _keys_written_alike()
    spool = _SegmentSpool("json", False, metricsense.check(SPEC, plugin_manager=pm).registry)
    report = metricsense.check(tmp_path / "k.msense", config={"fdr-q": 0.5}, plugin_manager=pm, by="unit",
                               on_segment=spool.add, keep_segments=False)
    lines = [ln.strip().rstrip(",") for ln in "".join(spool.chunks(report)).splitlines()]
    found = [ln for ln in lines if ln.startswith('{"code": "XYZ103"')]
    results = [ln for ln in lines if ln.startswith('{"spec": ') and '"analysis": ' in ln]
    assert len(found) == 3 and len(results) == 3
    assert all('"q_value": ' in ln for ln in found)
    for line in found + results:
        assert dumps(json.loads(line)) == line


def _one_code_two_names():
    """XYZ104: per segment u0, u1, u2 (the first value of `k`) one statistical finding, named
    "second-name" in u0 (p = 0.9, dropped), "first-name" in u1 and "second-name" in u2 (both kept)."""

    @metricsense.rule(code="XYZ104", name="first-name", severity=Severity.WARNING)
    def named(ctx):
        """Runs one test."""
        from dataclasses import replace

        ctx.tests(1)
        if ctx.data is None:
            return
        u = int(ctx.data.series("k").values[0])
        d = ctx.report(ctx.spec.kpis[0], f"a test in u{u}", evidence={"p_value": 0.9 if u == 0 else 0.0001})
        yield d if u == 1 else replace(d, name="second-name")

    return _with_rules(named)


def test_a_streamed_rollup_names_a_rule_as_the_kept_run_does(tmp_path):
    # the rollup names a rule by its first kept finding, in segment order, whatever the order
    # its kinds of finding were first seen in
    (tmp_path / "k.csv").write_text("period,unit,k\n" + "".join(f"{t},u{u},{t + u}\n" for u in range(3) for t in range(4)))
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi k "K" { }\n')
    kept_run = metricsense.check(tmp_path / "k.msense", config={"fdr-q": 0.05}, plugin_manager=_one_code_two_names(),
                                 by="unit")
    streamed = metricsense.check(tmp_path / "k.msense", config={"fdr-q": 0.05}, plugin_manager=_one_code_two_names(),
                                 by="unit", on_segment=lambda r: None, keep_segments=False)
    rules = [r for r in kept_run.segments.rules() if r["code"] == "XYZ104"]
    assert [(r["name"], r["segments"]) for r in rules] == [("first-name", ["u1", "u2"])]
    assert streamed.segments.rules() == kept_run.segments.rules()
