"""nbconvert of the executed tour shows the explorer's snapshot, offline (issue 23).

`jupyter nbconvert --execute --to html --ExecutePreprocessor.store_widget_state=False` runs the
tour as shipped (notebooks/tour.ipynb, made from tour.md) in a kernel of this venv, as a reader
would from the command line. Without widget state, nbconvert takes each explorer bundle's
text/html, the snapshot. The page's script URLs are checked (only nbconvert's own template asks a
CDN for require.js, MathJax and mermaid; no widget code), then it is opened in Chromium with every
request off the page refused, and the snapshot's numbers are read. With widget state stored
(nbconvert's default for --execute) nbconvert writes the widget view instead, which needs the widget
manager's script: docs/notebooks.md says so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, require
from test_notebooks import install_kernelspec, kernel_env

#: The scripts nbconvert's lab template loads for every notebook, whatever it holds.
TEMPLATE_OWN = ("https://cdnjs.cloudflare.com/ajax/libs/require.js/", "https://cdnjs.cloudflare.com/ajax/libs/mathjax/",
                "https://cdnjs.cloudflare.com/ajax/libs/mermaid/", "https://cdnjs.cloudflare.com/ajax/libs/mermaid-layout-elk/")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    require("nbconvert")
    require("nbclient")
    install_kernelspec()
    out = tmp_path_factory.mktemp("nbconvert")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--execute", "--to", "html",
         "--ExecutePreprocessor.store_widget_state=False", "--ExecutePreprocessor.kernel_name=python3",
         str(ROOT / "notebooks" / "tour.ipynb"), "--output-dir", str(out), "--output", "tour"],
        capture_output=True, text=True, env=kernel_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "tour.html"


def test_the_html_holds_the_snapshot_and_no_widget_code(converted):
    html = converted.read_text("utf-8")
    assert html.count('class="msense msense-snapshot"') == 1  # the tour shows one explorer
    assert "application/vnd.jupyter.widget-state+json" not in html and "application/vnd.jupyter.widget-view+json" not in html
    scripts = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']*)""", html)
    urls = set(re.findall(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}/[^\s"'<>)]*\.m?js\b""", html))
    assert scripts and all(s.startswith(TEMPLATE_OWN) for s in scripts), scripts
    assert all(u.startswith(TEMPLATE_OWN) for u in urls), urls  # no unpkg, no jsdelivr, no widget manager
    # what the snapshot itself holds: no script and nothing to load
    snap = html[html.index('<div class="msense msense-snapshot">'):]
    snap = snap[:snap.index("</details></div>") + len("</details></div>")]
    assert not re.search(r"<script|\bsrc\s*=|\bhref\s*=|url\(|@import", snap, re.IGNORECASE)


def test_the_page_shows_the_snapshot_offline(converted, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    refused = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else
               (refused.append(r.request.url), r.abort()))
    try:
        page.goto(converted.as_uri())
        page.wait_for_load_state("load")
        snap = page.locator(".msense-snapshot").first
        snap.locator("details.tab summary", has_text="Decoupling").click()
        decoupling = snap.locator("details.tab[open]", has_text="Decoupling").inner_text()
        snap.locator("details.tab summary", has_text="Redundancy").click()
        redundancy = snap.locator("details.tab[open]", has_text="Redundancy").inner_text()
        whatif = snap.locator("table.whatif").inner_text()
        snap.scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "test-artifacts" / "nbconvert-tour-snapshot.png"), full_page=False)
    finally:
        page.close()
    # the tour's system as written: 4 KPIs, 3 levers, rank 3 (tests/test_jupyterlab_explorer_walk.py)
    assert "rank 3 of 4 KPIs" in decoupling, decoupling
    assert "condition number" in decoupling
    assert "redundant group" in redundancy and "|r| ≥ 0.90" in redundancy, redundancy
    assert "as written" in whatif and "effective number of KPIs" in whatif
    assert all(u.startswith(TEMPLATE_OWN) for u in refused), refused  # only the template's own, refused
