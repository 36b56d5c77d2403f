"""The pre-commit hooks: valid YAML, and the check hook checks what a commit concerns."""

from __future__ import annotations

import re
import shlex

from support import ROOT, require, run_msense


def _hooks() -> dict:
    yaml = require("yaml")
    return {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))}


def test_hooks():
    by_id = _hooks()
    assert set(by_id) == {"msense-check", "msense-check-system", "msense-fmt", "msense-fmt-check",
                          "msense-fmt-system"}
    for h in by_id.values():
        assert h["entry"].startswith("msense ") and h["language"] in ("python", "system") and h["name"]
        assert re.search(h["files"], "kpis/customer.msense")
    assert by_id["msense-fmt-check"]["entry"] == "msense fmt --check"
    # the check hook reruns when data or configuration change; fmt touches specs only
    assert re.search(by_id["msense-check"]["files"], "data/kpis.csv")
    assert re.search(by_id["msense-check"]["files"], "msense.toml")
    assert not re.search(by_id["msense-fmt"]["files"], "data/kpis.csv")


def _commit(tmp_path, *changed: str):
    """What pre-commit runs: the hook's entry with the changed files that match its pattern."""
    hook = _hooks()["msense-check"]
    files = [c for c in changed if re.search(hook["files"], c)]
    return run_msense(*shlex.split(hook["entry"])[1:], *files, cwd=tmp_path)


def test_an_included_file_is_checked_through_the_spec_that_includes_it(tmp_path):
    (tmp_path / "teams").mkdir()
    (tmp_path / "main.msense").write_text('mission "M"\nlever coaching "C"\ninclude "teams/support.msense"\n',
                                          "utf-8")
    (tmp_path / "teams" / "support.msense").write_text('kpi csat "C" { responds coaching 0.5 }\n', "utf-8")
    result = _commit(tmp_path, "teams/support.msense")
    # alone, support.msense has no `coaching` (MS002) and blocks the commit; through main it does not
    assert "MS002" not in result.stdout and "main.msense" in result.stdout, result.stdout + result.stderr


def test_a_changed_data_file_reruns_the_specs_that_read_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kpis.csv").write_text("period,csat\n2024-01-01,1\n2024-01-08,x\n", "utf-8")
    (tmp_path / "a.msense").write_text('mission "M"\ndata "data/kpis.csv"\nkpi csat "C" { }\n', "utf-8")
    (tmp_path / "b.msense").write_text('mission "Other"\n', "utf-8")
    result = _commit(tmp_path, "data/kpis.csv")
    assert result.returncode == 2 and "MS032" in result.stdout and "b.msense" not in result.stdout
    assert "(1 file)" in result.stdout or "a.msense" in result.stdout
    nothing = _commit(tmp_path, "data/other.csv")
    assert nothing.returncode == 0 and "nothing to check" in nothing.stderr
