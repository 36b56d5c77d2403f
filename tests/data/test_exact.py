"""Data read exactly, or refused with a clear diagnostic (MS03x): never a value invented or
dropped silently, never a traceback (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

import metricsense
from metricsense.data.table import Labels
from metricsense.evaluators.records import DataSummary

SPEC = 'mission "M"\n'


def run(tmp_path, text, files=None, **kwargs):
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
    spec = tmp_path / "k.msense"
    spec.write_text(text, "utf-8")
    report = metricsense.check(spec, config=kwargs.pop("config", {}), **kwargs)
    assert not [d for d in report.diagnostics if d.code == "MS005"], [d.message for d in report.diagnostics]
    return report, [d for d in report.diagnostics if d.code.startswith("MS03")]


def summary(report):
    return DataSummary.of(report.analysis[next(iter(report.analysis))])


# ---- 1. empty cells stay missing; a number is written in ASCII digits -------------------------

def test_labels_missing_code_is_none_not_the_last_label():
    labels = Labels(np.array([0, -1, 1, -1], dtype=np.int32), np.array(["x", "y"], dtype=object))
    assert list(np.asarray(labels)) == ["x", None, "y", None]
    assert labels[1] is None and list(labels) == ["x", None, "y", None]


def test_empty_cells_of_a_text_column_stay_missing(tmp_path):
    # `-` is a missing value to metricsense but text to Arrow: the column arrives as text, with
    # empty cells as nulls; each empty cell used to take the last distinct label's value (7).
    report, diags = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n',
                        {"k.csv": "period,a\n1,1\n2,\n3,-\n4,\n5,7\n"})
    assert diags == []
    a = summary(report).series["a"]
    assert (a.observed, a.missing) == (2, 3)


@pytest.mark.parametrize("cell", ["4_2", "１２", "٤", "4.2_0"])
def test_numbers_python_reads_but_a_data_file_does_not_are_refused(tmp_path, cell):
    report, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n',
                       {"k.csv": f"period,a\n1,1\n2,\n3,{cell}\n4,\n"})
    assert d.code == "MS032" and "line 4" in d.message and repr(cell) in d.message
    assert d.related[0].span.line == 4 and report.exit_code == 2


def test_period_in_other_digits_is_refused(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": "period,a\n1,1\n２,2\n3,3\n"})
    assert d.code == "MS032" and "line 3" in d.message


def test_survey_blanks_are_not_answers(tmp_path):
    # 3 answers and 2 blanks in a group (a `-` makes the column text): n is 3 (6 with the other
    # group), never 5.
    rows = ["group,manager_id,role,question,score", "a,m,manager,q,4"]
    rows += [f"a,m,team,q,{s}" for s in ("4", "", "5", "-", "", "3")]
    rows += ["b,n,manager,q,4"] + ["b,n,team,q,3"] * 5
    report, diags = run(tmp_path, SPEC + 'trust v {\n scale 1..5\n data "s.csv"\n min_group 3\n}\n',
                        {"s.csv": "\n".join(rows) + "\n"})
    from metricsense.evaluators.records import TrustAnalysis

    assert diags == []
    signal = TrustAnalysis.of(next(iter(report.analysis.values()))).signals["v"].to_json()
    shown = {g["group"]: g for g in signal["groups"] if not g["suppressed"]}
    assert shown["a"]["n"] == 3
