"""Reports are tested on the bundled examples and on hand-made reports."""

from __future__ import annotations

import pytest

from support import EXAMPLES  # tests/conftest.py


@pytest.fixture(scope="session")
def examples_report():
    import metricsense

    return metricsense.check([EXAMPLES], config={})


def example_specs() -> list:
    from metricsense.engine import spec_files

    return spec_files([EXAMPLES])[0]


def make_spec(tmp_path, text: str, name: str = "spec.msense"):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path
