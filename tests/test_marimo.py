"""The explorer in marimo (issue 23: "make the views work in ... marimo"), in Debian's Chromium.

marimo renders anywidgets (through `mo.ui.anywidget`) and no ipywidgets container (its
maintainers do not plan to: marimo issue 5099), so the explorer, an ipywidgets VBox of tabs,
shows there as its snapshot: marimo passes the whole display bundle to its page, which draws
the text/html. A picture of the explorer (ClickSVG, an anywidget) wrapped in `mo.ui.anywidget`
is live: a click on a heatmap cell reaches Python (`selected`), and a cell that reads it runs
again. The app is served by `marimo run --headless` on loopback; every request off it is refused.
Screenshot: test-artifacts/marimo-explorer.png.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import EXAMPLES, require
from test_jupyterlab_browser import ARTIFACTS, _free_port, _wait
from test_notebooks import kernel_env

SPEC = EXAMPLES / "customer-love" / "customer-love.msense"
APP = '''import marimo

app = marimo.App()


@app.cell
def _():
    import metricsense
    explorer = metricsense.explore({spec!r}, config={{}})
    explorer
    return (explorer,)


@app.cell
def _(explorer):
    import marimo as mo
    wrapped = mo.ui.anywidget(explorer.views["Redundancy"].picture)
    wrapped
    return (mo, wrapped)


@app.cell
def _(explorer, mo, wrapped):
    chosen = wrapped.value.get("selected") or ""
    mo.md(f"chosen: {{chosen or 'none'}}")
    return


if __name__ == "__main__":
    app.run()
'''


def test_the_explorer_shows_its_snapshot_and_a_picture_answers_clicks_in_marimo(tmp_path, browser):
    require("marimo")
    require("anywidget")
    app = tmp_path / "explore.py"
    app.write_text(APP.format(spec=str(SPEC)), "utf-8")
    port = _free_port()
    log = (tmp_path / "marimo.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "marimo"), "run", str(app), "--headless",
                               "--host", "127.0.0.1", "--port", str(port), "--no-token"],
                              cwd=tmp_path, env=kernel_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    refused: list[str] = []
    try:
        import urllib.request

        _wait("marimo to serve the app", lambda: urllib.request.urlopen(base, timeout=5).status == 200, timeout=90)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else
                   (refused.append(r.request.url), r.abort()))
        try:
            page.goto(base)
            page.get_by_text("chosen: none").wait_for(timeout=120_000)
            snap = page.locator(".msense-snapshot").first
            snap.wait_for(state="visible", timeout=30_000)
            whatif = snap.locator("table.whatif").first.inner_text()
            snap.locator("details.tab summary", has_text="Decoupling").click()
            decoupling = snap.locator("details.tab[open]", has_text="Decoupling").first.inner_text()
            live = page.locator("marimo-anywidget .msense-clicksvg rect[data-key]")
            cells = live.count()
            key = live.nth(2).get_attribute("data-key")
            live.nth(2).click()
            page.get_by_text(f"chosen: {key}").wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "marimo-explorer.png"), full_page=False)
        finally:
            page.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    # the snapshot's numbers, as in JupyterLab (tests/test_jupyterlab_reopen.py)
    assert "condition number ∞ (rank-deficient)" in decoupling and "rank 8 of 9 KPIs" in decoupling, decoupling
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in whatif.splitlines()}
    assert rows["redundant groups"] == ["1 at |r| ≥ 0.90", "1 at |r| ≥ 0.90"], rows
    # the live picture: the heatmap of customer-love's 9 KPIs with data, one cell per pair
    assert cells == 81 and key == "cell-0-2"
    assert refused == [], refused  # marimo serves its front end itself: nothing from elsewhere
