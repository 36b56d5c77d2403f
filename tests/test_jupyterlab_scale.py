"""The explorer on a 500-KPI system in JupyterLab (issue 25: "the explorer stays interactive on a
500-KPI spec"), in Debian's Chromium at 1280x800.

The system is benchmarks/bench_explorer.py's: bench_scale's generated spec of 500 KPIs with data
in families of ten, every tenth family near copies (five redundant groups planted: k0-k9,
k100-k109, ... k400-k409). The notebook checks it (the structure and correlation families: the
explorer's Redundancy tab is what this test walks) and shows the explorer. The test asserts what
the Redundancy tab shows, against NumPy's correlation of the CSV's weekly changes (not
metricsense's): the five planted groups; a block heatmap of at most 20 x 20 cells, never the
250,000 of every pair; a click on a block cell draws the two blocks' KPIs, each cell's r equal to
NumPy's to the two decimals shown, and the block cell holding the strongest of them; the pair
search for "k7" counts NumPy's pairs with such a KPI and lists the strongest first; a click on a
pair draws the two series with their r. The Decoupling tab's gain matrix and RGA are drawn in
blocks of 25 KPIs x 1 lever (1,000 cells each, not 25,000); a click on a gain block draws its 25
KPIs, and a click on one of their row labels unticks that KPI as its box does. Each interaction
is timed in the page (input event to the first frame showing the result: the threshold 0.90 ->
0.60, a block click, a cell click, a pair search, unticking a KPI, a gain block click, an untick
from its row label) and written with the widgets' sizes to
test-artifacts/explorer-500-latency.json: reported, not asserted. Screenshots:
test-artifacts/scale-500-*.png.
"""

from __future__ import annotations

import csv
import json
import re
import sys

import numpy as np
import pytest

from support import ROOT, require
from test_jupyterlab_browser import ARTIFACTS, _wait, run_all_explorer, serve_lab
from test_jupyterlab_explorer_walk import _measured
from test_notebooks import install_kernelspec

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_explorer import families  # noqa: E402

N = 500
EVALUATORS_OFF = ["metricsense.evaluators.decoupling", "metricsense.evaluators.selection", "metricsense.evaluators.trust",
                  "metricsense.evaluators.conversation", "metricsense.evaluators.noise", "metricsense.evaluators.distortion"]
CELL = f"""import metricsense
report = metricsense.check("k500/spec.msense", config={{"select": ["MS0", "MS1"]}}, disabled_plugins={EVALUATORS_OFF!r})
explorer = metricsense.explore(report)
explorer"""


def numpy_correlation(folder):
    """Pearson r of each pair of KPIs' weekly changes, from the CSV by NumPy alone."""
    with open(folder / "data.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    names = [n for n in rows[0][1:] if n.startswith("k")]
    values = np.array([[float(v) for v in r[1:1 + len(names)]] for r in rows[1:]])
    return names, np.corrcoef(np.diff(values, axis=0), rowvar=False)


@pytest.fixture(scope="module")
def lab500(tmp_path_factory):
    require("jupyterlab")
    require("ipywidgets")
    nbformat = require("nbformat")
    install_kernelspec()
    tmp_path = tmp_path_factory.mktemp("scale")
    root = tmp_path / "root"
    root.mkdir()
    families(N, root / "k500")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / "scale.ipynb"))
    with serve_lab(tmp_path, root) as (base, token):
        yield base, token, root


#: What the explorer shows: the tab the bar marks current, the panels shown, the KPI boxes drawn,
#: whether the output shows the live widget or its snapshot (src/snapshot.ts).
TABS_SHOWN = """() => { const ex = document.querySelector('.jp-OutputArea .msense-explorer');
  if (!ex) return {explorer: null, shown: Array.from(document.querySelectorAll('.msense-explorer-output'), o => o.dataset.msenseShown)};
  const panels = ex.querySelector('.widget-tab-contents');
  return {explorers: document.querySelectorAll('.jp-OutputArea .msense-explorer').length,
    current: Array.from(ex.querySelectorAll('.lm-TabBar-tab.lm-mod-current'), t => t.textContent),
    panels: panels ? Array.from(panels.children, c => [c.classList.contains('lm-mod-hidden') ? 'hidden' : 'shown',
                                                       c.getBoundingClientRect().height]) : null,
    kpi_boxes: ex.querySelectorAll('.msense-kpi-toggle').length,
    output: Array.from(document.querySelectorAll('.msense-explorer-output'), o => o.dataset.msenseShown),
    focus: document.activeElement && document.activeElement.className}; }"""


def _title(page, selector: str) -> list[str]:
    return page.evaluate(f"""() => Array.from(document.querySelectorAll({selector!r}),
        r => (r.querySelector('title') || {{}}).textContent || '')""")


def test_the_redundancy_tab_at_500_kpis(lab500, browser):
    base, token, root = lab500
    names, r = numpy_correlation(root / "k500")
    at = {n: i for i, n in enumerate(names)}
    ARTIFACTS.mkdir(exist_ok=True)
    latency: dict = {}
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base}/lab/tree/scale.ipynb?token={token}")
        explorer = run_all_explorer(page, base, token, kernel=90, shown=300, finish=120)
        tab = lambda title: explorer.locator(".lm-TabBar-tab", has_text=title).first  # noqa: E731
        _measured(page, latency, tab("Redundancy").click,
                  **{"tab Redundancy": {"sel": ".msense-explorer .msense-heatmap svg", "visible": True}})
        clusters = explorer.locator(".msense-clusters").first
        groups = clusters.inner_text()
        # the five planted families of near copies, each one group
        assert "5 redundant groups at |r| ≥ 0.90" in groups, groups
        shown = [sorted(re.findall(r"k\d+", line), key=lambda n: int(n[1:])) for line in groups.splitlines() if "keep" in line]
        assert sorted(shown) == sorted([[f"k{f * 100 + i}" for i in range(10)] for f in range(5)]), shown
        said = explorer.locator(".msense-heatmap .blocks-said").first.inner_text()
        blocks, size = map(int, re.search(r"in (\d+) blocks of at most (\d+)", said).groups())
        assert f"{N} KPIs" in said and blocks <= 20 and 25 <= size <= 30, said
        overview = _title(page, ".msense-explorer .msense-heatmap svg rect[data-key]")
        assert len(overview) == blocks * blocks  # one cell per pair of blocks, not 250,000
        # the Redundancy tab's pictures; the whole explorer's (the gain matrix and RGA of 500 KPIs
        # x 50 levers among them) reported beside
        sizes = page.evaluate("""() => ({heatmap_cells: document.querySelectorAll(
              '.msense-explorer .msense-heatmap svg rect, .msense-explorer .msense-heatmap-detail svg rect').length,
            heatmap_html: ['.msense-heatmap', '.msense-heatmap-detail', '.msense-pairs'].map(
              s => (document.querySelector('.msense-explorer ' + s) || {innerHTML: ''}).innerHTML.length).reduce((a, b) => a + b),
            explorer_svg_rects: document.querySelectorAll('.msense-explorer svg rect').length,
            explorer_html: document.querySelector('.msense-explorer').innerHTML.length})""")
        assert sizes["heatmap_cells"] < 3000, sizes
        page.screenshot(path=str(ARTIFACTS / "scale-500-blocks.png"))

        # a block cell: the two blocks' KPIs, every pair's r as NumPy has it
        target = explorer.locator('.msense-heatmap svg rect[data-key="cell-0-1"]').first
        block_said = target.locator("title").text_content()
        _measured(page, latency, target.click,
                  **{"block click -> its KPIs' matrix": {"sel": ".msense-explorer .msense-heatmap-detail svg", "visible": True}})
        detail = _title(page, ".msense-explorer .msense-heatmap-detail svg rect[data-key]")
        assert 0 < len(detail) <= size * size
        strongest = (0.0, None)
        for t in detail:
            a, b, v = re.fullmatch(r"(\S+) × (\S+): (\S+)", t).groups()
            assert float(v) == pytest.approx(r[at[a], at[b]], abs=0.0051), (t, r[at[a], at[b]])
            if abs(r[at[a], at[b]]) > abs(strongest[0]):
                strongest = (r[at[a], at[b]], (a, b))
        # the block cell holds the strongest of them, and names it
        assert f": {strongest[0]:.2f}" in block_said and f"{strongest[1][0]} × {strongest[1][1]}" in block_said, \
            (block_said, strongest)
        page.screenshot(path=str(ARTIFACTS / "scale-500-block-detail.png"))
        cell = explorer.locator('.msense-heatmap-detail svg rect[data-key="cell-0-1"]').first
        a, b, v = re.fullmatch(r"(\S+) × (\S+): (\S+)", cell.locator("title").text_content()).groups()
        _measured(page, latency, cell.click,
                  **{"cell click -> the pair's series": {"sel": ".msense-explorer .msense-pair", "has": f"{a}"}})
        pair = explorer.locator(".msense-pair").first.inner_text()
        assert a in pair and b in pair, pair

        # the pair search: NumPy's count of pairs with a KPI whose name holds "k7", strongest first
        search = explorer.locator(".msense-pair-search input").first
        search.click()
        _measured(page, latency, lambda: page.keyboard.type("k7"),
                  **{"search k7 -> the pair list": {"sel": ".msense-explorer .msense-pairs", "has": "matching “k7”"}})
        _wait("the search for k7", lambda: "matching “k7”" in explorer.locator(".msense-pairs").first.inner_text(), timeout=30)
        listed = explorer.locator(".msense-pairs").first.inner_text()
        hit = np.array(["k7" in n for n in names])
        iu, ju = np.triu_indices(N, k=1)
        mine = hit[iu] | hit[ju]
        assert f"{int(mine.sum())} of {N * (N - 1) // 2} pairs" in listed, listed
        rows = explorer.locator(".msense-pairs tbody tr")
        assert rows.count() == 12
        first = rows.first.inner_text().split("\t")
        best = np.argmax(np.abs(r[iu[mine], ju[mine]]))
        assert {first[0], first[1]} == {names[iu[mine][best]], names[ju[mine][best]]}, first
        assert float(first[2]) == pytest.approx(r[iu[mine][best], ju[mine][best]], abs=0.0051)
        _measured(page, latency, rows.nth(1).click,
                  **{"pair row click -> the pair's series": {"sel": ".msense-explorer .msense-pair",
                                                             "has": rows.nth(1).inner_text().split("\t")[0]}})
        page.screenshot(path=str(ARTIFACTS / "scale-500-pairs.png"))

        # the threshold: MS101 again on 500 KPIs, the groups and the blocks redrawn
        readout = explorer.locator(".msense-threshold .widget-readout").first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.60")
        _measured(page, latency, lambda: page.keyboard.press("Enter"),
                  **{"threshold 0.90 -> 0.60": {"sel": ".msense-explorer .msense-clusters", "has": "at |r| ≥ 0.60"}})
        assert "0.90" not in clusters.inner_text()
        cell = explorer.locator(".msense-heatmap svg rect[data-key]").nth(3)
        cell.hover()
        assert " × " in cell.locator("title").text_content()

        # unticking a KPI: the gains, MS101 and the blocks of 499 KPIs
        box = explorer.locator(".msense-kpi-toggle", has_text="k1").locator("input[type=checkbox]").first
        tab("Decoupling").click()
        try:
            box.wait_for(state="visible", timeout=30_000)
        except Exception as exc:  # say what the page showed, for the next one to read
            raise AssertionError(f"the k1 box never showed after a click on the Decoupling tab: "
                                 f"{page.evaluate(TABS_SHOWN)}; console errors: {errors[-5:]}") from exc
        _measured(page, latency, box.uncheck,
                  **{"untick KPI k1 -> the what-if box": {"sel": ".msense-explorer .msense-whatif", "has": "unticked KPI k1"}})

        # the gain matrix and the RGA in blocks of 25 KPIs x 1 lever: a click on a block draws its
        # KPIs whole, whose row labels untick as their boxes do. NOTE: the pictures are redrawn after
        # the what-if box; a block found before the gain matrix's redraw is detached by it
        _wait("the gain matrix redrawn without k1", lambda: "of 499 KPIs" in explorer.locator(
            ".msense-gain-matrix figcaption").first.inner_text(), timeout=30)
        blocks = explorer.locator(".msense-gain-matrix svg rect[data-key]")
        assert blocks.count() == 20 * 50 and explorer.locator(".msense-rga svg rect[data-key]").count() == 20 * 50
        assert "drawn in blocks of 25 KPIs × 1 lever" in explorer.locator(".msense-gain-matrix figcaption").first.inner_text()
        block = explorer.locator('.msense-gain-matrix svg rect[data-key="cell-1-0"]').first
        block.scroll_into_view_if_needed()
        _measured(page, latency, block.click,
                  **{"gain block click -> its KPIs' rows": {"sel": ".msense-explorer .msense-gain-detail svg", "visible": True}})
        rows = explorer.locator(".msense-gain-detail svg text.row[data-key]")
        assert rows.count() == 25 and rows.first.get_attribute("data-key") == "kpi-25"
        label = explorer.locator('.msense-gain-detail svg text[data-key="kpi-30"]').first
        _measured(page, latency, label.click,
                  **{"untick KPI k30 from a block's row label -> the what-if box":
                     {"sel": ".msense-explorer .msense-whatif", "has": "unticked KPI k30"},
                     "untick KPI k30 from a block's row label -> the block redrawn, k30 struck through":
                     {"sel": '.msense-explorer .msense-gain-detail svg text.off[data-key="kpi-30"]'}})
        _wait("k30's box unticked", lambda: not explorer.locator(".msense-kpi-toggle", has_text="k30")
              .locator("input[type=checkbox]").first.is_checked(), timeout=30)
        page.screenshot(path=str(ARTIFACTS / "scale-500-gain-block.png"))
        sizes.update(page.evaluate("""() => ({gains_svg_rects: document.querySelectorAll(
              '.msense-explorer .msense-gains svg rect').length,
            explorer_svg_rects_after: document.querySelectorAll('.msense-explorer svg rect').length,
            explorer_html_after: document.querySelector('.msense-explorer').innerHTML.length})"""))
    finally:
        page.close()
    (ARTIFACTS / "explorer-500-latency.json").write_text(json.dumps({"latency_ms": latency, "page": sizes}, indent=1),
                                                         "utf-8")
    print("500-KPI explorer latency (ms, input to the first frame showing it):", json.dumps(latency), sizes)
