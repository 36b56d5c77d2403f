"""Every rule's failing and passing cases: markers `# [CODE]` name the lines it must report."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricsense.testing import assert_case, collect_cases, markers

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize(("code", "spec"), collect_cases(CASES), ids=lambda v: getattr(v, "name", v))
def test_case(code, spec):
    result = assert_case(spec, code)
    if spec.stem.startswith("fail"):
        assert result.expected, f"{spec} is a failing case but carries no [{code}] marker"
    else:
        assert not markers(spec.read_text()).get(code), f"{spec} is a passing case with a marker"
