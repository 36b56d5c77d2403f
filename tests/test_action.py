"""The GitHub Action (action.yml): its check steps, run as the runner would run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml  # a test dependency

from support import EXAMPLES, ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))


def _step(name: str) -> dict:
    return next(s for s in ACTION["runs"]["steps"] if s.get("name") == name)


def _run(step: dict, cwd: Path, inputs: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for key, value in step.get("env", {}).items():
        name = value.removeprefix("${{ inputs.").removesuffix(" }}")
        env[key] = inputs.get(name, ACTION["inputs"][name]["default"])
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_action_is_composite_and_documents_its_inputs():
    assert ACTION["runs"]["using"] == "composite"
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), name
    uses = [s.get("uses", "") for s in ACTION["runs"]["steps"]]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)


def test_the_check_steps_write_sarif_and_annotations_and_fail_on_findings(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "customer-love", repo / "kpis")
    sarif_step, notes_step = _step("Check (SARIF for code scanning)"), _step("Check (annotations)")
    result = _run(sarif_step, repo, {"paths": "kpis"})
    assert result.returncode == 0, result.stderr  # the SARIF step never fails the job
    sarif = json.loads((repo / "msense.sarif").read_text("utf-8"))
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    notes = _run(notes_step, repo, {"paths": "kpis"})
    assert notes.returncode == 1 and "::warning" in notes.stdout
    assert _run(notes_step, repo, {"paths": "kpis", "fail-on": "never"}).returncode == 0
    # a mistyped path fails the job (exit 2), it never passes
    assert _run(notes_step, repo, {"paths": "kpi"}).returncode == 2


def test_the_gitlab_template_writes_a_code_quality_report(tmp_path):
    job = yaml.safe_load((ROOT / "ci" / "metricsense.gitlab-ci.yml").read_text("utf-8"))["metricsense"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "customer-love", repo / "kpis")
    env = {**os.environ, **job["variables"], "MSENSE_PATHS": "kpis",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    codes = []
    for line in job["script"]:
        if "pip install" in line:
            continue  # the package is installed here already
        codes.append(subprocess.run(["bash", "-c", line], cwd=repo, env=env, capture_output=True, text=True,
                                    timeout=300).returncode)
    assert codes == [0, 1]
    issues = json.loads((repo / "gl-code-quality-report.json").read_text("utf-8"))
    assert issues and all({"description", "check_name", "fingerprint", "severity", "location"} <= set(i)
                          for i in issues)
