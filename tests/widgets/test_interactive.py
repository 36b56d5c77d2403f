"""The explorer's clickable views, with no browser: set what a click sets, assert what is shown.

A click on a node of the KPI system (Overview) shows its neighbours with their gains and its
findings; a click on a correlation heatmap cell (Redundancy) shows the two KPIs' change series,
whose correlation is checked against pandas and NumPy on the CSV itself. Every heatmap carries
its colour legend; the RGA frames the suggested pairing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import metricsense
from support import EXAMPLES, require

CUSTOMER_LOVE = EXAMPLES / "customer-love" / "customer-love.msense"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def explorer():
    require("ipywidgets")
    require("anywidget")
    from metricsense.widgets.explorer import explore

    return explore(metricsense.check(CUSTOMER_LOVE, config={}))


def _text(html: str) -> str:
    """What a reader sees of some HTML: tags dropped, entities read, blanks folded."""
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_the_overview_draws_the_system_as_a_clickable_picture(explorer):
    from metricsense.widgets.clicksvg import ClickSVG

    view, m = explorer.views["Overview"], explorer.model
    assert isinstance(view.picture, ClickSVG)
    (svg,) = _svgs(view.picture.value)
    keys = [g.get("data-key") for g in svg.iter(f"{SVG}g") if g.get("data-key")]
    assert len(keys) == len(m.picture.nodes) == 1 + 8 + 9 + 10 + 2
    assert "Click a node" in view.node.shown()


def test_a_click_on_a_kpi_shows_its_gains_and_findings(explorer):
    from metricsense.reports.picture import findings_of

    view, m = explorer.views["Overview"], explorer.model
    key = next(n.key for n in m.picture.nodes if n.name == "lead_time")
    view.picture.selected = key  # what the front end sets on a click
    assert m.node == key
    shown = _text(view.node.shown())
    assert "KPI lead_time Lead time for changes" in shown
    assert "target <= 24 by 2026-12-31; now 28.2 (median of the last 3): missed" in shown
    assert "guards slow_changes" in shown and "moved by deploys -0.5 (helps)" in shown
    assert "moved by test_automation -0.2 (helps)" in shown
    codes = sorted(d.code for d in findings_of(m.document, m._own_diagnostics())["lead_time"])
    assert len(codes) == 3 and f"{len(codes)} findings (3 warnings)" in shown
    for code in codes:
        assert code in shown
    # the model can be driven too (a test, a notebook): the picture follows
    other = next(n.key for n in m.picture.nodes if n.name == "deploys")
    m.node = other
    assert view.picture.selected == other and "Lever deploys" in _text(view.node.shown())
    assert "moves change_fail +0.2 (hurts)" in _text(view.node.shown())


def test_the_snapshot_keeps_the_picture_with_the_node_chosen(explorer):
    m = explorer.model
    m.node = next(n.key for n in m.picture.nodes if n.name == "csat")
    html = explorer.snapshot()
    assert f'[data-key="{m.node}"]' in html and 'class="kpi-system"' in html
    # the node's findings as the page showed them, under the picture
    assert "KPI csat Customer satisfaction" in _text(html.split('class="msense-detail msense-node-findings"', 1)[1])
    assert "shown only with a kernel" not in html.split("msense-system", 1)[-1][:200]


def test_each_heatmap_cell_says_its_correlation_on_hover(explorer):
    from metricsense.widgets.panels import heatmap_order

    view, m = explorer.views["Redundancy"], explorer.model
    order = heatmap_order(m.redundancy)
    corr = m.redundancy["correlation"]
    (svg,) = _svgs(view.picture.value)
    cells = [r for r in svg.iter(f"{SVG}rect") if (r.get("data-key") or "").startswith("cell-")]
    assert len(cells) == len(order) ** 2
    for rect in cells:
        _, i, j = rect.get("data-key").split("-")
        a, b = order[int(i)], order[int(j)]
        r = corr["matrix"][corr["kpis"].index(a)][corr["kpis"].index(b)]
        assert rect.find(f"{SVG}title").text == f"{a} × {b}: {r:.2f}".replace("-0.00", "0.00")
    assert len([g for g in svg.iter(f"{SVG}g") if g.get("class") == "legend"]) == 1


def test_a_click_on_a_cell_shows_the_two_change_series(explorer):
    pd = require("pandas")
    np = require("numpy")
    from metricsense.widgets.panels import heatmap_order

    view, m = explorer.views["Redundancy"], explorer.model
    order = heatmap_order(m.redundancy)
    i, j = order.index("lead_time"), order.index("cycle_time")
    view.picture.selected = f"cell-{i}-{j}"
    assert m.pair == ["lead_time", "cycle_time"]
    found = m.pair_view()
    # independent: the weekly changes from the CSV with pandas, correlated with NumPy
    frame = pd.read_csv(CUSTOMER_LOVE.parent / "data" / "kpis.csv")
    changes = frame[["lead_time", "cycle_time"]].diff().dropna()
    r = np.corrcoef(changes["lead_time"], changes["cycle_time"])[0, 1]
    assert found["r"] == pytest.approx(r, abs=1e-9) and found["shared"] == len(changes) == found["n"]
    shown = np.array([v for v in found["values"]["lead_time"] if v is not None])
    np.testing.assert_allclose(shown, changes["lead_time"].to_numpy(), atol=1e-9)
    assert found["periods"][1] == str(frame["period"][1])
    (svg,) = _svgs(view.pair.value)
    assert svg.find(f"{SVG}title").text == f"lead_time and cycle_time: changes per period; r = {r:.2f} over {len(changes)} shared changes"
    points = [c for c in svg.iter(f"{SVG}circle")]
    assert len(points) == 2 * len(changes)
    first = changes.iloc[0]
    assert points[0].find(f"{SVG}title").text == f"lead_time {frame['period'][1]}: {first['lead_time']:+.4g}"


def test_every_heatmap_has_a_legend_and_the_rga_frames_the_pairing(explorer):
    m = explorer.model
    gains = explorer.views["Decoupling"]
    html = gains.picture.value + gains.rga.value + explorer.views["Redundancy"].picture.value
    maps = [s for s in _svgs(html) if s.get("class") == "heatmap"]
    assert len(maps) == 3  # gains, RGA, correlation
    for s in maps:
        assert len([g for g in s.iter(f"{SVG}g") if g.get("class") == "legend"]) == 1
    rga = next(s for s in maps if s.find(f"{SVG}title").text == "Relative gain array")
    framed = [r for r in rga.iter(f"{SVG}rect") if r.get("class") == "marked"]
    pairing = m.decoupling["suggested_pairing"]
    assert pairing and len(framed) == len(pairing)
    said = sorted(t.text.split(":")[0] for t in rga.iter(f"{SVG}title") if t.text.endswith("(suggested pair)"))
    assert said == sorted(f"{k} × {lv}" for k, lv in pairing.items())


def test_a_spec_with_nothing_to_draw_has_no_picture():
    require("ipywidgets")
    from metricsense.widgets.explorer import explore

    ex = explore(metricsense.check('lever x "X"\n', config={}))
    assert ex.model.picture is None and ex.model.node_findings("k0") == []
    assert ex.views["Overview"].children == (ex.views["Overview"].body,)
    ex.model.pair = ["a", "b"]  # no correlation: nothing to draw, said
    assert ex.model.pair_view() is None and "Click a cell" in ex.views["Redundancy"].pair.value
