"""The gain matrix and the RGA of a large system in the explorer: drawn in blocks of KPIs.

Every KPI x lever cell of a 500 x 50 gain matrix and of its RGA is 25,000 SVG cells each (about
a second of the kernel's time after every untick, most of the widgets' state). Above
``blocks.SMALL`` KPIs or levers the Decoupling tab draws each as the HTML report draws a large
matrix (``reports.blocks``: the same blocks and the same cells, each the block's entry of largest
magnitude), here over blocks of consecutive KPIs (at most ``BLOCKS`` of them) and, up to SMALL
levers, one column per lever, so that a lever's label stays its toggle:

- the overview: one cell per block of KPIs and lever (or block of levers), the entry of largest
  magnitude among the kept KPIs and levers, named on hover; in the RGA a block is framed when it
  holds a pair of the suggested pairing; the strongest entries listed under it;
- a click on a cell draws the block's KPIs whole below it (every lever up to DETAIL_MAX cells,
  else the cell's block of levers), each row and column label the same toggle as in a small system's picture
  (``kpi-I`` / ``lever-J``, indices into every KPI and lever), unticked ones greyed.

Both pictures are laid over every KPI and lever (the RGA's rows and columns of unticked ones
empty), so a block holds the same KPIs in both and after an untick. No widgets here: pure
functions of the model's gains and decoupling result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from metricsense.reports import blocks
from metricsense.reports.svg import esc, heatmap
from metricsense.widgets.corrblocks import MAX_BLOCKS

#: At most this many blocks of KPIs (as the correlation heatmap's blocks).
BLOCKS = MAX_BLOCKS
#: A block clicked is drawn with every lever up to this many cells (500 KPIs x 50 levers: 1,250).
DETAIL_MAX = 2_500

Full = tuple  # (KPIs, levers, gain matrix, KPIs kept, levers kept): the explorer's every KPI and lever


def is_large(full: Full) -> bool:
    return blocks.is_large(full[0], full[1])


def steps(full: Full) -> tuple[int, int]:
    """KPIs and levers per block."""
    return blocks.steps(len(full[0]), len(full[1]), BLOCKS, whole_small=True)


def off_of(full: Full) -> tuple[set[int], set[int]]:
    kpis, levers, _m, kpis_on, levers_on = full
    on_k, on_l = set(kpis_on), set(levers_on)
    return {i for i, k in enumerate(kpis) if k not in on_k}, {j for j, v in enumerate(levers) if v not in on_l}


def gain_array(full: Full) -> np.ndarray:
    """Every KPI x lever gain (NaN: none)."""
    kpis, levers, matrix = full[0], full[1], full[2]
    return np.array(matrix, dtype=float).reshape(len(kpis), len(levers))


def rga_array(d: dict, full: Full) -> np.ndarray:
    """The RGA of the kept KPIs and levers laid over every KPI and lever (NaN elsewhere)."""
    kpis, levers = full[0], full[1]
    out = np.full((len(kpis), len(levers)), np.nan)
    rga = d.get("rga")
    kept_k, kept_l = d.get("kpis") or [], d.get("levers") or []
    if rga is None or not kept_k or not kept_l:
        return out
    at_k, at_l = {k: i for i, k in enumerate(kpis)}, {v: j for j, v in enumerate(levers)}
    out[np.ix_([at_k[k] for k in kept_k], [at_l[v] for v in kept_l])] = np.array(rga, dtype=float).reshape(
        len(kept_k), len(kept_l))
    return out


def paired(d: dict, full: Full) -> set[tuple[int, int]]:
    """The suggested pairing's entries, (row, column) into every KPI and lever."""
    at_k, at_l = {k: i for i, k in enumerate(full[0])}, {v: j for j, v in enumerate(full[1])}
    return {(at_k[k], at_l[v]) for k, v in (d.get("suggested_pairing") or {}).items() if k in at_k and v in at_l}


def kept(a: np.ndarray, off: tuple[set[int], set[int]]) -> np.ndarray:
    """``a`` with the unticked KPIs' rows and levers' columns left out (NaN)."""
    out = a.copy()
    out[sorted(off[0]), :] = np.nan
    out[:, sorted(off[1])] = np.nan
    return out


def overview(a: np.ndarray, full: Full, *, title: str, marked: set[tuple[int, int]] = frozenset(),
             marked_as: str = "marked", tip: Callable[[str, bool, str], str] | None = None, **options: Any) -> str:
    """The blocks of ``a`` (every KPI x lever): each cell the block's kept entry of largest
    magnitude, named on hover, its key ``cell-A-B``; then the strongest kept entries listed. The
    labels of an axis not cut are toggles (``kpi-I``, ``lever-J``; ``tip`` as ``detail``'s)."""
    kpis, levers = full[0], full[1]
    off = off_of(full)
    br, bc = steps(full)
    live = kept(a, off)
    value, at_i, at_j = blocks.block_extremes(live, br, bc)
    grid = [[None if math.isnan(v) else float(v) for v in row] for row in value.tolist()]
    notes = [[f" (largest: {kpis[i]}{'' if bc == 1 else ' × ' + levers[j]})" if g is not None else ""
              for g, i, j in zip(row, ri, rj)] for row, ri, rj in zip(grid, at_i.tolist(), at_j.tolist())]
    rows, cols = blocks.spans(kpis, br), blocks.spans(levers, bc)
    # a block of KPIs is greyed when every one of them is unticked; a lever (not cut) when it is
    rows_off = {b for b in range(len(rows)) if all(i in off[0] for i in range(b * br, min((b + 1) * br, len(kpis))))}
    cols_off = {b for b in range(len(cols)) if all(j in off[1] for j in range(b * bc, min((b + 1) * bc, len(levers))))}
    # an axis not cut (at most SMALL): its labels are the toggles of a small system's picture
    keys = ([f"kpi-{i}" for i in range(len(kpis))] if br == 1 else None,
            [f"lever-{j}" for j in range(len(levers))] if bc == 1 else None)
    row_tips = ([tip(k, i not in off[0], "KPI") for i, k in enumerate(kpis)] if br == 1 and tip else
                [f"{r[1]}: click a cell of this row to draw these KPIs" for r in rows])
    col_tips = ([tip(v, j not in off[1], "lever") for j, v in enumerate(levers)] if bc == 1 and tip else
                [c[1] for c in cols])
    picture = heatmap(grid, [r[0] for r in rows], [c[0] for c in cols], title=f"{title} (in blocks)",
                      row_titles=row_tips, col_titles=col_tips, keys=True, notes=notes,
                      marked={(i // br, j // bc) for i, j in marked}, marked_as=marked_as,
                      label_keys=keys if keys != (None, None) else None, off=(rows_off, cols_off), **options)
    return picture + blocks.strongest_table(live, kpis, levers, False, options.get("blank_zero", False), set(marked),
                                            marked_as, ("KPI", "lever"), options.get("digits", 2))


def band(full: Full, a: int, b: int) -> tuple[range, range] | None:
    """The KPIs (rows) and levers (columns) that a click on the overview's cell (a, b) draws:
    the block's KPIs with every lever when that is at most DETAIL_MAX cells, else with the
    cell's block of levers."""
    br, bc = steps(full)
    n, m = len(full[0]), len(full[1])
    if not (0 <= a * br < n and 0 <= b * bc < m):
        return None
    rows = range(a * br, min((a + 1) * br, n))
    return rows, range(m) if _every_lever(full) else range(b * bc, min((b + 1) * bc, m))


def _every_lever(full: Full) -> bool:
    return steps(full)[0] * len(full[1]) <= DETAIL_MAX


def detail(a: np.ndarray, full: Full, rows: range, cols: range, *, title: str,
           tip: Callable[[str, bool, str], str] | None = None,
           marked: set[tuple[int, int]] = frozenset(), marked_as: str = "marked", **options: Any) -> str:
    """Every entry of ``a`` on the KPIs ``rows`` x the levers ``cols``, each label a toggle
    (``kpi-I``, ``lever-J``: indices into every KPI and lever), the unticked ones greyed; ``tip``:
    (name, kept, "KPI" or "lever") -> a label's hover text."""
    kpis, levers = full[0], full[1]
    off = off_of(full)
    sub = [[None if math.isnan(v) else float(v) for v in row] for row in a[np.ix_(rows, cols)].tolist()]
    return heatmap(sub, [kpis[i] for i in rows], [levers[j] for j in cols],
                   title=f"{title}: {kpis[rows[0]]}" + (f" … {kpis[rows[-1]]}" if len(rows) > 1 else ""),
                   row_titles=[tip(kpis[i], i not in off[0], "KPI") for i in rows] if tip else None,
                   col_titles=[tip(levers[j], j not in off[1], "lever") for j in cols] if tip else None,
                   label_keys=([f"kpi-{i}" for i in rows], [f"lever-{j}" for j in cols]),
                   off=({k for k, i in enumerate(rows) if i in off[0]}, {k for k, j in enumerate(cols) if j in off[1]}),
                   marked={(i - rows[0], j - cols[0]) for i, j in marked if i in rows and j in cols},
                   marked_as=marked_as, **options)


def said(full: Full, what: str) -> str:
    """The caption's words on the blocks: how they are drawn, and how to see a block."""
    br, bc = steps(full)
    n, m = len(full[0]), len(full[1])
    cut = f"blocks of {'1 KPI' if br == 1 else f'{br} KPIs'} × {'1 lever' if bc == 1 else f'{bc} levers'}"
    here = ("; as here, a click on a lever's label" if br > 1 and bc == 1 else
            "; as here, a click on a KPI's label" if br == 1 and bc > 1 else "")
    return (f"{n:,} KPIs × {m:,} levers: drawn in {cut}, each cell the block's {what} of largest magnitude "
            f"among the kept KPIs and levers (its {'KPI' if bc == 1 else 'KPI and lever'} on hover); the strongest "
            "are listed under it. Click a cell to draw the block's KPIs whole below"
            + (" with every lever" if _every_lever(full) else " with the cell's levers")
            + f": a click on a KPI or a lever there (or Tab to it and Enter) unticks or ticks it{here}.")


def prompt(kind: str) -> str:
    return f'<p class="muted">Click a cell of the {esc(kind)} above to draw its KPIs whole.</p>'
