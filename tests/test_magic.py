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
    report = ip.run_cell_magic("msense", "--as r --no-raise", SPEC)
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


def test_explore_option(ip):
    require("ipywidgets")
    from metricsense.widgets.explorer import Explorer

    assert isinstance(ip.run_cell_magic("msense", "--explore", SPEC.replace('data "kpis.csv"\n', "")), Explorer)


def test_examples_through_the_magic(ip):
    text = (EXAMPLES / "engineering-estimates" / "engineering.msense").read_text("utf-8")
    report = ip.run_cell_magic("msense", "--no-raise", text)
    assert report.exit_code in (0, 2)  # its data paths are relative to its own folder, not this one


def test_a_cells_findings_name_the_lines_the_notebook_shows(ip):
    # line 1 of the cell is `%%msense`: the spec's first line is line 2 of the cell
    report = ip.run_cell_magic("msense", "--no-raise", 'mission "M"\nkpi k "K" { kind outcomes }\n')
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
    report = ip.run_cell_magic("msense", "--no-raise", 'mission "M"\n' + last)
    (d,) = [d for d in report.diagnostics if d.code == "MS001"]
    assert d.message.startswith(message), d.message
    assert d.span.line == 3


# ---- a cell that fails: the spec has errors, an option is wrong, data is missing ------------------

CLEAN = '''mission "Ship what customers love"
lever deploys "Deploys per week"
kpi lead "Lead time" { better lower  link "Fast changes reach customers"  responds deploys -0.5 }
'''


def _fails(ip, capsys, line: str, cell: str) -> str:
    """Run the cell as a notebook does (run_cell): it must fail, and show no traceback."""
    from metricsense.magic import MsenseCellError

    result = ip.run_cell(f"%%msense {line}\n{cell}")
    assert not result.success and isinstance(result.error_in_exec, MsenseCellError), result
    shown = capsys.readouterr().out
    assert "Traceback" not in shown and "metricsense/magic.py" not in shown and 'File "' not in shown, shown
    return shown


def test_a_spec_with_errors_fails_the_cell_with_the_diagnostic(ip, capsys):
    shown = _fails(ip, capsys, "--as r", 'mission "M"\nkpi k "K" { kind outcomes }\n')
    assert shown.startswith("%%msense: the check fails: 1 diagnostic below (--no-raise shows the report instead)")
    assert "error[MS001]: " in shown and ":3:" in shown  # the cell's line 3 (the magic is line 1)
    assert "kpi k \"K\" { kind outcomes }" in shown and "^^^^^^^^" in shown
    assert shown.rstrip().splitlines()[-1] == "Found 1 diagnostic (1 error)."
    assert "MS001" in {d.code for d in ip.user_ns["r"].diagnostics}  # --as is set before the cell fails


def test_data_given_wrong_fails_the_cell_at_the_magic_line(ip, capsys):
    ip.user_ns["five"] = 5
    shown = _fails(ip, capsys, "--data five", CLEAN)
    assert "error[MS030]: in-memory data `<data>` is a int" in shown
    assert "1 | %%msense --data five" in shown  # quoted: the line the reader wrote it on


def test_a_config_error_fails_the_cell(ip, capsys):
    shown = _fails(ip, capsys, "--select NOPE", CLEAN)
    assert "error[MS006]: `select` names 'NOPE', which matches no rule" in shown


def test_missing_data_fails_the_cell(ip, capsys):
    shown = _fails(ip, capsys, "", SPEC)  # kpis.csv is not in the notebook's folder
    assert "error[MS030]" in shown and "kpis.csv" in shown
    assert "MS013" not in shown  # only what fails the cell: MS013 is a warning


@pytest.mark.parametrize("line, said", [
    ("--bogus", "%%msense: unrecognized arguments: --bogus"),
    ("--fail-on sometimes", "%%msense: argument --fail-on: invalid choice: 'sometimes'"),
    ("--data nowhere", "%%msense: --data nowhere: no such variable in the notebook"),
    ("--data", "%%msense: argument --data: expected one argument"),
])
def test_a_wrong_option_or_missing_variable_fails_the_cell(ip, capsys, line, said):
    shown = _fails(ip, capsys, line, CLEAN)
    assert shown.startswith(said), shown
    assert ("usage: %%msense" in shown) is (line != "--data nowhere")  # argparse's own errors say the usage


def test_warnings_pass_unless_fail_on_says_so(ip, capsys):
    report = ip.run_cell_magic("msense", "", SPEC.replace('data "kpis.csv"\n', ""))
    assert "MS013" in {d.code for d in report.diagnostics} and report.exit_code == 1  # a warning: shown, not raised
    shown = _fails(ip, capsys, "--fail-on warning", SPEC.replace('data "kpis.csv"\n', ""))
    assert shown.startswith("%%msense: the check fails at --fail-on warning: ")
    assert "warning[MS013]" in shown


def test_no_raise_shows_the_report_of_a_broken_spec(ip):
    report = ip.run_cell_magic("msense", "--no-raise", SPEC)
    assert report.exit_code == 2 and "MS030" in {d.code for d in report.diagnostics}


def test_run_all_stops_at_a_failing_msense_cell(tmp_path):
    """In a kernel, as Run All and `nbconvert --execute` run a notebook: the cell after the broken
    spec does not run, and the error shown is the diagnostic, not a traceback."""
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    from test_notebooks import install_kernelspec, kernel_env

    install_kernelspec()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext metricsense"),
        nbformat.v4.new_code_cell('%%msense\nmission "M"\nkpi k "K" { kind outcomes }\n'),
        nbformat.v4.new_code_cell("print('after')"),
    ])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        client.execute(env=kernel_env())
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "SpecFailed"
    assert error.traceback[0].startswith("%%msense: the check fails: 1 diagnostic below")
    assert any("error[MS001]" in line for line in error.traceback)
    assert not any("Traceback" in line or "magic.py" in line for line in error.traceback), error.traceback
    assert nb.cells[2].get("outputs", []) == [] and nb.cells[2].get("execution_count") is None
