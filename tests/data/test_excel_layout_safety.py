"""The one cached scan of a workbook that answers both survey checks (is it survey answers; is
a survey in one place): a part that cannot be read never makes a survey look like other data,
a table over whole rows is a place, and the cache sees a workbook rewritten within a second."""

from __future__ import annotations

import io
import zipfile

import pytest

import metricsense
from support import SURVEY_ANSWERS, SURVEY_HEADER, coarse_clock, edit_zip, require

HEADER, ANSWERS = SURVEY_HEADER, SURVEY_ANSWERS


def _survey(path, *, table_ref=None, notes=False):
    openpyxl = require("openpyxl")
    from openpyxl.worksheet.table import Table

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "all"
    ws.append(HEADER)
    for g, s in ANSWERS:
        ws.append(["2025-Q1", g, "m-" + g, "team", "team", float(s)])
    if table_ref:
        ws.add_table(Table(displayName="T", ref=table_ref))
    if notes:
        wb.create_sheet("notes").append([1.5])
    wb.save(path)


def _kpi_reads_survey(tmp_path):
    (tmp_path / "kpi.msense").write_text('mission "M"\nkpi mood "Mood" { data "survey.xlsx" column "score" '
                                         'segment "group" layout long }\n', "utf-8")
    report = metricsense.check(tmp_path / "kpi.msense", config={}, by="group")
    return report


@pytest.mark.parametrize("damage", ["later sheet cell", "table ref with a space", "table part cut short"])
def test_w3_a_survey_workbook_with_one_unreadable_part_is_still_survey_answers(tmp_path, damage):
    # the scan reads every sheet and table part: an error past the survey's header (or in a
    # table) must not make header_names None (not survey answers: `--by group` would publish
    # the pair `tiny`)
    path = tmp_path / "survey.xlsx"
    if damage == "later sheet cell":
        _survey(path, notes=True)
        edit_zip(path, r"worksheets/sheet2\.xml$", lambda b: b.replace(b"<v>1.5</v>", b"<v>n/a</v>"))
    else:
        _survey(path, table_ref="A1:F9")
        edit_zip(path, r"tables/", (lambda b: b.replace(b'ref="A1:F9"', b'ref="A1:F9 "')) if "space" in damage
              else (lambda b: b[:-20]))
    from metricsense.data.survey import is_survey_file

    assert is_survey_file(str(path))
    report = _kpi_reads_survey(tmp_path)
    assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
    assert "tiny" not in report.to_json()


def test_a_whole_rows_table_is_a_second_place_not_a_crash(tmp_path):
    # a table over whole rows (`1:6`) has no columns in its ref: a second place, not a crash
    # (MS005, a reader plugin crashed)
    path = tmp_path / "survey.xlsx"
    _survey(path, table_ref="A1:F6")
    edit_zip(path, r"tables/", lambda b: b.replace(b'ref="A1:F6"', b'ref="1:6"'))
    from metricsense.data.excel import answer_places
    from metricsense.data.survey import SURVEY_COLUMNS

    assert answer_places(str(path), SURVEY_COLUMNS) == ["sheet `all`", "table `T`"]


def test_the_layout_cache_is_not_fooled_by_a_coarse_clock(tmp_path, monkeypatch):
    # a filesystem whose times are whole seconds (vfat, sshfs): a workbook rewritten in place,
    # same size, within the second keeps its key, and the second place is not seen (no MS037)
    openpyxl = require("openpyxl")

    def workbook(second: bool, size: int | None = None) -> bytes:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "all"
        for r in [HEADER, *[["2025-Q1", "alpha", "m-a", "team", "team", float(s)] for s in (4, 4, 3, 5, 1, 2)]]:
            ws.append(r)
        if second:
            other = wb.create_sheet("subset")
            for r in list(ws.values)[:6]:
                other.append(r)
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
        if size is None:
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, src.read(info.filename))
            dst.comment = b"x" * (size - len(data))
        return out.getvalue()

    size = max(len(workbook(False)), len(workbook(True))) + 200
    one, two = workbook(False, size), workbook(True, size)
    if len(one) != len(two):
        pytest.skip("padding did not make the sizes equal")
    spec = tmp_path / "t.msense"
    spec.write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.xlsx" sheet "all" period "round"\n'
                    '  gap > 0.5\n  min_group 5\n}\n', "utf-8")
    coarse_clock(monkeypatch, ".xlsx")
    (tmp_path / "survey.xlsx").write_bytes(one)
    first = metricsense.check(spec, config={}, show_personal=True)
    with open(tmp_path / "survey.xlsx", "r+b") as f:
        f.write(two)
    second = metricsense.check(spec, config={}, show_personal=True)
    assert "MS037" not in [d.code for d in first.diagnostics]
    assert "MS037" in [d.code for d in second.diagnostics]


def test_a_trust_signal_on_a_workbook_with_an_unreadable_part_is_refused_without_quoting_it(tmp_path):
    # answers may be in the part that cannot be read: MS037, naming the sheet and row, never the cell
    path = tmp_path / "survey.xlsx"
    _survey(path, notes=True)
    edit_zip(path, r"worksheets/sheet2\.xml$", lambda b: b.replace(b"<v>1.5</v>", b"<v>n/a-secret</v>"))
    spec = tmp_path / "t.msense"
    spec.write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.xlsx" sheet "all" period "round"\n'
                    '  gap > 0.5\n  min_group 3\n}\n', "utf-8")
    report = metricsense.check(spec, config={}, show_personal=True)
    refused = [d for d in report.diagnostics if d.code == "MS037"]
    assert refused and "sheet `notes` cannot be read," in refused[0].message, refused
    text = report.to_json()
    assert "n/a-secret" not in text and "tiny" not in text
