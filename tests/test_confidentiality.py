"""Suppressed trust groups leave no trace: every output is searched for their names and values.

The fixture has one group below the minimum (3 respondents) and one that must be suppressed
with it (secondary suppression: otherwise the total minus the shown groups gives it away). Their
group names, manager ids, means, gaps and counts must appear nowhere: text, JSON, SARIF, JUnit,
GitHub, Markdown, HTML, the agenda (Markdown and JSON), the command line, and log records.
"""

from __future__ import annotations

import json
import logging

import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis
from support import run_msense
from metricsense.engine import build_registry
from metricsense.plugins import get_plugin_manager

GROUPS = {
    # group: (manager id, the manager's own answer, the team's answers)
    "grp-quokka": ("mgr-zx81", 5, [1, 1, 2]),            # 3 < 5: suppressed
    "grp-wombat": ("mgr-qv42", 5, [1, 1, 1, 1, 2, 2]),   # next smallest: secondary suppression
    "grp-otter": ("mgr-aa11", 4, [4, 4, 4, 5, 3, 4, 4, 4]),
    "grp-badger": ("mgr-bb22", 5, [3, 3, 2, 3, 3, 3, 3, 3, 3]),  # gap 2.11: MS501, shown
}
HIDDEN = ("grp-quokka", "grp-wombat")
# Both hidden groups have a team mean of 1.333... and a gap of 3.666...; their counts are 3 and 6.
FORBIDDEN = ["grp-quokka", "mgr-zx81", "grp-wombat", "mgr-qv42", "quokka", "wombat", "zx81", "qv42",
             "1.33", "1.333", "3.67", "3.666", "3.667", "n=3", "n=6", '"n": 3', '"n": 6', "n: 3", "n: 6"]


@pytest.fixture
def spec(tmp_path):
    lines = ["period,group,manager_id,role,question,score"]
    for group, (manager, own, team) in GROUPS.items():
        lines.append(f"2026-03-31,{group},{manager},manager,managers,{own}")
        lines += [f"2026-03-31,{group},{manager},team,team,{s}" for s in team]
    (tmp_path / "survey.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (tmp_path / "kpis.csv").write_text("period,mv\n" + "".join(
        f"2026-0{m}-28,{v}\n" for m, v in zip(range(1, 10), [3.9, 3.8, 3.2, 3.1, 3.5, 3.7, 3.2, 3.1, 3.6])), "utf-8")
    path = tmp_path / "team.msense"
    path.write_text(
        'mission "Managers who help their people grow"\n'
        'data "kpis.csv"\n'
        'kpi mv "Value my manager brings" { scope team\n target >= 3.8 by 2027-01-01 }\n'
        'trigger mv_low when mv < 3.3 for 2 periods {\n  ask "What would make one-to-ones more useful?"\n  with team\n}\n'
        'trust value_question {\n'
        '  managers "What value are you bringing to each team member?"\n'
        '  team     "What value did your manager bring to your team?"\n'
        '  scale 1..5\n  data "survey.csv"\n  gap > 1.0\n  min_group 5\n}\n', "utf-8")
    return path


def _assert_clean(text: str, where: str) -> None:
    found = [s for s in FORBIDDEN if s in text]
    assert not found, f"{where} shows {found}"


def test_the_fixture_really_has_what_must_be_hidden(spec):
    report = metricsense.check(spec, config={})
    (analysis,) = report.analysis.values()
    info = TrustAnalysis.of(analysis).signals["value_question"].to_json()
    assert info["suppressed"] == 2 and info["below_minimum"] == 1 and info["secondary"] == 1
    assert sorted(g["group"] for g in info["groups"] if not g["suppressed"]) == ["grp-badger", "grp-otter"]
    codes = [d.code for d in report.diagnostics]
    assert "MS501" in codes and "MS502" in codes
    # and the baseline: the shown groups do appear (the search would find a leak)
    assert "grp-badger" in report.to_json() and "mgr-bb22" in report.to_json()


def test_no_output_format_shows_a_suppressed_group(spec, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    report = metricsense.check(spec, config={})
    pm, _ = get_plugin_manager(entrypoints=False)
    registry = build_registry(pm)
    for name, (render, _plugin) in sorted(registry.formats.items()):
        _assert_clean(render(report), f"--format {name}")
    agenda = metricsense.agenda(report)
    md = agenda.to_markdown()
    assert "grp-badger" in md  # the shown gap is on the agenda
    _assert_clean(md, "agenda markdown")
    _assert_clean(json.dumps(agenda.to_dict()), "agenda json")
    _assert_clean(repr(report.diagnostics), "diagnostics repr")
    _assert_clean(json.dumps([d.to_dict() for d in report.diagnostics]), "evidence")
    _assert_clean("\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records), "log records")
    out = capsys.readouterr()
    _assert_clean(out.out + out.err, "stdout/stderr")


@pytest.mark.parametrize("args", [["check", "--format", "text", "--no-color"], ["check", "--format", "json"],
                                  ["check", "--format", "html"], ["check", "--format", "markdown"],
                                  ["check", "--format", "sarif"], ["agenda"], ["agenda", "--format", "json"]])
def test_the_command_line_shows_no_suppressed_group(spec, args):
    result = run_msense(*args, str(spec), env={"METRICSENSE_PUREPYTHON": "1"}, cwd=spec.parent)
    assert result.returncode in (0, 1), result.stderr
    assert "grp-badger" in result.stdout or args[-1] == "markdown"  # the search would find a leak
    _assert_clean(result.stdout + result.stderr, " ".join(args))
