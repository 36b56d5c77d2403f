"""A large system's gain matrix and RGA in the explorer, drawn in blocks (issue 25), against NumPy.

Each block cell must be the block's kept entry of largest magnitude (found here by a loop over
NumPy's array), a click on a cell must draw the block's KPIs whole with their label toggles, a
click on such a label must do what the KPI's box does, and the Decoupling tab of a 500-KPI,
50-lever system must stay small (main sent 7.2 MB of widget state for it).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import metricsense
from metricsense.reports import blocks
from metricsense.widgets import gainblocks as gb
from support import require

SVG = "{http://www.w3.org/2000/svg}"
N, NL = 500, 50


def _cells(html: str) -> dict[str, str]:
    """data-key -> hover text of the keyed cells of the first heatmap in ``html``."""
    heat = ET.fromstring(re.search(r'<svg class="heatmap".*?</svg>', html, flags=re.S).group(0))
    return {r.get("data-key"): r.find(f"{SVG}title").text for r in heat.iter(f"{SVG}rect") if r.get("data-key")}


def _labels(html: str) -> dict[str, str]:
    heat = ET.fromstring(re.search(r'<svg class="heatmap".*?</svg>', html, flags=re.S).group(0))
    return {t.get("data-key"): t.get("aria-pressed") for t in heat.iter(f"{SVG}text") if t.get("data-key")}


def _full(n: int, m: int, seed: int = 7, off_k=(), off_l=()):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, m))
    a[rng.random((n, m)) < 0.5] = 0.0
    a[3, :] = np.nan  # a KPI with no gain known
    kpis, levers = [f"k{i}" for i in range(n)], [f"l{j}" for j in range(m)]
    matrix = [[None if np.isnan(v) else float(v) for v in row] for row in a]
    return (kpis, levers, matrix, [k for i, k in enumerate(kpis) if i not in off_k],
            [v for j, v in enumerate(levers) if j not in off_l]), a


@pytest.mark.parametrize("n, m", [(130, 12), (130, 70), (61, 3), (41, 65)])
def test_each_block_cell_is_the_kept_entry_of_largest_magnitude(n, m):
    off_k, off_l = {0, 1, 2, 5, 40}, {1}
    full, a = _full(n, m, off_k=off_k, off_l=off_l)
    assert gb.is_large(full)
    br, bc = gb.steps(full)
    # an axis of at most SMALL is not cut: its labels stay toggles
    assert br == (1 if n <= blocks.SMALL else -(-n // gb.BLOCKS)) and bc == (1 if m <= blocks.SMALL else -(-m // gb.BLOCKS))
    html = gb.overview(gb.gain_array(full), full, title="Gains", blank_zero=True)
    cells = _cells(html)
    nr, nc = -(-n // br), -(-m // bc)
    assert len(cells) == nr * nc
    for p in range(nr):
        for q in range(nc):
            entries = [(abs(a[i, j]), a[i, j], i, j) for i in range(p * br, min((p + 1) * br, n))
                       for j in range(q * bc, min((q + 1) * bc, m))
                       if i not in off_k and j not in off_l and np.isfinite(a[i, j])]
            said = cells[f"cell-{p}-{q}"]
            if not entries or max(entries)[0] == 0:  # none kept, or only zeros: blank
                assert ": none" in said, said
                continue
            _, v, i, j = max(entries)
            shown = re.search(r": (-?\d+\.\d\d) \(largest", said)
            assert shown and float(shown.group(1)) == pytest.approx(v, abs=0.0051), (said, v)
            assert f"(largest: k{i}" in said and (bc == 1 or f"× l{j})" in said), (said, i, j)
    # the same blocks as the HTML report's (one function), the values exactly NumPy's
    value, at_i, at_j = blocks.block_extremes(gb.kept(gb.gain_array(full), gb.off_of(full)), br, bc)
    for (p, q), v in np.ndenumerate(value):
        if np.isfinite(v):
            assert v == a[at_i[p, q], at_j[p, q]]
    # the strongest kept entries listed: NumPy's ranking
    live = np.where(np.isnan(gb.kept(a, (off_k, off_l))), 0, np.abs(gb.kept(a, (off_k, off_l))))
    top = np.sort(live.ravel())[::-1][: blocks.STRONGEST]
    listed = [abs(float(x)) for x in re.findall(r"<td>(-?\d+\.\d+)</td></tr>", html)]
    assert listed == pytest.approx(top, abs=0.0051)


@pytest.mark.parametrize("n, m, rows, cols", [(500, 50, range(25, 50), range(50)), (200, 80, range(10, 20), range(80)),
                                               (30, 70, range(1, 2), range(70)),
                                               (2000, 80, range(100, 200), range(4, 8))])
def test_a_block_clicked_is_its_kpis_with_every_lever_up_to_the_cells_allowed(n, m, rows, cols):
    full = ([f"k{i}" for i in range(n)], [f"l{j}" for j in range(m)], None, [], [])
    assert gb.band(full, 1, 1) == (rows, cols)
    assert len(rows) * len(cols) <= gb.DETAIL_MAX
    assert gb.band(full, 10**6, 0) is None and gb.band(full, 0, 10**6) is None


def _spec(n: int = N, nl: int = NL) -> str:
    """n KPIs, each moved by two of nl levers (declared gains, no data)."""
    rng = np.random.default_rng(25)
    out = ['mission "Serve people well" { owner "director" }', *(f'lever l{j} "Lever {j}"' for j in range(nl))]
    for i in range(n):
        a, b = rng.choice(nl, 2, replace=False)
        out.append(f'kpi k{i} "KPI {i}" {{\n  responds l{a} +0.3, l{b} -0.2\n}}')
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def large():
    require("anywidget")
    off = ["metricsense.evaluators." + n for n in ("selection", "trust", "conversation", "noise", "distortion",
                                                    "correlation", "decoupling")]
    return metricsense.check(_spec(), config={"select": ["MS0"]}, disabled_plugins=off)


def _explorer(report):
    from metricsense.widgets.explorer import explore

    return explore(report)


def test_a_click_on_a_block_draws_its_kpis_whole_with_their_toggles(large):
    ex = _explorer(large)
    view, m = ex.views["Decoupling"], ex.model
    assert view.large and view.figures.children == (view.picture, view.picture_detail, view.rga, view.rga_detail)
    br, _ = gb.steps(view._full())
    assert br == 25
    over = _cells(view.picture.value)
    assert len(over) == 20 * NL  # 1,000 cells, not 25,000
    assert "drawn in blocks of 25 KPIs × 1 lever" in view.picture.value
    assert "Click a cell to draw the block&#x27;s KPIs whole below with every lever" in view.picture.value
    # a lever's label stays its toggle on the overview; KPIs' only in a block drawn
    assert set(_labels(view.picture.value)) == {f"lever-{j}" for j in range(NL)}
    assert "Click a cell of the gain matrix" in view.picture_detail.value
    view.picture.click("cell-2-7")
    assert view.picture.selected == "cell-2-7"
    rows = range(50, 75)
    assert set(_labels(view.picture_detail.value)) == {f"kpi-{i}" for i in rows} | {f"lever-{j}" for j in range(NL)}
    g = np.array(m._matrix, dtype=float)
    heat = ET.fromstring(re.search(r'<svg class="heatmap".*?</svg>', view.picture_detail.value, re.S).group(0))
    said = [r.find(f"{SVG}title").text for r in heat.iter(f"{SVG}rect") if r.get("class") == "cell"]
    assert len(said) == 25 * NL
    for t in said:
        k, lv, v = re.fullmatch(r"(k\d+) × (l\d+): (\S+)", t).groups()
        want = g[m.kpis.index(k), m.levers.index(lv)]
        assert (v == "none" and want == 0) or float(v) == pytest.approx(want, abs=0.0051), t
    # the block cell clicked holds the largest gain of those rows
    largest = max(abs(g[i, j]) for i in rows for j in [7])
    assert f": {largest:.2f}" in over["cell-2-7"] or f": -{largest:.2f}" in over["cell-2-7"]

    # the RGA: every KPI and lever, a block framed when it holds a pair of the suggested pairing
    d = m.decoupling
    pairing = d["suggested_pairing"]
    assert len(pairing) == NL
    framed = {(m.kpis.index(k) // br, m.levers.index(v)) for k, v in pairing.items()}
    assert view.rga.value.count('class="marked"') == len(framed)
    assert "Framed: a block that holds a pair of the suggested pairing (50 pairs" in view.rga.value
    a, b = sorted(framed)[0]
    view.rga.click(f"cell-{a}-{b}")
    in_block = [(k, v) for k, v in pairing.items() if m.kpis.index(k) // br == a]
    assert view.rga_detail.value.count('class="marked"') == len(in_block) >= 1
    rga = np.array(d["rga"], dtype=float)
    heat = ET.fromstring(re.search(r'<svg class="heatmap".*?</svg>', view.rga_detail.value, re.S).group(0))
    for r in heat.iter(f"{SVG}rect"):
        if r.get("class") != "cell":
            continue
        k, lv, v = re.fullmatch(r"(k\d+) × (l\d+): (\S+?)( \(suggested pair\))?", r.find(f"{SVG}title").text).groups()[:3]
        want = rga[d["kpis"].index(k), d["levers"].index(lv)]
        assert (v == "none" and abs(want) < 0.005) or float(v) == pytest.approx(want, abs=0.0051)


def test_unticking_from_a_block_row_label_does_what_the_box_does(large):
    by_label, by_box = _explorer(large), _explorer(large)
    view, m = by_label.views["Decoupling"], by_label.model
    view.picture.click("cell-2-0")
    view.rga.click("cell-2-0")
    view.picture_detail.click("kpi-51")  # what the front end sends for a click on the row label k51
    by_box.views["Decoupling"].kpi_boxes["k51"].value = False
    assert "k51" not in m.kpis_on and m.kpis_on == by_box.model.kpis_on
    assert m.last_change["change"] == by_box.model.last_change["change"] == "unticked KPI k51"
    assert view.kpi_boxes["k51"].value is False  # the box follows
    assert _labels(view.picture_detail.value)["kpi-51"] == "false"  # greyed, struck through
    assert _labels(view.rga_detail.value)["kpi-51"] == "false"  # the RGA's block: the same KPIs
    assert "k51" not in m.decoupling["kpis"]
    assert view.picture.value == by_box.views["Decoupling"].picture.value
    # from the RGA's block, and a lever from the overview's column label
    view.rga_detail.click("kpi-51")
    assert "k51" in m.kpis_on and view.kpi_boxes["k51"].value is True
    view.picture.click("lever-3")
    assert "l3" not in m.levers_on and view.lever_boxes["l3"].value is False
    assert _labels(view.picture.value)["lever-3"] == "false"


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def test_the_decoupling_tab_of_500_kpis_stays_small(large):
    ex = _explorer(large)
    view = ex.views["Decoupling"]
    view.picture.click("cell-0-0")
    view.rga.click("cell-0-0")
    state = sum(len(json.dumps(w.get_state(), default=str)) for w in _walk(view))
    pictures = sum(len(json.dumps(w.get_state(), default=str)) for w in view.figures.children)
    # main drew every cell: 7.2 MB for this tab; now the blocks (about 280 KB a picture) and a block
    # of each drawn whole (about 190 KB): 0.95 MB, and the 550 checkboxes about 300 KB
    assert pictures < 1_100_000, pictures
    assert state < 1_500_000, state
