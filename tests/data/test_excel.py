"""Excel workbooks through the data-source hook, against pandas reading the same file."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from support import require, run_msense
from test_numbers import problems
from test_sources import SPEC, dataset_of, series


@pytest.fixture
def book(tmp_path):
    """kpis.xlsx: a title row, a blank row, then a table at B3 (periods, csat, share as percent
    cells), a blank row inside it, and a second sheet with a named Excel table."""
    openpyxl = require("openpyxl")
    from openpyxl.worksheet.table import Table

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "KPIs"
    ws["A1"] = "Exported 2026-02-01"
    ws.append([])
    for col, name in zip("BCD", ("period", "csat", "share")):
        ws[f"{col}3"] = name
    rows = [(dt.date(2026, 1, 5), 4.1, 0.715), (dt.date(2026, 1, 12), None, 0.7),
            None, (dt.date(2026, 1, 19), 4.3, 0.0), (dt.date(2026, 1, 26), 4.25, 0.123)]
    r = 4
    for row in rows:
        if row is not None:
            ws[f"B{r}"], ws[f"C{r}"], ws[f"D{r}"] = row
            ws[f"D{r}"].number_format = "0.0%"
        r += 1
    other = wb.create_sheet("Sales")
    other.append(["period", "revenue", "store"])
    for i in range(1, 6):
        other.append([2020 + i, 1000.5 * i, "north"])
    other.add_table(Table(displayName="Revenue", ref="A1:C6"))
    wb.save(tmp_path / "kpis.xlsx")
    return tmp_path / "kpis.xlsx"


def test_a_sheet_matches_pandas_and_percent_cells_are_the_number_shown(tmp_path, book):
    pd = require("pandas")
    data, report = dataset_of(tmp_path, SPEC + 'data "kpis.xlsx" sheet "KPIs" range "B3:D8"\n'
                                               'kpi csat "C" { }\nkpi share "S" { }\n')
    assert not problems(report), [d.message for d in problems(report)]
    frame = pd.read_excel(book, sheet_name="KPIs", header=2, usecols="B:D", engine="openpyxl").dropna(how="all")
    np.testing.assert_array_equal(data.series("csat").values, frame["csat"].to_numpy(dtype=float))
    np.testing.assert_allclose(data.series("share").values, frame["share"].to_numpy(dtype=float) * 100, rtol=1e-15)
    assert data.series("share").values.tolist() == [71.5, 70.0, 0.0, 12.3]  # as shown, not 71.49999999999999
    assert series(report, "share")["unit"] == "%" and "unit" not in series(report, "csat")
    assert [str(p) for p in data.periods] == ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]


def test_without_a_range_the_header_is_the_first_row_that_holds_anything(tmp_path, book):
    # Row 1 holds a title: without a range it is the header, and no row has a value under it.
    _, report = dataset_of(tmp_path, SPEC + 'data "kpis.xlsx"\nkpi csat "C" { }\n')
    (d,) = problems(report)
    assert d.code == "MS034" and "row 1 (`Exported 2026-02-01`) is read as the header" in d.message
    assert 'range "B3:F40"' in d.message


def test_a_named_table_matches_pandas(tmp_path, book):
    pd = require("pandas")
    data, report = dataset_of(tmp_path, SPEC + 'data "kpis.xlsx" table "revenue"\nkpi revenue "R" { }\n')
    assert not problems(report)
    frame = pd.read_excel(book, sheet_name="Sales", engine="openpyxl")
    np.testing.assert_array_equal(data.series("revenue").values, frame["revenue"].to_numpy(dtype=float))
    # whole numbers of four digits are years (metricsense.data.periods): labelled as written
    assert [data.label(i) for i in range(len(data.periods))] == [str(p) for p in frame["period"].tolist()]


def test_bad_cells_name_the_sheet_and_cell(tmp_path):
    openpyxl = require("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "KPIs"
    ws.append(["period", "csat", "nps", "calc"])
    ws.append([1, 4.1, 30, 1])
    ws.append([2, "n.a.", "#DIV/0!", "=B2*2"])
    wb.save(tmp_path / "bad.xlsx")
    _, report = dataset_of(tmp_path, SPEC + 'data "bad.xlsx" range "A1:C3"\nkpi csat "C" { }\n')
    (d,) = problems(report)
    assert d.code == "MS032" and "bad.xlsx sheet `KPIs` cell B3" in d.message and "'n.a.'" in d.message
    assert not d.related  # a workbook has no lines to quote
    _, report = dataset_of(tmp_path, SPEC + 'data "bad.xlsx" range "A1:C3"\nkpi nps "N" { }\n')
    (d,) = problems(report)
    assert "cell C3" in d.message and "'#DIV/0!'" in d.message
    # A formula saved without its value (openpyxl does not calculate) is refused, not read as empty.
    _, report = dataset_of(tmp_path, SPEC + 'data "bad.xlsx"\nkpi calc "K" { }\n')
    (d,) = problems(report)
    assert d.code == "MS032" and "cell D3" in d.message and "=B2*2" in d.message


def test_missing_sheet_table_range_and_file_are_clear_errors(tmp_path, book):
    for clause, code, words in [('sheet "Nope"', "MS031", "no sheet `Nope` (its sheets: `KPIs`, `Sales`)"),
                                ('table "Nope"', "MS031", "no table `Nope` (its tables: `Revenue`)"),
                                ('range "B3:"', "MS030", "not a block of cells"),
                                ('table "Revenue" range "A1:B2"', "MS030", "not both")]:
        _, report = dataset_of(tmp_path, SPEC + f'data "kpis.xlsx" {clause}\nkpi revenue "R" {{ }}\n')
        (d,) = problems(report)
        assert d.code == code and words in d.message, d.message
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    _, report = dataset_of(tmp_path, SPEC + 'data "broken.xlsx"\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert d.code == "MS030" and "not a readable Excel workbook" in d.message


def test_a_workbook_outside_the_folder_is_refused(tmp_path, book):
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "k.msense").write_text(SPEC + 'data "../kpis.xlsx"\nkpi csat "C" { }\n')
    result = run_msense("check", "k.msense", "--select", "MS035", cwd=spec)
    assert result.returncode == 2 and "MS035" in result.stdout


def test_rows_are_bounded_by_max_rows(tmp_path, book):
    (tmp_path / "msense.toml").write_text("[data]\nmax-rows = 3\n")
    (tmp_path / "k.msense").write_text(SPEC + 'data "kpis.xlsx" sheet "Sales"\nkpi revenue "R" { }\n')
    result = run_msense("check", "k.msense", "--select", "MS030", cwd=tmp_path)
    assert result.returncode == 2 and "more than 3 rows" in result.stdout, result.stdout


def test_without_openpyxl_the_message_names_the_extra(tmp_path, book):
    (tmp_path / "k.msense").write_text(SPEC + 'data "kpis.xlsx"\nkpi csat "C" { }\n')
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "openpyxl.py").write_text("raise ImportError('hidden')\n")
    result = run_msense("check", "k.msense", "--select", "MS030", cwd=tmp_path,
                        env={"PYTHONPATH": str(tmp_path / "hide")})
    assert "pip install 'metricsense[excel]'" in result.stdout and "Traceback" not in result.stderr


# Attack regression (issue 20, F2): a format that only prints a percent sign (`0" %"`, `0\%`)
# does not multiply by 100; only a bare `%` does, as in Excel.
@pytest.mark.parametrize("number_format,scaled", [("0%", True), ("0.0%", True), ("#,##0.00 %", True),
                                                  ('0" %"', False), ("0\\%", False), ("General", False),
                                                  ('"%"0', False)])
def test_only_a_bare_percent_sign_scales_a_cell(number_format, scaled):
    from metricsense.data.excel import _scales_by_100

    assert _scales_by_100(number_format) is scaled


def _survey_book(path, *, subset_sheet: bool):
    """A survey on sheet `all` under a title row, an Excel table over its whole block and one over
    its first two answers, a sheet of notes; perhaps a sheet `subset` repeating some answers."""
    openpyxl = require("openpyxl")
    from openpyxl.worksheet.table import Table

    header = ["round", "group", "manager_id", "role", "question", "score"]
    answers = [["2025-Q1", "alpha", "m-a", "team", "team", s] for s in (4, 4, 3, 5, 1)]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "all"
    for row in [["exported from the survey tool"], header, *answers]:
        ws.append(row)
    ws.add_table(Table(displayName="Answers", ref="A2:F7"))
    ws.add_table(Table(displayName="First", ref="A2:F4"))
    wb.create_sheet("notes").append(["nothing here"])
    if subset_sheet:
        other = wb.create_sheet("subset")
        for row in [header, *answers[:3]]:
            other.append(row)
    wb.save(path)


def test_the_survey_checks_read_a_workbook_once_in_one_pass_per_sheet(tmp_path, monkeypatch):
    # whether a file is survey answers (a KPI reading it) and where a workbook holds them (a trust
    # signal's): one load of the workbook between them and one pass over each sheet's rows, not a
    # load each and one more pass per Excel table; a check of the unchanged file loads it no more
    openpyxl = require("openpyxl")
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    from metricsense.data.excel import answer_places
    from metricsense.data.sources import header_names
    from metricsense.data.survey import SURVEY_COLUMNS, is_survey_file

    _survey_book(tmp_path / "survey.xlsx", subset_sheet=False)
    loads, passes = [], []
    load, rows = openpyxl.load_workbook, ReadOnlyWorksheet._cells_by_row
    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: loads.append(a) or load(*a, **k))
    monkeypatch.setattr(ReadOnlyWorksheet, "_cells_by_row",
                        lambda self, *a, **k: passes.append(self.title) or rows(self, *a, **k))
    path = str(tmp_path / "survey.xlsx")
    assert is_survey_file(path)
    assert answer_places(path, SURVEY_COLUMNS) == ["sheet `all`", "table `First`"]
    assert header_names(path, SURVEY_COLUMNS) == ["round", "group", "manager_id", "role", "question", "score"]
    assert answer_places(path, SURVEY_COLUMNS) == ["sheet `all`", "table `First`"]
    assert len(loads) == 1 and sorted(passes) == ["all", "notes"], (loads, passes)


def test_a_workbook_changed_on_disk_is_looked_at_again(tmp_path):
    # the places are kept for the file as it was: a sheet added since is a second place
    from metricsense.data.excel import answer_places
    from metricsense.data.survey import SURVEY_COLUMNS

    require("openpyxl")
    path = tmp_path / "survey.xlsx"
    _survey_book(path, subset_sheet=False)
    assert answer_places(path, SURVEY_COLUMNS) == ["sheet `all`", "table `First`"]
    _survey_book(path, subset_sheet=True)
    assert answer_places(path, SURVEY_COLUMNS) == ["sheet `all`", "sheet `subset`", "table `First`"]
