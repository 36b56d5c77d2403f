"""A walk through the explorer in a real JupyterLab at 1280x800 (issue 23), in Debian's Chromium.

The tour notebook (with one more cell at its end that prints the explorer's model as JSON) is run
with Run All; then every tab is opened, the redundancy threshold moved from 0.90 to 0.60, a KPI
and a lever unticked, a heatmap cell hovered. What the page shows is asserted (numbers), then
compared with what the kernel's model holds (the last cell run again). The report above the
explorer is measured in the light and the dark theme: cells left-aligned, the diagnostics table
inside its output area, quoted lines unbroken, text contrast. The latency of each interaction
(action to the page showing its result, through the kernel) is measured and printed, and written
to test-artifacts/explorer-latency.json: reported, not asserted. Screenshots: test-artifacts/walk-*.png.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from support import ROOT, contrast, require
from test_jupyterlab_browser import ARTIFACTS, _wait, run_all_explorer, serve_lab
from test_notebooks import install_kernelspec

STATE_CELL = (
    "import json as _json\n"
    "from metricsense.reports import gains as _gains\n"
    "_m = explorer.model\n"
    "print('MSENSE-STATE', _json.dumps({'threshold': _m.threshold, 'groups': len(_m.clusters), "
    "'kpis_on': _m.kpis_on, 'levers_on': _m.levers_on, 'condition': _gains.format_condition(_m.decoupling['condition_number']), "
    "'rank': _m.decoupling['rank'], 'kpis': len(_m.decoupling['kpis']), 'orphaned': _m.decoupling['orphaned'], "
    "'last': _m.last_change.get('change')}))\n"
)

LAYOUT = """() => {
  const out = document.querySelector('.jp-OutputArea-output .msense-report');
  const area = out.closest('.jp-OutputArea-output');
  const table = out.querySelector('table.diagnostics');
  const pre = table.querySelector('pre');
  return {aligns: [...new Set([...out.querySelectorAll('td, th')].map(c => getComputedStyle(c).textAlign))],
          tableWidth: table.getBoundingClientRect().width, areaWidth: area.getBoundingClientRect().width,
          pre: getComputedStyle(pre).whiteSpace};
}"""

COLOURS = """(sel) => {
  const el = document.querySelector(sel);
  let bg = el, colour = 'rgba(0, 0, 0, 0)';
  while (bg && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
    colour = getComputedStyle(bg).backgroundColor; bg = bg.parentElement;
  }
  return {text: getComputedStyle(el).color, background: colour};
}"""


#: What each walk unticks and what the page must then say (the numbers as the core computes them:
#: tests/widgets/test_whatif.py checks the same on the model).
CASES = {
    "tour": {"kpi": "cycle", "lever": "reviews", "orphan": "wait", "rank": (3, 4), "after_kpi": (3, 3),
             "after_lever": (2, 3)},
    "customer-love": {"kpi": "cycle_time", "lever": "sec_reviews", "orphan": "vuln_age", "rank": (8, 9),
                      "after_kpi": (8, 8), "after_lever": (7, 8)},
}


def _notebook(case: str):
    jupytext = require("jupytext")
    nbformat = require("nbformat")
    if case == "tour":
        nb = jupytext.read(ROOT / "notebooks" / "tour.md")
    else:
        spec = ROOT / "examples" / "customer-love" / "customer-love.msense"
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        # an edited copy without cycle_time, for the Diff tab
        edit = ("import pathlib, shutil, tempfile\n"
                f"work = pathlib.Path(tempfile.mkdtemp()) / 'cl'\nshutil.copytree({str(spec.parent)!r}, work)\n"
                "edited = work / 'customer-love.msense'\ntext = edited.read_text()\n"
                "start = text.index('kpi cycle_time'); end = text.index('\\n}\\n', start) + 3\n"
                "edited.write_text(text[:start] + text[end:])\n")
        nb.cells = [nbformat.v4.new_code_cell(f"import metricsense\nreport = metricsense.check({str(spec)!r})\nreport"),
                    nbformat.v4.new_code_cell(edit + "explorer = metricsense.explore(report, compare=edited)\nexplorer")]
    nb.cells.append(nbformat.v4.new_code_cell(STATE_CELL))
    return nb


@pytest.fixture(params=list(CASES))
def lab_walk(request, tmp_path):
    require("jupyterlab")
    require("ipywidgets")
    nbformat = require("nbformat")
    install_kernelspec()
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    nbformat.write(_notebook(request.param), root / "notebooks" / "walk.ipynb")
    with serve_lab(tmp_path, root) as served:
        yield (*served, request.param)


# Latency measured in the page: from the user's input event (pointerdown or keydown, captured
# before JupyterLab sees it) to the first animation frame whose DOM shows each expected result.
ARM = """(marks) => { window.__msense = new Promise((resolve) => {
  let t0 = null; const got = {}; const until = performance.now() + 30000;
  const start = () => { if (t0 === null) t0 = performance.now(); };
  for (const type of ['pointerdown', 'mousedown', 'keydown']) document.addEventListener(type, start, {capture: true, once: true});
  const text = (m) => { const el = document.querySelector(m.sel); return el ? (el.innerText || '') : null; };
  for (const m of marks) m.before = text(m);
  const ok = (m) => { const el = document.querySelector(m.sel); if (!el) return false; const t = el.innerText || '';
    return (!m.visible || el.offsetParent !== null) && (!m.has || t.includes(m.has)) && (!m.lacks || !t.includes(m.lacks))
      && (!m.changed || t !== m.before); };
  // every frame: the time of the first frame that shows each mark
  const frame = () => {
    if (t0 !== null) for (const m of marks) if (!(m.name in got) && ok(m)) got[m.name] = Math.round(performance.now() - t0);
    if (marks.every(m => m.name in got)) return resolve(got);
    if (performance.now() > until) return resolve(null);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}); }"""


def _box(explorer, cls: str, name: str):
    """The checkbox of the toggle whose label is exactly ``name`` (`reviews`, not `sec_reviews`)."""
    toggles = explorer.locator(cls)
    for i in range(toggles.count()):
        if toggles.nth(i).inner_text().strip() == name:
            return toggles.nth(i).locator("input[type=checkbox]")
    raise AssertionError(f"no toggle {name!r} in {toggles.all_inner_texts()}")


def _measured(page, latency: dict, action, **marks: dict) -> None:
    """Do ``action`` and wait until each mark holds; record the ms from input to each mark.

    With METRICSENSE_TRACE=1 each interaction is also traced (Chrome's trace, read by
    benchmarks/trace_summary.py: where the page spent the time) into test-artifacts/trace-*.json."""
    page.evaluate(ARM, [{"name": k, **v} for k, v in marks.items()])
    tracing = bool(os.environ.get("METRICSENSE_TRACE"))
    if tracing:
        page.context.browser.start_tracing(page=page, categories=["devtools.timeline", "blink.user_timing", "v8.execute"])
    action()
    got = page.evaluate("window.__msense")
    if tracing:
        name = re.sub(r"[^a-z0-9]+", "-", next(iter(marks)).lower()).strip("-")
        (ARTIFACTS / f"trace-{name}.json").write_bytes(page.context.browser.stop_tracing())
    assert got is not None, f"the page never showed {list(marks)}"
    latency.update(got)


def test_walk_every_tab_move_the_threshold_untick_a_kpi_and_a_lever(lab_walk, browser):
    base, token, name = lab_walk
    case = CASES[name]
    kpi, lever, orphan = case["kpi"], case["lever"], case["orphan"]
    ARTIFACTS.mkdir(exist_ok=True)
    latency: dict[str, int] = {}
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/notebooks/walk.ipynb?token={token}")
        explorer = run_all_explorer(page, base, token)

        # the report above the explorer, in the light theme
        layout = page.evaluate(LAYOUT)
        assert layout["aligns"] == ["left"], layout
        assert layout["tableWidth"] <= layout["areaWidth"] + 0.5, layout
        assert layout["pre"] == "pre", layout

        explorer.scroll_into_view_if_needed()
        tab = lambda title: explorer.locator(".lm-TabBar-tab", has_text=title).first  # noqa: E731
        checks = {"Overview": (".msense-overview", "Mission:"), "Diagnostics": (".msense-diagnostics-count", "diagnostics shown"),
                  "Redundancy": (".msense-clusters", "at |r| ≥ 0.90"), "Decoupling": (".msense-condition", "condition number"),
                  "Conversations": (".msense-agenda", ""), "Trust": (".msense-trust", "")}
        for title, (selector, text) in checks.items():
            target = explorer.locator(selector).first
            _measured(page, latency, tab(title).click, **{f"tab {title}": {"sel": f".msense-explorer {selector}", "visible": True}})
            if text:
                assert text in target.inner_text(), (title, target.inner_text())
            page.screenshot(path=str(ARTIFACTS / f"walk-{name}-{title.lower()}.png"))

        # Redundancy: 0.90 -> 0.60 redraws the text, whatever the groups do
        tab("Redundancy").click()
        clusters = explorer.locator(".msense-clusters").first
        readout = explorer.locator(".msense-threshold .widget-readout").first
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.60")
        _measured(page, latency, lambda: page.keyboard.press("Enter"),
                  **{"threshold 0.90 -> 0.60": {"sel": ".msense-explorer .msense-clusters", "has": "at |r| ≥ 0.60"}})
        groups_text = clusters.inner_text()
        assert "0.90" not in groups_text
        # a heatmap cell's value on hover (the SVG title the browser shows as a tooltip)
        cell = explorer.locator(".msense-heatmap svg rect").nth(1)
        cell.hover()
        hovered = cell.locator("title").text_content()
        assert " × " in hovered and any(ch.isdigit() for ch in hovered), hovered
        page.screenshot(path=str(ARTIFACTS / f"walk-{name}-threshold-0.60.png"))

        # Decoupling: untick a KPI, then a lever that leaves a KPI with none
        tab("Decoupling").click()
        condition = explorer.locator(".msense-condition .value").first
        rank = explorer.locator(".msense-rank").first
        r, k = case["rank"]
        assert condition.inner_text() == "∞ (rank-deficient)" and f"rank {r} of {k} KPIs" in rank.inner_text()
        before = condition.inner_text()
        kpi_box = _box(explorer, ".msense-kpi-toggle", kpi)
        _measured(page, latency, kpi_box.uncheck,
                  **{f"untick KPI {kpi}: numbers": {"sel": ".msense-explorer .msense-condition .value", "lacks": "∞"},
                     f"untick KPI {kpi}: what-if box": {"sel": ".msense-explorer .msense-whatif", "has": f"unticked KPI {kpi}"},
                     f"untick KPI {kpi}: pairing": {"sel": ".msense-explorer .msense-pairing", "lacks": "searching",
                                                    "changed": True}})
        assert condition.inner_text() != before
        after_kpi = condition.inner_text()
        assert "∞" not in after_kpi and float(after_kpi) > 0
        r, k = case["after_kpi"]
        assert f"rank {r} of {k} KPIs" in rank.inner_text()
        lever_box = _box(explorer, ".msense-lever-toggle", lever)
        _measured(page, latency, lever_box.uncheck,
                  **{f"untick lever {lever}: numbers": {"sel": ".msense-explorer .msense-rank", "has": "orphaned"},
                     f"untick lever {lever}: what-if box": {"sel": ".msense-explorer .msense-whatif",
                                                            "has": f"unticked lever {lever}"},
                     f"untick lever {lever}: pairing": {"sel": ".msense-explorer .msense-pairing", "lacks": "searching",
                                                        "changed": True}})
        assert condition.inner_text() == "∞ (rank-deficient)"
        r2, k2 = case["after_lever"]
        assert f"rank {r2} of {k2} KPIs" in rank.inner_text() and orphan in rank.inner_text()
        whatif = explorer.locator(".msense-whatif").first.inner_text()
        assert f"unticked lever {lever}" in whatif and f"condition number {after_kpi} → ∞ (rank-deficient)" in whatif
        assert f"rank {r} of {k} KPIs → {r2} of {k2} KPIs" in whatif and f"Orphaned: no lever left for {orphan}." in whatif
        page.screenshot(path=str(ARTIFACTS / f"walk-{name}-unticked.png"))

        if name == "customer-love":  # the Diff tab: the spec against its copy without cycle_time
            diff = explorer.locator(".msense-diff").first
            _measured(page, latency, tab("Diff").click, **{"tab Diff": {"sel": ".msense-explorer .msense-diff", "visible": True}})
            shown = " ".join(diff.inner_text().split())
            assert "removed cycle_time" in shown and "∞ (rank 8 for 9 KPIs)" in shown, shown
            assert "KPIs 9 8" in shown and "condition number (declared gains) ∞ (rank 8 for 9 KPIs) 3.35 better conditioned" in shown
            page.screenshot(path=str(ARTIFACTS / f"walk-{name}-diff.png"))

        # what the kernel's model holds: the last cell run again
        last = page.locator(".jp-Cell.jp-CodeCell").nth(page.locator(".jp-Cell.jp-CodeCell").count() - 1)
        last.scroll_into_view_if_needed()
        last.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        out = last.locator(".jp-OutputArea-output")
        try:
            _wait("the state cell", lambda: "MSENSE-STATE" in out.inner_text() and "0.6" in out.inner_text(), timeout=30)
        except AssertionError:
            page.screenshot(path=str(ARTIFACTS / f"walk-{name}-state-cell.png"))
            print("state cell output:", out.all_inner_texts(), last.inner_text()[:500])
            raise
        state = json.loads(out.inner_text().split("MSENSE-STATE", 1)[1].strip())
        assert state["threshold"] == pytest.approx(0.6)
        now = " ".join(clusters.text_content().split())  # the Redundancy tab, redrawn for the kept KPIs
        assert "|r| ≥ 0.60" in now
        assert f"{state['groups']} redundant group" in now if state["groups"] else "No redundant KPIs at |r| ≥ 0.60" in now
        assert kpi not in state["kpis_on"] and lever not in state["levers_on"]
        assert state["condition"] == "∞ (rank-deficient)" and (state["rank"], state["kpis"]) == case["after_lever"]
        assert state["orphaned"] == [orphan] and state["last"] == f"unticked lever {lever}"

        # the dark theme: the report and the explorer still read
        page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
        page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
        _wait("the dark theme", lambda: page.evaluate("document.body.dataset.jpThemeLight") == "false", timeout=20)
        page.wait_for_timeout(500)
        for selector in (".jp-OutputArea-output .msense-report table.diagnostics td .msg", ".msense-whatif table.whatif td"):
            c = page.evaluate(COLOURS, selector)
            assert contrast(c["text"], c["background"]) >= 4.5, (selector, c)
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"walk-{name}-dark.png"))
    finally:
        page.close()
        (ARTIFACTS / f"explorer-latency-{name}.json").write_text(json.dumps(latency, indent=1), "utf-8")
    print(f"{name} latency (ms, input to the first frame showing it):", json.dumps(latency))
