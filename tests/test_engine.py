"""The check of a set of files: which files, which configuration, each spec in turn."""

from __future__ import annotations

import json

from support import run_msense


# Review regression: `~~~msense` fences were missed and other fenced languages parsed as specs.
def test_tilde_fences_are_found_and_other_languages_ignored(tmp_path):
    (tmp_path / "msense.toml").write_text("")
    (tmp_path / "doc.md").write_text("# KPIs\n\n~~~msense\nmission \"M\"\nlever idle \"I\"\n~~~\n\n"
                                     "```msense-output\nnot a spec {{{\n```\n")
    result = run_msense("check", "--format", "json", ".", cwd=tmp_path)
    doc = json.loads(result.stdout)
    assert "doc.md" in doc["analysis"]
    assert not any(d["code"] == "MS001" for d in doc["diagnostics"])
