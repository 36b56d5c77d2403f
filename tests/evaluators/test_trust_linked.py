"""A fourth attack on the trust tables (docs/robustness.md, L1-L6): runs whose settings the spec
author varies, groups nested in one another (a department and its teams), and what messages
about a survey say. Each test is an attack that worked before its fix; the inputs are kept as
they were."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis

HEADER = "period,group,manager_id,role,question,score"


def _check(tmp_path, rows: list[str], *, scale: str = "1..5", extra: str = "", option: str = "", **kwargs):
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text(
        f'mission "M"\ntrust vq {{\n  scale {scale}\n  data "survey.csv"{option}\n  min_group 5\n{extra}}}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True, **kwargs)
    assert not [d for d in report.diagnostics if d.code == "MS005"], [d.message for d in report.diagnostics]
    found = TrustAnalysis.of(next(iter(report.analysis.values())))
    return report, (found.signals.get("vq") if found is not None else None)


def _team(period: str, group: str, n: int, score=lambda i: 3, ids=None) -> list[str]:
    return [f"{period},{group},m-{group},team,team,{score(i)}" + (f",{ids[i]}" if ids else "") for i in range(n)]


def _published(report) -> str:
    """Everything a reader gets: the JSON report, the text report and the agenda."""
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    registry = build_registry(get_plugin_manager()[0])
    return "\n".join([report.to_json(), registry.formats["text"][0](report),
                      json.dumps(metricsense.agenda(report).to_dict())])


# ---- L1: `open` as a test of which rounds a small team answered in ----------------------------

@pytest.mark.parametrize("probe", ['open "2025-Q2"', 'open "2025-Q3"', 'open "2025-Q4"', 'open "2025-08"',
                                   'open "2026"'])
def test_open_is_no_test_of_which_later_rounds_hold_answers(tmp_path, probe):
    # `big` reaches the minimum in 2025-Q1 only; a two-person team answered in 2025-Q3. The count
    # of later rounds not reported was taken among the closed rounds: `open "2025-Q3"` made it 0,
    # any other label left it at 1, so the label of the small team's round was found.
    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q3", "small", 2)
    plain, info = _check(tmp_path, rows)
    assert info.period == "2025-Q1" and info.unreported_rounds == 1
    probed, again = _check(tmp_path, rows, extra=f"  {probe}\n")
    assert again.period == "2025-Q1" and again.unreported_rounds == 1, probe
    # the same whatever `open` names (echoed as written): nothing says where the small team is
    label = probe.split('"')[1]
    shown = _published(probed).replace(label, "OPEN")
    assert shown == _published(_check(tmp_path, rows, extra='  open "2030-Q1"\n')[0]).replace("2030-Q1", "OPEN")


@pytest.mark.parametrize("probe", ['open "2025-Q1"', 'open "2025"', 'open "2025-02"'])
def test_open_holding_back_every_shown_round_says_nothing_about_the_others(tmp_path, probe):
    # with the reported round held back too, the count was of the closed rounds left (none when
    # `open` spanned the small team's round as well): a span test of where it lies
    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q3", "small", 2)
    report, info = _check(tmp_path, rows, extra=f"  {probe}\n")
    assert info.groups == () and info.unreported_rounds == 2, probe
    (note,) = [d for d in report.diagnostics if d.code == "MS502"]
    assert "2 rounds not reported: open, or no group in them reached the minimum" in note.message
