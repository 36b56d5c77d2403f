"""One KPI's series as the explorer draws it: target, noise band, trigger firings, zoomable.

``series_svg`` draws the series over its periods in an inner ``<svg class="plot">`` whose
``viewBox`` spans the periods shown, in period units: the front end (``ClickSVG``'s script)
zooms by changing that one attribute and the two period labels of the time axis, with no kernel
round trip. Each period is a transparent column (``rect.hit``) whose hover text says the period,
the value, the target and whether a trigger fired; lines keep their width at any zoom
(``vector-effect: non-scaling-stroke``) and points are round caps of zero-length lines, so they
stay round. The noise band is today's level plus and minus the KPI's usual move over one review
period (the spread MS301 judges the target by; one period's noise, 1.4826 x the MAD of the
changes, where no review cadence is known): a target inside the band is within the KPI's noise.
``zoomed`` applies a window to the drawn SVG (the snapshot: the chart as last shown). No widgets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from metricsense.reports.svg import _is_number, esc

BLUE, GREEN, ORANGE, BAND = "#1f4e79", "#2e7d32", "#f6b26b", "#9fc5e8"
WIDTH, LEFT, RIGHT, TOP, PLOT = 640, 56, 14, 12, 170


def _n(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _g(v: float) -> str:
    return f"{v:.4g}"


def band_of(noise: Any) -> dict[str, Any] | None:
    """{level, half, what} of a KpiNoise record: today's level ± the spread (or one period's noise)."""
    if noise is None or not _is_number(getattr(noise, "level", None)):
        return None
    if _is_number(noise.spread) and noise.spread > 0:
        h = noise.horizon or 1
        return {"level": noise.level, "half": noise.spread,
                "what": f"today's level ± its usual move over {h} period{'s' if h != 1 else ''}"}
    if _is_number(noise.noise) and noise.noise > 0:
        return {"level": noise.level, "half": noise.noise, "what": "today's level ± one period's noise"}
    return None


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, f in enumerate([*flags, False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    return out


def series_svg(name: str, periods: Sequence[str], values: Sequence[float | None], *, target: float | None = None,
               fired: Sequence[str] = (), band: dict[str, Any] | None = None, label: str = "") -> str:
    """The chart, the range line and the zoom buttons (HTML); every text escaped."""
    periods = [str(p) for p in periods]
    n = max(len(periods), 1)
    pw = WIDTH - LEFT - RIGHT
    ys = [v for v in values if _is_number(v)]
    if _is_number(target):
        ys.append(target)
    if band:
        ys += [band["level"] - band["half"], band["level"] + band["half"]]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def py(v: float) -> float:
        return PLOT * (1 - (v - lo) / (hi - lo))

    legend_y = TOP + PLOT + 30
    height = legend_y + 22
    title = f"{name}: {label}" if label and label != name else name
    out = [f'<svg class="series zoomable" data-n="{len(periods)}" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" style="max-width:100%;height:auto">'
           f"<title>{esc(title)}</title>",
           f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{PLOT}" fill="#fafafa" stroke="#ccc"/>']
    for v in (lo + pad, hi - pad):
        out.append(f'<text x="{LEFT - 4}" y="{_n(TOP + py(v) + 4)}" text-anchor="end" font-size="10">{esc(_g(v))}</text>')
    out.append(f'<svg class="plot" x="{LEFT}" y="{TOP}" width="{pw}" height="{PLOT}" viewBox="-0.5 0 {n} {PLOT}" '
               'preserveAspectRatio="none">')
    if band:
        top, bottom = py(band["level"] + band["half"]), py(band["level"] - band["half"])
        out.append(f'<rect class="band" x="-0.5" y="{_n(top)}" width="{n}" height="{_n(bottom - top)}" fill="{BAND}" '
                   f'fill-opacity="0.45"><title>noise band: {esc(_g(band["level"]))} ± {esc(_g(band["half"]))} '
                   f"({esc(band['what'])})</title></rect>")
    fired_set = set(map(str, fired))
    for a, b in _runs([p in fired_set for p in periods]):
        said = periods[a] if a == b else f"{periods[a]} – {periods[b]}"
        out.append(f'<rect class="fired" x="{a - 0.5}" y="0" width="{b - a + 1}" height="{PLOT}" fill="{ORANGE}" '
                   f'fill-opacity="0.5"><title>trigger fired: {esc(said)}</title></rect>')
    if _is_number(target):
        out.append(f'<line class="target" x1="-0.5" x2="{n - 0.5}" y1="{_n(py(target))}" y2="{_n(py(target))}" '
                   f'stroke="{GREEN}" stroke-dasharray="6 4" stroke-width="1.5" vector-effect="non-scaling-stroke">'
                   f"<title>target {esc(_g(target))}</title></line>")
    run: list[str] = []
    for i, v in enumerate([*values, None]):
        if _is_number(v):
            run.append(f"{i},{_n(py(v))}")
            continue
        if len(run) > 1:
            out.append(f'<polyline class="line" fill="none" stroke="{BLUE}" stroke-width="1.8" '
                       f'vector-effect="non-scaling-stroke" points="{" ".join(run)}"/>')
        run = []
    for i, v in enumerate(values):
        if _is_number(v):
            y = _n(py(v))
            out.append(f'<line class="point" x1="{i}" x2="{i}" y1="{y}" y2="{y}" stroke="{BLUE}" stroke-width="5" '
                       'stroke-linecap="round" vector-effect="non-scaling-stroke"/>')
    for i, p in enumerate(periods):
        v = values[i] if i < len(values) else None
        said = f"{p}: {_g(v) if _is_number(v) else 'no value'}"
        if _is_number(target):
            said += f"; target {_g(target)}"
        if p in fired_set:
            said += "; a trigger fired"
        out.append(f'<rect class="hit" data-i="{i}" data-p="{esc(p)}" x="{i - 0.5}" y="0" width="1" height="{PLOT}" '
                   f'fill="#ffffff" fill-opacity="0"><title>{esc(said)}</title></rect>')
    out.append("</svg>")
    first, last = (periods[0], periods[-1]) if periods else ("", "")
    out.append(f'<text class="x-first" x="{LEFT}" y="{TOP + PLOT + 14}" font-size="10">{esc(first)}</text>'
               f'<text class="x-last" x="{LEFT + pw}" y="{TOP + PLOT + 14}" font-size="10" text-anchor="end">{esc(last)}</text>'
               f'<rect class="brush" x="0" y="{TOP}" width="0" height="{PLOT}" fill="{BLUE}" fill-opacity="0.15" '
               'visibility="hidden" pointer-events="none"/>')
    out.append(_legend(legend_y, name, target, band, bool(fired_set & set(periods))))
    out.append("</svg>")
    buttons = [("all", "all", ""), *((f"last {k}", "last", f' data-periods="{k}"') for k in (24, 12) if len(periods) > k),
               ("zoom in", "in", ""), ("zoom out", "out", ""), ("◀ earlier", "left", ""), ("later ▶", "right", "")]
    out.append(f'<p class="series-range">{esc(_range(periods, 0, len(periods) - 1))}</p><div class="zoom">'
               + "".join(f'<button type="button" class="zoom-{z}" data-zoom="{z}"{extra}>{esc(text)}</button>'
                         for text, z, extra in buttons)
               + '<span class="muted"> or drag over the plot</span></div>')
    return "".join(out)


def _range(periods: Sequence[str], a: int, b: int) -> str:
    if not periods:
        return "no periods"
    return f"showing {periods[a]} – {periods[b]}: {b - a + 1} of {len(periods)} periods"


def _legend(y: float, name: str, target: Any, band: dict | None, fired: bool) -> str:
    items = [("line", BLUE, name)]
    if _is_number(target):
        items.append(("dash", GREEN, f"target {_g(target)}"))
    if band:
        items.append(("box", BAND, f"noise band ({band['what']})"))
    if fired:
        items.append(("box", ORANGE, "trigger fired"))
    out, x = ['<g class="legend" pointer-events="none">'], LEFT
    for shape, colour, text in items:
        if shape == "box":
            out.append(f'<rect x="{x}" y="{_n(y)}" width="14" height="10" fill="{colour}" fill-opacity="0.6"/>')
        else:
            dash = ' stroke-dasharray="4 3"' if shape == "dash" else ""
            out.append(f'<line x1="{x}" x2="{x + 14}" y1="{_n(y + 5)}" y2="{_n(y + 5)}" stroke="{colour}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 18}" y="{_n(y + 9)}" font-size="10" fill="#333">{esc(text)}</text>')
        x += 28 + 5.4 * len(text)
    out.append("</g>")
    return "".join(out)


_PLOT = re.compile(r'(<svg class="plot"[^>]*? viewBox=")-0\.5 0 (\d+) (\d+)(")')
_HIT = re.compile(r'<rect class="hit" data-i="(\d+)" data-p="([^"]*)"')


def zoomed(html: str, window: Sequence[int]) -> str:
    """The drawn chart as a page without a script shows it: the periods ``window`` = [first, last]
    shown (as the front end zooms it; all with ``[]``), no zoom buttons."""
    from html import unescape

    html = re.sub(r'<div class="zoom">.*?</div>', "", html, count=1, flags=re.S)
    plot = _PLOT.search(html)
    labels = [unescape(p) for _, p in _HIT.findall(html)]
    if plot is None or len(window) != 2 or not labels:
        return html
    a = max(0, min(int(window[0]), len(labels) - 1))
    b = max(a, min(int(window[1]), len(labels) - 1))
    html = _PLOT.sub(lambda m: f"{m.group(1)}{a - 0.5} 0 {b - a + 1} {m.group(3)}{m.group(4)}", html, count=1)
    html = re.sub(r'(<text class="x-first"[^>]*>)[^<]*(</text>)', lambda m: m.group(1) + esc(labels[a]) + m.group(2), html, count=1)
    html = re.sub(r'(<text class="x-last"[^>]*>)[^<]*(</text>)', lambda m: m.group(1) + esc(labels[b]) + m.group(2), html, count=1)
    return re.sub(r'(<p class="series-range">)[^<]*(</p>)', lambda m: m.group(1) + esc(_range(labels, a, b)) + m.group(2),
                  html, count=1)

