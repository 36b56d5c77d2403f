"""A notebook with an explorer, saved in JupyterLab and reopened, shows the explorer's snapshot
before any cell runs (issue 23), in Debian's Chromium at 1280x800.

A notebook that explores the customer-love example runs in JupyterLab and is saved by JupyterLab
(Ctrl+S: no widget state, JupyterLab's default). Its kernel is shut down and the notebook opened
again: with a new kernel (which holds no widget model: ipywidgets says "model not found"), and
with no kernel at all (the notebook names a kernel that does not exist, and "No Kernel" is
chosen), and a copy nobody here signed (untrusted: JupyterLab shows the text/html, sanitized).
Each time the output shows the snapshot (the JupyterLab extension's renderer for the
explorer's own MIME type, jupyterlab/src/snapshot.ts), and the test asserts its numbers: the
Decoupling tab (opened with a click) as the report says them, the redundancy and what-if lines.
Screenshots: test-artifacts/reopen-*.png.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from support import EXAMPLES, require
from test_jupyterlab_browser import ARTIFACTS, _get, _wait, serve_lab
from test_notebooks import install_kernelspec

SPEC = EXAMPLES / "customer-love" / "customer-love.msense"
OUTPUT = ".jp-OutputArea-output.msense-explorer-output"


def _notebook(nbformat, kernel: str = "python3"):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import metricsense\n"
                                  f"explorer = metricsense.explore({str(SPEC)!r}, config={{}})"),
        nbformat.v4.new_code_cell("explorer"),
    ])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3", "language": "python"}
    return nb


def _kernels(base, token):
    return _get(f"{base}/api/kernels?token={token}")


def _kernel_ready(base, token):
    return any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in _kernels(base, token))


def _shutdown_kernels(base, token):
    for k in _kernels(base, token):
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()
    _wait("the kernels to end", lambda: _kernels(base, token) == [], timeout=30)


def _run_all_live(page, url: str, base, token):
    """Open the notebook at ``url``, Run All, and wait for the explorer's live view: its output."""
    page.goto(url)
    _wait("the notebook's kernel", lambda: _kernel_ready(base, token), timeout=90)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    output = page.locator(OUTPUT).first
    output.wait_for(state="attached", timeout=90_000)
    _wait("the live explorer", lambda: output.get_attribute("data-msense-shown") == "live", timeout=90)
    return output


def _snapshot_numbers(page) -> dict:
    """What the reopened output shows: the renderer's state and the snapshot's numbers."""
    output = page.locator(OUTPUT).first
    output.wait_for(state="attached", timeout=60_000)
    _wait("the snapshot to show", lambda: output.get_attribute("data-msense-shown") == "snapshot", timeout=60)
    snap = output.locator(".msense-snapshot").first
    snap.wait_for(state="visible", timeout=10_000)
    snap.locator("details.tab summary", has_text="Decoupling").click()
    decoupling = snap.locator("details.tab[open]", has_text="Decoupling").first
    decoupling.wait_for(state="visible", timeout=10_000)
    snap.locator("details.tab summary", has_text="Redundancy").click()
    redundancy = snap.locator("details.tab[open]", has_text="Redundancy").first
    redundancy.wait_for(state="visible", timeout=10_000)
    return {"decoupling": decoupling.inner_text(), "redundancy": redundancy.inner_text(),
            "whatif": snap.locator("table.whatif").first.inner_text(),
            "area": output.inner_text(),
            "live": output.locator(".msense-explorer-live .msense-explorer").count()}


def _assert_numbers(shown: dict) -> None:
    assert "model not found" not in shown["area"] and "Loading widget" not in shown["area"], shown["area"][:300]
    assert shown["live"] == 0
    assert "condition number ∞ (rank-deficient)" in shown["decoupling"], shown["decoupling"]
    assert "rank 8 of 9 KPIs" in shown["decoupling"]
    assert "idle: arch_board, incident_drills" in shown["decoupling"]
    assert "1 redundant group at |r| ≥ 0.90" in shown["redundancy"], shown["redundancy"]
    assert "as written" in shown["whatif"] and "effective number of KPIs" in shown["whatif"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, browser):
    """The notebook run and saved in JupyterLab; yields (base, token, root, the saved JSON, the
    settings folder). One server for the module: the tests open the saved notebook in turn."""
    tmp_path = tmp_path_factory.mktemp("reopen")
    require("jupyterlab")
    require("ipywidgets")
    nbformat = require("nbformat")
    install_kernelspec()
    root = tmp_path / "root"
    root.mkdir()
    nbformat.write(_notebook(nbformat), str(root / "explore.ipynb"))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve_lab(tmp_path, root) as (base, token):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            # live: the widget view is drawn and the snapshot hidden
            output = _run_all_live(page, f"{base}/lab/tree/explore.ipynb?token={token}", base, token)
            live = output.locator(".msense-explorer-live .msense-explorer").first
            assert live.is_visible() and not output.locator(".msense-explorer-snapshot").first.is_visible()
            assert live.locator(".lm-TabBar-tab").count() >= 6
            page.screenshot(path=str(ARTIFACTS / "reopen-live.png"), full_page=False)
            _wait("Run All to finish", lambda: page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0
                  and _kernel_ready(base, token), timeout=60)
            page.locator(".jp-Notebook").first.click()
            page.keyboard.press("Control+s")

            def saved_json():
                got = _get(f"{base}/api/contents/explore.ipynb?token={token}")
                outs = [o for c in got["content"]["cells"] for o in c.get("outputs", [])]
                return got["content"] if any("application/vnd.metricsense.explorer+json" in o.get("data", {})
                                             for o in outs) else None

            nb = _wait("the notebook to be saved with its outputs", saved_json, timeout=30)
        finally:
            page.close()
        _shutdown_kernels(base, token)
        yield base, token, root, nb, tmp_path / "settings"


def test_a_saved_notebook_reopened_with_a_new_kernel_shows_the_snapshot(saved, browser):
    base, token, root, nb, _ = saved
    (bundle,) = [o["data"] for c in nb["cells"] for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert "msense-snapshot" in "".join(bundle["text/html"])
    assert "widgets" not in nb["metadata"]  # JupyterLab saved no widget state: the model is gone
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/explore.ipynb?reset&token={token}")
        _wait("a new kernel", lambda: _kernel_ready(base, token), timeout=90)
        shown = _snapshot_numbers(page)
        # the widget view was tried, with the new kernel's widget manager, and found no model
        _wait("ipywidgets to give up on the model",
              lambda: "model not found" in page.locator(f"{OUTPUT} .msense-explorer-live").first.text_content(), timeout=30)
        assert page.locator(OUTPUT).first.get_attribute("data-msense-shown") == "snapshot"
        page.screenshot(path=str(ARTIFACTS / "reopen-new-kernel.png"), full_page=False)
        assert page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0  # no cell ran
    finally:
        page.close()
        _shutdown_kernels(base, token)
    _assert_numbers(shown)


def test_a_saved_notebook_opened_with_no_kernel_shows_the_snapshot(saved, browser):
    base, token, root, nb, settings = saved
    nb = json.loads(json.dumps(nb))
    # No default kernel either: JupyterLab asks, and the reader chooses "No Kernel".
    tracker = settings / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
    kept = tracker.read_text("utf-8")
    tracker.write_text(json.dumps({"autoStartDefaultKernel": False}), "utf-8")
    # The saved notebook again, naming a kernel that does not exist (nor its language), saved
    # through the server, which signs it as JupyterLab's save does: its outputs stay trusted.
    nb["metadata"]["kernelspec"] = {"name": "no-such-kernel", "display_name": "gone", "language": "no-such-language"}
    nb["metadata"].get("language_info", {})["name"] = "no-such-language"
    for cell in nb["cells"]:
        cell["metadata"]["trusted"] = True
    body = json.dumps({"type": "notebook", "format": "json", "content": nb}).encode()
    req = urllib.request.Request(f"{base}/api/contents/gone.ipynb?token={token}", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/gone.ipynb?reset&token={token}")  # reset: only this notebook open
        dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
        try:
            dialog.wait_for(state="visible", timeout=60_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "reopen-no-kernel-failed.png"), full_page=False)
            raise
        dialog.locator("button", has_text="No Kernel").first.click()
        shown = _snapshot_numbers(page)
        page.screenshot(path=str(ARTIFACTS / "reopen-no-kernel.png"), full_page=False)
        assert _kernels(base, token) == []
    finally:
        page.close()
        tracker.write_text(kept, "utf-8")
    _assert_numbers(shown)


def test_a_notebook_from_elsewhere_shows_the_snapshot_sanitized(saved, browser):
    """Not signed here (a notebook someone else saved): JupyterLab does not trust its outputs and
    takes the text/html, sanitized (no <style>), not the extension's renderer: the numbers read."""
    base, token, root, nb, _ = saved
    nbformat = require("nbformat")
    node = nbformat.from_dict(json.loads(json.dumps(nb)))
    # Signatures are digests of the content: another notebook's content was signed by nobody here.
    node.cells[0].source = "# saved by someone else\n" + node.cells[0].source
    nbformat.write(node, str(root / "elsewhere.ipynb"))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/elsewhere.ipynb?reset&token={token}")
        snap = page.locator(".jp-OutputArea-output .msense-snapshot").first
        snap.wait_for(state="visible", timeout=60_000)
        output = page.locator(".jp-OutputArea-output:has(.msense-snapshot)").first
        assert output.get_attribute("data-mime-type") == "text/html"
        assert "jp-mod-trusted" not in (output.get_attribute("class") or "")
        assert page.locator(OUTPUT).count() == 0 and snap.locator("style").count() == 0
        snap.locator("details.tab summary", has_text="Decoupling").click()
        decoupling = snap.locator("details.tab[open]", has_text="Decoupling").first.inner_text()
        whatif = snap.locator("table.whatif").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "reopen-untrusted.png"), full_page=False)
    finally:
        page.close()
        _shutdown_kernels(base, token)
    assert "condition number ∞ (rank-deficient)" in decoupling and "rank 8 of 9 KPIs" in decoupling
    assert "as written" in whatif


def test_a_notebook_saved_with_its_widget_state_converts_to_the_snapshot(saved, browser, tmp_path):
    """JupyterLab's "Save Widget State Automatically" on: the saved notebook holds the explorer's
    model and its widget view. `jupyter nbconvert --to html` of it (no option) shows the snapshot
    offline, with no widget code (metricsense/widgets/nbconvert_snapshot.py)."""
    from test_nbconvert_snapshot import assert_snapshot_and_no_widget_code, nbconvert, read_offline

    base, token, root, nb, settings = saved
    plugin = settings / "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    plugin.write_text(json.dumps({"saveState": True}), "utf-8")
    nbformat = require("nbformat")
    nbformat.write(_notebook(nbformat), str(root / "stateful.ipynb"))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        output = _run_all_live(page, f"{base}/lab/tree/stateful.ipynb?reset&token={token}", base, token)
        _wait("Run All to finish", lambda: page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0
              and _kernel_ready(base, token), timeout=60)
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Control+s")

        def saved_with_state():
            got = _get(f"{base}/api/contents/stateful.ipynb?token={token}")["content"]
            views = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in got["cells"]
                     for o in c.get("outputs", []) if "application/vnd.metricsense.explorer+json" in o.get("data", {})]
            state = got["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
            return got if views and views[0] in state.get("state", {}) else None

        _wait("the notebook to be saved with its widget state", saved_with_state, timeout=30)
    finally:
        page.close()
        plugin.unlink()
        _shutdown_kernels(base, token)
    nbconvert("--to", "html", str(root / "stateful.ipynb"), "--output-dir", str(tmp_path), "--output", "stateful")
    html = (tmp_path / "stateful.html").read_text("utf-8")
    assert_snapshot_and_no_widget_code(html)
    shown = read_offline(browser, tmp_path / "stateful.html", "nbconvert-saved-with-state.png")
    assert shown["visible"]
    assert "condition number ∞ (rank-deficient)" in shown["decoupling"], shown["decoupling"]
    assert "rank 8 of 9 KPIs" in shown["decoupling"]
    assert "idle: arch_board, incident_drills" in shown["decoupling"]
    assert "1 redundant group at |r| ≥ 0.90" in shown["redundancy"], shown["redundancy"]
    assert "as written" in shown["whatif"] and "effective number of KPIs" in shown["whatif"]
