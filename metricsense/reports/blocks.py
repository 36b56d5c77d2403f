"""A large matrix in the HTML report: drawn in blocks, with its strongest entries listed.

A heatmap draws a cell (a rectangle, its value and a tooltip: about 300 bytes) per entry: a
2,000-KPI correlation matrix is 4 million cells, almost 900 MB of HTML. Beyond ``SMALL`` rows or
columns the report draws the same heatmap over blocks of rows and columns instead (at most
``BLOCKS`` a side, each cell the block's entry of largest magnitude, so the colour scale and the
legend are those of the whole matrix) and lists the ``STRONGEST`` entries of largest magnitude in
a table. The whole grid is drawn on request (`msense check --analysis full`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from metricsense.reports.svg import esc, heatmap

#: Rows and columns up to which every cell is drawn.
SMALL = 60
#: At most this many blocks a side.
BLOCKS = 40
#: Entries listed under a matrix drawn in blocks.
STRONGEST = 20


def is_large(rows: Sequence[str], cols: Sequence[str]) -> bool:
    return len(rows) > SMALL or len(cols) > SMALL


def matrix_figure(matrix: Any, rows: Sequence[str], cols: Sequence[str], *, whole: bool, title: str,
                  symmetric: bool = False, marked: Collection[tuple[int, int]] = (), marked_as: str = "marked",
                  blank_zero: bool = False, row_titles: Sequence[str] | None = None,
                  col_titles: Sequence[str] | None = None, axes: tuple[str, str] = ("KPI", "lever"),
                  **options: Any) -> tuple[str, str]:
    """(the picture, a sentence for its caption): ``heatmap`` itself when ``whole`` or the matrix
    is small (the sentence empty), else the block heatmap and the table of its strongest entries.
    ``symmetric``: a correlation matrix, whose diagonal is left out and each pair listed once."""
    if whole or not is_large(rows, cols):
        return heatmap(matrix, rows, cols, title=title, marked=marked, marked_as=marked_as, blank_zero=blank_zero,
                       row_titles=row_titles, col_titles=col_titles, **options), ""
    import numpy as np

    a = np.array(matrix, dtype=float).reshape(len(rows), len(cols))  # None -> NaN
    if symmetric:
        np.fill_diagonal(a, np.nan)
    n, m = a.shape
    br, bc = steps(n, m)
    strongest, _, _ = block_extremes(a, br, bc)
    grid = [[None if math.isnan(v) else float(v) for v in row] for row in strongest.tolist()]
    row_spans, col_spans = spans(rows, br), spans(cols, bc)
    boxes = {(i // br, j // bc) for i, j in marked}
    picture = heatmap(grid, [s[0] for s in row_spans], [s[0] for s in col_spans], title=f"{title} (in blocks)",
                      marked=boxes, marked_as=marked_as, blank_zero=blank_zero,
                      row_titles=[s[1] for s in row_spans], col_titles=[s[1] for s in col_spans], **options)
    said = (f" Drawn in blocks of {br} × {bc}: each cell is the block's entry of largest magnitude"
            + (" (the diagonal left out)" if symmetric else "")
            + f"; the {STRONGEST} largest of the {n:,} × {m:,} entries are listed; the whole grid:"
            " `msense check --analysis full`.")
    return picture + strongest_table(a, rows, cols, symmetric, blank_zero, set(marked), marked_as, axes,
                                     options.get("digits", 2)), said


def steps(n: int, m: int, blocks: int = BLOCKS, whole_small: bool = False) -> tuple[int, int]:
    """Rows and columns per block: at most ``blocks`` blocks a side (``whole_small``: an axis of at
    most SMALL is not cut, one row or column a block)."""
    def step(k: int) -> int:
        return 1 if whole_small and k <= SMALL else max(1, math.ceil(k / blocks))
    return step(n), step(m)


def block_extremes(a: Any, br: int, bc: int) -> tuple[Any, Any, Any]:
    """Per block of ``br`` x ``bc`` entries of the array ``a`` (NaN: no entry): its entry of largest
    magnitude (NaN when it has none), and that entry's row and column in ``a``."""
    import numpy as np

    n, m = a.shape
    nr, nc = math.ceil(n / br), math.ceil(m / bc)
    padded = np.full((nr * br, nc * bc), np.nan)
    padded[:n, :m] = a
    cells = padded.reshape(nr, br, nc, bc).transpose(0, 2, 1, 3).reshape(nr, nc, br * bc)
    size = np.where(np.isnan(cells), -1.0, np.abs(cells))
    pick = size.argmax(axis=2)
    strongest = np.take_along_axis(cells, pick[..., None], axis=2)[..., 0]
    i = np.arange(nr)[:, None] * br + pick // bc
    j = np.arange(nc)[None, :] * bc + pick % bc
    return strongest, i, j


def spans(names: Sequence[str], step: int) -> list[tuple[str, str]]:
    """Per block of ``step`` names: (short label, hover text): the first and the last name."""
    out = []
    for k in range(math.ceil(len(names) / step)):
        first, last = names[k * step], names[min((k + 1) * step, len(names)) - 1]
        out.append((first, first) if first == last else (f"{first}…{last}", f"{first} … {last}"))
    return out


def strongest_table(a: Any, rows: Sequence[str], cols: Sequence[str], symmetric: bool, blank_zero: bool,
               marked: set[tuple[int, int]], marked_as: str, axes: tuple[str, str], digits: int) -> str:
    import numpy as np

    size = np.abs(a)
    keep = np.isfinite(size)
    if symmetric:
        keep &= np.triu(np.ones(a.shape, dtype=bool), 1)
    if blank_zero:
        keep &= size > 0
    flat = np.flatnonzero(keep)
    if flat.size > STRONGEST:
        flat = flat[np.argpartition(-size.ravel()[flat], STRONGEST - 1)[:STRONGEST]]
    flat = flat[np.argsort(-size.ravel()[flat], kind="stable")]
    body = []
    for i, j in zip(*np.unravel_index(flat, a.shape)):
        note = f" ({marked_as})" if (int(i), int(j)) in marked else ""
        body.append(f"<tr><td><code>{esc(rows[i])}</code></td><td><code>{esc(cols[j])}</code></td>"
                    f"<td>{a[i, j]:.{digits}f}{esc(note)}</td></tr>")
    return (f'<table class="strongest"><thead><tr><th>{esc(axes[0])}</th><th>{esc(axes[1])}</th><th>value</th></tr>'
            "</thead><tbody>" + "".join(body) + "</tbody></table>")
