"""The bundled examples parse, check with only their intended findings, and regenerate exactly."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys

import metricsense
from support import EXAMPLES


def test_every_example_loads():
    specs = sorted(EXAMPLES.rglob("*.msense")) + [EXAMPLES / "school-district" / "README.md"]
    assert len(specs) >= 4
    for spec in specs:
        doc = metricsense.load(spec)
        assert doc.statements, spec


def test_examples_show_their_intended_weaknesses_and_nothing_broken():
    report = metricsense.check(EXAMPLES, config={})
    codes = {(d.code, d.span.file.split("/")[-1]) for d in report.diagnostics}
    assert not [d for d in report.diagnostics if d.code in ("MS001", "MS002", "MS003", "MS004", "MS005", "MS006")]
    assert ("MS013", "customer-love.msense") in codes
    assert ("MS017", "customer-love.msense") in codes
    assert ("MS019", "engineering.msense") in codes
    # noise and distortion: a weekly review of a two-week lever; class averages bunched past 70
    # and climbing while the state test stays flat (planted in make_data.py)
    assert ("MS303", "customer-love.msense") in codes
    assert ("MS401", "school-district.msense") in codes
    assert ("MS402", "school-district.msense") in codes
    assert ("MS302", "engineering.msense") in codes
    assert report.exit_code == 1
    assert report.suppressed >= 1
    assert ("MS501", "store-network.msense") in codes
    assert len(report.analysis) == 5  # four specs and the literate README; the include is part of one


def test_store_network_by_store_finds_what_was_planted_where_it_was_planted():
    report = metricsense.check(EXAMPLES / "store-network" / "store-network.msense", config={}, by="store")
    fired = {item["code"]: item["segments"] for item in report.segments.rules()}
    assert report.segments.count == 12
    assert fired["MS101"] == ["store-04", "store-09"]  # basket counted from the queue log there
    # Trust is one table for the whole survey, said once for the spec, never per store: the
    # manager of store-06 sees it very differently; store-11 (3 answers) is hidden, and only it.
    assert not [code for code in fired if code.startswith("MS5")]
    gaps = [d for d in report.diagnostics if d.code == "MS501"]
    assert len(gaps) == 1 and gaps[0].segment is None and "`store-06`" in gaps[0].message
    notes = [d for d in report.diagnostics if d.code == "MS502"]
    assert len(notes) == 1 and notes[0].segment is None and notes[0].message.startswith("`value_question`: 1 group")
    assert not any("store-11" in d.message for d in report.diagnostics if d.code.startswith("MS5"))
    assert not [d for d in report.diagnostics if d.code in ("MS001", "MS002", "MS003", "MS004", "MS005", "MS006")]


def test_data_script_is_deterministic(tmp_path):
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    result = subprocess.run([sys.executable, str(copy / "make_data.py")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    csvs = sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.rglob("*.csv"))
    assert csvs
    for rel in csvs:
        assert filecmp.cmp(EXAMPLES / rel, copy / rel, shallow=False), rel
