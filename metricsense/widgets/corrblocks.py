"""The correlation heatmap of a large KPI system: blocks with drill-down, and a searchable pair list.

A heatmap of every pair is what a reader wants for a few dozen KPIs; at 500 it is 250,000 cells
(68 MB of SVG, seconds to draw in Python and in the page) that no one can read. Above
``FULL_MAX`` KPIs the explorer shows instead:

- the KPIs in at most MAX_BLOCKS blocks of ``ceil(n / MAX_BLOCKS)`` or more (as many as the
  largest redundant group at the threshold, up to FULL_MAX), side by side: the groups first, each
  inside one block (one of at most FULL_MAX KPIs), then the other KPIs chained so that each one
  follows the KPI it correlates with most; one cell per pair of blocks holds the strongest
  correlation between them (signed, with its two KPIs named on hover);
- a click on a block cell: the full matrix of the two blocks' KPIs (at most ``size`` x ``size``);
- the strongest pairs of the kept KPIs, strongest first, filtered by a search on the KPIs' names.

The whole matrix stays in Python: the page gets at most MAX_BLOCKS² + size² cells and a table of
PAIRS_SHOWN rows. No widgets here: pure functions of ``whatif.redundancy``'s result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metricsense.reports.svg import esc, heatmap

#: At most this many KPIs: the heatmap of every pair (as the HTML report draws it).
FULL_MAX = 40
#: Above FULL_MAX: at most this many blocks a side.
MAX_BLOCKS = 20
#: Rows of the pair list.
PAIRS_SHOWN = 12


@dataclass
class Blocks:
    """The kept KPIs in heatmap order, cut into blocks; per pair of blocks the strongest pair."""

    order: list[str]
    blocks: list[list[str]]
    strongest: list[list[float | None]]  # signed r of the strongest pair, per pair of blocks
    pairs: list[list[tuple[str, str] | None]]
    index: dict[str, int] = field(default_factory=dict)  # KPI -> row of the correlation matrix

    @property
    def size(self) -> int:
        return max((len(b) for b in self.blocks), default=0)


def matrix_of(corr: dict) -> np.ndarray:
    return np.asarray(corr["matrix"], dtype=float).reshape(len(corr["kpis"]), len(corr["kpis"]))


def chain(names: list[str], m: np.ndarray, index: dict[str, int]) -> list[str]:
    """``names`` reordered so that each follows the one it correlates with most (greedy chain from
    the KPI with the strongest pair): correlated KPIs end up side by side, hence in one block."""
    if len(names) <= 2:
        return list(names)
    idx = np.array([index[n] for n in names])
    a = np.abs(m[np.ix_(idx, idx)])
    a[~np.isfinite(a)] = 0.0
    np.fill_diagonal(a, -1.0)
    left = np.ones(len(names), dtype=bool)
    at = int(np.argmax(a.max(axis=1)))
    out = []
    while True:
        out.append(at)
        left[at] = False
        if not left.any():
            break
        row = np.where(left, a[at], -2.0)
        at = int(np.argmax(row))
    return [names[i] for i in out]


def blocks_of(red: dict, max_blocks: int = MAX_BLOCKS) -> Blocks:
    """The blocks of a ``whatif.redundancy`` result (its kept KPIs and their correlation)."""
    corr = red.get("correlation") or {}
    kpis = list(corr.get("kpis") or [])
    index = {n: i for i, n in enumerate(kpis)}
    m = matrix_of(corr) if kpis else np.zeros((0, 0))
    groups = [[n for n in [c["keep"], *c["drop"]] if n in index] for c in red.get("clusters") or []]
    grouped = {n for g in groups for n in g}
    rest = chain([n for n in kpis if n not in grouped], m, index)
    # blocks of n / max_blocks KPIs, or of the largest group when that is more (up to FULL_MAX)
    size = max(1, math.ceil(len(kpis) / max_blocks), min(max((len(g) for g in groups), default=0), FULL_MAX))
    units = [*(g for g in groups if g), *([n] for n in rest)]
    blocks = _pack(units, size)
    while len(blocks) > max_blocks:  # the groups left gaps: a little larger blocks
        size += 1
        blocks = _pack(units, size)
    ids = [np.array([index[n] for n in b]) for b in blocks]
    strongest: list[list[float | None]] = []
    pairs: list[list[tuple[str, str] | None]] = []
    for a, ia in enumerate(ids):
        row_r, row_p = [], []
        for b, ib in enumerate(ids):
            sub = np.abs(m[np.ix_(ia, ib)])
            sub[~np.isfinite(sub)] = -1.0
            if a == b:
                np.fill_diagonal(sub, -1.0)
            k = int(np.argmax(sub)) if sub.size else 0
            if not sub.size or sub.flat[k] < 0:
                row_r.append(None)
                row_p.append(None)
                continue
            i, j = divmod(k, len(ib))
            row_r.append(float(m[ia[i], ib[j]]))
            row_p.append((blocks[a][i], blocks[b][j]))
        strongest.append(row_r)
        pairs.append(row_p)
    order = [n for b in blocks for n in b]
    return Blocks(order, blocks, strongest, pairs, index)


def _pack(units: list[list[str]], size: int) -> list[list[str]]:
    """Units (a group, or one KPI) in blocks of at most ``size``, a group in one block when it fits."""
    blocks: list[list[str]] = []
    for unit in units:
        if blocks and len(blocks[-1]) + len(unit) <= size:
            blocks[-1].extend(unit)
            continue
        while len(unit) > size:  # a group larger than a block spans several
            blocks.append(unit[:size])
            unit = unit[size:]
        if unit:
            blocks.append(list(unit))
    return blocks


def block_label(block: list[str]) -> str:
    return block[0] if len(block) == 1 else f"{block[0]} +{len(block) - 1}"


def overview_svg(bl: Blocks) -> str:
    """One cell per pair of blocks: the strongest correlation between them, its KPIs on hover."""
    labels = [block_label(b) for b in bl.blocks]
    titles = [", ".join(b[:6]) + (f", … ({len(b)} KPIs)" if len(b) > 6 else "") for b in bl.blocks]
    notes = [[f" (strongest pair: {p[0]} × {p[1]})" if p else "" for p in row] for row in bl.pairs]
    return heatmap(bl.strongest, labels, labels, title="KPI correlation by block: the strongest pair of each",
                   limit=1.0, keys=True, row_titles=titles, col_titles=titles, notes=notes)


def detail_svg(bl: Blocks, corr: dict, a: int, b: int) -> tuple[str, list[str], list[str]]:
    """The full matrix of blocks ``a`` (rows) and ``b`` (columns): (SVG, rows, columns)."""
    rows, cols = bl.blocks[a], bl.blocks[b]
    m = matrix_of(corr)
    sub = [[_value(m[bl.index[r], bl.index[c]]) for c in cols] for r in rows]
    return (heatmap(sub, rows, cols, title=f"KPI correlation: {block_label(rows)} × {block_label(cols)}",
                    limit=1.0, keys=True), rows, cols)


def _value(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def strongest_pairs(corr: dict, floor: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, r) of every pair i < j with |r| >= floor, strongest first."""
    m = matrix_of(corr)
    i, j = np.triu_indices(len(m), k=1)
    r = m[i, j]
    keep = np.isfinite(r) & (np.abs(r) >= floor)
    i, j, r = i[keep], j[keep], r[keep]
    by = np.argsort(-np.abs(r), kind="stable")
    return i[by], j[by], r[by]


def pair_rows(corr: dict, ranked: tuple[np.ndarray, np.ndarray, np.ndarray], query: str,
              shown: int = PAIRS_SHOWN) -> tuple[list[tuple[str, str, float, Any]], int]:
    """The ``shown`` strongest pairs with a KPI whose name holds ``query`` (any case): (rows, how many match)."""
    kpis = list(corr["kpis"])
    i, j, r = ranked
    q = query.strip().lower()
    if q:
        hit = np.array([q in n.lower() for n in kpis], dtype=bool)
        sel = hit[i] | hit[j] if len(i) else np.zeros(0, dtype=bool)
        i, j, r = i[sel], j[sel], r[sel]
    ns = corr.get("n")
    rows = [(kpis[a], kpis[b], float(v), ns[a][b] if ns else None) for a, b, v in zip(i[:shown], j[:shown], r[:shown])]
    return rows, int(len(i))


def pair_table(rows: list[tuple[str, str, float, Any]], matched: int, query: str, total: int) -> str:
    """The pair list as a table whose rows answer a click (``data-key="pair-<row>"``)."""
    said = f" with a KPI matching “{esc(query.strip())}”" if query.strip() else ""
    head = (f'<p class="pairs-said"><b>{matched}</b> of {total} pairs{said}; the '
            f"{min(len(rows), matched)} strongest (click one for the two series):</p>")
    if not rows:
        return head
    body = "".join(f'<tr data-key="pair-{k}"><td><code>{esc(a)}</code></td><td><code>{esc(b)}</code></td>'
                   f'<td class="r">{v:+.2f}</td><td>{esc(n if n is not None else "")}</td></tr>'
                   for k, (a, b, v, n) in enumerate(rows))
    return (head + '<table class="pairs"><thead><tr><th>KPI</th><th>KPI</th><th>r</th><th>n</th></tr></thead>'
            f"<tbody>{body}</tbody></table>")
