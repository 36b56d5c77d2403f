"""Two KPIs side by side: the series their correlation was computed on, for a click on a heatmap cell.

``pair_series`` takes the pair as the correlation evaluator reads it (``DataSet.changes`` or
``aligned`` of the two, on the coarser calendar of the pair), with each row's period named;
``pair_svg`` draws them in two panels over one time axis, each point's value said on hover. No
widgets here (the explorer's Redundancy view and the tests share them).
"""

from __future__ import annotations

import math
from typing import Any

from metricsense.reports.svg import esc


def _labels(data, names: list[str], rows: int) -> list[str]:
    """The period of each row of ``data.aligned(names)``: the first period read into it."""
    import numpy as np

    from metricsense.data import periods as P

    labels = [""] * rows
    units = [data.unit_of(n) for n in names]
    calendar = [u for u in units if u in P.UNITS]
    if not calendar or rows == 0:
        return labels
    unit = P.coarsest(calendar)
    raw = data.matrix(names)
    observed = ~np.isnan(raw).all(axis=1)
    if not observed.any():
        return labels
    steps = P.step_of(P.bucket(data.periods, unit), unit)
    lo = int(steps[observed].min())
    for p in np.flatnonzero(observed):
        row = int(steps[p]) - lo
        if 0 <= row < rows and not labels[row]:
            labels[row] = data.label(int(p))
    return labels


def pair_series(data, a: str, b: str, basis: str = "changes") -> dict[str, Any] | None:
    """{a, b, basis, periods, values: {a: [...], b: [...]}, shared}: the two series on the pair's
    calendar (None where a value is missing), as the correlation evaluator compares them."""
    import numpy as np

    if data is None or a not in data or b not in data:
        return None
    names = [a] if a == b else [a, b]
    x = data.changes(names) if basis == "changes" else data.aligned(names)[0]
    labels = _labels(data, names, len(x))
    cols = [x[:, 0], x[:, 0]] if a == b else [x[:, 0], x[:, 1]]
    both = ~np.isnan(cols[0]) & ~np.isnan(cols[1])
    as_list = [[None if math.isnan(v) else float(v) for v in c] for c in cols]
    return {"a": a, "b": b, "basis": basis, "periods": labels, "values": {a: as_list[0], b: as_list[1]},
            "shared": int(both.sum())}


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def pair_svg(pair: dict[str, Any], r: float | None = None, width: int = 620, panel: int = 120) -> str:
    """Two panels over one time axis: ``a`` above, ``b`` below; each point's value on hover, the
    zero line of a change series, and the correlation in the title."""
    a, b = pair["a"], pair["b"]
    periods = pair["periods"]
    left, right, top, gap = 56, 12, 26, 22
    height = top + 2 * panel + gap + 26
    n = max(len(periods), 1)
    pw = width - left - right

    def px(i: int) -> float:
        return left + (pw * i / (n - 1) if n > 1 else pw / 2)

    said = f"r = {r:.2f}" if r is not None and math.isfinite(r) else "r not computed"
    what = "changes" if pair["basis"] == "changes" else "levels"
    title = f"{a} and {b}: {what} per period; {said} over {pair['shared']} shared {what}"
    out = [f'<svg class="pair" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="max-width:100%;height:auto"><title>{esc(title)}</title>',
           f'<text class="pair-title" x="{left}" y="16" font-size="12" font-weight="600">{esc(title)}</text>']
    for k, (name, colour) in enumerate(((a, "#1f4e79"), (b, "#e65100"))):
        y0 = top + k * (panel + gap)
        values = pair["values"][name]
        ys = [v for v in values if v is not None]
        lo, hi = (min(ys), max(ys)) if ys else (-1.0, 1.0)
        if what == "changes":
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad

        def py(v: float, y0: float = y0, lo: float = lo, hi: float = hi) -> float:
            return y0 + panel * (1 - (v - lo) / (hi - lo))

        out.append(f'<g class="panel" data-kpi="{esc(name)}"><rect x="{left}" y="{y0}" width="{pw}" height="{panel}" '
                   f'fill="#fafafa" stroke="#ccc"/>')
        out.append(f'<text x="{left + 6}" y="{y0 + 13}" font-size="11" fill="{colour}" font-weight="600">{esc(name)}</text>')
        for v in (lo + pad, hi - pad):
            out.append(f'<text x="{left - 4}" y="{_n(py(v) + 4)}" text-anchor="end" font-size="10">{esc(f"{v:.3g}")}</text>')
        if what == "changes":
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{_n(py(0.0))}" y2="{_n(py(0.0))}" stroke="#999" '
                       f'stroke-dasharray="3 3"/>')
        run: list[str] = []
        lines = []
        for i, v in enumerate(values):
            if v is None:
                if len(run) > 1:
                    lines.append(run)
                run = []
                continue
            run.append(f"{_n(px(i))},{_n(py(v))}")
        if len(run) > 1:
            lines.append(run)
        out += [f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(seg)}"/>' for seg in lines]
        for i, v in enumerate(values):
            if v is not None:
                out.append(f'<circle class="point" cx="{_n(px(i))}" cy="{_n(py(v))}" r="2.6" fill="{colour}">'
                           f"<title>{esc(name)} {esc(periods[i] or f'row {i + 1}')}: {esc(f'{v:+.4g}' if what == 'changes' else f'{v:.4g}')}"
                           "</title></circle>")
        out.append("</g>")
    first = next((p for p in periods if p), "")
    last = next((p for p in reversed(periods) if p), "")
    out.append(f'<text x="{left}" y="{height - 8}" font-size="10">{esc(first)}</text>'
               f'<text x="{left + pw}" y="{height - 8}" font-size="10" text-anchor="end">{esc(last)}</text></svg>')
    return "".join(out)
