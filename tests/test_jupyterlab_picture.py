"""The explorer's pictures in a real JupyterLab at 1280x800, in Debian's Chromium (issue 23).

The customer-love spec's explorer is run with Run All. Overview: the KPI system is drawn (one
node per statement), a node's hover text says its target and latest level, a click on `csat`
shows its gains and findings. Redundancy: the hover text of the lead_time × cycle_time cell is
the correlation computed here from the CSV with pandas and NumPy, a click on it draws both change
series (one point per shared change). Decoupling: the RGA frames the suggested pairing, each
heatmap has its colour legend. The kernel's model is then read back (a cell printing it). The
latency of each click (input event to the first frame showing its result, through the kernel)
is printed and written to test-artifacts/picture-latency.json: reported, not asserted.
Screenshots: test-artifacts/picture-*.png.
"""

from __future__ import annotations

import json

import pytest

from support import EXAMPLES, require
from test_jupyterlab_browser import ARTIFACTS, _wait, run_all_explorer, serve_lab
from test_jupyterlab_explorer_walk import _box, _measured
from test_notebooks import install_kernelspec

SPEC = EXAMPLES / "customer-love" / "customer-love.msense"
STATE = ("import json as _json\n_m = explorer.model\n"
         "print('MSENSE-STATE', _json.dumps({'node': _m.node, 'node_name': _m.picture.node(_m.node).name if _m.node else None, "
         "'pair': _m.pair, 'r': (_m.pair_view() or {}).get('r'), 'pairing': _m.decoupling.get('suggested_pairing'), "
         "'kpis_on': _m.kpis_on, 'levers_on': _m.levers_on, 'last': _m.last_change.get('change'), 'kpi': _m.kpi, "
         "'window': explorer.views['Conversations'].chart.window, 'group': explorer.views['Trust'].body.selected}))\n")


@pytest.fixture
def lab_picture(tmp_path):
    require("jupyterlab")
    require("ipywidgets")
    require("anywidget")
    nbformat = require("nbformat")
    install_kernelspec()
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    # show_personal: the Trust tab names the groups large enough to show (and never the others)
    nb.cells = [nbformat.v4.new_code_cell(f"import metricsense\nexplorer = metricsense.explore({str(SPEC)!r}, "
                                          "show_personal=True)\nexplorer"),
                nbformat.v4.new_code_cell(STATE)]
    nbformat.write(nb, root / "picture.ipynb")
    with serve_lab(tmp_path, root) as served:
        yield served


def _expected_r() -> tuple[float, int]:
    pd = require("pandas")
    np = require("numpy")
    frame = pd.read_csv(SPEC.parent / "data" / "kpis.csv")
    changes = frame[["lead_time", "cycle_time"]].diff().dropna()
    return float(np.corrcoef(changes["lead_time"], changes["cycle_time"])[0, 1]), len(changes)


def test_click_a_node_and_a_heatmap_cell(lab_picture, browser):
    base, token = lab_picture
    r, shared = _expected_r()
    ARTIFACTS.mkdir(exist_ok=True)
    latency: dict[str, int] = {}
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{base}/lab/tree/picture.ipynb?token={token}")
        explorer = run_all_explorer(page, base, token)

        # Overview: the KPI system, one node per statement (mission, 8 failures, 9 KPIs, 10 levers, 2 disturbances)
        system = explorer.locator(".msense-system svg.kpi-system").first
        system.wait_for(state="visible", timeout=30_000)
        assert system.locator("g.node").count() == 30
        assert system.locator("g.edge").count() == 8 + 10 + 19
        box = system.bounding_box()
        assert box["width"] <= 1280
        csat = system.locator('g.node[data-name="csat"]').first
        csat.scroll_into_view_if_needed()
        csat.hover()
        assert csat.locator("title").text_content().startswith(
            "KPI: csat — Customer satisfaction (post-contact and in-product survey) — target >= 4.5 by 2027-06-30; now 4.2")
        page.screenshot(path=str(ARTIFACTS / "picture-overview.png"))
        node_panel = explorer.locator(".msense-node-findings").first
        _measured(page, latency, csat.click,
                  **{"click node csat: findings": {"sel": ".msense-explorer .msense-node-findings", "has": "KPI csat"}})
        shown = " ".join(node_panel.inner_text().split())
        assert "moved by support_hours +0.4 (helps)" in shown and "disturbed by season -0.3 (hurts)" in shown
        assert "target >= 4.5 by 2027-06-30; now 4.2" in shown
        chosen = page.evaluate("() => [...document.querySelectorAll('.msense-system .msense-chosen')].map(e => e.dataset.name)")
        assert chosen == ["csat"]
        lead = system.locator('g.node[data-name="lead_time"]').first
        _measured(page, latency, lead.click,
                  **{"click node lead_time: findings": {"sel": ".msense-explorer .msense-node-findings", "has": "3 findings"}})
        assert "3 findings (3 warnings)" in " ".join(node_panel.inner_text().split())
        # the keyboard: a node takes the focus, Enter chooses it
        uptime = system.locator('g.node[data-name="uptime"]').first
        uptime.focus()
        _measured(page, latency, lambda: page.keyboard.press("Enter"),
                  **{"Enter on node uptime: findings": {"sel": ".msense-explorer .msense-node-findings", "has": "KPI uptime"}})
        page.screenshot(path=str(ARTIFACTS / "picture-node.png"))

        # Redundancy: the cell's hover text is the correlation; a click draws both change series
        explorer.locator(".lm-TabBar-tab", has_text="Redundancy").first.click()
        heat = explorer.locator(".msense-heatmap svg.heatmap").first
        heat.wait_for(state="visible", timeout=30_000)
        assert heat.locator("g.legend").count() == 1
        key = page.evaluate("""() => { for (const r of document.querySelectorAll('.msense-heatmap rect[data-key]'))
            if (r.querySelector('title').textContent.startsWith('lead_time × cycle_time:')) return r.dataset.key; }""")
        cell = heat.locator(f'rect[data-key="{key}"]')
        cell.hover()
        assert cell.locator("title").text_content() == f"lead_time × cycle_time: {r:.2f}"
        pair = explorer.locator(".msense-pair").first
        _measured(page, latency, cell.click,
                  **{"click cell lead_time × cycle_time: series": {"sel": ".msense-explorer .msense-pair", "has": f"r = {r:.2f}"}})
        title = pair.locator("svg.pair > title").first.text_content()
        assert title == f"lead_time and cycle_time: changes per period; r = {r:.2f} over {shared} shared changes"
        assert pair.locator("svg.pair circle.point").count() == 2 * shared
        pair.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "picture-pair.png"))

        # Decoupling: the RGA frames the suggested pairing; every heatmap has its legend
        explorer.locator(".lm-TabBar-tab", has_text="Decoupling").first.click()
        gains = explorer.locator(".msense-gains").first
        _wait("the pairing search", lambda: "searching" not in explorer.locator(".msense-pairing").first.inner_text(), timeout=30)
        maps = gains.locator("svg.heatmap")
        assert maps.count() == 2 and gains.locator("svg.heatmap g.legend").count() == 2
        rga = gains.locator("figure.rga svg").first
        framed = rga.locator("rect.marked").count()
        said = [t for t in rga.locator("rect > title").all_text_contents() if t.endswith("(suggested pair)")]
        page.screenshot(path=str(ARTIFACTS / "picture-rga.png"))

        _gain_matrix(page, explorer, latency)
        _series(page, explorer, latency)
        _trust(page, explorer, latency)

        # the kernel's model
        last = page.locator(".jp-Cell.jp-CodeCell").nth(1)
        last.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        out = last.locator(".jp-OutputArea-output")
        _wait("the state cell", lambda: "MSENSE-STATE" in out.inner_text(), timeout=30)
        state = json.loads(out.inner_text().split("MSENSE-STATE", 1)[1].strip())
        assert state["node_name"] == "uptime" and state["pair"] == ["lead_time", "cycle_time"]
        assert state["r"] == pytest.approx(r, abs=1e-9)
        assert framed == len(state["pairing"]) == len(said) > 0
        assert sorted(s.split(":")[0] for s in said) == sorted(f"{k} × {v}" for k, v in state["pairing"].items())
        # the gain matrix's clicks, the zoom and the group chosen, as the kernel holds them
        assert "cycle_time" in state["kpis_on"] and "sec_reviews" in state["levers_on"]
        assert state["last"] == "ticked KPI cycle_time" and state["kpi"] == "csat"
        assert state["window"] == ZOOMED and state["group"] == "group-0-1"
    finally:
        page.close()
        (ARTIFACTS / "picture-latency.json").write_text(json.dumps(latency, indent=1), "utf-8")
    print("picture latency (ms, input to the first frame showing it):", json.dumps(latency))


# ---- the gain matrix, a KPI's series, the trust gaps ---------------------------------------------

LABEL_KEY = """([selector, name]) => { for (const t of document.querySelectorAll(selector + ' text[data-key]'))
    if (t.lastChild && t.lastChild.textContent === name) return t.dataset.key; return null; }"""


def _expected_gains() -> dict[str, tuple[str, int]]:
    """Condition number and rank of the declared gains with cycle_time unticked, then sec_reviews
    too: NumPy on the spec's matrix (the 2-norm condition number; infinite below full row rank)."""
    np = require("numpy")
    from metricsense.reports.gains import declared_gain_matrix

    report = metricsense_check(SPEC)
    kpis, levers, g = declared_gain_matrix(next(iter(report.documents.values())))
    out = {}
    rows = [i for i, k in enumerate(kpis) if k != "cycle_time"]
    for name, cols in (("kpi", list(range(len(levers)))), ("lever", [j for j, v in enumerate(levers) if v != "sec_reviews"])):
        sub = np.asarray(g, dtype=float)[np.ix_(rows, cols)]
        rank = int(np.linalg.matrix_rank(sub))
        out[name] = (f"{np.linalg.cond(sub):.3g}" if rank == len(rows) else "∞ (rank-deficient)", rank)
    return out


def _gain_matrix(page, explorer, latency: dict) -> None:
    """A click on a KPI's row label and on a lever's column label toggles them as their boxes do;
    Enter on a focused label ticks the lever again."""
    expected = _expected_gains()
    condition = explorer.locator(".msense-condition .value").first
    rank = explorer.locator(".msense-rank").first
    assert condition.inner_text() == "∞ (rank-deficient)" and "rank 8 of 9 KPIs" in rank.inner_text()

    def label(name: str):
        key = page.evaluate(LABEL_KEY, [".msense-explorer .msense-gains svg.heatmap", name])
        assert key, name
        return explorer.locator(f'.msense-gains figure.gain svg.heatmap text[data-key="{key}"]').first

    row = label("cycle_time")
    row.scroll_into_view_if_needed()
    cond, r = expected["kpi"]
    _measured(page, latency, row.click,
              **{"click KPI row cycle_time: numbers": {"sel": ".msense-explorer .msense-rank", "has": f"rank {r} of 8 KPIs"},
                 "click KPI row cycle_time: what-if box": {"sel": ".msense-explorer .msense-whatif", "has": "unticked KPI cycle_time"}})
    assert condition.inner_text() == cond and "∞" not in cond
    _wait("its box to follow", lambda: not _box(explorer, ".msense-kpi-toggle", "cycle_time").is_checked(), timeout=10)
    _wait("the picture redrawn", lambda: label("cycle_time").get_attribute("aria-pressed") == "false", timeout=10)
    column = label("sec_reviews")
    cond2, r2 = expected["lever"]
    _measured(page, latency, column.click,
              **{"click lever column sec_reviews: numbers": {"sel": ".msense-explorer .msense-rank", "has": "orphaned"},
                 "click lever column sec_reviews: what-if box": {"sel": ".msense-explorer .msense-whatif",
                                                                "has": "unticked lever sec_reviews"}})
    whatif = " ".join(explorer.locator(".msense-whatif").first.inner_text().split())
    assert condition.inner_text() == cond2 == "∞ (rank-deficient)" and f"rank {r2} of 8 KPIs" in rank.inner_text()
    assert f"condition number {cond} → ∞ (rank-deficient)" in whatif and f"rank {r} of 8 KPIs → {r2} of 8 KPIs" in whatif
    assert "Orphaned: no lever left for vuln_age." in whatif and "vuln_age" in rank.inner_text()
    page.screenshot(path=str(ARTIFACTS / "views-gains-unticked.png"))
    # the keyboard: the label keeps the focus through the redraw; Enter ticks the lever again
    label("sec_reviews").focus()
    _measured(page, latency, lambda: page.keyboard.press("Enter"),
              **{"Enter on lever column sec_reviews: numbers": {"sel": ".msense-explorer .msense-rank", "lacks": "orphaned"},
                 "Enter on lever column sec_reviews: what-if box": {"sel": ".msense-explorer .msense-whatif .last-change",
                                                                   "has": "ticked lever sec_reviews", "lacks": "unticked"}})
    assert condition.inner_text() == cond and f"rank {r} of 8 KPIs" in rank.inner_text()
    _wait("its box to follow", lambda: _box(explorer, ".msense-lever-toggle", "sec_reviews").is_checked(), timeout=10)
    page.screenshot(path=str(ARTIFACTS / "views-gains.png"))
    # a second click on the row ticks the KPI again: the spec as written
    _measured(page, latency, label("cycle_time").click,
              **{"click KPI row cycle_time again: numbers": {"sel": ".msense-explorer .msense-rank", "has": "rank 8 of 9 KPIs"}})
    assert condition.inner_text() == "∞ (rank-deficient)"
    _wait("the picture redrawn", lambda: label("cycle_time").get_attribute("aria-pressed") == "true", timeout=10)
    _wait("the pairing search", lambda: "searching" not in explorer.locator(".msense-pairing").first.inner_text(), timeout=30)


ZOOMED = [112, 123]  # the last 12 of csat's 124 periods


def _series(page, explorer, latency: dict) -> None:
    """csat's series: target, noise band, firings, a legend; "last 12" zooms in the page, a drag
    over the plot zooms further, a period's value is said on hover."""
    explorer.locator(".lm-TabBar-tab", has_text="Conversations").first.click()
    chart = explorer.locator(".msense-timeline").first
    explorer.locator(".widget-dropdown select").first.select_option("csat")
    _wait("csat's series", lambda: "csat" in (chart.locator("svg.series > title").first.text_content() or ""), timeout=30)
    svg = chart.locator("svg.series").first
    assert svg.locator("svg.plot line.target title").text_content() == "target 4.5"
    assert svg.locator("svg.plot rect.band").count() == 1 and svg.locator("svg.plot rect.fired").count() >= 1
    assert [t for t in svg.locator("g.legend text").all_text_contents()][:2] == ["csat", "target 4.5"]
    periods = svg.locator("svg.plot rect.hit").evaluate_all("rs => rs.map(r => r.dataset.p)")
    assert len(periods) == 124
    rng = chart.locator(".series-range").first
    assert rng.inner_text() == f"showing {periods[0]} – {periods[-1]}: 124 of 124 periods"
    chart.scroll_into_view_if_needed()
    _measured(page, latency, chart.locator("button.zoom-last", has_text="last 12").first.click,
              **{"zoom series to the last 12 periods": {"sel": ".msense-explorer .msense-timeline .series-range",
                                                        "has": "12 of 124 periods"}})
    a, b = ZOOMED
    assert rng.inner_text() == f"showing {periods[a]} – {periods[b]}: 12 of 124 periods"
    assert svg.locator("svg.plot").get_attribute("viewBox").startswith(f"{a - 0.5} 0 12 ")
    assert svg.locator("text.x-first").text_content() == periods[a] and svg.locator("text.x-last").text_content() == periods[b]
    # what is visible: the first and last period drawn in the plot's box are the window's (in the
    # live explorer: the page may also hold the output's snapshot, hidden)
    inside = page.evaluate("""() => { const plot = document.querySelector('.msense-explorer .msense-timeline svg.plot'),
          box = document.querySelector('.msense-explorer .msense-timeline svg.series rect.frame').getBoundingClientRect();
        return [...plot.querySelectorAll('rect.hit')].filter(r => { const c = r.getBoundingClientRect();
          return c.left + c.width / 2 > box.left && c.left + c.width / 2 < box.right; }).map(r => r.dataset.p); }""")
    assert inside == periods[a:b + 1]
    # hover: the value said in the read-out at once
    hit = svg.locator(f'svg.plot rect.hit[data-i="{b}"]')
    hit.hover()
    said = chart.locator(".msense-readout").first.inner_text()
    assert said == hit.locator("title").text_content() and said.startswith(f"{periods[b]}: ")
    page.screenshot(path=str(ARTIFACTS / "views-series-zoomed.png"))
    # a drag over periods 114..117 of the window zooms to them; "all" shows every period again
    box = svg.locator("rect.frame").bounding_box()
    per = box["width"] / 12
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + per * 2.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + per * 4, y, steps=3)
    page.mouse.move(box["x"] + per * 5.5, y, steps=3)
    page.mouse.up()
    assert rng.inner_text() == f"showing {periods[a + 2]} – {periods[a + 5]}: 4 of 124 periods"
    page.screenshot(path=str(ARTIFACTS / "views-series-brushed.png"))
    chart.locator("button.zoom-all").first.click()
    assert rng.inner_text().endswith("124 of 124 periods")
    chart.locator("button.zoom-last", has_text="last 12").first.click()  # left zoomed: the kernel keeps it


def _trust(page, explorer, latency: dict) -> None:
    """The trust gaps: the five groups the trust evaluator shows, a click shows a group's numbers
    (the record's, read in this process); the group below the minimum is nowhere in the view."""
    pd = require("pandas")
    from metricsense.evaluators.records import TrustAnalysis

    report = metricsense_check(SPEC)
    signal = TrustAnalysis.of(report.analysis[next(iter(report.analysis))]).signals["value_question"]
    survey = pd.read_csv(SPEC.parent / "data" / "survey.csv")
    hidden = sorted(set(survey["group"]) - {g.group for g in signal.groups})
    managers = survey.groupby("group")["manager_id"].first()
    assert len(hidden) == signal.suppressed == 1
    explorer.locator(".lm-TabBar-tab", has_text="Trust").first.click()
    view = explorer.locator(".msense-trust").first
    rows = view.locator("svg.trust g.group")
    rows.first.wait_for(state="visible", timeout=30_000)
    labels = [t.strip() for t in rows.locator("text").all_text_contents()]
    assert labels == [g.group for g in signal.groups]
    g = signal.groups[1]
    _measured(page, latency, rows.nth(1).click,
              **{"click trust group: its numbers": {"sel": ".msense-explorer .msense-trust-group", "has": g.group}})
    shown = " ".join(view.locator(".msense-trust-group").first.inner_text().split())
    assert f"respondents in the team {g.n}" in shown and f"gap (managers − team) {g.gap:+.2f}" in shown
    assert f"managers' mean answer {g.managers:.2f}" in shown and f"team's mean answer {g.team:.2f}" in shown
    assert "1 group is too small to stay anonymous" in view.inner_text()
    html = view.evaluate("e => e.outerHTML")
    for name in hidden:
        assert name not in html and managers[name] not in html, name
    page.screenshot(path=str(ARTIFACTS / "views-trust.png"))


def metricsense_check(spec):
    import metricsense

    return metricsense.check(spec, config={}, show_personal=True)
