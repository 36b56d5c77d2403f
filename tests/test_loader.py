"""Loading a spec and the files it includes into one Document."""

from __future__ import annotations

import json

import metricsense
from support import run_msense


# Review regression: an include cycle in a checked folder was reported clean.
def test_include_cycle_in_a_folder_is_reported_not_clean(tmp_path):
    (tmp_path / "msense.toml").write_text("")
    (tmp_path / "a.msense").write_text('mission "M"\ninclude "b.msense"\n')
    (tmp_path / "b.msense").write_text('include "a.msense"\nlever x "X"\n')
    result = run_msense("check", "--format", "json", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert any(d["code"] == "MS004" for d in json.loads(result.stdout)["diagnostics"])


# Review regression: a file included twice through two paths was loaded twice (MS003).
def test_include_diamond_loads_the_shared_file_once(tmp_path):
    (tmp_path / "a.msense").write_text('mission "M"\ninclude "b.msense"\ninclude "c.msense"\n')
    (tmp_path / "b.msense").write_text('include "d.msense"\n')
    (tmp_path / "c.msense").write_text('include "d.msense"\n')
    (tmp_path / "d.msense").write_text('lever shared "S"\n')
    report = metricsense.check(tmp_path / "a.msense", config={})
    assert not [d for d in report.diagnostics if d.code == "MS003"]
    assert len(metricsense.load(tmp_path / "a.msense").levers) == 1
