"""The %%msense cell magic, run in a real IPython shell."""

from __future__ import annotations

import pytest

from support import EXAMPLES, require

SPEC = '''mission "Ship what customers love"
data "kpis.csv"
lever deploys "Deploys per week"
kpi lead "Lead time" { better lower  link "Fast changes reach customers"  responds deploys -0.5 }
kpi cycle "Cycle time" { better lower  responds deploys -0.4 }
'''


@pytest.fixture
def ip(tmp_path, monkeypatch):
    require("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)  # the notebook's folder
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "metricsense")
    return shell


def test_cell_is_a_spec_and_the_report_is_the_result(ip):
    report = ip.run_cell_magic("msense", "--as r", SPEC)
    assert ip.user_ns["r"] is report
    assert "MS013" in {d.code for d in report.diagnostics}  # two KPIs, one lever
    assert {"MS012"} <= {d.code for d in report.diagnostics}
    assert "MS030" in {d.code for d in report.diagnostics}  # kpis.csv is not in the notebook's folder


def test_select_ignore_and_data_from_a_variable(ip):
    pd = require("pandas")
    import numpy as np

    rng = np.random.default_rng(7)
    base = rng.normal(size=40).cumsum()
    ip.user_ns["kpis"] = pd.DataFrame({"period": list(range(1, 41)), "lead": base,
                                       "cycle": base + rng.normal(scale=0.05, size=40), "deploys": rng.normal(size=40)})
    report = ip.run_cell_magic("msense", "--data kpis --select MS1,MS0 --ignore MS012", SPEC)
    codes = {d.code for d in report.diagnostics}
    assert "MS101" in codes  # the two KPIs move together
    assert "MS012" not in codes and not any(c.startswith(("MS2", "MS3")) for c in codes)


def test_data_and_includes_relative_to_the_notebook(ip, tmp_path):
    (tmp_path / "kpis.csv").write_text("period,lead,cycle,deploys\n" + "".join(
        f"{i},{i % 5},{(i * 7) % 3},{i % 2}\n" for i in range(1, 30)), "utf-8")
    (tmp_path / "levers.msense").write_text('lever tests "Test automation"\n', "utf-8")
    report = ip.run_cell_magic("msense", "", 'include "levers.msense"\n' + SPEC)
    codes = {d.code for d in report.diagnostics}
    assert not {"MS004", "MS030", "MS031"} & codes
    assert "MS017" in codes  # the included lever is idle


def test_explore_option_and_usage_errors(ip, capsys):
    require("ipywidgets")
    from metricsense.widgets.explorer import Explorer

    assert isinstance(ip.run_cell_magic("msense", "--explore", SPEC.replace('data "kpis.csv"\n', "")), Explorer)
    assert ip.run_cell_magic("msense", "--data nowhere", SPEC) is None
    assert "no such variable" in capsys.readouterr().out
    assert ip.run_cell_magic("msense", "--bogus", SPEC) is None
    assert "unrecognized arguments" in capsys.readouterr().out


def test_examples_through_the_magic(ip):
    text = (EXAMPLES / "engineering-estimates" / "engineering.msense").read_text("utf-8")
    report = ip.run_cell_magic("msense", "--fail-on never", text)
    assert report.exit_code in (0, 2)  # its data paths are relative to its own folder, not this one


def test_a_cells_findings_name_the_lines_the_notebook_shows(ip):
    # line 1 of the cell is `%%msense`: the spec's first line is line 2 of the cell
    report = ip.run_cell_magic("msense", "--fail-on never", 'mission "M"\nkpi k "K" { kind outcomes }\n')
    (d,) = [d for d in report.diagnostics if d.code == "MS001"]
    assert d.span.line == 3
    from metricsense.reports.html import render_html

    page = render_html(report)
    assert 'class="caret"' in page and "^^^^^^^^" in page  # `outcomes` underlined whole


@pytest.mark.parametrize("last, message", [
    ("kpi", "unexpected end of the file; expected a name"),  # a cell cut off on its last line
    ("kpi çsat", "unexpected character `ç`; expected a name"),
    ("kpi\u00a0csat", "unexpected invisible character U+00A0;"),  # a no-break space pasted from a document
])
def test_a_cells_syntax_error_on_its_last_line_reads_plainly(ip, last, message):
    report = ip.run_cell_magic("msense", "--fail-on never", 'mission "M"\n' + last)
    (d,) = [d for d in report.diagnostics if d.code == "MS001"]
    assert d.message.startswith(message), d.message
    assert d.span.line == 3
