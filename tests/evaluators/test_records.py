"""The records of the built-in evaluators (metricsense/evaluators/records.py): their JSON is the report's."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

import metricsense
from metricsense.diagnostics import Severity
from metricsense.encoding import finite
from metricsense.evaluators.records import (
    CorrelationAnalysis,
    DistortionAnalysis,
    EstimatedGains,
    GainAnalysis,
    KpiDistortion,
    KpiNoise,
    LagNoise,
    NoiseAnalysis,
    ReviewNoise,
    StructureAnalysis,
)
from support import EXAMPLES, ROOT

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
                          str(spec)], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    (cli,) = json.loads(out)["analysis"].values()
    (analysis,) = metricsense.check(spec).analysis.values()
    return analysis, cli


@pytest.mark.parametrize("name", list(RECORDS))
def test_each_record_writes_what_the_json_report_holds(checked, name):
    analysis, cli = checked
    record = RECORDS[name].of(analysis)
    assert record is not None, f"no {name} record"
    assert _json(record.to_json()) == cli[name]
    assert list(record.to_json()) == list(cli[name])  # and in the same order


@pytest.mark.parametrize("name", list(KEYS))
def test_record_keys_are_the_documented_shape(checked, name):
    analysis, _cli = checked
    keys = list(RECORDS[name].of(analysis).to_json())
    # `estimated` follows the gain record's keys only when data gave estimates beside declarations
    assert keys in (KEYS[name], KEYS[name] + ["estimated"])


def test_noise_and_distortion_entries_keep_their_shape(checked):
    analysis, _cli = checked
    for entry in NoiseAnalysis.of(analysis).to_json().values():
        keys = list(entry)
        assert keys[:len(NOISE_DATA)] == NOISE_DATA
        assert keys[len(NOISE_DATA):len(NOISE_DATA) + len(NOISE_TARGET)] in (NOISE_TARGET, [])
        assert set(keys) - set(NOISE_DATA) - set(NOISE_TARGET) <= {"review", "triggers"}
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
    (written,) = json.loads(report.to_json())["analysis"].values()
    distortion = analysis["distortion_options"]["MS401"]
    assert isinstance(distortion, DistortionAnalysis)
    assert written["distortion_options"]["MS401"] == _json(distortion.to_json())
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


FAMILIES = ("structure", "correlation", "decoupling", "noise", "distortion", "trust", "conversation")


@pytest.mark.parametrize("family", FAMILIES)
def test_evaluator_families_do_not_import_each_other(family):
    tree = ast.parse((ROOT / "metricsense" / "evaluators" / f"{family}.py").read_text("utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    others = {f"metricsense.evaluators.{f}" for f in FAMILIES if f != family}
    assert not imported & others, f"{family} imports {sorted(imported & others)}"
