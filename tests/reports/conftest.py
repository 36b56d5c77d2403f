"""Fixtures for the report tests (helpers live in reports_helpers.py)."""

from __future__ import annotations

import pytest

from support import EXAMPLES


@pytest.fixture(scope="session")
def examples_report():
    import metricsense

    return metricsense.check([EXAMPLES], config={})
