"""A third-party rule's findings marked personal (``ctx.report(..., personal=True)``) in a
segmented run, through the installed CLI (entry points: the `--jobs 2` workers load the plugin
too): which segments such a finding fired in names them (`--by manager_id`), so the rollup does
not list them for a reader who did not ask, and whether a finding is personal is its mark, never
a text in its JSON (a public finding's evidence may hold `"personal": true`)."""

from __future__ import annotations

import json
import os

import pytest

from support import fake_distribution, run_msense

PLUGIN = '''
import metricsense
from metricsense.diagnostics import Severity


@metricsense.rule(code="PRS001", name="manager-note", severity=Severity.WARNING)
def manager_note(ctx):
    """Sometimes names the segment's manager."""
    if ctx.data is not None and ctx.data.series("a") is not None:
        yield ctx.report(ctx.spec.kpis[0], "the manager here is struggling", personal=True)


@metricsense.rule(code="PRS002", name="public-note", severity=Severity.INFO)
def public_note(ctx):
    """Public, though its evidence holds the key `personal`."""
    if ctx.data is not None and ctx.data.series("a") is not None:
        yield ctx.report(ctx.spec.kpis[0], 'a public note {"personal": true}', evidence={"personal": True})


@metricsense.rule(code="PRS003", name="manager-test", severity=Severity.WARNING)
def manager_test(ctx):
    """A statistical finding about the segment's manager."""
    ctx.tests(1)
    if ctx.data is not None and ctx.data.series("a") is not None:
        yield ctx.report(ctx.spec.kpis[0], "the manager here tested badly", evidence={"p_value": 1e-6},
                         personal=True)


@metricsense.hookimpl
def metricsense_register_rules(register):
    register(manager_note)
    register(public_note)
    register(manager_test)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return fake_distribution(tmp_path_factory.mktemp("site"), "personal-plugin", "personal", PLUGIN)


def _msense(site, folder, *args):
    path = os.pathsep.join([str(site), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    proc = run_msense("check", "csv.msense", "--by", "team", *args, cwd=folder,
                      env={"PYTHONPATH": path, "METRICSENSE_DISABLE_PLUGINS": ""})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_the_rollup_names_no_segment_for_a_finding_marked_personal(site, folder, jobs):
    doc = json.loads(_msense(site, folder, "--format", "json", *jobs))
    rules = {r["code"]: r for r in doc["segments"]["rules"]}
    assert "PRS001" not in rules and "PRS003" not in rules  # listed every segment they fired in
    assert not [d for d in doc["diagnostics"] if d["code"] in ("PRS001", "PRS003")]
    assert doc["withheld"]["codes"]["PRS001"] == 5 and doc["withheld"]["codes"]["PRS003"] == 5
    for r in doc["segments"]["results"]:
        assert "PRS001" not in r["codes"] and "PRS003" not in r["codes"]
    # public, whatever its evidence holds: shown as the text format shows it (the JSON hid it)
    assert len([d for d in doc["diagnostics"] if d["code"] == "PRS002"]) == 5 and rules["PRS002"]["fired"] == 5
    assert all(r["codes"].get("PRS002") == 1 for r in doc["segments"]["results"])
    text = _msense(site, folder, "--format", "text", "--no-color", *jobs)
    assert "PRS001 manager-note:" not in text and "PRS003 manager-test:" not in text
    assert "struggling" not in text and "tested badly" not in text
    assert text.count("a public note") == 5
    assert "personal findings (MS501, PRS001, PRS003) are not shown here" in text


def test_every_format_and_the_reader_who_asked(site, folder):
    for fmt in ("sarif", "html", "markdown"):
        out = _msense(site, folder, "--format", fmt)
        assert "struggling" not in out and "tested badly" not in out, fmt
        assert "manager-note" not in out.replace("PRS001 manager-note", "") or fmt == "sarif", fmt
        assert "manager-test" not in out.replace("PRS003 manager-test", "") or fmt == "sarif", fmt
        assert "| PRS001 |" not in out and "<td>PRS001</td>" not in out and "<code>PRS001</code>" not in out, fmt
    asked = json.loads(_msense(site, folder, "--format", "json", "--show-personal", "--jobs", "2"))
    rules = {r["code"]: r["fired"] for r in asked["segments"]["rules"]}
    assert rules["PRS001"] == rules["PRS003"] == rules["PRS002"] == 5
    assert len([d for d in asked["diagnostics"] if d["code"] in ("PRS001", "PRS003")]) == 10


INDIVIDUAL = '''mission "M"
data "kpis.csv" layout wide segment "person"
lever deploys "Deploys"
kpi est_error "Estimate error per engineer" {
  scope individual
  better lower
  target <= 12 by 2026-12-31
  responds deploys +0.5
}
trigger big_error when est_error > 25 for 2 periods {
  ask "What made the estimates hard?"
  with one-to-one
}
'''


@pytest.fixture(scope="module")
def individual(tmp_path_factory):
    """Three engineers' weekly estimate errors (bob's around 30, over the trigger's 25)."""
    import datetime

    import numpy as np

    rng = np.random.default_rng(2)
    root = tmp_path_factory.mktemp("individual")
    rows = ["period,person,est_error,deploys"]
    for person, level in (("alice", 10), ("bob", 30), ("carol", 10)):
        for w in range(40):
            day = (datetime.date(2025, 1, 6) + datetime.timedelta(weeks=w)).isoformat()
            rows.append(f"{day},{person},{rng.normal(level, 5):.2f},{int(rng.integers(1, 9))}")
    (root / "kpis.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (root / "s.msense").write_text(INDIVIDUAL, "utf-8")
    return root


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_a_segment_that_is_one_persons_numbers_is_personal(individual, jobs):
    # `--by person` on a `scope individual` KPI: SARIF said "[person=bob] trigger `big_error` fires
    # in 72% of the periods", and the JSON gave each engineer's levels as their segment's analysis
    def check(*args):
        proc = run_msense("check", "s.msense", "--by", "person", *args, *jobs, cwd=individual)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.stdout

    for fmt in ("sarif", "markdown", "github", "junit", "html", "text"):
        out = check("--format", fmt, *(["--no-color"] if fmt == "text" else []))
        assert "person=" not in out, fmt
        assert not [name for name in ("alice", "bob", "carol") if name in out], fmt
    doc = json.loads(check("--format", "json"))
    assert doc["withheld"]["personal"] >= 1 and not doc["segments"]["rules"]
    assert [(r["segment"], r["codes"], r["analysis"]) for r in doc["segments"]["results"]] == [
        (name, {}, {}) for name in ("alice", "bob", "carol")]
    asked = json.loads(check("--format", "json", "--show-personal"))
    assert any("[person=bob]" in d["message"] for d in asked["diagnostics"])
    assert all(r["analysis"] for r in asked["segments"]["results"])
