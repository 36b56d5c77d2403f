"""Helpers shared by the tests (imported as `support`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_PASSWORD = "not-a-real-secret-5150"

# A run without site (a developer's source-tree run) passes that on to the subprocess.
_FLAGS = ["-S"] if sys.flags.no_site else []


def require(module: str):
    """Import ``module``; skip without it locally, fail without it in CI."""
    try:
        return __import__(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{module} is required in CI but is not installed")
        pytest.skip(f"{module} is not installed")


def run_msense(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `msense` as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *_FLAGS, "-P", "-m", "metricsense", *args],
        cwd=cwd or ROOT, capture_output=True, text=True, env=full_env, timeout=120,
    )
