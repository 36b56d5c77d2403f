"""nbconvert of the executed tour shows the explorer's snapshot, offline (issue 23).

The tour runs in a kernel of this venv (nbclient) and is saved as JupyterLab saves a notebook by
default: without widget state. nbconvert then has no state for the explorer's view and takes the
bundle's text/html, the snapshot; the page is opened in Chromium with every request off the page
refused (nbconvert's lab template asks a CDN for require.js and MathJax; nothing of ours may).
"""

from __future__ import annotations

import pytest

from support import ROOT, require
from test_notebooks import install_kernelspec, kernel_env


@pytest.fixture(scope="module")
def executed_tour():
    jupytext = require("jupytext")
    nbclient = require("nbclient")
    install_kernelspec()
    nb = jupytext.read(ROOT / "notebooks" / "tour.md")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute(env=kernel_env())
    return nb


def test_nbconvert_of_the_executed_tour_shows_the_snapshot_offline(executed_tour, browser, tmp_path):
    nbconvert = require("nbconvert")
    bundles = [o["data"] for c in executed_tour.cells if c.cell_type == "code" for o in c.get("outputs", ())
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bundles and all('class="msense msense-snapshot"' in b["text/html"] for b in bundles)
    assert all(b["text/plain"].startswith("metricsense explorer: ") for b in bundles)
    html, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(executed_tour)
    assert html.count('class="msense msense-snapshot"') == len(bundles)
    path = tmp_path / "tour.html"
    path.write_text(html, "utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    refused = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else
               (refused.append(r.request.url), r.abort()))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        snap = page.locator(".msense-snapshot").first
        snap.locator("details.tab summary", has_text="Decoupling").click()
        decoupling = snap.locator("details.tab[open]", has_text="Decoupling").inner_text()
        whatif = snap.locator("table.whatif").inner_text()
        snap.scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "test-artifacts" / "nbconvert-tour-snapshot.png"), full_page=False)
    finally:
        page.close()
    assert "condition number" in decoupling and "rank" in decoupling
    assert "as written" in whatif and "effective number of KPIs" in whatif
    # only the template's own loads were asked for (and refused)
    assert all(u.startswith("https://cdnjs.cloudflare.com/ajax/libs/") for u in refused), refused
