"""What an attack after the trust campaign found (docs/robustness.md, A2-A12): each is refused
(MS037, MS504) or no longer published, and every message is searched for the answers it must
not quote."""

from __future__ import annotations

import json

import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis
from support import require, run_msense

SIGNAL = ('trust vq {{\n  managers "How much value do you bring?"\n  team "How much value did you get?"\n'
          '  scale 1..5\n  data "survey.csv"{option}\n  min_group 5\n{extra}}}\n')


def _check(tmp_path, rows: list[str], *, option: str = "", extra: str = "", more: str = "", **kwargs):
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\n' + more + SIGNAL.format(option=option, extra=extra), "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={}, **kwargs)
    assert not [d for d in report.diagnostics if d.code == "MS005"], [d.message for d in report.diagnostics]
    found = TrustAnalysis.of(next(iter(report.analysis.values())))
    return report, (found.signals.get("vq") if found is not None else None)


def _codes(report) -> list[str]:
    return [d.code for d in report.diagnostics]


def _team(group: str, n: int, question: str = "How much value did you get?", score=lambda i: 1 + i % 5,
          period: str | None = None) -> list[str]:
    lead = f"{period}," if period is not None else ""
    return [f"{lead}{group},m-{group},team,{question},{score(i)}" for i in range(n)]


HEADER = "group,manager_id,role,question,score"


# ---- A3: questions and rounds pooled when a name does not match ------------------------------

def test_a_survey_of_several_questions_none_the_signals_is_refused(tmp_path):
    # three questions, two answers each from a two-person team: pooled, it was n=6
    rows = [HEADER] + [r for q in ("Q one", "Q two", "Q three") for r in _team("pair", 2, q)]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "asks 3 questions; none is trust signal `vq`" in d.message
    assert "Q one" not in d.message  # counted, never quoted: a query can put anything there
    assert info is None and report.exit_code == 2


def test_the_signals_own_question_is_read_and_the_others_are_not(tmp_path):
    rows = [HEADER] + _team("a", 6) + _team("a", 6, "Another question", score=lambda i: 5)
    report, info = _check(tmp_path, rows)
    assert "MS037" not in _codes(report)
    assert [(g.group, g.n) for g in info.groups] == [("a", 6)]
    assert info.groups[0].team == pytest.approx(sum(1 + i % 5 for i in range(6)) / 6)


def test_one_question_each_way_is_read_however_it_is_worded(tmp_path):
    rows = [HEADER, "a,m-a,manager,Value you give?,4"] + _team("a", 6, "Value you get?")
    report, info = _check(tmp_path, rows)
    assert "MS037" not in _codes(report) and [g.n for g in info.groups] == [6]


def test_an_answer_with_no_question_beside_named_questions_is_refused(tmp_path):
    rows = [HEADER] + _team("a", 6) + ["a,m-a,team,,3"]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "line 8" in d.message and info is None


@pytest.mark.parametrize("column", ["wave", "survey_date", "Round"])
def test_rounds_in_an_undeclared_column_are_refused_not_pooled(tmp_path, column):
    rows = [f"{column},{HEADER}"] + [r for w in ("1", "2", "3") for r in _team("pair", 2, period=w)]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert f"`{column}`" in d.message and f'period "{column}"' in d.message and info is None
    # declared, the rounds are read one at a time: the pair is 2 people in each, so no round is
    # reported at all (a round with no group shown would say when a small team answered)
    report, info = _check(tmp_path, rows, option=f' period "{column}"')
    assert "MS037" not in _codes(report) and info.groups == () and info.period is None
    assert info.unreported_rounds == 3


def test_a_column_of_one_value_is_not_rounds(tmp_path):
    rows = [f"wave,{HEADER}"] + _team("a", 6, period="2025")
    report, info = _check(tmp_path, rows)
    assert "MS037" not in _codes(report) and [g.n for g in info.groups] == [6]


def test_a_respondent_answering_twice_with_no_round_column_is_refused(tmp_path):
    rows = [HEADER + ",respondent"] + [f"{r},p{i % 3}" for i, r in enumerate(_team("a", 6))]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "a second time" in d.message and "line 5" in d.message and info is None


def test_an_answer_with_no_round_is_refused(tmp_path):
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + [",a,m-a,team,How much value did you get?,4"]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code in ("MS032", "MS037")]  # the periods reader refuses it first
    assert "blank" in d.message and "line 8" in d.message and "nan" not in d.message and info is None


# ---- A2: two signals' tables of the same answers -----------------------------------------------

def test_two_signals_reading_the_same_answers_are_refused(tmp_path):
    rows = ["period,round," + HEADER] + [f"{1 + i // 6},{1 + i // 5},{r}" for i, r in enumerate(_team("a", 12))]
    more = ('trust other {\n  managers "How much value do you bring?"\n  team "How much value did you get?"\n'
            '  scale 1..5\n  data "survey.csv" period "round"\n}\n')
    report, info = _check(tmp_path, rows, more=more)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "`other` and `vq` read the same answers" in d.message
    signals = TrustAnalysis.of(next(iter(report.analysis.values()))).signals
    assert list(signals) == ["other"]  # the first signal only: one table of these answers


def test_two_signals_on_their_own_questions_share_a_survey(tmp_path):
    rows = [HEADER] + _team("a", 6) + _team("a", 7, "Do you feel safe to speak up?")
    more = 'trust safety {\n  team "Do you feel safe to speak up?"\n  scale 1..5\n  data "survey.csv"\n}\n'
    report, info = _check(tmp_path, rows, more=more)
    assert "MS037" not in _codes(report)
    signals = TrustAnalysis.of(next(iter(report.analysis.values()))).signals
    assert [g.n for g in signals["safety"].groups] == [7] and [g.n for g in signals["vq"].groups] == [6]


# ---- A4: a KPI reading the survey file -------------------------------------------------------

@pytest.mark.parametrize("by", [None, "group"])
def test_a_kpi_reading_the_survey_is_refused(tmp_path, by):
    rows = ["period," + HEADER] + _team("big", 6, period="2025-01-01") + _team("tiny", 2, period="2025-01-01")
    more = 'kpi mood "Mood" { data "./survey.csv" column "score" segment "group" layout long }\n'
    report, info = _check(tmp_path, rows, more=more, by=by)
    refused = [d for d in report.diagnostics if d.code == "MS037"]
    assert refused and "`mood` reads `./survey.csv`, the survey of trust signal `vq`" in refused[0].message
    text = report.to_json() + "".join(d.message for d in report.diagnostics)
    assert "tiny" not in text  # neither a segment, nor a series, nor a finding names the hidden group
    assert [g.group for g in info.groups] == ["big"] and info.suppressed == 1  # tiny: hidden


# ---- A5: a reader's message quoting a person's row -------------------------------------------

def test_a_malformed_survey_row_is_named_by_line_not_quoted(tmp_path):
    rows = [HEADER] + _team("a", 6) + ["a,m-a,team,How much value did you get?,4,jane.doe@example.com,hates her boss"]
    report, info = _check(tmp_path, rows)
    text = report.to_json() + "".join(f"{d.message} {d.help}" for d in report.diagnostics)
    assert "jane.doe" not in text and "hates" not in text
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "survey.csv" in d.message and "not shown" in d.message


def test_a_text_score_is_named_by_line_and_column_not_quoted(tmp_path):
    rows = [HEADER] + _team("a", 6) + ["a,m-a,team,How much value did you get?,call me: 555-0199"]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "555" not in d.message and "line 8" in d.message and "`score`" in d.message


# ---- A7: scales ------------------------------------------------------------------------------

def test_a_reversed_scale_is_an_error_and_shows_nothing(tmp_path):
    rows = [HEADER, "a,m-a,manager,How much value do you bring?,1"] + _team("a", 6)
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 5..1\n  data "survey.csv"\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS504"]
    assert "scale 1..5" in d.help and report.exit_code == 2
    assert TrustAnalysis.of(next(iter(report.analysis.values()))) is None
    assert "MS501" not in _codes(report)


@pytest.mark.parametrize("score", ["99", "-50", "5.5"])
def test_a_score_off_the_scale_is_refused_without_quoting_it(tmp_path, score):
    rows = [HEADER] + _team("a", 6) + [f"a,m-a,team,How much value did you get?,{score}"]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    # NOTE: the message names the file, whose temporary path can hold the digits (pytest-992)
    said = d.message.replace(str(tmp_path), "<dir>")
    assert "outside the scale 1..5" in said and score not in said
    assert info is None


# Attack regression (F1): the count and lines of off-scale scores, over several spec scales, were
# every answer's histogram, hidden groups' included.
def test_off_scale_findings_say_neither_how_many_nor_where(tmp_path):
    messages = []
    # NOTE: groups that reach the minimum (L3, test_trust_linked: a hidden group's answers are
    # never looked at against the scale)
    for extra in (5, 8):
        rows = [HEADER] + _team("a", 6) + _team("tiny", extra, score=lambda i: 5)
        report, _ = _check(tmp_path, [r.replace("scale 1..5", "") for r in rows])
        (tmp_path / "s.msense").write_text((tmp_path / "s.msense").read_text().replace("scale 1..5", "scale 1..4"))
        report = metricsense.check(tmp_path / "s.msense", config={})
        (d,) = [d for d in report.diagnostics if d.code == "MS037"]
        messages.append((d.message, d.related))
    assert messages[0] == messages[1] and "line" not in messages[0][0]


def test_a_score_off_the_default_scale_is_refused(tmp_path):
    rows = [HEADER] + _team("a", 6) + ["a,m-a,team,How much value did you get?,99"]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  data "survey.csv"\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert [d for d in report.diagnostics if d.code == "MS037" and "1..5" in d.message]


# ---- A12 and A10: which round is reported -----------------------------------------------------

# ---- the second attack (F2-F12) ---------------------------------------------------------------

def test_a_kpi_reading_a_survey_file_is_refused_without_its_trust_signal(tmp_path):
    rows = ["period," + HEADER] + _team("big", 6, period="2025-01-01") + _team("tiny", 2, period="2025-01-01")
    for report in _kpi_reading_the_survey(tmp_path, rows, "group"):
        assert "tiny" not in report.to_json() and "2.375" not in report.to_json()


def _kpi_reading_the_survey(tmp_path, rows, segment):
    """A KPI whose data is the survey file of ``rows``, by ``segment``: its reports as a whole and
    by that column, each refusing the file (MS037)."""
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "kpi.msense").write_text('mission "M"\nkpi mood "Mood" { data "survey.csv" column "score" '
                                         f'segment "{segment}" layout long }}\n', "utf-8")
    for by in (None, segment):
        report = metricsense.check(tmp_path / "kpi.msense", config={}, by=by)
        assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
        yield report


@pytest.mark.parametrize("header", ["wide", "newline", "long quoted"])
def test_a_survey_file_is_known_by_the_header_the_reader_reads(tmp_path, header):
    # A header wider than 64 kB (read whole since CSVs are read in blocks of rows), or a quoted name
    # holding a newline: the survey columns lay past what the survey check looked at, and a KPI
    # read the file, `--by respondent` giving each person's answers. A quoted name holding a
    # newline and 100 kB (S5): too long for the check's 64 kB, read whole by the reader's 1 MB
    # blocks; the check fell back on the first line, `"x`, and the pair's segments gave each answer.
    lead = {"wide": ",".join(f"extra_{i:05d}" for i in range(7000)), "newline": '"free\ntext"',
            "long quoted": '"x\n' + "a" * 100_000 + '"'}[header]
    blank = "," * (7000 - 1) if header == "wide" else ""
    rows = [f"{lead},period,respondent," + HEADER] + [
        f"{blank},2025-01-01,{group}-r{i},{row}"
        for group, n in (("big", 6), ("tiny", 2)) for i, row in enumerate(_team(group, n, score=lambda i: 1))]
    for report in _kpi_reading_the_survey(tmp_path, rows, "respondent"):
        text = report.to_json() + "".join(d.message for d in report.diagnostics)
        assert "tiny" not in text  # neither the hidden pair's respondents (segments) nor its group


def test_a_malformed_survey_file_is_known_by_its_first_record_not_its_first_line(tmp_path):
    # S7: a first name quoted and holding a newline, and a row with a field too many: Arrow read
    # no header, the check fell back on the first line (`"free`: no survey column), and a KPI's
    # read of the file failed with Arrow's message quoting the row (the hidden pair's answer, an
    # e-mail)
    rows = ['"free\ntext",period,respondent,' + HEADER] + [
        f"z,2025-01-01,{group}-r{i},{row}"
        for group, n in (("big", 6), ("tiny", 2)) for i, row in enumerate(_team(group, n, score=lambda i: 1))]
    rows[-1] += ",alice@example.com"
    for report in _kpi_reading_the_survey(tmp_path, rows, "respondent"):
        text = report.to_json() + "".join(d.message for d in report.diagnostics)
        assert "tiny" not in text and "alice" not in text


def test_a_hard_link_or_another_key_for_the_same_table_is_the_same_survey(tmp_path):
    import os

    rows = ["period," + HEADER] + _team("big", 6, period="2025-01-01")
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    os.link(tmp_path / "survey.csv", tmp_path / "copy.csv")
    more = 'kpi mood "Mood" { data "copy.csv" column "score" }\n'
    report, _ = _check(tmp_path, rows, more=more)
    assert [d for d in report.diagnostics if d.code == "MS037" and "`mood`" in d.message]


@pytest.mark.parametrize("column", ["role", "question", "manager_id", "group", "respondent"])
def test_a_survey_column_cannot_be_the_round_column(tmp_path, column):
    rows = ["wave,respondent," + HEADER] + [f"{w},p{i},{r}" for w in (1, 2, 3) for i, r in enumerate(_team("pair", 2))]
    report, info = _check(tmp_path, rows, option=f' period "{column}"')
    assert [d for d in report.diagnostics if d.code == "MS037" and f"`{column}` cannot be the round" in d.message]
    assert info is None


def test_one_signal_matching_several_questions_is_refused(tmp_path):
    rows = [HEADER] + [r for q in ("q1", "q2", "q3") for r in _team("pair", 2, q)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust q1 {\n  managers "q2"\n  team "q3"\n  scale 1..5\n'
                                       '  data "survey.csv"\n  min_group 3\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert [d for d in report.diagnostics if d.code == "MS037" and "more than one question" in d.message]
    assert TrustAnalysis.of(next(iter(report.analysis.values()))) is None


@pytest.mark.parametrize("column,values", [("Timestamp", ("2025-01-03 10:00", "2025-04-02 09:00")),
                                           ("RecordedDate", ("1/3/2025", "4/2/2025")),
                                           ("fielded_in", ("2025-Q1", "2025-Q2")),
                                           ("x", ("Nov 2024", "Feb 2025"))])
def test_answer_dates_pool_rounds_whatever_the_columns_name(tmp_path, column, values):
    rows = [f"{column},{HEADER}"] + [f"{v},{r}" for v in values for r in _team("pair", 3)]
    report, info = _check(tmp_path, rows)
    assert [d for d in report.diagnostics if d.code == "MS037" and f"`{column}`" in d.message] and info is None


def test_columns_that_are_not_rounds_are_left_alone(tmp_path):
    rows = ["site,store," + HEADER] + [f"s{i % 2},{1000 + i},{r}" for i, r in enumerate(_team("a", 6))]
    report, info = _check(tmp_path, rows)
    assert "MS037" not in _codes(report) and [g.n for g in info.groups] == [6]


def test_open_matches_the_round_as_a_period_and_no_round_of_small_groups_is_reported(tmp_path):
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + _team("a", 6, period="2025-Q2")
    _, info = _check(tmp_path, rows, extra='  open "Q2 2025"\n')
    assert info.period == "2025-Q1" and info.open_round == "Q2 2025"
    # echoed whether or not the survey has such a round: no test of which labels exist
    _, other = _check(tmp_path, rows, extra='  open "Q4 2031"\n')
    assert other.open_round == "Q4 2031" and other.period == "2025-Q2"
    # only a small team's round left: no round is reported, and none named
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + _team("tiny", 2, period="2025-Q2")
    report, info = _check(tmp_path, rows, extra='  open "2025-Q1"\n')
    assert info.period is None and info.groups == () and info.suppressed == 0
    assert "2025-Q2" not in report.to_json()


# Attack regression (eighth session): the scale check read the round `open` holds back: a spec
# with `scale 1..4` checked once after each late answer, and MS037 came and went with that answer.
def _late_answer(tmp_path, late: str):
    """(codes, exit code, JSON) with the round held back by `open`, and with it read."""
    rows = (["period," + HEADER] + _team("a", 6, period="2025-Q1", score=lambda i: 1 + i % 4)
            + _team("a", 6, period="2025-Q2", score=lambda i: 3) + [f"2025-Q2,a,m-a,team,How much value did you get?,{late}"])
    outputs = []
    for spec_open in ('  open "2025-Q2"\n', ""):
        _check(tmp_path, rows, extra=spec_open)
        spec = tmp_path / "s.msense"
        spec.write_text(spec.read_text().replace("scale 1..5", "scale 1..4"))
        report = metricsense.check(spec, config={})
        outputs.append((_codes(report), report.exit_code, report.to_json()))
    return outputs


@pytest.mark.parametrize("late", ["3", "5"])
def test_the_open_round_is_never_read_against_the_scale(tmp_path, late):
    held, read = _late_answer(tmp_path, late)
    assert "MS037" not in held[0] and held[1] != 2  # the open round's answers are not looked at
    # read (no `open`): the same answers are checked, and a 5 is off the scale 1..4
    assert ("MS037" in read[0]) == (late == "5")


def test_a_late_answer_in_the_open_round_changes_nothing_shown(tmp_path):
    shown = []
    for late in ("3", "5"):
        folder = tmp_path / late
        folder.mkdir()
        shown.append(_late_answer(folder, late)[0][2])
    assert shown[0] == shown[1].replace(str(tmp_path / "5"), str(tmp_path / "3"))


def test_a_group_whose_team_did_not_answer_is_not_counted(tmp_path):
    rows = [HEADER, "solo,m-solo,manager,How much value do you bring?,5"] + _team("a", 6)
    report, info = _check(tmp_path, rows)
    assert info.suppressed == 0 and info.total is not None and info.total.n == 6


def test_a_person_answering_as_manager_and_as_team_member_is_not_answering_twice(tmp_path):
    rows = [HEADER + ",respondent", "a,m-a,manager,q,4,boss"] + [f"{r},p{i}" for i, r in enumerate(_team("a", 5, "q"))]
    rows += ["b,m-b,team,q,3,boss"] + [f"{r},b{i}" for i, r in enumerate(_team("b", 5, "q"))]
    report, info = _check(tmp_path, rows)
    assert "MS037" not in _codes(report)
    assert sorted((g.group, g.n) for g in info.groups) == [("a", 5), ("b", 6)]


def test_a_numeric_group_is_named_as_written(tmp_path):
    rows = [HEADER] + [r.replace("seven,", "7,", 1) for r in _team("seven", 6)]
    _, info = _check(tmp_path, rows)
    assert [g.group for g in info.groups] == ["7"]


def test_a_later_round_with_only_a_small_groups_pulse_is_not_the_reported_round(tmp_path):
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + _team("b", 7, period="2025-Q1")
    rows += _team("a", 2, period="2025-Q2")  # one small team's pulse
    report, info = _check(tmp_path, rows, show_personal=True)
    assert info.period == "2025-Q1" and info.unreported_rounds == 1
    assert sorted(g.group for g in info.groups) == ["a", "b"] and info.suppressed == 0
    (note,) = [d for d in report.diagnostics if d.code == "MS502"]
    assert "1 later round not reported" in note.message and "2025-Q2" not in report.to_json()


def test_an_open_round_is_not_reported(tmp_path):
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + _team("a", 6, period="2025-Q2")
    first, info = _check(tmp_path, rows, extra='  open "2025-Q2"\n')
    assert info.period == "2025-Q1" and info.open_round == "2025-Q2"
    (note,) = [d for d in first.diagnostics if d.code == "MS502"]
    assert "round `2025-Q2` is open" in note.message
    # a late respondent changes nothing published while the round is open
    second, _ = _check(tmp_path, rows + _team("a", 1, period="2025-Q2", score=lambda i: 1), extra='  open "2025-Q2"\n')
    assert json.loads(first.to_json())["analysis"] == json.loads(second.to_json())["analysis"]


# Review regression: a month and the quarter starting the same day were one round, and an `open`
# month inside a quarter did not hold that quarter back.
@pytest.mark.parametrize("open_label,reported", [("2025-05", "2025-Q1"), ("2025-04", "2025-Q1"), ("2025", None),
                                                 ("2025-W20", "2025-Q1"), ("2025-03", "2025-Q2")])
def test_open_holds_back_every_round_it_overlaps_in_time(tmp_path, open_label, reported):
    rows = ["period," + HEADER] + _team("a", 6, period="2025-Q1") + _team("a", 6, period="2025-Q2")
    report, info = _check(tmp_path, rows, extra=f'  open "{open_label}"\n')
    assert info.period == reported, open_label
    if reported is None:
        assert info.groups == () and "2025-Q" not in report.to_json()
    # a late respondent in the open quarter changes nothing published
    late = rows + _team("a", 1, period="2025-Q2" if reported != "2025-Q2" else "2025-Q1", score=lambda i: 1)
    again, _ = _check(tmp_path, late, extra=f'  open "{open_label}"\n')
    assert json.loads(report.to_json())["analysis"] == json.loads(again.to_json())["analysis"], open_label


def test_a_month_and_the_quarter_it_starts_are_different_rounds():
    from metricsense.evaluators.trust import overlaps, same_round

    assert not same_round("2025-01", "Q1 2025") and not same_round("2025", "2025-01-01")
    assert same_round("Q1 2025", "2025-Q1") and same_round("Jan 2025", "2025-01")
    assert overlaps("2025-02", "Q1 2025") and overlaps("2025", "Q3 2025") and not overlaps("2025-04", "Q1 2025")
    assert overlaps("7", "7") and not overlaps("7", "8") and overlaps("pilot", " pilot")


def test_open_is_part_of_the_language(tmp_path):
    spec = tmp_path / "s.msense"
    spec.write_text('mission "M"\ntrust vq {\n  scale 1..5\n  open   "2025-Q2"\n}\n', "utf-8")
    result = run_msense("fmt", "--check", str(spec))
    assert result.returncode == 1  # the spacing is not the house style, and fmt keeps the clause
    run_msense("fmt", str(spec))
    assert 'open "2025-Q2"' in spec.read_text("utf-8")
    assert metricsense.load(spec).trusts[0].open_round == "2025-Q2"


# Review regression (issue 26's attack): a survey without a round column (all of it perhaps the
# open round) was pooled and shown beside `open`: a late respondent changed what was published.
def test_open_on_a_survey_without_rounds_shows_nothing(tmp_path):
    rows = [HEADER] + _team("a", 6) + _team("b", 7)
    report, info = _check(tmp_path, rows, extra='  open "2025-Q2"\n')
    assert info.groups == () and info.total is None and info.period is None
    (note,) = [d for d in report.diagnostics if d.code == "MS502"]
    assert note.message.startswith("`vq`: no group shown; round `2025-Q2` is open"), note.message
    late = rows + _team("a", 1, score=lambda i: 1)
    again, _ = _check(tmp_path, late, extra='  open "2025-Q2"\n')
    assert json.loads(report.to_json())["analysis"] == json.loads(again.to_json())["analysis"]


def test_open_written_as_a_date_holds_back_rounds_written_as_whole_numbers(tmp_path):
    # waves 1 and 2 and `open "2025-06"`: nothing says which wave is June's, and the last wave
    # (perhaps the open one) was shown
    from metricsense.evaluators.trust import overlaps

    assert overlaps("2", "2025-06") and overlaps("3", "2025") and not overlaps("3", "4")
    rows = ["period," + HEADER] + _team("a", 6, period="1") + _team("a", 6, period="2")
    report, info = _check(tmp_path, rows, extra='  open "2025-06"\n')
    assert info.groups == () and info.period is None


def test_a_folder_of_parquet_parts_holding_survey_answers_is_a_survey_file(tmp_path):
    # a folder named `*.parquet` (Parquet parts) was not looked at: a KPI read it `--by group`,
    # the hidden pair's segment giving its answers as periods
    pa = require("pyarrow")
    import pyarrow.parquet as pq
    rows = [r.split(",") for r in _team("big", 6) + _team("tiny", 2)]
    folder = tmp_path / "survey.parquet"
    folder.mkdir()
    for part, chunk in enumerate((rows[:5], rows[5:])):
        table = pa.table({name: [r[i] for r in chunk] for i, name in enumerate(HEADER.split(","))})
        pq.write_table(table.set_column(4, "score", pa.array([float(r[4]) for r in chunk])),
                       folder / f"part-{part}.parquet")
    (tmp_path / "kpi.msense").write_text('mission "M"\nkpi mood "Mood" { data "survey.parquet" column "score" '
                                         'period "score" segment "group" layout long }\n', "utf-8")
    for by in (None, "group"):
        report = metricsense.check(tmp_path / "kpi.msense", config={}, by=by)
        assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
        assert "tiny" not in report.to_json() + "".join(d.message for d in report.diagnostics)


@pytest.mark.parametrize("clause", ['range "E11:F12" period "4" column "4"', 'segment "group" layout long'])
def test_a_workbook_holding_survey_answers_is_a_survey_file_whatever_range_a_kpi_reads(tmp_path, clause):
    # a KPI (no trust signal in its spec) read a survey workbook: a range of two cells gave a
    # hidden person's answer as its data, `--by group` made the hidden pair a segment
    openpyxl = require("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["note"])
    ws.append(HEADER.split(","))
    for row in _team("big", 6) + _team("tiny", 2):
        *text, score = row.split(",")
        ws.append([*text, float(score)])
    wb.save(tmp_path / "survey.xlsx")
    column = "" if "column" in clause else ' column "score"'
    (tmp_path / "kpi.msense").write_text(f'mission "M"\nkpi mood "Mood" {{ data "survey.xlsx"{column} {clause} }}\n',
                                         "utf-8")
    for by in (None, "group") if "group" in clause else (None,):
        report = metricsense.check(tmp_path / "kpi.msense", config={}, by=by)
        assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
        assert "tiny" not in report.to_json() + "".join(d.message for d in report.diagnostics)
