"""The explorer in a real JupyterLab, in headless Chromium (Debian's, driven by Playwright).

JupyterLab runs on loopback with a private token and private settings (the default kernel
starts by itself, no news). The tour notebook is opened, run with Run All Cells, and the test
asserts that the explorer rendered and that unticking a KPI in the Decoupling tab changes the
condition number shown (computed by the kernel). A screenshot goes to test-artifacts/.
Never `playwright install`: the browser is /usr/bin/chromium (`make chromium`).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from support import ROOT, require
from test_notebooks import install_kernelspec, kernel_env

ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())


def _wait(what: str, check, timeout: float = 60.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except Exception:  # a server still starting answers 500, or not at all
            got = None
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def run_all_explorer(page, base: str, token: str, kernel: float = 60, shown: float = 60, finish: float = 90):
    """With the notebook open in ``page``: wait for its kernel, Run All, wait for the explorer to
    show and Run All to finish (no cell left at ``[*]``, the kernel idle); the explorer's locator."""
    def kernel_ready():
        kernels = _get(f"{base}/api/kernels?token={token}")
        return any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels)

    _wait("the notebook's kernel", kernel_ready, timeout=kernel)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    explorer = page.locator(".jp-OutputArea .msense-explorer").first
    explorer.wait_for(state="visible", timeout=shown * 1000)
    _wait("Run All to finish", lambda: page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0
          and kernel_ready(), timeout=finish)
    return explorer


@contextlib.contextmanager
def serve_lab(tmp_path, root, *args: str):
    """JupyterLab on loopback serving ``root``, with private settings, runtime and workspaces:
    yields (base URL, token) and ends the server it started."""
    settings = tmp_path / "settings"
    for name, value in (("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", {"autoStartDefaultKernel": True}),
                        ("@jupyterlab/apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false"})):
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value), "utf-8")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**kernel_env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
         "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={root}", *args],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait("JupyterLab to start", lambda: _get(f"{base}/api/status?token={token}"), timeout=60)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        if sys.exc_info()[0] is not None:
            print((tmp_path / "lab.log").read_text()[-3000:])


@pytest.fixture
def lab(tmp_path):
    require("jupyterlab")
    require("ipywidgets")
    jupytext = require("jupytext")
    install_kernelspec()
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    jupytext.write(jupytext.read(ROOT / "notebooks" / "tour.md"), root / "notebooks" / "tour.ipynb")
    with serve_lab(tmp_path, root) as served:
        yield served


def test_explorer_renders_and_unticking_a_kpi_changes_the_condition_number(lab, browser):
    # NOTE: the session's one Playwright (tests/conftest.py `browser`): a second sync_playwright
    # in the same process fails while the first is open.
    base, token = lab
    started = time.perf_counter()
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/notebooks/tour.ipynb?token={token}")

        def kernel_ready():
            kernels = _get(f"{base}/api/kernels?token={token}")
            return any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels)

        _wait("the notebook's kernel", kernel_ready, timeout=60)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        explorer = page.locator(".jp-OutputArea .msense-explorer").first
        explorer.wait_for(state="visible", timeout=60_000)
        assert explorer.locator(".lm-TabBar-tab").count() >= 6
        explorer.locator(".lm-TabBar-tab", has_text="Decoupling").first.click()
        condition = explorer.locator(".msense-condition .value").first
        condition.wait_for(state="visible", timeout=20_000)
        # Run All goes on past the explorer's cell: wait for the kernel to finish the notebook.
        _wait("Run All to finish", lambda: page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0
              and kernel_ready(), timeout=60)
        before = condition.inner_text()
        box = explorer.locator(".msense-kpi-toggle", has_text="fail").locator("input[type=checkbox]").first
        assert box.is_checked()
        box.uncheck()
        _wait("the condition number to change", lambda: condition.inner_text() != before, timeout=30)
        after = condition.inner_text()
        _wait("the pairing search", lambda: "searching" not in explorer.locator(".msense-pairing").first.inner_text(),
              timeout=30)
        rank = explorer.locator(".msense-rank").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-explorer.png"), full_page=False)
    finally:
        page.close()
    assert before != after, (before, after)
    assert "of 3 KPIs" in rank, rank
    print(f"browser test: {time.perf_counter() - started:.1f} s; condition number {before} -> {after}")


def test_a_double_click_opens_a_shipped_notebook_as_a_notebook(tmp_path, browser):
    """notebooks/*.ipynb (made from the .md by ci/notebooks.py) open as notebooks on a double-click."""
    import shutil

    require("jupyterlab")
    nbformat = require("nbformat")
    root = tmp_path / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    cells = nbformat.read(str(root / "notebooks" / "tour.ipynb"), as_version=4).cells
    with serve_lab(tmp_path, root) as (base, token):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            page.goto(f"{base}/lab/tree/notebooks?reset&token={token}")
            page.locator(".jp-DirListing-item", has_text="tour.ipynb").first.dblclick()
            panel = page.locator(".jp-NotebookPanel").first
            panel.wait_for(state="visible", timeout=60_000)
            panel.locator(".jp-MarkdownCell h1").first.wait_for(state="visible", timeout=30_000)
            # the status bar counts the notebook's cells (the page draws only those in view)
            count = "() => (document.querySelector('#jp-main-statusbar')?.textContent.match(/Cell \\d+\\/(\\d+)/) || [])[1]"
            _wait("the notebook's cells", lambda: int(page.evaluate(count) or 0) == len(cells), timeout=30)
            shown = int(page.evaluate(count))
            title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current").first.inner_text()
            heading = panel.locator(".jp-MarkdownCell h1").first.inner_text()
        finally:
            page.close()
    assert title.strip() == "tour.ipynb"
    assert shown == len(cells) and heading.startswith("A tour of metricsense")
