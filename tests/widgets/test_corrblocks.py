"""The large system's correlation heatmap by blocks and its pair list, against brute force in NumPy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from metricsense.widgets import corrblocks as cb


def _red(n: int, seed: int = 3, groups=()):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, n))
    x[:, 1::7] += 2 * x[:, ::7][:, : x[:, 1::7].shape[1]]  # some strong pairs
    r = np.corrcoef(x, rowvar=False)
    r[2, 5] = r[5, 2] = np.nan  # a pair with too few shared periods
    kpis = [f"k{i}" for i in range(n)]
    corr = {"kpis": kpis, "matrix": [[None if np.isnan(v) else float(v) for v in row] for row in r],
            "n": [[60] * n for _ in range(n)], "method": "pearson", "basis": "changes"}
    clusters = [{"keep": g[0], "drop": list(g[1:]), "r": 0.95, "n": 60} for g in groups]
    return {"correlation": corr, "clusters": clusters, "threshold": 0.9}, kpis, r


@pytest.mark.parametrize("n, max_blocks", [(97, 10), (500, 20), (41, 20)])
def test_blocks_cover_every_kpi_once_and_hold_the_strongest_pair(n, max_blocks):
    group = [f"k{i}" for i in range(30, 38)]  # fits a block (at least 10)
    red, kpis, r = _red(n, groups=[group] if n > 90 else ())
    bl = cb.blocks_of(red, max_blocks)
    assert len(bl.blocks) <= max_blocks
    assert sorted(bl.order) == sorted(kpis) and len(bl.order) == n
    if n > 90:  # the group sits in one block, side by side
        (home,) = [b for b in bl.blocks if group[0] in b]
        assert set(group) <= set(home)
    at = {k: i for i, k in enumerate(kpis)}
    for a, b in itertools.product(range(len(bl.blocks)), repeat=2):
        vals = [(abs(r[at[p], at[q]]), r[at[p], at[q]]) for p in bl.blocks[a] for q in bl.blocks[b]
                if p != q and np.isfinite(r[at[p], at[q]])]
        if not vals:
            assert bl.strongest[a][b] is None
            continue
        assert bl.strongest[a][b] == pytest.approx(max(vals)[1], abs=1e-12)
        p, q = bl.pairs[a][b]
        assert r[at[p], at[q]] == pytest.approx(bl.strongest[a][b], abs=1e-12)


def test_the_pair_list_is_numpys_ranking_filtered_by_name():
    red, kpis, r = _red(120)
    corr = red["correlation"]
    ranked = cb.strongest_pairs(corr)
    rows, matched = cb.pair_rows(corr, ranked, "K7", shown=5)
    brute = sorted(((abs(r[i, j]), kpis[i], kpis[j], r[i, j]) for i, j in itertools.combinations(range(120), 2)
                    if np.isfinite(r[i, j]) and ("k7" in kpis[i] or "k7" in kpis[j])), reverse=True)
    assert matched == len(brute)
    assert [(a, b) for a, b, _v, _n in rows] == [(x[1], x[2]) for x in brute[:5]]
    assert [v for _a, _b, v, _n in rows] == pytest.approx([x[3] for x in brute[:5]])
    html = cb.pair_table(rows, matched, "K7", 120 * 119 // 2)
    assert html.count('data-key="pair-') == 5 and f"<b>{matched}</b> of 7140 pairs" in html


def test_the_overview_draws_one_cell_per_pair_of_blocks_and_the_detail_every_pair_of_two():
    red, kpis, r = _red(500)
    bl = cb.blocks_of(red)
    svg = cb.overview_svg(bl)
    assert svg.count('data-key="cell-') == len(bl.blocks) ** 2
    detail, rows, cols = cb.detail_svg(bl, red["correlation"], 0, 1)
    assert detail.count('data-key="cell-') == len(rows) * len(cols) <= bl.size ** 2
    assert len(svg) + len(detail) < 400_000  # where every pair's heatmap was 68 MB


def test_the_redundancy_view_of_a_large_system_answers_clicks_and_searches(tmp_path):
    """60 KPIs (bench_explorer's families: k0-k9 near copies): blocks, a block's KPIs, a cell, the pair list."""
    import sys

    from support import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_explorer import families

    import metricsense
    from metricsense.widgets.explorer import explore

    spec = families(60, tmp_path / "k60")
    off = ["metricsense.evaluators." + n for n in ("decoupling", "selection", "trust", "conversation", "noise", "distortion")]
    report = metricsense.check(spec, config={"select": ["MS0", "MS1"]}, disabled_plugins=off)
    ex = explore(report)
    view, model = ex.views["Redundancy"], ex.model
    assert view._blocks is not None and view.detail in view.children and view.pairs in view.children
    assert [sorted([c["keep"], *c["drop"]]) for c in model.clusters] == [sorted(f"k{i}" for i in range(10))]
    bl = view._blocks
    assert len(bl.blocks) <= cb.MAX_BLOCKS and set(bl.blocks[0]) >= {f"k{i}" for i in range(10)}
    assert view.picture.value.count('data-key="cell-') == len(bl.blocks) ** 2
    view.picture.selected = "cell-0-0"  # a block: its KPIs' matrix
    assert view.detail.value.count('data-key="cell-') == len(bl.blocks[0]) ** 2
    view.detail.selected = "cell-0-1"  # a cell of it: the pair's series
    assert model.pair == [bl.blocks[0][0], bl.blocks[0][1]]
    view.search.value = "k5"
    assert "matching “k5”" in view.pairs.value
    first = view._pair_rows[0]
    assert "k5" in first[0] or "k5" in first[1]
    view.pairs.selected = "pair-0"
    assert model.pair == [first[0], first[1]]
    # a new threshold redraws the groups; the snapshot holds the blocks, not every pair
    model.threshold = 0.6
    assert "at |r| ≥ 0.60" in view.clusters.value
    snap = ex.snapshot()
    assert snap.count('data-key="cell-') < 60 * 60
