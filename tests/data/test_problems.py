"""Bad data: a clear diagnostic naming the clause, the file and the row; nothing else lost."""

from __future__ import annotations

import os

import metricsense
from metricsense.evaluators.records import DataSummary

SPEC = 'mission "M"\n'


def run(tmp_path, text, files=None, **kwargs):
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    spec = tmp_path / "spec" / "k.msense" if "spec/" in "".join(files or {}) else tmp_path / "k.msense"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    report = metricsense.check(spec, config={}, **kwargs)
    return report, [d for d in report.diagnostics if d.code.startswith("MS03")]


def test_not_numeric_names_row_value_and_line(tmp_path):
    report, (d,) = run(tmp_path, SPEC + 'data "kpis.csv"\nkpi csat "C" { }\n',
                       {"kpis.csv": "period,csat\n2026-01-05,4.1\n2026-01-12,n.a.\n"})
    assert d.code == "MS032" and "line 3" in d.message and "'n.a.'" in d.message
    assert (d.span.line, d.span.column) == (2, 1)  # the data clause
    assert d.related[0].span.file.endswith("kpis.csv") and d.related[0].span.line == 3
    assert report.exit_code == 2


def test_late_bad_value_is_found_past_arrows_first_block(tmp_path):
    rows = "".join(f"{i},{i * 0.5}\n" for i in range(1, 200_001)) + "200001,oops\n"
    _, (d,) = run(tmp_path, SPEC + 'data "big.csv"\nkpi x "X" { }\n', {"big.csv": "period,x\n" + rows})
    assert d.code == "MS032" and "line 200002" in d.message and "'oops'" in d.message


def test_missing_file_column_and_a_good_source_still_loads(tmp_path):
    report, diags = run(tmp_path, SPEC + 'kpi a "A" { data "nope.csv" }\nkpi b "B" { data "ok.csv" }\n'
                        'kpi c "C" { data "ok.csv" column "cc" }\n',
                        {"ok.csv": "period,b,c\n1,1,2\n2,3,4\n"})
    codes = sorted(d.code for d in diags)
    assert codes == ["MS030", "MS031"]
    missing = [d for d in diags if d.code == "MS031"][0]
    assert "`cc`" in missing.message and missing.help == "did you mean `c`?"
    assert DataSummary.of(report.analysis[next(iter(report.analysis))]).series["b"].observed == 2


def test_duplicate_period_wide_and_long(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": "period,a\n1,1\n2,2\n1,3\n"})
    assert d.code == "MS033" and "line 2" in d.message and "line 4" in d.message
    _, (d,) = run(tmp_path, SPEC + 'kpi a "A" { data "l.csv" layout long segment "s" }\n',
                  {"l.csv": "period,s,value\n1,x,1\n1,y,2\n1,x,3\n"})
    assert d.code == "MS033" and "line 4" in d.message


def test_empty_sources(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "e.csv"\nkpi a "A" { }\n', {"e.csv": ""})
    assert d.code == "MS034"
    _, (d,) = run(tmp_path, SPEC + 'data "h.csv"\nkpi a "A" { }\n', {"h.csv": "period,a\n"})
    assert d.code == "MS034"


def test_bad_period(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": "period,a\n2026-01-05,1\nlast week,2\n"})
    assert d.code == "MS032" and "'last week'" in d.message


def test_paths_outside_the_folder_need_allowing(tmp_path):
    files = {"shared/k.csv": "period,a\n1,1\n2,2\n", "spec/x.txt": ""}
    report, (d,) = run(tmp_path, SPEC + 'data "../shared/k.csv"\nkpi a "A" { }\n', files)
    assert d.code == "MS035" and "--allow-path" in d.message
    absolute = str(tmp_path / "shared" / "k.csv")
    _, (d,) = run(tmp_path, SPEC + f'data "{absolute}"\nkpi a "A" {{ }}\n', files)
    assert d.code == "MS035" and "absolute" in d.message
    report, diags = run(tmp_path, SPEC + 'data "../shared/k.csv"\nkpi a "A" { }\n', files,
                        allow_paths=[tmp_path / "shared"])
    assert not diags
    os.symlink(tmp_path / "shared" / "k.csv", tmp_path / "spec" / "link.csv")
    _, (d,) = run(tmp_path, SPEC + 'data "link.csv"\nkpi a "A" { }\n', files)
    assert d.code == "MS035"


def test_a_spec_without_data_never_imports_the_data_layer(tmp_path):
    import subprocess
    import sys

    code = ("import sys, metricsense\n"
            "metricsense.check('mission \"M\"\\nkpi a \"A\" { }\\n', config={})\n"
            "print('numpy' in sys.modules, 'pyarrow' in sys.modules)\n")
    flags = ["-S"] if sys.flags.no_site else []
    out = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False False", out.stderr


# Review regression: an infinite value in a data file is a data problem naming its line.
def test_an_infinite_value_is_a_data_problem(tmp_path):
    (tmp_path / "inf.csv").write_text("period,k1\n1,1\n2,inf\n3,2\n")
    (tmp_path / "i.msense").write_text('mission "M"\nkpi k1 "K1" { data "inf.csv" }\n')
    report = metricsense.check(tmp_path / "i.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "line 3" in d.message and "finite" in d.message


# Review regression: whole-number and date periods mixed in one column were read.
def test_mixed_period_kinds_are_refused(tmp_path):
    (tmp_path / "k.csv").write_text("period,a\n5,1\n2024-01-01,2\n2024-01-08,3\n")
    (tmp_path / "k.msense").write_text('mission "M"\nkpi a "A" { data "k.csv" }\n')
    (d,) = [d for d in metricsense.check(tmp_path / "k.msense", config={}).diagnostics if d.code == "MS032"]
    assert "mixes whole numbers and dates" in d.message


# Review regression: a bad value past the first read block was reported as a duplicate period.
def test_late_bad_value_is_named_not_a_false_duplicate(tmp_path):
    rows = "".join(f"{i},{i * 0.25}\n" for i in range(1, 400_001)) + "400001,oops\n"
    (tmp_path / "k.csv").write_text("period,a\n" + rows)
    (tmp_path / "k.msense").write_text('mission "M"\nkpi a "A" { data "k.csv" }\n')
    diags = [d for d in metricsense.check(tmp_path / "k.msense", config={}).diagnostics if d.code.startswith("MS03")]
    assert [d.code for d in diags] == ["MS032"] and "line 400002" in diags[0].message
