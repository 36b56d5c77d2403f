"""plugins/metricsense-plugin-serve, installed as a user would, checked through the command line.

The package is built and installed (non-editable, `pip install --no-deps --target DIR`) into a
temporary folder that only these tests' subprocesses see on PYTHONPATH: the rest of the suite
keeps checking metricsense without third-party rules. Discovery goes through the entry point
alone, both in a normal venv and in a source-tree run under `python -S`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from support import IN_CI, ROOT, fake_distribution, run_msense

PLUGIN = ROOT / "plugins" / "metricsense-plugin-serve"
CASES = PLUGIN / "tests" / "cases"
CUSTOMER_LOVE = ROOT / "examples" / "customer-love" / "customer-love.msense"
SRV = ["SRV001", "SRV002", "SRV003", "SRV004", "SRV005", "SRV006"]
_FLAGS = ["-S"] if sys.flags.no_site else []

pytestmark = pytest.mark.slow


def _setuptools_builds_offline() -> bool:
    """True when the venv's setuptools can build the plugin without build isolation (77+)."""
    try:
        major = int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return False
    return major >= 77


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding the installed plugin (its module and its dist-info with the entry point)."""
    base = tmp_path_factory.mktemp("serve-plugin")
    # NOTE: build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    src = base / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    target = base / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--disable-pip-version-check",
           "-q", "--target", str(target), str(src)]
    if _setuptools_builds_offline():
        cmd.insert(4, "--no-build-isolation")  # `make install` provides setuptools>=77: no network needed
    # pip runs with the venv's own site (not the -S source-tree path) and without PYTHONPATH, so an
    # isolated build environment cannot pick up the venv's older setuptools.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        message = f"could not install the plugin package:\n{proc.stdout}\n{proc.stderr}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)  # e.g. an old setuptools and no network for an isolated build
    assert (target / "metricsense_serve" / "__init__.py").is_file()
    return target


def _pythonpath(*first: Path) -> str:
    parts = [str(p) for p in first] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(parts)


def msense(site: Path, *args: str, env: dict | None = None, cwd: Path | None = None):
    full = {"PYTHONPATH": _pythonpath(site), "METRICSENSE_DISABLE_PLUGINS": "", **(env or {})}
    return run_msense(*args, env=full, cwd=cwd)


def codes(proc) -> list[str]:
    return [d["code"] for d in json.loads(proc.stdout)["diagnostics"]]


# ---- the installed package ---------------------------------------------------------------------


def test_the_installed_package_is_a_wheel_with_an_entry_point(site):
    (dist,) = site.glob("metricsense_plugin_serve-*.dist-info")
    assert "[metricsense]\nserve = metricsense_serve" in (dist / "entry_points.txt").read_text()
    direct = dist / "direct_url.json"
    if direct.exists():  # pip records where it came from: a folder, installed as a wheel, not editable
        assert not json.loads(direct.read_text()).get("dir_info", {}).get("editable", False)


def test_msense_plugins_lists_it_with_version_hooks_and_rules(site):
    proc = msense(site, "plugins", "--format", "json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    listing = json.loads(proc.stdout)
    assert listing["problems"] == []
    (row,) = [r for r in listing["plugins"] if r["name"] == "serve"]
    assert row["version"] == "metricsense-plugin-serve 0.1.0"
    assert row["builtin"] is False
    assert row["hooks"] == ["metricsense_register_rules"]
    assert row["rules"] == SRV
    text = msense(site, "plugins")
    assert "serve (metricsense-plugin-serve 0.1.0)" in text.stdout
    assert "rules: " + ", ".join(SRV) in text.stdout


def test_msense_check_reports_its_findings_beside_the_builtin_ones(site):
    proc = msense(site, "check", str(CUSTOMER_LOVE), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = codes(proc)
    assert {"SRV001", "SRV002", "SRV003", "SRV006"} <= set(found)
    assert "MS013" in found and "MS005" not in found  # the built-in rules ran too
    (dev,) = [d for d in json.loads(proc.stdout)["diagnostics"] if d["code"] == "SRV001"]
    assert dev["name"] == "no-development-kpis" and dev["severity"] == "warning"
    assert dev["span"]["line"] == 13  # the mission
    assert "engage and develop others" in dev["message"]


def test_msense_check_on_the_plugins_own_case_points_at_the_marked_lines(site):
    proc = msense(site, "check", str(CASES / "SRV004" / "fail.msense"), "--format", "json", "--select", "SRV")
    diags = json.loads(proc.stdout)["diagnostics"]
    assert [(d["code"], d["span"]["line"]) for d in diags] == [("SRV004", 5), ("SRV004", 9)]
    assert proc.returncode == 1


def test_text_output_and_explain(site):
    proc = msense(site, "check", str(CASES / "SRV003" / "fail.msense"), "--select", "SRV003", "--no-color")
    assert "warning[SRV003]: 4 KPIs measure results and only 1 measures relationships" in proc.stdout
    explain = msense(site, "explain", "results-relationships-imbalance")
    assert explain.returncode == 0, explain.stderr
    assert "## Why is this bad?" in explain.stdout and "Seed 002" in explain.stdout
    assert "`ratio` (default 3.0)" in explain.stdout


def test_its_options_come_from_the_configuration(site, tmp_path):
    spec = tmp_path / "k.msense"
    spec.write_text('mission "M"\n' + "".join(f'kpi r{i} "R{i}" {{ focus results }}\n' for i in range(3))
                    + 'kpi rel "Trust" { focus relationships }\n')
    assert "SRV003" not in codes(msense(site, "check", str(spec), "--format", "json", cwd=tmp_path))
    (tmp_path / "msense.toml").write_text("[rules.SRV003]\nratio = 2.0\n")
    assert "SRV003" in codes(msense(site, "check", str(spec), "--format", "json", cwd=tmp_path))
    (tmp_path / "msense.toml").write_text("[rules.SRV003]\nratio = \"two\"\n")
    bad = msense(site, "check", str(spec), "--format", "json", cwd=tmp_path)
    assert bad.returncode == 2 and codes(bad) == ["MS006"]


# ---- switching it off --------------------------------------------------------------------------


@pytest.mark.parametrize("how", [
    {"args": ["-p", "no:serve"]},
    {"env": {"METRICSENSE_DISABLE_PLUGINS": "serve"}},
    {"env": {"METRICSENSE_DISABLE_PLUGINS": "all"}},
    {"args": ["-p", "no:all"]},
], ids=["-p no:serve", "env serve", "env all", "-p no:all"])
def test_switching_it_off(site, how):
    args = how.get("args", [])
    proc = msense(site, "check", str(CUSTOMER_LOVE), "--format", "json", *args, env=how.get("env"))
    found = codes(proc)
    assert not [c for c in found if c.startswith("SRV")] and "MS013" in found
    listing = json.loads(msense(site, "plugins", "--format", "json", *args, env=how.get("env")).stdout)
    assert not [r for r in listing["plugins"] if r["name"] == "serve" and r["rules"]]


# ---- the plugin's own tests --------------------------------------------------------------------


def test_the_plugins_own_test_suite_passes(site):
    env = {**os.environ, "PYTHONPATH": _pythonpath(site), "PYTHONDONTWRITEBYTECODE": "1",
           "METRICSENSE_DISABLE_PLUGINS": ""}
    proc = subprocess.run(
        [sys.executable, *_FLAGS, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
        cwd=PLUGIN, capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


# ---- the plugin API version, and clashes, through throwaway entry points -----------------------


FUTURE = '''
import metricsense

METRICSENSE_API = 99

@metricsense.rule(code="FUT001", name="from-the-future", severity=metricsense.Severity.WARNING)
def from_the_future(ctx):
    """Needs an API this metricsense does not have."""
    yield from ()

@metricsense.hookimpl
def metricsense_register_rules(register):
    register(from_the_future)
'''


def test_a_plugin_needing_a_newer_api_gets_a_clear_message(tmp_path):
    site = fake_distribution(tmp_path / "site", "future-plugin", "future", FUTURE)
    spec = tmp_path / "k.msense"
    spec.write_text('mission "M"\nlever idle "Idle"\n')
    proc = run_msense("check", str(spec), "--format", "json",
                      env={"PYTHONPATH": _pythonpath(site), "METRICSENSE_DISABLE_PLUGINS": ""})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    (crash,) = [d for d in report["diagnostics"] if d["code"] == "MS005"]
    assert "future-plugin[future]" in crash["message"]
    assert "needs plugin API 99" in crash["message"] and "upgrade metricsense" in crash["message"]
    assert "MS017" in [d["code"] for d in report["diagnostics"]]  # the built-in rules still ran
    listing = run_msense("plugins", env={"PYTHONPATH": _pythonpath(site), "METRICSENSE_DISABLE_PLUGINS": ""})
    assert listing.returncode == 3 and "needs plugin API 99" in listing.stdout


CLASH = '''
import metricsense

@metricsense.rule(code="SRV001", name="copied-rule", severity=metricsense.Severity.INFO)
def copied(ctx):
    """Takes a code the serve plugin uses."""
    yield from ()

@metricsense.hookimpl
def metricsense_register_rules(register):
    register(copied)
'''


def test_a_taken_code_names_both_installed_plugins(site, tmp_path):
    other = fake_distribution(tmp_path / "other", "clash-plugin", "clash", CLASH)
    proc = run_msense("check", str(CASES / "SRV004" / "fail.msense"), "--format", "json",
                      env={"PYTHONPATH": _pythonpath(other, site), "METRICSENSE_DISABLE_PLUGINS": ""})
    assert proc.returncode == 3
    (crash,) = [d for d in json.loads(proc.stdout)["diagnostics"] if d["code"] == "MS005"]
    # entry points load in name order: `clash` took SRV001 first, `serve` is refused, loudly
    assert "'serve'" in crash["message"] and "'clash'" in crash["message"] and "SRV001" in crash["message"]
