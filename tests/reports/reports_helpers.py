"""Helpers for the report tests: the bundled example specs, a spec written to a folder."""

from __future__ import annotations

from support import EXAMPLES  # tests/conftest.py


def example_specs() -> list:
    from metricsense.engine import spec_files

    return spec_files([EXAMPLES])[0]


def make_spec(tmp_path, text: str, name: str = "spec.msense"):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path
