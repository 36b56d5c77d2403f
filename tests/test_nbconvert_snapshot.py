"""nbconvert of the executed tour shows the explorer's snapshot, offline (issue 23).

`jupyter nbconvert --execute --to html notebooks/tour.ipynb`, nbconvert's defaults, runs the tour
as shipped (notebooks/tour.ipynb, made from tour.md) in a kernel of this venv, as a reader would
from the command line. With those defaults nbclient stores the widget state, and nbconvert's lab
template would write the explorer's widget view (an empty box offline) and load the widget
manager's script from a CDN; metricsense's preprocessor (metricsense/widgets/nbconvert_snapshot.py,
named by the base template's conf.json the install places) drops the explorer's widget view and
the state only it used, so the page takes the bundle's text/html, the snapshot. The same page
comes with `--ExecutePreprocessor.store_widget_state=False` (no state at all), and from a notebook
executed and saved with its widget state, converted with `jupyter nbconvert --to html`
(tests/test_jupyterlab_reopen.py converts one JupyterLab saved with its widget state).

Each page's script URLs are checked (only nbconvert's own template asks a CDN for require.js,
MathJax and mermaid; no widget code, no widget state), then it is opened in Chromium with every
request off the page refused, and the snapshot's numbers are read.
"""

from __future__ import annotations

import json
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
TOUR = ROOT / "notebooks" / "tour.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def nbconvert(*args: str) -> None:
    """`jupyter nbconvert ARGS` of this venv, in the kernel's environment."""
    require("nbconvert")
    require("nbclient")
    install_kernelspec()
    done = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", *args],
                          capture_output=True, text=True, env=kernel_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def assert_snapshot_and_no_widget_code(html: str, explorers: int = 1) -> None:
    """The page holds the explorers' snapshots, no widget view or state, and no script but the template's."""
    assert html.count('class="msense msense-snapshot"') == explorers
    assert WIDGET_STATE not in html and WIDGET_VIEW not in html
    scripts = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']*)""", html)
    urls = set(re.findall(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}/[^\s"'<>)]*\.m?js\b""", html))
    assert scripts and all(s.startswith(TEMPLATE_OWN) for s in scripts), scripts
    assert all(u.startswith(TEMPLATE_OWN) for u in urls), urls  # no unpkg, no jsdelivr, no widget manager
    # what the snapshot itself holds: no script and nothing to load
    snap = html[html.index('<div class="msense msense-snapshot">'):]
    snap = snap[:snap.index("</details></div>") + len("</details></div>")]
    assert not re.search(r"<script|\bsrc\s*=|\bhref\s*=|url\(|@import", snap, re.IGNORECASE)


def read_offline(browser, page_path: Path, screenshot: str) -> dict:
    """The page in Chromium with every request off the page refused: the snapshot's Decoupling
    and Redundancy tabs (opened with a click), its what-if table, and the requests refused."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    refused: list[str] = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else
               (refused.append(r.request.url), r.abort()))
    try:
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        snap = page.locator(".msense-snapshot").first
        snap.locator("details.tab summary", has_text="Decoupling").click()
        decoupling = snap.locator("details.tab[open]", has_text="Decoupling").first.inner_text()
        snap.locator("details.tab summary", has_text="Redundancy").click()
        redundancy = snap.locator("details.tab[open]", has_text="Redundancy").first.inner_text()
        whatif = snap.locator("table.whatif").first.inner_text()
        visible = snap.is_visible() and snap.bounding_box()["height"] > 200
        snap.scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "test-artifacts" / screenshot), full_page=False)
    finally:
        page.close()
    return {"decoupling": decoupling, "redundancy": redundancy, "whatif": whatif, "visible": visible,
            "refused": refused}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The tour converted three ways: nbconvert's defaults, without widget state, and executed and
    saved with its state (`--to notebook`), then converted (`--to html`)."""
    out = tmp_path_factory.mktemp("nbconvert")
    kernel = "--ExecutePreprocessor.kernel_name=python3"
    nbconvert("--execute", "--to", "html", kernel, str(TOUR), "--output-dir", str(out), "--output", "default")
    nbconvert("--execute", "--to", "html", "--ExecutePreprocessor.store_widget_state=False", kernel, str(TOUR),
              "--output-dir", str(out), "--output", "stateless")
    nbconvert("--execute", "--to", "notebook", kernel, str(TOUR), "--output-dir", str(out), "--output", "executed")
    nbconvert("--to", "html", str(out / "executed.ipynb"), "--output-dir", str(out), "--output", "saved")
    return out


def test_the_executed_notebook_keeps_its_widgets(pages):
    """`--to notebook` is no template: the preprocessor does not run, the live explorer stays."""
    nb = json.loads((pages / "executed.ipynb").read_text("utf-8"))
    (bundle,) = [o["data"] for c in nb["cells"] for o in c.get("outputs", [])
                 if "application/vnd.metricsense.explorer+json" in o.get("data", {})]
    assert WIDGET_VIEW in bundle and "msense-snapshot" in "".join(bundle["text/html"])
    assert bundle[WIDGET_VIEW]["model_id"] in nb["metadata"]["widgets"][WIDGET_STATE]["state"]


@pytest.mark.parametrize("name", ["default", "stateless", "saved"])
def test_the_html_holds_the_snapshot_and_no_widget_code(pages, name):
    assert_snapshot_and_no_widget_code((pages / f"{name}.html").read_text("utf-8"))


def assert_tour_numbers(shown: dict) -> None:
    """The tour's system as written: 4 KPIs, 3 levers, rank 3; lead and cycle redundant
    (tests/test_jupyterlab_explorer_walk.py reads the same numbers in the live explorer)."""
    assert shown["visible"]
    assert "condition number ∞ (rank-deficient)" in shown["decoupling"], shown["decoupling"]
    assert "rank 3 of 4 KPIs" in shown["decoupling"]
    assert "1 redundant group at |r| ≥ 0.90" in shown["redundancy"], shown["redundancy"]
    assert re.search(r"keep lead\s*, drop cycle \(r = 0\.94, n = 59\)", shown["redundancy"]), shown["redundancy"]
    assert "Effective number of KPIs: 2.75 of 4." in shown["redundancy"]
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in shown["whatif"].splitlines()}
    assert rows["rank"] == ["3 of 4 KPIs", "3 of 4 KPIs"], rows
    assert rows["effective number of KPIs"] == ["2.75 of 4", "2.75 of 4"], rows
    assert rows["redundant groups"] == ["1 at |r| ≥ 0.90", "1 at |r| ≥ 0.90"], rows
    assert all(u.startswith(TEMPLATE_OWN) for u in shown["refused"]), shown["refused"]  # the template's own only


@pytest.mark.parametrize("name", ["default", "stateless", "saved"])
def test_the_page_shows_the_snapshot_offline(pages, name, browser):
    assert_tour_numbers(read_offline(browser, pages / f"{name}.html", f"nbconvert-tour-{name}.png"))
