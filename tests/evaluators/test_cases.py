"""Every rule's failing and passing cases: markers `# [CODE]` name the lines it must report, and a
failing case's `<stem>.expected.txt` snapshot holds its rendered output for the code
(`METRICSENSE_UPDATE_SNAPSHOTS=1` rewrites the snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricsense.testing import assert_case, collect_cases, markers, snapshot_file

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize(("code", "spec"), collect_cases(CASES), ids=lambda v: getattr(v, "name", v))
def test_case(code, spec):
    result = assert_case(spec, code)
    if spec.stem.startswith("fail"):
        assert result.expected, f"{spec} is a failing case but carries no [{code}] marker"
        assert snapshot_file(spec), f"{spec} has no snapshot: run with METRICSENSE_UPDATE_SNAPSHOTS=1 and review it"
    else:
        assert not markers(spec.read_text()).get(code), f"{spec} is a passing case with a marker"
