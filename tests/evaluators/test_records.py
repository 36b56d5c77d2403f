"""The records of the built-in evaluators (metricsense/evaluators/records.py): their JSON shapes,
what a segment keeps of them, and what they can never hold."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

import pytest

import metricsense
from metricsense.diagnostics import Severity
from metricsense.encoding import dumps, finite
from metricsense.evaluators.records import (
    CorrelationAnalysis,
    DataSummary,
    DistortionAnalysis,
    EstimatedGains,
    GainAnalysis,
    KpiDistortion,
    KpiNoise,
    KpiSeries,
    LagNoise,
    NoiseAnalysis,
    ReviewNoise,
    SeriesSummary,
    ShownGroup,
    StructureAnalysis,
    SurveySummary,
    TriggerEvaluation,
    TriggerEvent,
    TriggersAnalysis,
    TrustAnalysis,
    TrustSignalAnalysis,
    TrustTotal,
    Variance,
)
from metricsense.plugins import get_plugin_manager
from metricsense.registry import build_registry
from support import EXAMPLES, ROOT

# ---- trust ----


def test_trust_record_writes_the_report_shape_with_placeholders_last():
    g = ShownGroup("ops", "m1", 4.5, 3.0, 1.5, 6, 1.0, 0.5, 0.5, True)
    rec = TrustAnalysis({"vq": TrustSignalAnalysis((1, 5), 1.0, 5, "2026-Q1", (g,), 2, 1, 1,
                                                   TrustTotal(14, 4.5, 3.2, 1.3))})
    want = {"signals": {"vq": {
        "scale": [1, 5], "gap": 1.0, "min_group": 5, "period": "2026-Q1",
        "groups": [{"group": "ops", "manager": "m1", "managers": 4.5, "team": 3.0, "gap": 1.5, "n": 6,
                    "managers_favourable": 1.0, "team_favourable": 0.5, "favourable_gap": 0.5, "over": True,
                    "suppressed": False},
                   {"suppressed": True}, {"suppressed": True}],
        "suppressed": 2, "below_minimum": 1, "secondary": 1,
        "total": {"n": 14, "managers": 4.5, "team": 3.2, "gap": 1.3}}}}
    # same keys, same order, same values: the JSON text is compared, not only the dicts
    assert json.dumps(rec.to_json()) == json.dumps(want)
    assert dumps(rec) == json.dumps(want, ensure_ascii=False)
    # a segment never has a trust table (one per survey, for the spec): should one be there,
    # nothing of it is kept
    assert rec.in_segment().to_json() == {"signals": {}}
    assert rec.to_json() == want  # in_segment leaves the record itself alone


SURVEY = {  # group: (manager, manager's own answer, team answers)
    "grp-alpha": ("mgr-aa11", 4, [4, 4, 5, 3, 4, 4]),
    "grp-beta": ("mgr-bb22", 5, [2, 3, 2, 3, 2, 3, 2]),
    "grp-gamma": ("mgr-cc33", 3, [3, 4, 3, 4, 3]),       # hidden too: secondary suppression
    "grp-secret": ("mgr-zz99", 1, [1, 2, 2]),            # 3 respondents: below the minimum
}


def _trust_record(tmp_path) -> TrustAnalysis:
    lines = ["period,group,manager_id,role,question,score"]
    for group, (manager, own, team) in SURVEY.items():
        lines.append(f"2026-Q1,{group},{manager},manager,managers,{own}")
        lines += [f"2026-Q1,{group},{manager},team,team,{s}" for s in team]
    (tmp_path / "survey.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n'
                                       '  gap > 1.0\n  min_group 5\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    rec = TrustAnalysis.of(next(iter(report.analysis.values())))
    assert rec is not None
    return rec


def _leaves(value: Any) -> Iterator[Any]:
    """Every value anywhere inside a record, a dataclass, a mapping (keys too) or a sequence."""
    if is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _leaves(getattr(value, f.name))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _leaves(k)
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_the_trust_record_cannot_hold_a_hidden_group(tmp_path):
    rec = _trust_record(tmp_path)
    signal = rec.signals["vq"]
    # No secondary suppression (no total is published beside a hidden group): gamma (n=5) is shown.
    assert [g.group for g in signal.groups] == ["grp-alpha", "grp-beta", "grp-gamma"]
    assert (signal.suppressed, signal.below_minimum, signal.secondary) == (1, 1, 0)
    assert signal.total is None
    hidden_text = ("grp-secret", "mgr-zz99")
    team_mean = sum(SURVEY["grp-secret"][2]) / 3  # 1.666..., and the gap to the manager's 1
    hidden_numbers = (team_mean, 1 - team_mean)
    for where, value in (("record", rec), ("to_json", rec.to_json())):
        leaves = list(_leaves(value))
        assert "grp-alpha" in leaves  # the search would find a leak
        assert not [v for v in leaves if isinstance(v, str) and any(h in v for h in hidden_text)], where
        numbers = [v for v in leaves if isinstance(v, float)]
        assert not [v for v in numbers if any(v == pytest.approx(h, abs=1e-9) for h in hidden_numbers)], where
    assert not any(h in dumps(rec) for h in hidden_text)


# ---- triggers ----


def test_triggers_record_writes_the_report_shape():
    plain = TriggerEvent("W01", "W02", 2, "north", {"csat": 3.9}, 4.5, "csat", Variance(3.9, "<", 4.2, -0.3))
    pooled = TriggerEvent("W03", "W03", 1, None, {}, 4.5, "csat", units=3)
    rec = TriggersAnalysis(
        {"csat": KpiSeries(("W01", "W02", "W03"), (3.9, None, 4.0), 4.5)},
        {"dip": TriggerEvaluation("csat", "team", "Why?", ("W01", "W02"), "evaluated", 1, 4, 12, 2, 2 / 12,
                                  (plain, pooled)),
         "broken": TriggerEvaluation("nps", None, None, (), "not evaluated: no data for `nps`")})
    want = {
        "series": {"csat": {"periods": ["W01", "W02", "W03"], "values": [3.9, None, 4.0], "target": 4.5}},
        "fired": {
            "dip": {"kpi": "csat", "audience": "team", "ask": "Why?", "periods": ["W01", "W02"],
                    "status": "evaluated", "for_periods": 1, "units": 4, "evaluable": 12, "fired": 2,
                    "share": 2 / 12, "events": [
                        {"start": "W01", "end": "W02", "periods": 2, "segment": "north", "values": {"csat": 3.9},
                         "target": 4.5, "target_of": "csat",
                         "variance": {"left": 3.9, "op": "<", "right": 4.2, "by": -0.3}},
                        {"start": "W03", "end": "W03", "periods": 1, "segment": None, "units": 3, "values": {},
                         "target": 4.5, "target_of": "csat"}]},
            "broken": {"kpi": "nps", "audience": None, "ask": None, "periods": [],
                       "status": "not evaluated: no data for `nps`"}}}
    assert json.dumps(rec.to_json()) == json.dumps(want)
    seg = rec.in_segment().to_json()
    assert "series" not in seg and json.dumps(seg["fired"]) == json.dumps(want["fired"])


def test_triggers_record_of_an_example_run_is_typed_and_json_safe():
    report = metricsense.check(EXAMPLES / "engineering-estimates" / "engineering.msense", config={})
    rec = TriggersAnalysis.of(next(iter(report.analysis.values())))
    assert rec is not None and rec.fired
    for name, info in rec.fired.items():
        assert isinstance(info, TriggerEvaluation) and all(isinstance(e, TriggerEvent) for e in info.events)
    for s in rec.series.values():
        assert all(v is None or (isinstance(v, float) and v == v) for v in s.values)  # NaN became None
    doc = json.loads(report.to_json(analysis="full"))
    assert doc["analysis"][next(iter(doc["analysis"]))]["triggers"] == json.loads(json.dumps(rec.to_json()))
    compact = json.loads(report.to_json())["analysis"][next(iter(doc["analysis"]))]["triggers"]  # the default
    assert compact == json.loads(json.dumps(rec.compact())) and "series" not in compact
    fired = next(t for t in rec.fired.values() if t.events)
    got = compact["fired"][next(k for k, t in rec.fired.items() if t is fired)]
    assert got["events_total"] == len(fired.events) and len(got["latest_events"]) == min(3, len(fired.events))
    assert got["latest_events"][-1] == json.loads(json.dumps(fired.events[-1].to_json()))


# ---- data ----


def test_data_summary_writes_the_report_shape():
    rec = DataSummary(3, "1", "3", None,
                      {"a": SeriesSummary("a.csv", 2, 1, "1", "3"), "b": SeriesSummary("b.csv", 0, 3),
                       "c": SeriesSummary("long.csv", 3, 0, "1", "3", 4)},
                      {"vq": SurveySummary("survey.csv")})
    want = {"periods": 3, "first": "1", "last": "3", "frequency": None, "series": {
        "a": {"source": "a.csv", "observed": 2, "missing": 1, "first": "1", "last": "3"},
        "b": {"source": "b.csv", "observed": 0, "missing": 3},
        "c": {"source": "long.csv", "observed": 3, "missing": 0, "first": "1", "last": "3", "segments": 4}},
        "surveys": {"vq": {"source": "survey.csv"}}}
    assert json.dumps(rec.to_json()) == json.dumps(want)


# ---- registration ----


def test_trust_triggers_and_data_are_registered_records():
    registry = build_registry(get_plugin_manager(entrypoints=False)[0])
    assert registry.analyses["trust"][0] is TrustAnalysis
    assert registry.analyses["triggers"][0] is TriggersAnalysis
    assert registry.analyses["data"][0] is DataSummary


# ---- structure, correlation, gain, noise, distortion ------------------------------------------

#: The JSON report's keys for each record, in order, as docs/reports.md and earlier versions wrote them.
KEYS = {
    "structure": ["kpis", "levers", "disturbances", "failures", "kpis_by_kind", "declared_gains",
                  "structural_rank", "triggers", "trust_signals"],
    "correlation": ["basis", "method", "kpis", "matrix", "n", "effective_number", "effective_of", "effective_kpis"],
    "gain": ["kpis", "levers", "matrix", "source", "condition_number", "scaled_condition_number",
             "minimized_condition_number", "rank", "singular_values", "rga", "suggested_pairing", "rga_number"],
}
NOISE_DATA = ["noise", "changes", "level", "level_periods", "segments"]
NOISE_TARGET = ["target", "comparison", "target_gap", "gap_in_noise", "met"]
NOISE_MODEL = ["spread", "horizon", "model", "p_value"]  # the target judged against a fitted model
RECORDS = {"structure": StructureAnalysis, "correlation": CorrelationAnalysis, "gain": GainAnalysis,
           "noise": NoiseAnalysis, "distortion": DistortionAnalysis}
SPECS = ["store-network/store-network.msense", "school-district/school-district.msense",
         "customer-love/customer-love.msense", "engineering-estimates/engineering.msense"]


def _json(value):
    """What the JSON report writes for ``value`` (tuples as lists, NaN as null), read back."""
    return json.loads(json.dumps(finite(value)))


@pytest.fixture(scope="module", params=SPECS)
def checked(request):
    """A spec checked in this process, and the JSON `msense check --format json` wrote for it."""
    spec = EXAMPLES / request.param
    out = subprocess.run([sys.executable, "-P", "-m", "metricsense", "check", "--exit-zero", "--format", "json",
                          "--analysis", "full", str(spec)], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    (cli,) = json.loads(out)["analysis"].values()
    report = metricsense.check(spec)
    (analysis,) = report.analysis.values()
    (compact,) = json.loads(report.to_json())["analysis"].values()  # the default form
    return analysis, cli, compact


@pytest.mark.parametrize("name", list(RECORDS))
def test_each_record_writes_what_the_json_report_holds(checked, name):
    analysis, cli, compact = checked
    record = RECORDS[name].of(analysis)
    assert record is not None, f"no {name} record"
    assert _json(record.to_json()) == cli[name]  # --analysis full
    assert list(record.to_json()) == list(cli[name])  # and in the same order
    assert _json(record.compact()) == compact[name]  # the default
    assert list(record.compact()) == list(compact[name])


@pytest.mark.parametrize("name", list(KEYS))
def test_record_keys_are_the_documented_shape(checked, name):
    analysis, _cli, _compact = checked
    keys = list(RECORDS[name].of(analysis).to_json())
    # `estimated` follows the gain record's keys only when data gave estimates beside declarations
    assert keys in (KEYS[name], KEYS[name] + ["estimated"])


def test_noise_and_distortion_entries_keep_their_shape(checked):
    analysis, _cli, _compact = checked
    for entry in NoiseAnalysis.of(analysis).to_json().values():
        keys = list(entry)
        assert keys[:len(NOISE_DATA)] == NOISE_DATA
        assert keys[len(NOISE_DATA):len(NOISE_DATA) + len(NOISE_TARGET)] in (NOISE_TARGET, [])
        rest = keys[len(NOISE_DATA) + len(NOISE_TARGET):]
        assert rest[:len(NOISE_MODEL)] == NOISE_MODEL or not set(NOISE_MODEL) & set(rest)
        assert set(keys) - set(NOISE_DATA) - set(NOISE_TARGET) - set(NOISE_MODEL) <= {"review", "triggers"}
    for entry in DistortionAnalysis.of(analysis).to_json().values():
        assert list(entry)[:2] == ["set", "set_from"]
        assert set(entry) <= {"set", "set_from", "bunching", "variance", "divergence"}


def test_absent_parts_are_left_out_not_null():
    declared = LagNoise(days=91.3125, source="declared")
    assert declared.to_json() == {"days": 91.3125, "source": "declared"}
    estimated = LagNoise(days=42.0, source="estimated", periods=6, correlation=0.25, n=97)
    assert list(estimated.to_json()) == ["days", "source", "periods", "correlation", "n"]
    review_only = KpiNoise(review=ReviewNoise(every_days=30.4375, lags={"tutoring": declared}))
    assert review_only.to_json() == {"review": {"every_days": 30.4375, "lags": {"tutoring": declared.to_json()}}}
    no_target = KpiNoise(noise=None, changes=0, level=None, level_periods=3, segments=None)
    assert no_target.to_json() == {"noise": None, "changes": 0, "level": None, "level_periods": 3, "segments": None}
    assert KpiDistortion(status="too few periods").to_json() == {"status": "too few periods"}
    gain = GainAnalysis(kpis=("a",), levers=("x",), matrix=[[1.0]], source="declared", condition_number=1.0,
                        scaled_condition_number=1.0, minimized_condition_number=1.0, rank=1, singular_values=[1.0],
                        rga=[[1.0]], suggested_pairing={"a": "x"}, rga_number=0.0)
    assert list(gain.to_json()) == KEYS["gain"]
    est = EstimatedGains(kpis=("a",), levers=("x",), matrix=[[None]], se=[[None]], n=[0], lag=0)
    with_est = GainAnalysis(**{**gain.__dict__, "estimated": est})
    assert with_est.to_json()["estimated"] == {"kpis": ["a"], "levers": ["x"], "matrix": [[None]], "se": [[None]],
                                               "n": [0], "lag": 0}


def test_option_variants_are_records_in_the_json():
    spec = EXAMPLES / "school-district" / "school-district.msense"
    config = {"rules": {"MS401": {"target_set": {"class_scores": "2024-09-01"}}, "MS301": {"level_periods": 1}}}
    report = metricsense.check(spec, config=config)
    (analysis,) = report.analysis.values()
    (written,) = json.loads(report.to_json(analysis="full"))["analysis"].values()
    (compact,) = json.loads(report.to_json())["analysis"].values()
    distortion = analysis["distortion_options"]["MS401"]
    assert isinstance(distortion, DistortionAnalysis)
    assert written["distortion_options"]["MS401"] == _json(distortion.to_json())
    assert compact["distortion_options"]["MS401"] == _json(distortion.compact())  # each record of the mapping
    assert written["distortion_options"]["MS401"]["class_scores"]["set_from"] == "target_set"
    noise = analysis["noise_options"]["MS301"]
    assert isinstance(noise, NoiseAnalysis)
    assert written["noise_options"]["MS301"] == _json(noise.to_json())
    assert {e["level_periods"] for e in written["noise_options"]["MS301"].values() if "level_periods" in e} == {1}


def test_a_rule_reads_other_families_records_by_field():
    # A rule that needs the structure and gain results reads their records through the types in
    # records.py: it imports neither evaluators.structure nor evaluators.decoupling.
    seen = {}

    @metricsense.rule(code="XYZ901", name="rank-versus-gains", severity=Severity.INFO)
    def rank_versus_gains(ctx):
        """The structural rank against the gain matrix's rank.

        ## Why is this bad?
        A test rule reading two families' records (seed 002).
        """
        structure, gain = StructureAnalysis.of(ctx.analysis), GainAnalysis.of(ctx.analysis)
        seen["ranks"] = (structure.structural_rank, gain.rank, gain.kpis)
        if gain.rank < structure.structural_rank:
            yield ctx.report(ctx.spec.kpis[0], f"rank {gain.rank} below {structure.structural_rank}")

    class Plugin:
        @metricsense.hookimpl
        def metricsense_register_rules(register):
            register(rank_versus_gains)

    from metricsense.plugins import get_plugin_manager

    pm, problems = get_plugin_manager(entrypoints=False)
    assert not problems
    pm.register(Plugin, name="cross-family")
    spec = ('mission "M"\nlever ads "A"\nlever seo "S"\n'
            'kpi visits "V" { responds ads +1.0, seo +0.5 }\nkpi signups "G" { responds ads +0.2, seo +0.1 }\n')
    report = metricsense.check(spec, config={}, plugin_manager=pm)
    assert seen["ranks"] == (2, 1, ("visits", "signups"))
    assert [d.message for d in report.diagnostics if d.code == "XYZ901"] == ["rank 1 below 2"]


def test_the_trust_record_s_public_copy_names_no_group_and_is_its_own_public_copy():
    group = ShownGroup("grp-a", "mgr-a", 4.5, 3.0, 1.5, 6, 1.0, 0.5, 0.5, True)
    signal = TrustSignalAnalysis((1, 5), 1.0, 5, "2025-Q1", (group,), 1, 1, 0, None)
    record = TrustAnalysis({"vq": signal})
    public = record.public()
    text = dumps(public)
    assert "grp-a" not in text and "mgr-a" not in text and '"not_named": 1' in text
    assert public.signals["vq"].suppressed == 1  # how many are hidden, as before
    assert public.public() is public  # a report's public copy is its own public copy
    assert "not_named" not in dumps(record)  # the JSON shape is unchanged for a reader who asked
