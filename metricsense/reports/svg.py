"""Small inline-SVG pictures for the HTML report: no JavaScript, no external files.

Every text that may come from a spec goes through `esc` (html.escape, quotes included).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from html import escape

from metricsense.encoding import printable


def esc(text: object) -> str:
    """Text for HTML and SVG: markup escaped, and control and bidi-override characters written as
    visible escapes (a BEL or U+202E in a group name must not reach the page raw)."""
    return printable(escape(str(text), quote=True), keep="\n\t")


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def diverging(value: float, limit: float) -> str:
    """Blue (negative) through white to red (positive); grey for a missing value."""
    if not _is_number(value):
        return "#d9d9d9"
    t = max(-1.0, min(1.0, value / limit)) if limit > 0 else 0.0
    if t >= 0:
        r, g, b = 255, int(255 - 175 * t), int(255 - 185 * t)
    else:
        t = -t
        r, g, b = int(255 - 200 * t), int(255 - 120 * t), 255
    return f"#{r:02x}{g:02x}{b:02x}"


def _short(label: str, n: int = 22) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def heatmap(matrix: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str], *,
            title: str, limit: float | None = None, digits: int = 2, row_titles: Sequence[str] | None = None,
            col_titles: Sequence[str] | None = None, blank_zero: bool = False,
            marked: Collection[tuple[int, int]] = (), marked_as: str = "marked", legend: bool = True,
            keys: bool = False, notes: Sequence[Sequence[str]] | None = None,
            label_keys: tuple[Sequence[str], Sequence[str]] | None = None,
            off: tuple[Collection[int], Collection[int]] = ((), ())) -> str:
    """A labelled matrix of coloured cells (diverging around 0), the value written in each cell and
    said on hover; ``marked`` cells (row, column) framed; a colour legend under it. ``keys``: each
    cell carries ``data-key="cell-ROW-COL"`` (the explorer tells which was clicked); ``notes``: per
    cell, words added to what its hover says; ``label_keys`` (row keys, column keys): each row and
    column label is a focusable toggle button with that key (``None`` for one axis: its labels are
    plain), and the rows and columns in ``off`` are greyed (the explorer's unticked KPIs and levers)."""
    cell = 44 if len(cols) <= 6 else 36 if len(cols) <= 12 else 28
    left = 8 + 7 * max((len(_short(r)) for r in rows), default=4)
    longest = max((len(_short(c)) for c in cols), default=4)
    top = 8 + 5 * longest
    # Rotated column labels lean right: leave room for the last one.
    width, height = left + cell * len(cols) + 10 + 4 * longest, top + cell * len(rows) + 10
    values = [v for row in matrix for v in row if _is_number(v)]
    if limit is None:
        limit = max((abs(v) for v in values), default=1.0) or 1.0
    marked = set(marked)
    if legend:
        height += LEGEND_HEIGHT
        width = max(width, left + LEGEND_WIDTH)
    out = [f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>']
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        tip = (col_titles[j] if col_titles else c)
        out.append(f'<text class="col{_toggle(label_keys, 1, j, off)}" x="{_num(x)}" y="{top - 6}" '
                   f'transform="rotate(-50 {_num(x)} {top - 6})"><title>{esc(tip)}</title>{esc(_short(c))}</text>')
    for i, r in enumerate(rows):
        y = top + i * cell + cell / 2
        tip = (row_titles[i] if row_titles else r)
        out.append(f'<text class="row{_toggle(label_keys, 0, i, off)}" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">'
                   f'<title>{esc(tip)}</title>{esc(_short(r))}</text>')
        for j, _c in enumerate(cols):
            v = matrix[i][j]
            x = left + j * cell
            empty = not _is_number(v) or (blank_zero and v == 0)
            fill = "#f4f4f4" if (empty and _is_number(v)) or i in off[0] or j in off[1] else diverging(v, limit)
            shown = "" if empty else f"{v:.{digits}f}"
            if shown.startswith("-") and not shown.strip("-0."):
                shown = shown[1:]  # no "-0.00"
            note = f" ({marked_as})" if (i, j) in marked else ""
            if notes is not None:
                note += notes[i][j]
            key = f' data-key="cell-{i}-{j}"' if keys else ""
            out.append(f'<rect class="cell" x="{x}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" fill="{fill}"{key}>'
                       f'<title>{esc(r)} × {esc(cols[j])}: {esc(shown or "none")}{esc(note)}</title></rect>')
            if shown:
                size = 11 if cell >= 40 else 8
                out.append(f'<text class="val" x="{_num(x + (cell - 2) / 2)}" y="{_num(top + i * cell + cell / 2 + 3)}" '
                           f'text-anchor="middle" font-size="{size}" pointer-events="none">{esc(shown)}</text>')
            if (i, j) in marked:
                out.append(f'<rect class="marked" x="{x + 1}" y="{top + i * cell + 1}" width="{cell - 4}" '
                           f'height="{cell - 4}" fill="none" stroke="#111" stroke-width="2.5" pointer-events="none"/>')
    if legend:
        out.append(_legend(left, top + cell * len(rows) + 8, limit, digits, marked_as if marked else None))
    out.append("</svg>")
    return "".join(out)


def _toggle(label_keys, axis: int, k: int, off) -> str:
    """What follows a label's class name inside its class attribute: for a toggle, the attribute
    is closed and the button's attributes follow (the caller writes the last quote)."""
    if label_keys is None or label_keys[axis] is None:
        return ""
    on = k not in off[axis]
    grey = "" if on else ' fill="#9e9e9e" text-decoration="line-through'
    return (f'{"" if on else " off"}" data-key="{esc(label_keys[axis][k])}" tabindex="0" role="button" '
            f'aria-pressed="{"true" if on else "false"}' + (f'"{grey}' if grey else ""))


#: The colour legend under a heatmap: LEGEND_STEPS swatches from -limit to +limit.
LEGEND_STEPS, LEGEND_WIDTH, LEGEND_HEIGHT = 11, 300, 34


def _legend(x0: float, y0: float, limit: float, digits: int, marked_as: str | None) -> str:
    step = 14
    out = ['<g class="legend" pointer-events="none">']
    for k in range(LEGEND_STEPS):
        v = -limit + 2 * limit * k / (LEGEND_STEPS - 1)
        out.append(f'<rect class="legend" x="{_num(x0 + k * step)}" y="{_num(y0)}" width="{step}" height="10" '
                   f'fill="{diverging(v, limit)}"/>')
    end = x0 + LEGEND_STEPS * step
    out.append(f'<text class="legend" x="{_num(x0)}" y="{_num(y0 + 22)}" font-size="10">{esc(f"{-limit:.{digits}g}")}</text>'
               f'<text class="legend" x="{_num(x0 + LEGEND_STEPS * step / 2)}" y="{_num(y0 + 22)}" font-size="10" '
               f'text-anchor="middle">0</text>'
               f'<text class="legend" x="{_num(end)}" y="{_num(y0 + 22)}" font-size="10" text-anchor="end">'
               f'{esc(f"+{limit:.{digits}g}")}</text>')
    x = end + 10
    out.append(f'<rect class="legend" x="{_num(x)}" y="{_num(y0)}" width="10" height="10" fill="#d9d9d9"/>'
               f'<text class="legend" x="{_num(x + 14)}" y="{_num(y0 + 9)}" font-size="10">none</text>')
    if marked_as:
        x += 50
        out.append(f'<rect class="legend" x="{_num(x)}" y="{_num(y0)}" width="10" height="10" fill="none" stroke="#111" '
                   f'stroke-width="2"/><text class="legend" x="{_num(x + 14)}" y="{_num(y0 + 9)}" font-size="10">'
                   f"{esc(marked_as)}</text>")
    out.append("</g>")
    return "".join(out)


def line_chart(periods: Sequence[str], values: Sequence[float | None], *, title: str,
               target: float | None = None, fired: Sequence[str] = (), width: int = 560, height: int = 180) -> str:
    """A series over its periods, its target as a dashed line, shaded bands where triggers fired."""
    left, right, top, bottom = 48, 12, 12, 28
    pw, ph = width - left - right, height - top - bottom
    ys = [v for v in values if _is_number(v)]
    if target is not None and _is_number(target):
        ys.append(target)
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    n = max(len(periods), 1)

    def px(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    def py(v: float) -> float:
        return top + ph * (1 - (v - lo) / (hi - lo))

    out = [f'<svg class="series" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    fired_set = set(map(str, fired))
    step = pw / (n - 1) if n > 1 else pw
    for i, p in enumerate(periods):
        if str(p) in fired_set:
            x = max(left, px(i) - step / 2)
            w = min(step, left + pw - x)
            out.append(f'<rect class="fired" x="{_num(x)}" y="{top}" width="{_num(w)}" height="{ph}" '
                       f'fill="#f6b26b" fill-opacity="0.45"><title>trigger fired: {esc(p)}</title></rect>')
    for v in (lo + pad, hi - pad):
        out.append(f'<text x="{left - 4}" y="{_num(py(v) + 4)}" text-anchor="end" font-size="10">{esc(f"{v:.3g}")}</text>')
    if periods:
        out.append(f'<text x="{left}" y="{height - 8}" font-size="10">{esc(periods[0])}</text>')
        out.append(f'<text x="{left + pw}" y="{height - 8}" font-size="10" text-anchor="end">{esc(periods[-1])}</text>')
    if target is not None and _is_number(target):
        y = py(target)
        out.append(f'<line class="target" x1="{left}" x2="{left + pw}" y1="{_num(y)}" y2="{_num(y)}" '
                   f'stroke="#2e7d32" stroke-dasharray="6 4" stroke-width="1.5"><title>target {esc(target)}</title></line>')
    segments, current = [], []
    for i, v in enumerate(values):
        if _is_number(v):
            current.append(f"{_num(px(i))},{_num(py(v))}")
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    for seg in segments:
        if len(seg) == 1:
            x, y = seg[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="#1f4e79"/>')
        else:
            out.append(f'<polyline fill="none" stroke="#1f4e79" stroke-width="1.8" points="{" ".join(seg)}"/>')
    out.append("</svg>")
    return "".join(out)


def gap_bars(groups: Sequence[dict], *, title: str, threshold: float | None = None, scale: tuple | None = None,
             width: int = 560, keys: Sequence[str] | None = None) -> str:
    """Per group: the managers' and the team's mean answer, and the gap between them; a legend
    above. ``keys``: each group's row is a focusable button with that ``data-key`` (the explorer)."""
    row = 30
    left, top = 150, 24
    height = top + row * len(groups) + 24
    lo, hi = scale if scale else (0, max((max(g.get("managers") or 0, g.get("team") or 0) for g in groups), default=1))
    pw = width - left - 20

    def px(v: float) -> float:
        return left + pw * (v - lo) / ((hi - lo) or 1)

    out = [f'<svg class="trust" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
           f'<circle cx="{left}" cy="10" r="5" fill="#1f4e79"/><text x="{left + 8}" y="14" font-size="11">managers</text>',
           f'<circle cx="{left + 90}" cy="10" r="5" fill="#e69138"/><text x="{left + 98}" y="14" font-size="11">team</text>',
           f'<line x1="{left + 150}" x2="{left + 170}" y1="10" y2="10" stroke="#999" stroke-width="2"/>'
           f'<text x="{left + 175}" y="14" font-size="11">gap</text>']
    if threshold is not None:
        out.append(f'<line x1="{left + 210}" x2="{left + 230}" y1="10" y2="10" stroke="#c62828" stroke-width="4"/>'
                   f'<text x="{left + 235}" y="14" font-size="11">gap over {esc(f"{threshold:g}")}</text>')
    for i, g in enumerate(groups):
        y = top + i * row + row / 2
        m, t = g.get("managers"), g.get("team")
        gap = g.get("gap", (m - t) if _is_number(m) and _is_number(t) else None)
        wide = threshold is not None and _is_number(gap) and abs(gap) > threshold
        if keys is not None:
            said = (f"{g.get('group', '')}: managers {m:.2f}, team {t:.2f}, gap {gap:+.2f}"
                    if _is_number(m) and _is_number(t) and _is_number(gap) else str(g.get("group", "")))
            out.append(f'<g class="group" data-key="{esc(keys[i])}" tabindex="0" role="button"><title>{esc(said)}</title>'
                       f'<rect x="4" y="{_num(y - row / 2 + 1)}" width="{width - 8}" height="{row - 2}" rx="3" fill="#ffffff" '
                       'fill-opacity="0" stroke="none"/>')
        out.append(f'<text x="{left - 8}" y="{_num(y + 4)}" text-anchor="end" font-size="11">{esc(_short(str(g.get("group", "")), 24))}</text>')
        if _is_number(m) and _is_number(t):
            out.append(f'<line x1="{_num(px(m))}" x2="{_num(px(t))}" y1="{_num(y)}" y2="{_num(y)}" '
                       f'stroke="{"#c62828" if wide else "#999"}" stroke-width="{4 if wide else 2}">'
                       f'<title>gap {esc(f"{gap:.2f}" if _is_number(gap) else gap)}</title></line>')
        for v, colour in ((m, "#1f4e79"), (t, "#e69138")):
            if _is_number(v):
                out.append(f'<circle cx="{_num(px(v))}" cy="{_num(y)}" r="6" fill="{colour}"><title>{esc(f"{v:.2f}")}</title></circle>')
        if keys is not None:
            out.append("</g>")
    for v in (lo, hi):
        out.append(f'<text x="{_num(px(v))}" y="{height - 6}" font-size="10" text-anchor="middle">{esc(v)}</text>')
    out.append("</svg>")
    return "".join(out)
