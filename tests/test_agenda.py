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


STORES = EXAMPLES / "store-network" / "store-network.msense"


def test_each_number_says_what_it_is_and_every_period_of_a_run_is_listed():
    md = metricsense.agenda(ENGINEERING, config={}).to_markdown()
    assert "seed 003" not in md  # plain words, not a reference the reader cannot follow
    # the variance names the two sides of the condition as the spec writes them
    assert "variance: `abs(estimate.self - estimate.manager)` was " in md
    assert ", above `25% of estimate.manager` (" in md
    agenda = metricsense.agenda(STORES, config={})
    runs = [i for i in agenda.items if i.start != i.end]
    assert runs, "store-network has runs of several periods"
    assert "for 2 periods" in STORES.read_text()
    (analysis,) = metricsense.check(STORES, config={}).analysis.values()
    fired = TriggersAnalysis.of(analysis).fired["queue_up"]
    text = agenda.to_markdown()
    for e in fired.events:
        # every period the condition held in: the fired ones, and the one before them that the
        # trigger's `for 2 weeks` needed
        i = list(fired.periods).index(e.start)
        listed = list(fired.periods)[i:i + e.periods]
        assert listed[-1] == e.end and list(e.held[-e.periods:]) == listed and len(e.held) == e.periods + 1
        assert f"periods ({len(e.held)} in a row): {', '.join(e.held)}" in text
        assert f"variance in {e.end}: `queue_time` was " in text


def test_items_are_grouped_by_unit_and_a_one_way_gap_is_named():
    whole = metricsense.agenda(STORES, config={}).to_markdown()
    text = whole.split("### `queue_up`", 1)[1].split("\n### ", 1)[0]
    items = [i for i in metricsense.agenda(STORES, config={}).items if i.source == "queue_up"]
    per_unit = {}
    for i in items:
        per_unit[i.segment] = per_unit.get(i.segment, 0) + 1
    # one heading per unit, the units with most events first, with their counts
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert len(headings) == len(per_unit)
    counts = [int(h.rsplit("(", 1)[1].split(" ")[0]) for h in headings]
    assert counts == sorted(counts, reverse=True) and sum(counts) == len(items)
    assert f"{len(items)} times, for {len(per_unit)} units." in text
    # the estimates: the engineer's estimate is above the manager's in most events: said once, up front
    eng = metricsense.agenda(ENGINEERING, config={})
    pairs = [tuple(i.values.values()) for i in eng.items if i.source == "estimate_gap"]
    above = sum(a > b for a, b in pairs)
    assert above >= 0.75 * len(pairs)
    assert f"In {above} of {len(pairs)}, `estimate.self` was above `estimate.manager`" in eng.to_markdown()


def test_expr_text_writes_what_the_spec_means():
    from metricsense.expressions import expr_text, first_comparison
    from metricsense.syntax.fmt import without_spans

    for cond, left, right in [
        ("abs(a.self - a.manager) > 25% of a.manager", "abs(a.self - a.manager)", "25% of a.manager"),
        ("(x - y) - z < target - 1", "x - y - z", "target - 1"),
        ("x - (y - z) >= 2 * (x + 1)", "x - (y - z)", "2 * (x + 1)"),
        ("mean(x, 4) / -x <= target(y) / (2 / x)", "mean(x, 4) / -x", "target(y) / (2 / x)"),
    ]:
        doc = metricsense.load(f'mission "M"\nkpi x "X" {{ }}\nkpi y "Y" {{ }}\nkpi z "Z" {{ }}\n'
                                f'kpi a "A" {{ }}\ntrigger t when {cond} for 1 period {{ ask "?" }}\n')
        cmp = first_comparison(doc.triggers[0].condition)
        assert (expr_text(cmp.left), expr_text(cmp.right)) == (left, right), cond
        # written back, it parses to the same expression
        again = metricsense.load(f'mission "M"\ntrigger t when {expr_text(cmp)} for 1 period {{ ask "?" }}\n')
        assert without_spans(again.triggers[0].condition) == without_spans(doc.triggers[0].condition), cond


def test_expr_text_reads_back_as_the_same_expression_however_it_nests():
    from metricsense.expressions import expr_text
    from metricsense.syntax.fmt import without_spans

    head = 'mission "M"\nkpi x "X" { }\nkpi y "Y" { }\nkpi revenue "R" { }\n'
    for cond, text in [
        ("revenue < 1250000", "revenue < 1250000"),             # not `1.25e+06`
        ("x > 0.1234567", "x > 0.1234567"),                     # not rounded to 6 digits
        ("x + (y - 1) > 2", "x + (y - 1) > 2"),                 # a right operand of its own level
        ("x * (y / 2) > 1", "x * (y / 2) > 1"),
        ("10% of (x + y) > 1", "10% of (x + y) > 1"),           # `of` takes an atom
        ("(x > y) > 0", "(x > y) > 0"),                         # comparisons do not chain
        ("(not x) + 1 > 0", "(not x) + 1 > 0"),
        ("-(not x) < 0", "-(not x) < 0"),
        ("x or (y and x) or (x or y)", "x or y and x or (x or y)"),
        ("not not x > 1", "not not (x > 1)"),
    ]:
        cond_expr = metricsense.load(f'{head}trigger t when {cond} for 1 period {{ ask "?" }}\n').triggers[0].condition
        assert expr_text(cond_expr) == text, cond
        again = metricsense.load(f'{head}trigger t when {text} for 1 period {{ ask "?" }}\n').triggers[0].condition
        assert without_spans(again) == without_spans(cond_expr), cond


def test_the_variance_says_what_the_numbers_were_not_what_the_operator_hoped(tmp_path):
    # the first comparison need not hold when the trigger fires: `not (x < 7)` fires when x is
    # above 7, and the agenda must not say "below"; a literal side is not read twice
    rows = ["period,x"] + [f"2025-01-{d:02d},{v}" for d, v in zip((6, 13, 20, 27), (6, 7.5, 6, 8))]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "s.msense"
    spec.write_text('data "x.csv"\nmission "M"\nkpi x "X" { }\n'
                    'trigger high when not (x < 7) for 1 period { ask "?" with team }\n'
                    'trigger low when x < 7 for 1 period { ask "?" with team }\n')
    md = metricsense.agenda(spec, config={}).to_markdown()
    assert "`x` was 7.5, above 7 by 0.5" in md
    assert "`x` was 8, above 7 by 1" in md
    assert "`x` was 6, below 7 by 1" in md
    assert "below `7`" not in md and "by -" not in md


def test_since_is_a_period_compared_by_time():
    # a quarter or an ISO week selects by time (as text, `2025-Q3` sorted after every date of 2025)
    whole = metricsense.agenda(EXAMPLES / "customer-love", config={})
    after = [i for i in whole.items if i.end is not None and i.end >= "2025-07"]
    for since in ("2025-Q3", "Q3 2025", "2025-07", "2025-07-01"):
        assert len(metricsense.agenda(EXAMPLES / "customer-love", since=since, config={}).items) == len(after), since
    # a since that is no period is the user's mistake, said (it selected nothing, silently)
    result = run_msense("agenda", str(EXAMPLES / "customer-love"), "--since", "last week")
    assert result.returncode == 2 and "'last week' is not a period" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_one_way_gap_is_said_only_of_one_kpis_two_sides(tmp_path):
    # `score < 4 and load > 0` read two KPIs on their own scales: "In 26 of 26, `load` was above
    # `score`: a shared habit" compared minutes with points
    rows = ["period,person,series,value"]
    for week in range(12):
        day = f"2025-{1 + week // 4:02d}-{1 + 7 * (week % 4):02d}"
        for person in ("ann", "bo", "cy"):
            rows += [f"{day},{person},score,{3 if (week + len(person)) % 2 else 5}", f"{day},{person},load,10"]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "s.msense"
    spec.write_text('data "p.csv" layout long segment "person"\nmission "M"\nkpi score "S" { }\nkpi load "L" { }\n'
                    'trigger both when score < 4 and load > 0 for 1 period { ask "?" with one-to-one }\n')
    agenda = metricsense.agenda(spec, config={})
    assert len(agenda.items) >= 5
    assert "was above `score`" not in agenda.to_markdown()


def test_large_numbers_are_written_whole(tmp_path):
    # revenue of 12345 read "1.234e+04", and 1250000 "1.25e+06"
    rows = ["period,revenue"] + [f"2025-01-{d:02d},{v}" for d, v in zip((6, 13, 20), (1300000, 12345.4, 1300000))]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "s.msense"
    spec.write_text('data "r.csv"\nmission "M"\nkpi revenue "R" { }\n'
                    'trigger low when revenue < 1250000 for 1 period { ask "?" with team }\n')
    md = metricsense.agenda(spec, config={}).to_markdown()
    assert "`revenue` was 12345, below 1250000 by 1237655" in md and "e+0" not in md


def test_every_period_the_condition_held_in_is_listed(tmp_path):
    # `for 2 periods` fires in the second of two low weeks: the agenda said "period: 2025-01-13"
    # alone; a gap in the data (no 2025-01-20) ends a run
    rows = ["period,x", "2025-01-06,1", "2025-01-13,1", "2025-01-27,1", "2025-02-03,1", "2025-02-10,9",
            "2025-02-17,9", "2025-02-24,9", "2025-03-03,9"]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "s.msense"
    spec.write_text('data "x.csv"\nmission "M"\nkpi x "X" { }\n'
                    'trigger low when x < 5 for 2 periods { ask "?" with team }\n')
    md = metricsense.agenda(spec, config={}).to_markdown()
    assert "periods (2 in a row): 2025-01-06, 2025-01-13" in md
    assert "periods (2 in a row): 2025-01-27, 2025-02-03" in md and "period: " not in md
