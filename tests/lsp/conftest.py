"""The language server's tests. Without pygls and pytest-lsp they are skipped locally; with
CI=true the import fails the run (a missing test dependency is a failure, not a skip)."""

from __future__ import annotations

from support import IN_CI

try:
    import lsprotocol  # noqa: F401
    import pygls  # noqa: F401
    import pytest_lsp  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    collect_ignore_glob = ["test_*.py"]


if "collect_ignore_glob" not in globals():
    import asyncio.events

    import pytest

    @pytest.fixture(autouse=True)
    def _no_running_loop_left_by_playwright():
        """NOTE: Playwright's sync API (the session's `browser` fixture) leaves its event loop set as
        the main thread's running loop, and pytest-asyncio then refuses to run these tests' loop.
        Hide it while a test here runs, and put it back after."""
        loop = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(None)
        try:
            yield
        finally:
            asyncio.events._set_running_loop(loop)
