"""The conversation agenda: from the Python API and from `msense agenda`."""

from __future__ import annotations

import json

import metricsense
from metricsense.evaluators.records import TriggersAnalysis
from support import EXAMPLES, run_msense

ENGINEERING = EXAMPLES / "engineering-estimates" / "engineering.msense"


def test_agenda_from_a_spec_and_from_a_report_agree():
    report = metricsense.check(ENGINEERING, config={})
    a = metricsense.agenda(report)
    b = metricsense.agenda(ENGINEERING, config={})
    assert a.to_dict() == b.to_dict()
    (analysis,) = report.analysis.values()
    events = sum(len(t.events) for t in TriggersAnalysis.of(analysis).fired.values())
    assert len(a.items) == events


def test_agenda_groups_by_audience_with_question_spark_and_blank():
    md = metricsense.agenda(ENGINEERING, since="2026-05-01", config={}).to_markdown()
    assert md.startswith("# Conversation agenda")
    headings = [line for line in md.splitlines() if line.startswith("## With ")]
    assert headings == sorted(set(headings), key=headings.index)  # each audience once
    assert "## With one-to-one" in md
    assert "what does each of you know about it that the other does not?" in md
    assert "variance:" in md and "values: `estimate.self`" in md
    assert md.count("what we learned: ____") == len(metricsense.agenda(ENGINEERING, since="2026-05-01", config={}).items)


def test_since_filters_by_the_end_of_the_event():
    full = metricsense.agenda(ENGINEERING, config={})
    recent = metricsense.agenda(ENGINEERING, since="2026-05-01", config={})
    assert 0 < len(recent.items) < len(full.items)
    assert all(i.end >= "2026-05-01" for i in recent.items)
    assert not metricsense.agenda(ENGINEERING, since="2999-01-01", config={}).items


def test_trust_gaps_are_on_the_agenda_with_the_manager():
    agenda = metricsense.agenda(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    trust = [i for i in agenda.items if i.source == "value_question"]
    assert [i.audience for i in trust] == ["manager"]
    assert any("product-eng" in s for s in trust[0].sparked)
    assert "security" not in json.dumps([i.to_dict() for i in trust])  # 3 respondents: never shown


def test_cli_agenda_markdown_and_json():
    result = run_msense("agenda", str(ENGINEERING), "--since", "2026-05-01")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Conversation agenda") and "## With one-to-one" in result.stdout
    result = run_msense("agenda", str(ENGINEERING), "--since", "2026-05-01", "--format", "json")
    data = json.loads(result.stdout)
    assert data["since"] == "2026-05-01" and data["items"]


def test_cli_agenda_of_a_broken_spec_exits_2(tmp_path):
    spec = tmp_path / "bad.msense"
    spec.write_text('kpi a "A" { }\ntrigger t when a - 1 for 1 period { ask "?" }\n', "utf-8")
    result = run_msense("agenda", str(spec))
    assert result.returncode == 2
    assert "MS604" in result.stderr
