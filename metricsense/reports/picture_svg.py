"""The KPI system picture (``metricsense.reports.picture``) as inline SVG: no script, no file.

A layered layout computed here: four columns (mission, key failures by level, KPIs, levers and
disturbances); failures in level order, each KPI placed by the mean position of the failures it
guards, each lever or disturbance by the mean position of the KPIs it moves (fewer crossings).
Edges are curves with an arrowhead: mission → failure → KPI ← lever or disturbance, the gain
written on each (green where it moves the KPI the way its `better` says, red against it, dashed
for a disturbance). Every node is a ``<g data-key=...>`` with a ``<title>`` (the hover text): the
explorer finds the node clicked by its key. Every text goes through ``esc``.
"""

from __future__ import annotations

from metricsense.reports.picture import COLUMNS, Node, Picture
from metricsense.reports.svg import esc

WIDTH, MARGIN, TOP = 190, 14, 34
#: The gaps between the columns: the last is wider, for the gains written by the KPIs.
GAPS = (64, 64, 136)
X = tuple(MARGIN + c * WIDTH + sum(GAPS[:c]) for c in range(4))
CHARS = 29  # characters per line in a node (11 px system font, 190 px box)
LINE = 13
FILL = {"mission": "#1f4e79", "failure": "#fdecea", "kpi": "#ffffff", "lever": "#e3f2fd", "disturbance": "#fff3e0",
        "more": "#f4f4f4"}
STROKE = {"mission": "#1f4e79", "failure": "#b3261e", "kpi": "#555555", "lever": "#1565c0", "disturbance": "#e65100",
          "more": "#999999"}
STATUS = {"met": "#2e7d32", "missed": "#c62828"}
EFFECT = {"helps": "#2e7d32", "hurts": "#c62828", None: "#607d8b"}
HEADINGS = {"mission": "Mission", "failure": "Key failures", "kpi": "KPIs (target, now)",
            "cause": "Levers and disturbances"}


def wrap(text: str, chars: int = CHARS, lines: int = 2) -> list[str]:
    """``text`` in at most ``lines`` lines of ``chars`` characters (words kept whole where they fit, … when cut)."""
    words, out, cur = " ".join(str(text).split()).split(" "), [], ""
    for w in words:
        while len(w) > chars:  # a word longer than a line is cut
            if cur:
                out.append(cur)
                cur = ""
            out.append(w[:chars])
            w = w[chars:]
        if not cur:
            cur = w
        elif len(cur) + 1 + len(w) <= chars:
            cur += " " + w
        else:
            out.append(cur)
            cur = w
    if cur:
        out.append(cur)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: chars - 1].rstrip() + "…"
    return [line for line in out if line]


def _lines(n: Node) -> list[tuple[str, str]]:
    """(css class, text) per line of a node."""
    if n.kind == "mission":
        return [("head", "Mission"), *(("label", t) for t in wrap(n.label, CHARS, 6))]
    if n.kind == "more":
        return [("label", t) for t in wrap(n.label, CHARS, 2)]
    out = [("head", wrap(n.name, CHARS, 1)[0] if n.name else "")]
    if n.kind == "failure":
        out += [("label", t) for t in wrap(n.label, CHARS, 2)]
    elif n.label:
        out += [("label", t) for t in wrap(n.label, CHARS, 1)]
    if n.kind == "kpi":
        out += [("detail", wrap(f.replace(" (median of the last ", " (last "), CHARS, 1)[0]) for f in n.facts]
    if n.kind == "failure" and n.status == "unguarded":
        out.append(("detail", "guarded by no KPI"))
    return out


def _height(n: Node) -> int:
    return 10 + LINE * len(_lines(n))


def _order(picture: Picture) -> dict[int, list[Node]]:
    """Each column's nodes top to bottom: failures by level, the rest by the mean row of their neighbours."""
    cols = {i: picture.column(i) for i in range(len(COLUMNS))}
    pos = {n.key: i for i, n in enumerate(cols[0] + cols[1])}
    into: dict[str, list[str]] = {}
    for e in picture.edges:
        into.setdefault(e.target, []).append(e.source)
        into.setdefault(e.source, []).append(e.target)

    def centre(n: Node, placed: dict[str, int]) -> float:
        near = [placed[k] for k in into.get(n.key, ()) if k in placed]
        return sum(near) / len(near) if near else float("inf")

    for col in (2, 3):
        ranked = sorted(enumerate(cols[col]), key=lambda p: (p[1].kind == "more", centre(p[1], pos), p[0]))
        cols[col] = [n for _, n in ranked]
        pos.update({n.key: i for i, n in enumerate(cols[col])})
    return cols


def layout(picture: Picture) -> tuple[dict[str, tuple[float, float, float, float]], int, int, list[tuple[float, str]]]:
    """(key -> x, y, width, height; the picture's width and height; level headings (y, level))."""
    cols = _order(picture)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    heights, headings = {}, []
    for c, nodes in cols.items():
        y, last_level = 0.0, None
        for n in nodes:
            if n.kind == "failure" and n.level != last_level:
                headings.append((y, n.level or ""))
                y += 16
                last_level = n.level
            h = _height(n)
            boxes[n.key] = (X[c], y, WIDTH, h)
            y += h + 10
        heights[c] = y
    tallest = max(heights.values(), default=0)
    # each column centred on the tallest one
    for c, nodes in cols.items():
        shift = TOP + (tallest - heights[c]) / 2
        for n in nodes:
            x, y, w, h = boxes[n.key]
            boxes[n.key] = (x, y + shift, w, h)
        if c == 1:
            headings = [(y + shift, lv) for y, lv in headings]
    width = MARGIN * 2 + len(COLUMNS) * WIDTH + sum(GAPS)
    return boxes, int(width), int(TOP + tallest + 10), headings


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _ports(picture: Picture, boxes) -> dict[int, tuple[float, float]]:
    """Where each edge leaves its source and enters its target (y): the edges at one side of a
    node spread along it in the order of the nodes at their other end, so gains stay apart."""
    ends: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for i, e in enumerate(picture.edges):
        if e.source not in boxes or e.target not in boxes:
            continue
        ends.setdefault((e.source, "out"), []).append((boxes[e.target][1], i))
        ends.setdefault((e.target, "in"), []).append((boxes[e.source][1], i))
    out: dict[int, list[float]] = {}
    for (key, side), items in ends.items():
        _x, y, _w, h = boxes[key]
        items.sort()
        step = min(12.0, (h - 8) / max(len(items), 1))
        for j, (_, i) in enumerate(items):
            out.setdefault(i, [0.0, 0.0])[0 if side == "out" else 1] = y + h / 2 + (j - (len(items) - 1) / 2) * step
    return {i: (a, b) for i, (a, b) in out.items()}


def _edge(e, boxes, widest: float, named: dict[str, str], ys: tuple[float, float]) -> str:
    sx, sy, sw, sh = boxes[e.source]
    tx, ty, tw, th = boxes[e.target]
    if sx < tx:  # left to right: out of the right side, into the left side
        x1, x2, tip = sx + sw, tx - 6, 1
    else:        # a lever or disturbance: out of its left side into the KPI's right side
        x1, x2, tip = sx, tx + tw + 6, -1
    y1, y2 = ys
    dx = (x2 - x1) / 2
    structural = e.kind in ("threat", "guards")
    colour = "#9e9e9e" if structural else EFFECT.get(e.effect, EFFECT[None])
    width = 1.2 if structural or e.gain is None else 1.2 + 2.8 * abs(e.gain) / (widest or 1)
    dash = ' stroke-dasharray="5 4"' if e.kind == "disturbed" else ""
    path = f"M{_n(x1)},{_n(y1)} C{_n(x1 + dx)},{_n(y1)} {_n(x2 - dx)},{_n(y2)} {_n(x2)},{_n(y2)}"
    head = (f'<polygon points="{_n(x2 + 6 * tip)},{_n(y2)} {_n(x2)},{_n(y2 - 4)} {_n(x2)},{_n(y2 + 4)}" '
            f'fill="{colour}"/>')
    words = {"threat": "threatens the mission", "guards": "guarded by", "responds": "moves", "disturbed": "disturbs"}[e.kind]
    text = e.text()
    tip_text = (f"{named.get(e.source, e.source)} {words} {named.get(e.target, e.target)}" + (f": {text}" if text else "")
                + (f" ({e.effect} the KPI)" if e.effect else ""))
    out = [f'<g class="edge edge-{esc(e.kind)}" data-from="{esc(e.source)}" data-to="{esc(e.target)}"><title>{esc(tip_text)}</title>',
           f'<path d="{path}" fill="none" stroke="transparent" stroke-width="8"/>',
           f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{_n(width)}"{dash}/>', head]
    if text and (not structural or e.count > 1):
        # by the arrowhead at the KPI (a gain), on a white halo
        lx = x2 + 4 if tip < 0 else x2 - 4
        anchor = "start" if tip < 0 else "end"
        out.append(f'<text class="gain" x="{_n(lx)}" y="{_n(y2 - 2)}" text-anchor="{anchor}" font-size="9.5" '
                   f'fill="{colour if not structural else "#666"}" stroke="#ffffff" stroke-width="3" '
                   f'paint-order="stroke">{esc(text)}</text>')
    out.append("</g>")
    return "".join(out)


def _node(n: Node, box, selected: bool) -> str:
    x, y, w, h = box
    stroke = STATUS.get(n.status or "", STROKE[n.kind])
    sw = 3 if n.status in STATUS else 1.3
    dash = ' stroke-dasharray="5 3"' if n.kind == "more" or n.status in ("unguarded", "no data") else ""
    if n.status == "unguarded":
        stroke, sw = STATUS["missed"], 2
    classes = f"node kind-{n.kind}" + (f" status-{n.status.replace(' ', '-')}" if n.status else "") + (" selected" if selected else "")
    out = [f'<g class="{esc(classes)}" data-key="{esc(n.key)}" data-name="{esc(n.name)}" tabindex="0" role="button">'
           f"<title>{esc(n.title())}</title>",
           f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="{12 if n.kind == "kpi" else 4}" '
           f'fill="{FILL[n.kind]}" stroke="{stroke}" stroke-width="{sw}"{dash}/>']
    if selected:
        out.append(f'<rect class="selection" x="{_n(x - 4)}" y="{_n(y - 4)}" width="{_n(w + 8)}" height="{_n(h + 8)}" '
                   f'rx="8" fill="none" stroke="#f9a825" stroke-width="3"/>')
    colour = "#ffffff" if n.kind == "mission" else "#1d1d1f"
    for i, (cls, text) in enumerate(_lines(n)):
        weight = ' font-weight="600"' if cls == "head" else ""
        fill = colour if cls != "detail" else {"met": "#1b5e20", "missed": "#b71c1c"}.get(n.status or "", "#444444")
        out.append(f'<text class="{cls}" x="{_n(x + 8)}" y="{_n(y + 16 + i * LINE)}" font-size="11" fill="{fill}"{weight}>'
                   f"{esc(text)}</text>")
    if n.findings:
        total = sum(n.findings.values())
        badge = "#c62828" if n.findings.get("error") else "#b26a00" if n.findings.get("warning") else "#0277bd"
        out.append(f'<circle class="badge" cx="{_n(x + w - 2)}" cy="{_n(y + 2)}" r="9" fill="{badge}"/>'
                   f'<text class="badge" x="{_n(x + w - 2)}" y="{_n(y + 6)}" text-anchor="middle" font-size="10" '
                   f'fill="#ffffff" font-weight="600">{total}</text>')
    out.append("</g>")
    return "".join(out)


def _legend(y: float) -> str:
    items = [("rect", FILL["failure"], STROKE["failure"], "key failure"), ("rect", FILL["kpi"], STATUS["met"], "KPI: target met"),
             ("rect", FILL["kpi"], STATUS["missed"], "KPI: target missed"), ("rect", FILL["lever"], STROKE["lever"], "lever"),
             ("rect", FILL["disturbance"], STROKE["disturbance"], "disturbance"),
             ("line", EFFECT["helps"], "", "gain toward better"), ("line", EFFECT["hurts"], "", "gain against better"),
             ("dash", EFFECT[None], "", "disturbance's gain"), ("badge", "#c62828", "", "findings")]
    out, x = ['<g class="legend">'], MARGIN
    for shape, a, b, text in items:
        if shape == "rect":
            out.append(f'<rect x="{x}" y="{_n(y)}" width="14" height="10" fill="{a}" stroke="{b}" stroke-width="2"/>')
        elif shape == "badge":
            out.append(f'<circle cx="{x + 6}" cy="{_n(y + 5)}" r="6" fill="{a}"/>')
        else:
            dash = ' stroke-dasharray="4 3"' if shape == "dash" else ""
            out.append(f'<line x1="{x}" x2="{x + 14}" y1="{_n(y + 5)}" y2="{_n(y + 5)}" stroke="{a}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 18}" y="{_n(y + 9)}" font-size="10" fill="#333">{esc(text)}</text>')
        x += 24 + 5.6 * len(text) + 10
    out.append("</g>")
    return "".join(out)


def svg(picture: Picture, selected: str | None = None, title: str = "The KPI system") -> str:
    """The picture as one ``<svg>`` element (``selected``: the key of a node to frame)."""
    boxes, width, height, headings = layout(picture)
    height += 30  # the legend
    widest = max((abs(e.gain) for e in picture.edges if e.gain is not None), default=1.0)
    named = {n.key: n.name or ("the mission" if n.kind == "mission" else n.label) for n in picture.nodes}
    out = [f'<svg class="kpi-system" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="max-width:100%;height:auto" '
           f'font-family="system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,sans-serif"><title>{esc(title)}: {esc(picture.caption())}</title>']
    for c, name in enumerate(COLUMNS):
        if picture.column(c):
            out.append(f'<text class="column" x="{X[c]}" y="16" font-size="12" font-weight="600" '
                       f'fill="#1f4e79">{esc(HEADINGS[name])}</text>')
    for y, level in headings:
        out.append(f'<text class="level" x="{X[1]}" y="{_n(y + 10)}" font-size="10" fill="#666" '
                   f'letter-spacing="0.5">{esc(level.upper())}</text>')
    ports = _ports(picture, boxes)
    out += [_edge(e, boxes, widest, named, ports[i]) for i, e in enumerate(picture.edges) if i in ports]
    out += [_node(n, boxes[n.key], n.key == selected) for n in picture.nodes]
    out.append(_legend(height - 22))
    out.append("</svg>")
    return "".join(out)


def html_figure(picture: Picture) -> str:
    """The picture as an HTML ``<figure>`` with inline SVG and its caption (the HTML report)."""
    return (f'<figure class="kpi-system">{svg(picture)}<figcaption>Mission → key failures by level → the KPIs '
            f"that guard them (target, latest level) ← the levers and disturbances that move them (gains on the "
            f"edges). {esc(picture.caption())}</figcaption></figure>")
