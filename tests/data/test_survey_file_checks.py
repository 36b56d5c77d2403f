"""Paths where a file of survey answers could be taken for other data (data.survey.is_survey_file),
so a KPI reading it would publish groups below `min_group`: each is refused (MS037)."""

from __future__ import annotations

import os
import re

import pytest

import metricsense
from support import SURVEY_ANSWERS, SURVEY_HEADER, coarse_clock, edit_zip, require

HEADER, ANSWERS = SURVEY_HEADER, SURVEY_ANSWERS


def _notes_then_survey(path, *, stale_dimension: bool):
    """Sheet `notes` first (a cell of it cannot be read), then the survey on sheet `all`."""
    openpyxl = require("openpyxl")
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "notes"
    notes["A1"] = "see the sheet `all`"
    notes["A3"] = 2.5
    notes["A5"] = 1.5
    ws = wb.create_sheet("all")
    ws.append(HEADER)
    for g, s in ANSWERS:
        ws.append(["2025-Q1", g, "m-" + g, "team", "team", float(s)])
    wb.save(path)

    def damage(data: bytes) -> bytes:
        data = data.replace(b"<v>1.5</v>", b"<v>n/a</v>")
        if stale_dimension:  # a writer's stale <dimension> (the reader resets it: data.excel)
            data = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1"/>', data)
        return data

    edit_zip(path, r"worksheets/sheet1\.xml$", damage)


@pytest.mark.parametrize("stale_dimension", [False, True], ids=["damaged-sheet-first", "stale-dimension"])
def test_a_survey_sheet_after_a_damaged_sheet_is_still_survey_answers(tmp_path, stale_dimension):
    # a sheet that cannot be read must not end the scan: the survey on a later sheet is still
    # found (else is_survey_file is False and a KPI reading sheet `all`, which reads fine,
    # publishes `tiny`); with a stale <dimension> the damaged cell is reached too
    path = tmp_path / "survey.xlsx"
    _notes_then_survey(path, stale_dimension=stale_dimension)
    from metricsense.data.survey import is_survey_file

    assert is_survey_file(str(path))
    (tmp_path / "kpi.msense").write_text('mission "M"\nkpi mood "Mood" { data "survey.xlsx" sheet "all" column '
                                         '"score" segment "group" layout long }\n', "utf-8")
    report = metricsense.check(tmp_path / "kpi.msense", config={}, by="group")
    assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
    assert "tiny" not in report.to_json()


def test_a_link_named_xlsx_to_a_workbook_named_otherwise_is_still_survey_answers(tmp_path):
    # the reader is chosen by the name in the spec (`survey.xlsx`, openpyxl checks that name too)
    # and is_survey_file looks at the path its reader opens, not the link's target
    # (`answers.xlsx.v2`: no reader for that suffix, which said None, not survey answers)
    openpyxl = require("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "all"
    ws.append(HEADER)
    for g, s in ANSWERS:
        ws.append(["2025-Q1", g, "m-" + g, "team", "team", float(s)])
    wb.save(tmp_path / "answers.xlsx.v2")
    try:
        os.symlink(tmp_path / "answers.xlsx.v2", tmp_path / "survey.xlsx")
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    (tmp_path / "kpi.msense").write_text('mission "M"\nkpi mood "Mood" { data "survey.xlsx" column "score" '
                                         'segment "group" layout long }\n', "utf-8")
    report = metricsense.check(tmp_path / "kpi.msense", config={}, by="group")
    assert [d for d in report.diagnostics if d.code == "MS037" and "survey answers" in d.message]
    assert "tiny" not in report.to_json()


def test_a_csv_rewritten_within_a_coarse_clocks_second_is_looked_at_again(tmp_path, monkeypatch):
    # a CSV's answer in is_survey_file must not be kept by its stat (path, times, size, inode):
    # on vfat/sshfs (times in whole seconds), in one long process (the
    # LSP server, a notebook kernel), a CSV rewritten in place with survey answers of the same
    # size is still "not survey answers", and a KPI reading it publishes every group.
    from metricsense.data.survey import is_survey_file

    before = "rolx,manager_ix,groux,questiox,scorx\nteam,m-a,tiny,team,1\n"
    after = "role,manager_id,group,question,score\nteam,m-a,tiny,team,1\n"
    assert len(before) == len(after)
    path = tmp_path / "kpis.csv"
    coarse_clock(monkeypatch, ".csv")
    path.write_text(before, "utf-8")
    assert not is_survey_file(str(path))
    with open(path, "r+", encoding="utf-8") as f:  # in place: the same inode
        f.write(after)
    assert is_survey_file(str(path))


def test_a_folder_of_parquet_parts_rewritten_in_place_is_looked_at_again(tmp_path):
    # a folder's stat does not change when a part is rewritten in place (no entry added or
    # removed), on any filesystem: is_survey_file keeps its first answer for the folder
    pa = require("pyarrow")
    import pyarrow.parquet as pq

    from metricsense.data.survey import is_survey_file

    folder = tmp_path / "kpis.parquet"
    folder.mkdir()
    part = folder / "part-0.parquet"
    pq.write_table(pa.table({"period": ["2025-01"], "revenue": [1.0]}), part)
    assert not is_survey_file(str(folder))
    data = pa.table({"role": ["team"], "manager_id": ["m-a"], "group": ["tiny"], "question": ["q"], "score": [1.0]})
    inode = os.stat(folder).st_ino, os.stat(part).st_ino
    pq.write_table(data, part)  # a re-export over the same name: truncated in place, same inode
    assert (os.stat(folder).st_ino, os.stat(part).st_ino) == inode
    assert pq.read_schema(part).names == ["role", "manager_id", "group", "question", "score"]
    assert is_survey_file(str(folder))
