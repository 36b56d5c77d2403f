"""The msense command line, run as a user would (a subprocess): outputs and exit codes."""

from __future__ import annotations

import json

import pytest

from support import EXAMPLES, run_msense

CLEAN = '''mission "Serve customers well" { why "They stay." }
lever deploys "Deploys per week" owner "platform"
lever coaching "Coaching hours" owner "platform"
failure training "Too few trained" at input
failure backlog "Queue grows" at process
failure vulns "Vulnerabilities ship" at output
failure outages "Outages" at outcome
kpi csat "Customer satisfaction" {
  focus results
  target >= 4.5 by 2027-06-30
  link "Satisfied customers are the mission"
  guards outages, vulns
  responds deploys +0.2
  owner "platform"
}
kpi growth "People who grew" {
  focus relationships
  target >= 0.7 by 2027-06-30
  link "People who grow serve better"
  guards training, backlog
  responds coaching +0.5
}
'''


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "msense.toml").write_text("")
    return tmp_path


def write(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_clean_spec_exits_zero(workdir):
    write(workdir, "clean.msense", CLEAN)
    result = run_msense("check", "clean.msense", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed" in result.stdout


def test_findings_exit_one_with_ruff_style_output(workdir):
    write(workdir, "k.msense", CLEAN + 'lever idle "Idle"\n')
    result = run_msense("check", "k.msense", cwd=workdir)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = lines.index("warning[MS017]: no KPI responds to the lever `idle`")
    assert lines[head + 1].strip() == "--> k.msense:23:7"
    assert lines[head + 3] == '23 | lever idle "Idle"'
    assert lines[head + 4] == "   |       ^^^^"
    assert any(line.strip().startswith("= help:") for line in lines[head:head + 8])
    assert "\x1b[" not in result.stdout  # no colour when not a terminal


def test_exit_zero_and_fail_on(workdir):
    write(workdir, "k.msense", CLEAN + 'lever idle "Idle"\n')
    assert run_msense("check", "--exit-zero", "k.msense", cwd=workdir).returncode == 0
    assert run_msense("check", "--fail-on", "error", "k.msense", cwd=workdir).returncode == 0
    assert run_msense("check", "--ignore", "MS017", "k.msense", cwd=workdir).returncode == 0
    assert run_msense("check", "--select", "MS010", "k.msense", cwd=workdir).returncode == 0


def test_syntax_error_exits_two_even_with_exit_zero(workdir):
    write(workdir, "bad.msense", "kpi a {\n")
    result = run_msense("check", "--exit-zero", "bad.msense", cwd=workdir)
    assert result.returncode == 2 and "error[MS001]" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_path_exits_two(workdir):
    result = run_msense("check", "nope.msense", cwd=workdir)
    assert result.returncode == 2 and "MS004" in result.stdout and "nope.msense" in result.stdout


def test_json_contract(workdir):
    write(workdir, "k.msense", CLEAN + 'lever idle "Idle"\n')
    result = run_msense("check", "--format", "json", "k.msense", cwd=workdir)
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    # `analysis_form` (issue 25) is new beside the version-1 keys: how `analysis` was written
    assert list(doc) == ["version", "metricsense", "files", "diagnostics", "analysis", "analysis_form", "summary"]
    assert doc["version"] == 1 and doc["files"] == ["k.msense"] and doc["analysis_form"] == "compact"
    (d,) = doc["diagnostics"]
    assert set(d) == {"code", "name", "severity", "message", "span", "related", "help", "evidence"}
    assert d["code"] == "MS017" and d["name"] == "idle-lever" and d["severity"] == "warning"
    assert d["span"] == {"file": "k.msense", "line": 23, "column": 7, "end_line": 23, "end_column": 11}
    assert doc["analysis"]["k.msense"]["structure"]["levers"] == 3
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["by_severity"]["warning"] == 1


def test_json_analysis_is_present_when_nothing_fires(workdir):
    write(workdir, "clean.msense", CLEAN)
    doc = json.loads(run_msense("check", "--format", "json", "clean.msense", cwd=workdir).stdout)
    assert doc["diagnostics"] == [] and doc["analysis"]["clean.msense"]["structure"]["structural_rank"] == 2


def test_json_is_deterministic(workdir):
    write(workdir, "k.msense", CLEAN + 'lever idle "Idle"\nkpi z "Z" { }\n')
    one = run_msense("check", "--format", "json", "k.msense", cwd=workdir).stdout
    two = run_msense("check", "--format", "json", "k.msense", cwd=workdir).stdout
    assert one == two


def test_unknown_format_exits_two(workdir):
    write(workdir, "clean.msense", CLEAN)
    result = run_msense("check", "--format", "yaml", "clean.msense", cwd=workdir)
    assert result.returncode == 2 and "unknown format" in result.stderr


def test_folder_and_markdown_and_includes(workdir):
    (workdir / "specs" / "parts").mkdir(parents=True)
    write(workdir / "specs", "main.msense", CLEAN + 'include "parts/more.msense"\n')
    write(workdir / "specs" / "parts", "more.msense", 'lever idle "Idle"\n')
    write(workdir / "specs", "notes.md", "# Notes\n\n```msense\nmission \"M\"\nlever x \"X\"\n```\n")
    write(workdir / "specs", "plain.md", "# no spec here\n")
    result = run_msense("check", "--format", "json", "specs", cwd=workdir)
    doc = json.loads(result.stdout)
    assert sorted(doc["analysis"]) == ["specs/main.msense", "specs/notes.md"]  # the include is not checked alone
    idle = [d for d in doc["diagnostics"] if d["code"] == "MS017" and "idle" in d["message"]]
    assert idle[0]["span"]["file"] == "specs/parts/more.msense"
    assert any(d["span"]["file"] == "specs/notes.md" and d["span"]["line"] == 5 for d in doc["diagnostics"])


def test_rules_explain_plugins(workdir):
    rules = run_msense("rules", cwd=workdir)
    assert rules.returncode == 0 and "MS013  more-kpis-than-levers" in rules.stdout
    as_json = json.loads(run_msense("rules", "--format", "json", cwd=workdir).stdout)
    assert {r["code"] for r in as_json} >= {"MS001", "MS013", "MS021"}
    explain = run_msense("explain", "MS019", cwd=workdir)
    assert explain.returncode == 0 and "## Why is this bad?" in explain.stdout and "`ratio`" in explain.stdout
    assert run_msense("explain", "more-kpis-than-levers", cwd=workdir).returncode == 0
    missing = run_msense("explain", "MS999", cwd=workdir)
    assert missing.returncode == 2 and "no rule" in missing.stderr
    plugins = run_msense("plugins", "--format", "json", cwd=workdir)
    names = {p["name"] for p in json.loads(plugins.stdout)["plugins"]}
    assert "metricsense.evaluators.structure" in names


def test_init_writes_a_starter_that_checks(workdir):
    result = run_msense("init", cwd=workdir)
    assert result.returncode == 0 and (workdir / "kpis.msense").exists()
    check = run_msense("check", "kpis.msense", cwd=workdir)
    assert check.returncode == 0, check.stdout
    again = run_msense("init", cwd=workdir)
    assert again.returncode == 2 and "exists" in again.stderr


def test_include_outside_folder_needs_allow_path(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    write(shared, "levers.msense", 'lever deploys "D"\n')
    team = tmp_path / "team"
    team.mkdir()
    write(team, "msense.toml", "")
    write(team, "k.msense", 'mission "M"\ninclude "../shared/levers.msense"\nkpi a "A" { responds deploys +1 }\n')
    refused = run_msense("check", "--format", "json", "k.msense", cwd=team)
    assert refused.returncode == 2
    assert any(d["code"] == "MS004" and "outside" in d["message"] for d in json.loads(refused.stdout)["diagnostics"])
    allowed = run_msense("check", "--format", "json", "--allow-path", "../shared", "k.msense", cwd=team)
    assert allowed.returncode != 2, allowed.stdout


def test_python_m_and_version(workdir):
    result = run_msense("--version", cwd=workdir)
    assert result.returncode == 0 and "0.1.0" in result.stdout


def test_plugin_can_be_switched_off_with_p(workdir):
    write(workdir, "k.msense", CLEAN + 'lever idle "Idle"\n')
    result = run_msense("check", "-p", "no:metricsense.evaluators.structure", "k.msense", cwd=workdir)
    assert result.returncode == 0, result.stdout
    bad = run_msense("check", "-p", "structure", "k.msense", cwd=workdir)
    assert bad.returncode == 2 and "no:NAME" in bad.stderr


def test_progress_bar_draws_only_after_a_moment_and_cleans_up():
    import io

    from metricsense.cli import ProgressBar

    quiet = io.StringIO()
    bar = ProgressBar(delay=60, stream=quiet)
    bar(1, 2, "spec: MS013")
    bar.close()
    assert quiet.getvalue() == ""  # a quick check never shows a bar
    shown = io.StringIO()
    bar = ProgressBar(delay=0, stream=shown, width=60)
    bar(3, 4, "spec: MS101 redundant-kpis")
    bar.close()
    assert " 75% spec: MS101 redundant-kpis" in shown.getvalue() and shown.getvalue().endswith("\r")


@pytest.mark.parametrize("width", [30, 80, 200])
def test_progress_bar_fits_the_terminal_and_keeps_the_end_of_a_long_name(width):
    import io

    from metricsense.cli import ProgressBar

    out = io.StringIO()
    bar = ProgressBar(delay=0, stream=out, width=width)
    name = "teams/" + "very-long-folder-name/" * 8 + "support.msense: MS403 variance-collapse"
    bar(1, 2, name)
    drawn = out.getvalue()
    assert drawn.startswith("\r") and len(drawn) == 1 + width  # one line, never wider than the terminal
    assert drawn.rstrip().endswith("MS403 variance-collapse"[-min(len("MS403 variance-collapse"), width - 40):])
    assert ("…" in drawn) == (len(name) > width - len("[#####.....]  50% "))
    bar.close()
    assert out.getvalue().endswith(" " * width + "\r")


def test_progress_is_one_bar_over_every_spec_with_no_internal_names(workdir):
    import metricsense

    for name in ("a", "b", "c"):
        write(workdir, f"{name}.msense", CLEAN)
    seen = []
    metricsense.check(workdir, config={}, progress=lambda done, total, what: seen.append((done / total, what)))
    shares = [s for s, _ in seen]
    assert shares == sorted(shares) and shares[-1] == 1.0  # never restarts for the next file
    assert {w.split(")", 1)[0] for w, in [(w,) for _, w in seen]} == {"(1 of 3", "(2 of 3", "(3 of 3"}
    assert not any("metricsense.evaluators" in w for _, w in seen)
    assert any("analysing (noise)" in w for _, w in seen)


def test_progress_is_reported_per_evaluator_and_never_in_piped_output(workdir):
    import metricsense

    seen = []
    metricsense.check(CLEAN, config={}, progress=lambda done, total, what: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] and len({t for _, t in seen}) == 1
    write(workdir, "clean.msense", CLEAN)
    result = run_msense("check", "clean.msense", cwd=workdir)
    assert "\r" not in result.stderr + result.stdout


# Review regression: an unwritable output path ended in a traceback.
def test_unwritable_outputs_are_messages_not_tracebacks(tmp_path):
    (tmp_path / "msense.toml").write_text("")
    init = run_msense("init", "nodir/x.msense", cwd=tmp_path)
    assert init.returncode == 2 and "cannot write" in init.stderr and "Traceback" not in init.stderr
    (tmp_path / "k.msense").write_text('mission "M"\n')
    out = run_msense("check", "k.msense", "-o", "nodir/out.txt", cwd=tmp_path)
    assert out.returncode == 2 and "cannot write" in out.stderr and "Traceback" not in out.stderr


# Issue 19 regression: `agenda -o` and `diff -o` to a path that cannot be written printed a traceback.
@pytest.mark.parametrize("target", ["nodir/out.md", "k.msense/out.md"])
def test_agenda_and_diff_unwritable_outputs_are_messages(tmp_path, target):
    (tmp_path / "msense.toml").write_text("")
    (tmp_path / "k.msense").write_text('mission "M"\n')
    for args in (("agenda", "k.msense"), ("diff", "k.msense", "k.msense")):
        out = run_msense(*args, "-o", target, cwd=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        assert "cannot write" in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


_BLOCK_PYGLS = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('pygls', 'lsprotocol'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


def _run_cli(code: str, *args: str):
    import subprocess
    import sys

    flags = ["-S"] if sys.flags.no_site else []
    script = code + f"sys.argv = ['msense', *{list(args)!r}]\nfrom metricsense.cli import main\nmain()\n"
    return subprocess.run([sys.executable, *flags, "-P", "-c", script], capture_output=True, text=True, timeout=120)


def test_lsp_without_the_extra_says_how_to_install_it():
    result = _run_cli(_BLOCK_PYGLS, "lsp")
    assert result.returncode == 2
    assert "pip install 'metricsense[lsp]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_lsp_is_listed_without_importing_pygls():
    result = _run_cli(_BLOCK_PYGLS, "--help")
    assert result.returncode == 0, result.stderr
    assert "lsp" in result.stdout and "language server" in result.stdout


def test_lsp_tcp_address_is_checked():
    result = _run_cli("import sys\n", "lsp", "--tcp", "localhost")
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


@pytest.mark.parametrize("args", [("agenda", "store-network"), ("diff", "store-network/store-network.msense",
                                                                  "store-network/store-network.msense")])
def test_agenda_and_diff_show_progress_on_a_terminal(monkeypatch, args):
    from click.testing import CliRunner

    import metricsense.cli as cli_module

    calls = []

    class Recorder:
        def __call__(self, done, total, what):
            calls.append(done / total)

        def close(self):
            calls.append("closed")

    monkeypatch.setattr(cli_module, "_progress_bar", Recorder)
    paths = [str(EXAMPLES / a) if "/" in a or a == "store-network" else a for a in args[1:]]
    result = CliRunner().invoke(cli_module.cli, [args[0], *paths])
    assert result.exit_code == 0, result.output
    assert calls[-1] == "closed" and calls[-2] == 1.0
    shares = calls[:-1]
    assert len(shares) > 5 and shares == sorted(shares)  # one bar, over both checks for diff
    if args[0] == "diff":
        assert shares[len(shares) // 2 - 1] <= 0.5 <= shares[len(shares) // 2 + 1]


# Review regression (issue 26's attack): with standard output redirected (`msense agenda DIR >
# agenda.md`), the bar took the width of standard output (80 by default) and wrapped on every
# update in a narrower terminal; a terminal under 21 columns always wrapped; a wide character
# counted as one column.
def test_progress_bar_takes_the_width_of_its_own_terminal(monkeypatch):
    import fcntl
    import os
    import struct
    import termios

    from metricsense.cli import ProgressBar

    monkeypatch.delenv("COLUMNS", raising=False)
    main, side = os.openpty()
    try:
        fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 43, 0, 0))
        with os.fdopen(side, "w", encoding="utf-8", closefd=False) as stream:
            assert ProgressBar(delay=0, stream=stream).columns() == 42
    finally:
        os.close(main)
        os.close(side)


@pytest.mark.parametrize("width", [1, 5, 12, 19])
def test_progress_bar_in_a_narrow_terminal_never_wraps(width):
    import io

    from metricsense.cli import ProgressBar

    out = io.StringIO()
    ProgressBar(delay=0, stream=out, width=width)(1, 2, "examples/store-network.msense: MS101")
    assert len(out.getvalue()) == 1 + width and "\n" not in out.getvalue()


def test_progress_bar_counts_wide_characters_as_two_columns():
    import io

    from metricsense.cli import ProgressBar
    from metricsense.cli_support import _cells

    out = io.StringIO()
    ProgressBar(delay=0, stream=out, width=40)(1, 2, "チーム/サポート/指標の仕様書.msense\n: MS101")
    line = out.getvalue()[1:]
    assert _cells(line) == 40 and "\n" not in line and line.rstrip().endswith("MS101")


def test_progress_with_segments_never_goes_back():
    # the spec's own pass reached 100% and the bar started again at the first store
    import metricsense

    spec = EXAMPLES / "store-network" / "store-network.msense"
    seen = []
    metricsense.check(spec, by="store", jobs=1, progress=lambda done, total, what: seen.append(done / total))
    assert seen == sorted(seen) and seen[-1] == 1.0 and max(seen[:-1]) < 1.0
