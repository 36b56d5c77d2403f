"""The command line's rough edges (issue 26): each test failed before its fix."""

from __future__ import annotations

import pytest

import os
import subprocess
import sys

from support import ROOT, run_msense

SPEC = 'mission "M"\nlever coaching "C"\n'  # MS017: an idle lever


def _stdin(args: list[str], text: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "metricsense", *args], input=text, cwd=cwd,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_check_with_no_path_checks_the_current_folder(tmp_path):
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    result = run_msense("check", cwd=tmp_path)
    assert result.returncode == 1 and "MS017" in result.stdout and "a.msense" in result.stdout


def test_check_and_fmt_read_standard_input(tmp_path):
    result = _stdin(["check", "-"], SPEC, tmp_path)
    assert result.returncode == 1 and "MS017" in result.stdout
    result = _stdin(["fmt", "-"], 'mission "M"\nlever  coaching "C"\n', tmp_path)
    assert result.returncode == 0 and result.stdout == SPEC
    result = _stdin(["fmt", "--check", "-"], 'mission "M"\nlever  coaching "C"\n', tmp_path)
    assert result.returncode == 1 and result.stdout == ""


def test_a_path_with_no_spec_is_an_error_not_a_pass(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_msense("check", "empty", cwd=tmp_path)
    assert result.returncode == 2 and "no spec found in empty" in result.stderr
    assert "All checks passed" not in result.stdout


def test_an_unknown_rule_on_the_command_line_names_the_option(tmp_path):
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    result = run_msense("check", "--select", "MS017,MS9999", "a.msense", cwd=tmp_path)
    assert result.returncode == 2 and "--select" in result.stderr and "MS9999" in result.stderr
    assert "<config>" not in result.stdout + result.stderr


def test_help_lists_every_built_in_format():
    result = run_msense("check", "--help")
    for name in ("text", "json", "sarif", "junit", "github", "gitlab", "markdown", "html"):
        assert name in result.stdout


def test_no_color_and_force_color(tmp_path):
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    plain = run_msense("check", "a.msense", cwd=tmp_path, env={"NO_COLOR": "", "FORCE_COLOR": ""})
    forced = run_msense("check", "a.msense", cwd=tmp_path, env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    both = run_msense("check", "a.msense", cwd=tmp_path, env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    flag = run_msense("check", "--color", "a.msense", cwd=tmp_path, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain.stdout and "\x1b[" in forced.stdout
    assert "\x1b[" not in both.stdout and "\x1b[" in flag.stdout


def test_fmt_names_a_syntax_error_and_does_not_count_it_unchanged(tmp_path):
    (tmp_path / "bad.msense").write_text('mission "M"\nkpi k "K" { kind outcomes }\n', "utf-8")
    result = run_msense("fmt", "--check", "bad.msense", cwd=tmp_path)
    assert result.returncode == 2
    assert "line 2, column 18" in result.stderr and "expected one of input, process, output, outcome" in result.stderr
    assert "0 unchanged, 1 could not be formatted" in result.stderr and "Unexpected token" not in result.stderr


def test_fmt_diff_exits_one_when_something_would_change(tmp_path):
    (tmp_path / "a.msense").write_text('mission "M"\nlever  coaching "C"\n', "utf-8")
    result = run_msense("fmt", "--diff", "a.msense", cwd=tmp_path)
    assert result.returncode == 1 and "+lever coaching" in result.stdout
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    assert run_msense("fmt", "--diff", "a.msense", cwd=tmp_path).returncode == 0


def test_fmt_keeps_crlf_line_ends(tmp_path):
    path = tmp_path / "a.msense"
    path.write_bytes(SPEC.replace("\n", "\r\n").encode())
    assert run_msense("fmt", "--check", "a.msense", cwd=tmp_path).returncode == 0  # nothing to change
    path.write_bytes(b'mission "M"\r\nlever  coaching "C"\r\n')
    assert run_msense("fmt", "a.msense", cwd=tmp_path).returncode == 0
    assert path.read_bytes() == SPEC.replace("\n", "\r\n").encode()


def test_every_configuration_mistake_is_reported_with_a_did_you_mean(tmp_path):
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    (tmp_path / "msense.toml").write_text('fail_on = "error"\nselect = ["MS0"]\nignor = ["MS017"]\n'
                                          'jobs = 0\n', "utf-8")
    result = run_msense("check", "--format", "json", "a.msense", cwd=tmp_path)
    import json

    found = [(d["span"]["line"], d["message"]) for d in json.loads(result.stdout)["diagnostics"]
             if d["code"] == "MS006"]
    assert [line for line, _ in found] == [1, 3, 4], found
    assert "did you mean `fail-on`?" in found[0][1] and "did you mean `ignore`?" in found[1][1]
    assert "jobs" in found[2][1] and result.returncode == 2


def test_a_ragged_csv_row_is_named_by_its_line(tmp_path):
    (tmp_path / "k.csv").write_text("period,a\n2024-01-01,1\n2024-01-08,2,9\n2024-01-15,3\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ndata "k.csv"\nkpi a "A" { }\n', "utf-8")
    result = run_msense("check", "s.msense", cwd=tmp_path)
    assert "k.csv line 3: 3 fields where the header has 2" in result.stdout


def test_by_a_column_no_source_has_lists_the_columns(tmp_path):
    (tmp_path / "k.csv").write_text("period,a,region\n2024-01-01,1,n\n2024-01-08,2,s\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ndata "k.csv"\nkpi a "A" { }\n', "utf-8")
    result = run_msense("check", "s.msense", "--by", "store", cwd=tmp_path)
    assert "has a column `store` to segment by (its columns: `period`, `a`, `region`)" in result.stdout


def test_a_suppression_without_a_reason_is_helped_with_its_own_code(tmp_path):
    (tmp_path / "a.msense").write_text('mission "M"\nlever x "X"  # msense: ignore[MS017]\n', "utf-8")
    result = run_msense("check", "a.msense", cwd=tmp_path)
    assert 'help: add one: # msense: ignore[MS017] reason "' in result.stdout and "MS013" not in result.stdout


def test_the_readme_rule_table_lists_every_built_in_rule():
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    readme = (ROOT / "README.md").read_text("utf-8")
    codes = {code for code in build_registry(get_plugin_manager(entrypoints=False)[0]).rules}
    ranged = {f"MS0{n}" for n in range(30, 36)}  # the MS030-MS035 row
    missing = [c for c in sorted(codes - ranged) if c.startswith("MS") and f"| {c} |" not in readme]
    assert not missing, missing


def test_diff_against_a_spec_that_does_not_parse_compares_nothing(tmp_path):
    (tmp_path / "old.msense").write_text('mission "M"\nlever l "L"\nkpi k "K" { responds l 0.5 }\n', "utf-8")
    (tmp_path / "new.msense").write_text('mission "M"\nlever l "L"\nkpi k "K" { responds l 0.5 \n', "utf-8")
    result = run_msense("diff", "old.msense", "new.msense", cwd=tmp_path)
    assert result.returncode == 2 and "new.msense cannot be read" in result.stderr
    assert "removed" not in result.stdout


def test_a_baseline_hides_known_findings_by_fingerprint_not_line(tmp_path):
    import json

    spec = tmp_path / "a.msense"
    spec.write_text('mission "M"\nlever coaching "C"\nlever mentoring "M"\n', "utf-8")  # two idle levers
    first = run_msense("check", "--write-baseline", "base.json", "a.msense", cwd=tmp_path)
    assert first.returncode == 1
    written = json.loads((tmp_path / "base.json").read_text())
    assert sorted(f["code"] for f in written["findings"]).count("MS017") == 2
    # lines move and a third idle lever appears: only it is reported
    spec.write_text('# a comment\nmission "M"\n\nlever coaching "C"\nlever mentoring "M"\nlever pairing "P"\n',
                    "utf-8")
    result = run_msense("check", "--baseline", "base.json", "a.msense", cwd=tmp_path)
    assert result.returncode == 1 and "`pairing`" in result.stdout
    assert "`coaching`" not in result.stdout and "in the baseline are not shown" in result.stderr
    # everything known: clean
    spec.write_text('mission "M"\nlever coaching "C"\nlever mentoring "M"\n', "utf-8")
    assert run_msense("check", "--baseline", "base.json", "a.msense", cwd=tmp_path).returncode == 0
    # a spec error is never hidden by a baseline
    spec.write_text('mission "M"\nkpi {\n', "utf-8")
    run_msense("check", "--write-baseline", "broken.json", "a.msense", cwd=tmp_path)
    assert run_msense("check", "--baseline", "broken.json", "a.msense", cwd=tmp_path).returncode == 2


def test_a_baseline_that_is_not_one_is_a_usage_error(tmp_path):
    (tmp_path / "a.msense").write_text(SPEC, "utf-8")
    (tmp_path / "base.json").write_text("[1, 2]", "utf-8")
    result = run_msense("check", "--baseline", "base.json", "a.msense", cwd=tmp_path)
    assert result.returncode == 2 and "is not a metricsense baseline" in result.stderr


def test_a_fingerprint_ignores_the_numbers_in_a_message():
    from metricsense.diagnostics import Diagnostic, Severity
    from metricsense.span import Span

    def make(message, line):
        return Diagnostic("MS301", "target-inside-noise", Severity.WARNING, message, Span("a.msense", line, 1, line, 2))

    assert make("`csat` is 4.21, 0.3 from its target", 3).fingerprint() == \
        make("`csat` is 4.35, 0.25 from its target", 9).fingerprint()
    assert make("`csat` is 4.21", 3).fingerprint() != make("`nps` is 4.21", 3).fingerprint()


BLAS_PROBE = r"""
import os, sys
sys.argv = ["msense", "--version"]
from metricsense.cli import main
try:
    main()
except SystemExit:
    pass
import numpy, threadpoolctl
pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
print("BLAS", os.environ.get("OPENBLAS_NUM_THREADS"), [p["num_threads"] for p in pools])
print("WAIT", os.environ.get("OMP_WAIT_POLICY"))
import gc
print("FROZEN", gc.get_freeze_count())
"""


def test_a_users_omp_num_threads_leaves_blas_alone():
    """OMP_NUM_THREADS also governs MKL (and an OpenMP-built OpenBLAS): a user who set it is left
    to it, the BLAS variables unset."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-P", "-c", BLAS_PROBE], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert "BLAS None" in out


@pytest.mark.parametrize("given", [None, "2"])
def test_the_cli_runs_blas_on_one_thread_unless_told(given):
    """`msense` asks BLAS for one thread before NumPy loads (its many small solves paid for a
    thread pool fighting the work for the cores); a count the environment gives is kept."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if given:
        env["OPENBLAS_NUM_THREADS"] = given
        env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-P", "-c", BLAS_PROBE], capture_output=True, text=True, env=env,
                         check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("BLAS"))
    want = given or "1"
    assert line.split()[1] == want
    # NumPy's OpenBLAS took it (OpenBLAS caps a count at the machine's processors)
    pool = str(min(int(want), os.cpu_count() or 1))
    assert f"[{pool}]" in line or f"[{pool}, " in line, line
    # the kernel's OpenMP threads sleep between loops, unless told otherwise
    assert f"WAIT {'ACTIVE' if given else 'PASSIVE'}" in out


def test_the_cli_leaves_the_collector_nothing_to_walk_as_it_exits():
    """`msense` freezes what it made as it ends (the last cycle collection walked a large report
    for nothing); only the process's main does: the API and the CliRunner leave the collector alone."""
    out = subprocess.run([sys.executable, "-P", "-c", BLAS_PROBE], capture_output=True, text=True, check=True).stdout
    assert int(next(ln for ln in out.splitlines() if ln.startswith("FROZEN")).split()[1]) > 1000
    import gc

    from click.testing import CliRunner

    from metricsense.cli import cli

    before = gc.get_freeze_count()
    assert CliRunner().invoke(cli, ["--version"]).exit_code == 0
    assert gc.get_freeze_count() == before
