"""The focus the explorer keeps (jupyterlab/src/snapshot.ts) in a real JupyterLab, in Debian's
Chromium: after the threshold's read-out is left with Enter, the focus stays in the explorer's
output, and it never keeps the user from another cell: a click in the next cell's editor and what
is typed there go to that cell, and the explorer does not take the focus back."""

from __future__ import annotations

from support import ROOT, require
from test_jupyterlab_browser import _wait, run_all_explorer, serve_lab
from test_notebooks import install_kernelspec

import pytest

ACTIVE = """() => { const a = document.activeElement;
  return {tag: a ? a.tagName : null, output: !!(a && a.classList.contains('msense-explorer-output')),
          inExplorer: !!(a && a.closest('.msense-explorer-output')),
          cell: a && a.closest('.jp-Cell') ? [...document.querySelectorAll('.jp-Notebook .jp-Cell')].indexOf(a.closest('.jp-Cell')) : -1}; }"""


@pytest.fixture
def lab_focus(tmp_path):
    require("jupyterlab")
    require("ipywidgets")
    jupytext = require("jupytext")
    nbformat = require("nbformat")
    install_kernelspec()
    nb = jupytext.read(ROOT / "notebooks" / "tour.md")
    nb.cells.append(nbformat.v4.new_code_cell("after = 1"))
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    nbformat.write(nb, root / "notebooks" / "focus.ipynb")
    with serve_lab(tmp_path, root) as served:
        yield served


def test_the_kept_focus_never_keeps_the_user_from_another_cell(lab_focus, browser):
    base, token = lab_focus
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/notebooks/focus.ipynb?token={token}")
        explorer = run_all_explorer(page, base, token)
        explorer.scroll_into_view_if_needed()
        explorer.locator(".lm-TabBar-tab", has_text="Redundancy").first.click()
        readout = explorer.locator(".msense-threshold .widget-readout").first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.60")
        page.keyboard.press("Enter")
        _wait("the groups at 0.60", lambda: "at |r| ≥ 0.60" in explorer.locator(".msense-clusters").first.inner_text())
        page.wait_for_timeout(300)
        kept = page.evaluate(ACTIVE)
        # the focus never left for the body
        assert kept["tag"] != "BODY", kept
        # another cell: a click in its editor and what is typed go there, and stay there
        cells = page.locator(".jp-Notebook .jp-Cell")
        last = cells.nth(cells.count() - 1)
        last.scroll_into_view_if_needed()
        last.locator(".cm-content").click()
        page.keyboard.press("End")
        page.keyboard.type(" + 41")
        page.wait_for_timeout(500)
        now = page.evaluate(ACTIVE)
        assert not now["inExplorer"] and now["cell"] == cells.count() - 1, now
        assert "after = 1 + 41" in last.locator(".cm-content").inner_text()
        # a change the kernel makes to the explorer meanwhile takes nothing from the editor
        explorer.locator(".lm-TabBar-tab", has_text="Overview").first.dispatch_event("click")
        page.wait_for_timeout(500)
        last.locator(".cm-content").click()
        page.keyboard.type("0")
        page.wait_for_timeout(300)
        assert not page.evaluate(ACTIVE)["inExplorer"]
        assert "after = 1 + 410" in last.locator(".cm-content").inner_text()
    finally:
        page.close()
