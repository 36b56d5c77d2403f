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
from support import require

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


# ---- L2: groups nested in one another (a department beside its teams, respondent ids) -----------

def _respondent_rows(units: dict[str, list[str]], score) -> list[str]:
    rows = [HEADER + ",respondent"]
    for group, people in units.items():
        rows += [f"2025-Q1,{group},m-{group},team,team,{score[p]},{p}" for p in people]
    return rows


def _determined(units: dict[str, list[str]], shown: list[str], people: list[str]) -> bool:
    """NumPy, on its own: whether the shown groups' sums (and counts: the same rows) determine the
    sum over ``people``; unknowns are the respondents' answers."""
    everyone = sorted({p for ps in units.values() for p in ps})
    a = np.array([[1.0 if p in units[g] else 0.0 for p in everyone] for g in shown]) if shown else np.zeros((0, len(everyone)))
    target = np.array([[1.0 if p in people else 0.0 for p in everyone]])
    return len(a) > 0 and np.linalg.matrix_rank(np.vstack([a, target])) == np.linalg.matrix_rank(a)


PLATFORM = [f"p{i}" for i in range(10)]


@pytest.mark.parametrize("tools", [["t0", "t1"], ["t0"], ["t0", "t1", "t2", "t3"]])
def test_a_department_minus_its_shown_team_is_not_a_hidden_teams_sum(tmp_path, tools):
    # `eng` is exported as a group of its own beside its teams: eng (12) minus eng-platform (10)
    # was eng-tools' exact sum (2 people: each then knew the other's answer)
    units = {"eng": PLATFORM + tools, "eng-platform": PLATFORM, "eng-tools": tools}
    score = {**{p: 3 for p in PLATFORM}, **{t: 5 - 4 * (k % 2) for k, t in enumerate(tools)}}
    report, info = _check(tmp_path, _respondent_rows(units, score))
    shown = [g.group for g in info.groups]
    assert shown == ["eng"] and info.total is None
    assert (info.suppressed, info.below_minimum, info.secondary) == (2, 1, 1)
    assert not _determined(units, shown, tools)
    (note,) = [d for d in report.diagnostics if d.code == "MS502"]
    assert "2 groups not shown: below the minimum of 5 respondents (1), or sharing respondents" in note.message
    text = _published(report)
    assert "eng-platform" not in text and "eng-tools" not in text


def test_two_hidden_one_person_teams_inside_a_department_are_not_given_away_together(tmp_path):
    # GaussSuppression's singleton problem: eng - eng-platform is t0 + t1, two people who each
    # know their own answer; neither hidden team alone is determined, their sum is
    units = {"eng": PLATFORM + ["t0", "t1"], "eng-platform": PLATFORM, "solo-a": ["t0"], "solo-b": ["t1"]}
    score = {**{p: 3 for p in PLATFORM}, "t0": 5, "t1": 1}
    _, info = _check(tmp_path, _respondent_rows(units, score))
    shown = [g.group for g in info.groups]
    assert shown == ["eng"] and (info.below_minimum, info.secondary) == (2, 1)
    assert not _determined(units, shown, ["t0", "t1"])


def test_groups_sharing_enough_respondents_are_all_shown(tmp_path):
    # a department and two teams of 6: its two teams are each >= min_group, so everything shown
    # determines only sums over 6 people or more; one person in two teams (a matrix) likewise
    a, b, c, d = ([f"{k}{i}" for i in range(6)] for k in "abcd")
    units = {"dept": a + b, "team-a": a, "team-b": b, "matrix-1": c[:5] + ["x"], "matrix-2": d[:5] + ["x"]}
    score = {p: 1 + k % 5 for k, p in enumerate(sorted({p for ps in units.values() for p in ps}))}
    _, info = _check(tmp_path, _respondent_rows(units, score))
    assert sorted(g.group for g in info.groups) == sorted(units) and info.secondary == 0


def test_a_shown_team_minus_an_overlapping_one_is_not_two_peoples_difference(tmp_path):
    # team-a (6) and a matrix group of five of them and `x`: their difference is a5 - x, two
    # answers that `x` (or a5) can solve for the other
    a = [f"a{i}" for i in range(6)]
    units = {"team-a": a, "matrix": a[:5] + ["x"]}
    score = {**{p: 3 for p in a}, "a5": 5, "x": 1}
    _, info = _check(tmp_path, _respondent_rows(units, score))
    assert [g.group for g in info.groups] == ["matrix"] or [g.group for g in info.groups] == ["team-a"]
    assert info.secondary == 1


def test_groups_sharing_no_respondent_have_no_secondary_suppression(tmp_path):
    # without respondent ids each row is its own respondent: hidden groups hide only themselves
    rows = [HEADER] + _team("2025-Q1", "a", 6) + _team("2025-Q1", "b", 2) + _team("2025-Q1", "c", 7)
    _, info = _check(tmp_path, rows)
    assert sorted(g.group for g in info.groups) == ["a", "c"] and (info.below_minimum, info.secondary) == (1, 0)


# ---- L3: the scale as a probe of a hidden group's answers ----------------------------------------

def _refused(report) -> bool:
    return any(d.code == "MS037" for d in report.diagnostics)


def test_the_scale_check_is_no_probe_of_a_hidden_answer(tmp_path):
    # `big` (6 people) all answered 3, and its mean of 3.00 on 1..5 shows no more than that; the
    # hidden one-person team answered 4. Before: 3..5 passed (nobody below 3), 1..3 was refused
    # (someone above 3), 1..4 passed: the hidden answer was 4.
    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q1", "solo", 1, score=lambda i: 4)
    seen = {scale: _refused(_check(tmp_path, rows, scale=scale)[0]) for scale in ("1..5", "3..5", "1..3", "1..4")}
    assert seen == {"1..5": False, "3..5": False, "1..3": False, "1..4": False}
    # the same with the hidden answer at 1 or 5: every scale reads alike
    for hidden in (1, 5):
        other = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q1", "solo", 1, score=lambda i, h=hidden: h)
        assert {s: _refused(_check(tmp_path, other, scale=s)[0]) for s in seen} == seen, hidden


def test_a_score_off_the_scale_in_a_group_that_could_be_shown_is_still_refused(tmp_path):
    # a group of 6 in an earlier round, a manager of a shown group: their answers can be published
    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2024-Q4", "old", 5, score=lambda i: 3 + 6 * (i == 0))
    assert _refused(_check(tmp_path, rows)[0])
    rows = [HEADER] + _team("2025-Q1", "big", 6) + ["2025-Q1,big,m-big,manager,managers,7"]
    assert _refused(_check(tmp_path, rows)[0])
    # and a hidden group's off-scale answer is never read: nothing of it is shown
    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q1", "tiny", 2, score=lambda i: 9)
    report, info = _check(tmp_path, rows)
    assert not _refused(report) and [g.group for g in info.groups] == ["big"] and info.total is None


@pytest.mark.parametrize("written", [None, 1, 2, 3, 4, 7])
def test_the_data_layer_and_the_evaluator_agree_on_the_minimum(written):
    from types import SimpleNamespace

    from metricsense.data.survey import TEAM_ROLES, min_group_of
    from metricsense.evaluators import trust

    signal = SimpleNamespace(min_group=written, scale=None, gap=None)
    assert min_group_of(signal) == trust.settings(signal)["min_group"]
    assert TEAM_ROLES == trust.TEAM_ROLES


# ---- L4: a survey exported without its header row ------------------------------------------------

def test_a_header_row_that_is_a_persons_answer_is_not_quoted(tmp_path):
    # the export lost its header: the first answer (a score of 4 given twice, an e-mail) is read
    # as the column names, and MS031 quoted the repeated one
    first = "2025-Q1,grp-x,m-x,team,alice@example.com,4,alice@example.com,4"
    rows = [first] + [r + ",a,b" for r in _team("2025-Q1", "big", 6)]
    report, info = _check(tmp_path, rows)
    (d,) = [d for d in report.diagnostics if d.code == "MS031"]
    assert "line 1: columns 5 and 7 are named alike" in d.message
    text = _published(report)
    assert "alice" not in text and "`4`" not in text and info is None


def test_an_excel_header_guess_is_not_quoted():
    from metricsense.data.survey import private
    from metricsense.data.table import DataError

    exc = DataError("MS034", "`s.xlsx` sheet `S`: row 1 (`alice@example.com`, `4 (strongly)`) is read as the header "
                             "and no row below it has a value under a header; name the block with `range \"B3:F40\"`")
    shown = private(exc, "s.xlsx").message
    assert "alice" not in shown and "strongly" not in shown and "row 1 is read as the header" in shown


def test_a_survey_is_read_whole_not_by_a_range_of_cells(tmp_path):
    # ranges one row apart gave totals n=5 mean 3.8, n=6 3.833, n=7 3.857: the sixth and seventh
    # people answered 4; a range leaving the round column out pooled two rounds of a hidden group
    openpyxl = require("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws.append(["round", "group", "manager_id", "role", "question", "score"])
    for r in ("2025-01", "2025-02"):
        for i in range(6):
            ws.append([r, "big", "m-big", "team", "team", 1 + i % 5])
        for i in range(3):
            ws.append([r, "tiny", "m-tiny", "team", "team", 4])
    wb.save(tmp_path / "survey.xlsx")
    for cells in ("A1:F8", "B1:F19"):
        (tmp_path / "s.msense").write_text(f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "survey.xlsx" sheet "S" '
                                           f'range "{cells}"\n  min_group 5\n}}\n', "utf-8")
        report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
        (d,) = [d for d in report.diagnostics if d.code == "MS037"]
        assert f'reads `range "{cells}"`' in d.message and "read whole" in d.message
        assert "tiny" not in _published(report) and "3.8" not in _published(report)


def _workbook(path, *, subset_sheet: bool, narrow_table: bool, notes: bool = False):
    """`alpha` (6 team answers, the sixth a 1) and `beta` (5) on sheet `all`; perhaps a sheet
    `subset` (alpha without its sixth person), a table `Recent` over alpha's first five, or a
    sheet of notes beside a table over the whole block."""
    openpyxl = require("openpyxl")
    from openpyxl.worksheet.table import Table as XlTable

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "all"
    header = ["round", "respondent_id", "group", "manager_id", "role", "question", "score"]
    alpha = [["2025-Q1", f"a{i}", "alpha", "m-a", "team", "team", s] for i, s in enumerate([4, 4, 3, 5, 4, 1])]
    beta = [["2025-Q1", f"b{i}", "beta", "m-b", "team", "team", s] for i, s in enumerate([3, 3, 4, 4, 2])]
    for row in [header, *alpha, *beta]:
        ws.append(row)
    if subset_sheet:
        other = wb.create_sheet("subset")
        for row in [header, *alpha[:5], *beta]:
            other.append(row)
    if narrow_table:
        ws.add_table(XlTable(displayName="Recent", ref="A1:G6"))
    if notes:
        ws.add_table(XlTable(displayName="Answers", ref="A1:G12"))
        wb.create_sheet("notes").append(["exported from the survey tool"])
    wb.save(path)


@pytest.mark.parametrize("places", [{"subset_sheet": True, "narrow_table": False},
                                    {"subset_sheet": False, "narrow_table": True}])
def test_a_workbook_holds_its_survey_in_one_place(tmp_path, places):
    # a sheet holding part of another's answers, or an Excel table narrower than its sheet:
    # `alpha` n=6 (mean 3.50) from one, n=5 (4.00) from the other, the sixth person answered 1
    _workbook(tmp_path / "survey.xlsx", **places)
    for where in ('sheet "all"', 'sheet "subset"' if places["subset_sheet"] else 'table "Recent"', ""):
        (tmp_path / "s.msense").write_text(f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "survey.xlsx" {where} '
                                           'period "round"\n  gap > 0.5\n  min_group 5\n}\n', "utf-8")
        report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
        (d,) = [d for d in report.diagnostics if d.code == "MS037"]
        assert "holds survey answers in 2 places" in d.message and "read whole" in d.message, where
        assert "alpha" not in _published(report) and "n=5" not in _published(report), where


def test_a_workbook_with_one_survey_in_one_place_is_read(tmp_path):
    # a table over the sheet's whole block is the sheet; a sheet of notes holds no answers
    _workbook(tmp_path / "survey.xlsx", subset_sheet=False, narrow_table=False, notes=True)
    for where in ('sheet "all"', 'table "Answers"', ""):
        (tmp_path / "s.msense").write_text(f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "survey.xlsx" {where} '
                                           'period "round"\n  gap > 0.5\n  min_group 5\n}\n', "utf-8")
        report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
        assert "MS037" not in [d.code for d in report.diagnostics], where
        info = TrustAnalysis.of(next(iter(report.analysis.values()))).signals["vq"]
        assert [(g.group, g.n) for g in info.groups] == [("alpha", 6), ("beta", 5)], where


def test_a_trust_signal_opens_its_workbook_once(tmp_path, monkeypatch):
    # the survey is read and the workbook checked for a second place with one load of the file
    # (read, then the one-place check loading it again, before); a second run of the unchanged
    # file loads it once more, to read it, and a rewritten file is checked again
    openpyxl = require("openpyxl")
    loads = []
    load = openpyxl.load_workbook
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: loads.append(a) or load(*a, **k))
    _workbook(tmp_path / "survey.xlsx", subset_sheet=False, narrow_table=False, notes=True)
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.xlsx" sheet "all" '
                                       'period "round"\n  gap > 0.5\n  min_group 5\n}\n', "utf-8")
    for _ in range(2):
        loads.clear()
        report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
        assert "MS037" not in [d.code for d in report.diagnostics] and len(loads) == 1, loads
    _workbook(tmp_path / "survey.xlsx", subset_sheet=True, narrow_table=False)
    report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "holds survey answers in 2 places" in d.message


def test_a_part_of_a_folder_of_parquet_parts_is_not_a_survey_of_its_own(tmp_path):
    # the folder gave alpha n=6 (3.50), its first part n=5 (4.00): the sixth person answered 1
    pa = require("pyarrow")
    import pyarrow.parquet as pq

    header = ["round", "respondent_id", "group", "manager_id", "role", "question", "score"]
    alpha = [["2025-Q1", f"a{i}", "alpha", "m-a", "team", "team", float(s)] for i, s in enumerate([4, 4, 3, 5, 4, 1])]
    beta = [["2025-Q1", f"b{i}", "beta", "m-b", "team", "team", float(s)] for i, s in enumerate([3, 3, 4, 4, 2])]
    (tmp_path / "survey.parquet").mkdir()
    for k, chunk in enumerate((alpha[:5] + beta, alpha[5:])):
        pq.write_table(pa.table({h: [r[i] for r in chunk] for i, h in enumerate(header)}),
                       tmp_path / "survey.parquet" / f"part-{k}.parquet")
    found = {}
    for src in ("survey.parquet", "survey.parquet/part-0.parquet"):
        (tmp_path / "s.msense").write_text(f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "{src}" period "round"\n'
                                           '  gap > 0.5\n  min_group 5\n}\n', "utf-8")
        report = metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)
        found[src] = report
    whole = TrustAnalysis.of(next(iter(found["survey.parquet"].analysis.values()))).signals["vq"]
    assert [(g.group, g.n) for g in whole.groups] == [("alpha", 6), ("beta", 5)]
    part = found["survey.parquet/part-0.parquet"]
    (d,) = [d for d in part.diagnostics if d.code == "MS037"]
    assert "one part of the folder of Parquet parts `survey.parquet`" in d.message
    assert "alpha" not in _published(part)


# ---- L5: a column that is no round, read as rounds -----------------------------------------------

def _tenure_survey() -> list[str]:
    # a one-off survey (no round column) with the respondents' tenure in years
    return (["tenure,group,manager_id,role,question,score"] + ["3,big,m-big,team,team,3"] * 5
            + ["7,big,m-big,team,team,5"] + ["3,other,m-other,team,team,2"] * 5)


@pytest.mark.parametrize("option", [' period "tenure"', ' period "tenure" format "%d"', ' period "tenure" format "excel"',
                                    ' period "tenure" every period'])
def test_a_column_that_is_no_round_cannot_split_the_teams(tmp_path, option):
    # read whole, `big` is 6 with a sum of 20; read with tenure as rounds, the 5 of tenure 3 sum
    # to 15: the sixth person (tenure 7) answered 5
    whole, info = _check(tmp_path, _tenure_survey())
    assert [(g.group, g.n) for g in info.groups] == [("big", 6), ("other", 5)]
    split, info = _check(tmp_path, _tenure_survey(), option=option)
    (d,) = [d for d in split.diagnostics if d.code == "MS037"]
    assert "`tenure` is the round column of trust signal `vq`, but neither its name nor its values" in d.message
    assert info is None and "big" not in _published(split)


@pytest.mark.parametrize("column,values", [("wave", ("1", "2")), ("survey_year", ("2024", "2025")),
                                           ("fielded", ("2025-01-31", "2025-04-30")), ("x", ("2025-Q1", "Q2 2025")),
                                           ("x", ("Nov 2024", "2025-02")), ("when", ("31/12/2024", "31/03/2025"))])
def test_round_columns_named_or_written_as_rounds_are_read(tmp_path, column, values):
    rows = [f"{column},group,manager_id,role,question,score"] + [f"{v},a,m-a,team,team,3" for v in values for _ in range(5)]
    fmt = ' format "%d/%m/%Y"' if "/" in values[0] else ""
    report, info = _check(tmp_path, rows, option=f' period "{column}"{fmt}')
    assert "MS037" not in [d.code for d in report.diagnostics] and [g.n for g in info.groups] == [5]


# ---- L6: an evaluator crashing on a survey answer -------------------------------------------------

def test_an_evaluator_crashing_on_a_survey_does_not_quote_it(tmp_path):
    from metricsense.hookspecs import hookimpl
    from support import manager_with, plugin_module

    @hookimpl
    def metricsense_analyze(surveys):
        survey = next(iter(surveys.values()))
        raise ValueError(f"cannot read group {survey.columns['group'][-1]!r}")  # a hidden group's name

    rows = [HEADER] + _team("2025-Q1", "big", 6) + _team("2025-Q1", "tiny-secret", 1)
    pm = manager_with(plugin_module("p", metricsense_analyze=metricsense_analyze))
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  data "survey.csv"\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={}, plugin_manager=pm)
    (d,) = [d for d in report.diagnostics if d.code == "MS005"]
    assert "crashed while analysing: ValueError" in d.message
    assert "tiny-secret" not in report.to_json()


def _random_groups(rng, laminar: bool) -> list[dict]:
    """Groups over up to 14 respondents: a hierarchy (laminar) or groups drawn at random."""
    people = [f"r{i}" for i in range(int(rng.integers(6, 15)))]
    sets: list[frozenset] = []
    if laminar:
        def split(block, depth):
            sets.append(frozenset(block))
            if depth < 3 and len(block) > 1:
                cut = int(rng.integers(1, len(block)))
                for part in (block[:cut], block[cut:]):
                    if rng.random() < 0.8:
                        split(part, depth + 1)
        split(people, 0)
    else:
        for _ in range(int(rng.integers(2, 7))):
            sets.append(frozenset(p for p in people if rng.random() < 0.5) or frozenset(people[:1]))
    return [{"group": f"g{k}", "manager": "m", "n": len(s), "_who": s} for k, s in enumerate(sets)]


def _leaks(stats: list[dict], shown: list[int], min_group: int) -> bool:
    """NumPy at the level of respondents, without classes: a nonzero vector in the shown groups'
    span supported on fewer than min_group respondents (rank drops when they are left out)."""
    from itertools import combinations

    people = sorted({p for st in stats for p in st["_who"]})
    a = np.array([[1.0 if p in stats[i]["_who"] else 0.0 for p in people] for i in shown])
    if not len(a):
        return False
    rank = np.linalg.matrix_rank(a)
    for size in range(1, min_group):
        for subset in combinations(range(len(people)), size):
            rest = [j for j in range(len(people)) if j not in subset]
            if np.linalg.matrix_rank(a[:, rest]) < rank:
                return True
    return False


@pytest.mark.parametrize("seed", range(40))
def test_secondary_suppression_leaves_nothing_of_fewer_than_min_group_determined(seed):
    from metricsense.evaluators.trust import _gauss, _laminar, secondary_suppression

    rng = np.random.default_rng(seed)
    min_group = int(rng.integers(3, 5))
    for laminar in (True, False):
        stats = _random_groups(rng, laminar)
        hidden = {i for i, st in enumerate(stats) if st["n"] < min_group}
        order = sorted(set(range(len(stats))) - hidden, key=lambda i: (-stats[i]["n"], stats[i]["group"]))
        for method in (_gauss, _laminar):
            out = method(order, stats, min_group) if len(order) > 1 else set()
            assert not _leaks(stats, [i for i in order if i not in out], min_group), (seed, laminar, method)
        if laminar and len(order) > 1:  # on a hierarchy the two methods are the same test
            assert _gauss(order, stats, min_group) == _laminar(order, stats, min_group), seed
        # what is shown at two minimums: the higher one's a subset, and the two together are safe
        # at the lower one (two runs of the spec with `min_group 3` and `min_group 5`)
        shown = {}
        for level in (3, 4, 5):
            below = {i for i, st in enumerate(stats) if st["n"] < level}
            shown[level] = set(range(len(stats))) - below - secondary_suppression(stats, below, level)
            assert not _leaks(stats, sorted(shown[level]), level), (seed, laminar, level)
        assert shown[5] <= shown[4] <= shown[3], seed


def test_two_runs_with_different_minimums_show_nothing_together_that_either_hides(tmp_path):
    # a division of 11, a unit of 8 in it (two teams: 2 and 6) and 3 people in no unit. Chosen at
    # each minimum alone, `min_group 3` showed division and unit (11 - 8 = 3 people), and
    # `min_group 5` showed division and the team of 6 (11 - 6 = 5); together, unit minus team
    # was the pair's sum. The shown groups at 5 are now a subset of those at 3.
    r = [f"r{i}" for i in range(11)]
    units = {"division": r, "unit": r[3:], "pair": r[3:5], "six": r[5:]}
    score = {p: 1 + k % 5 for k, p in enumerate(r)}
    shown = {}
    for level in (3, 5):
        _check(tmp_path, _respondent_rows(units, score))  # writes the survey and a spec at 5
        spec = tmp_path / "s.msense"
        spec.write_text(spec.read_text("utf-8").replace("min_group 5", f"min_group {level}"), "utf-8")
        found = TrustAnalysis.of(next(iter(metricsense.check(spec, config={}, show_personal=True).analysis.values())))
        shown[level] = {g.group for g in found.signals["vq"].groups}
    assert shown[5] <= shown[3] and shown[3] == {"division", "unit"}
    assert not _determined(units, sorted(shown[3] | shown[5]), r[3:5])
