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
from test_jupyterlab_browser import ARTIFACTS, _get, _wait, serve_lab
from test_jupyterlab_explorer_walk import _measured
from test_notebooks import install_kernelspec

SPEC = EXAMPLES / "customer-love" / "customer-love.msense"
STATE = ("import json as _json\n_m = explorer.model\n"
         "print('MSENSE-STATE', _json.dumps({'node': _m.node, 'node_name': _m.picture.node(_m.node).name if _m.node else None, "
         "'pair': _m.pair, 'r': (_m.pair_view() or {}).get('r'), 'pairing': _m.decoupling.get('suggested_pairing')}))\n")


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
    nb.cells = [nbformat.v4.new_code_cell(f"import metricsense\nexplorer = metricsense.explore({str(SPEC)!r})\nexplorer"),
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

        def kernel_ready():
            kernels = _get(f"{base}/api/kernels?token={token}")
            return any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels)

        _wait("the notebook's kernel", kernel_ready, timeout=60)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        explorer = page.locator(".jp-OutputArea .msense-explorer").first
        explorer.wait_for(state="visible", timeout=60_000)
        _wait("Run All to finish", lambda: page.locator(".jp-InputArea-prompt", has_text="[*]").count() == 0
              and kernel_ready(), timeout=90)

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
    finally:
        page.close()
        (ARTIFACTS / "picture-latency.json").write_text(json.dumps(latency, indent=1), "utf-8")
    print("picture latency (ms, input to the first frame showing it):", json.dumps(latency))
