"""The HTML the explorer's views draw: pure functions of the model's derived traits.

The snapshot (``metricsense.widgets.snapshot``) and the views share them. No widgets here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from metricsense.reports.svg import esc, heatmap
from metricsense.widgets import gainblocks, whatif
from metricsense.widgets.display import wrap as _wrap


def wrap(body: Any, kind: str) -> str:
    # NOTE: the explorer's header carries the style sheet once: a <style> in every view's HTML
    # made each redraw restyle the whole JupyterLab page (a third of an interaction's time).
    return _wrap(body, kind, style=False)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "∞" if math.isinf(v) else f"{v:.{digits}g}"
    return str(v)


def heatmap_order(red: dict) -> list[str]:
    """The KPIs in the heatmap's order: the members of each group side by side, so the blocks show."""
    corr = red.get("correlation") or {}
    kpis = list(corr.get("kpis") or [])
    order = [n for c in red.get("clusters") or [] for n in [c["keep"], *c["drop"]] if n in kpis]
    return list(dict.fromkeys(order + kpis))


def groups_html(red: dict) -> str:
    """The redundant groups at the threshold and the effective number, of a ``whatif.redundancy``
    result (to wrap as ``clusters``)."""
    if not red.get("correlation"):
        return '<p class="muted">No correlation analysis: the spec has no data for two or more kept KPIs.</p>'
    cl, at = red.get("clusters") or [], float(red.get("threshold", 0.9))
    if cl:
        items = "".join(f"<li>keep <code>{esc(c['keep'])}</code>, drop "
                        f"{', '.join(f'<code>{esc(n)}</code>' for n in c['drop'])} (r = {esc(_fmt(c['r'], 2))}, "
                        f"n = {esc(c['n'])})</li>" for c in cl)
        text = (f'<p class="groups"><b>{len(cl)}</b> redundant group{"s" if len(cl) != 1 else ""} at '
                f"|r| ≥ {at:.2f}:</p><ul>{items}</ul>")
    else:
        text = f'<p class="groups">No redundant KPIs at |r| ≥ {at:.2f}.</p>'
    eff = red.get("effective_number")
    if eff is not None:
        text += (f'<p class="muted effective">Effective number of KPIs: {esc(_fmt(eff))} of '
                 f"{esc(red.get('effective_of'))}.</p>")
    return text


def correlation_caption(corr: dict) -> str:
    return f"{corr.get('method', 'pearson')} correlation of {corr.get('basis', 'the series')}"


def redundancy_html(red: dict, keys: bool = False) -> tuple[str, str]:
    """(groups text, heatmap of every pair) of a ``whatif.redundancy`` result (``keys``: cells carry
    data-key). A large system's heatmap is drawn by blocks (``widgets.corrblocks``)."""
    corr = red.get("correlation") or {}
    text = groups_html(red)
    if not corr:
        return wrap(text, "clusters"), ""
    kpis = list(corr["kpis"])
    order = heatmap_order(red)
    idx = [kpis.index(n) for n in order]
    matrix = [[corr["matrix"][i][j] for j in idx] for i in idx]
    picture = wrap(f'<figure>{heatmap(matrix, order, order, title="KPI correlation", limit=1.0, keys=keys)}'
                   f"<figcaption>{esc(correlation_caption(corr))}</figcaption></figure>", "heatmap")
    return wrap(text, "clusters"), picture


def _tipper(document: Any) -> Callable[[str, bool, str], str]:
    """A label's hover text: its name, its label, and what a click does."""
    labels = {s.name: (getattr(s, "label", None) or s.name) for s in (document.named() if document else ())}

    def tip(name: str, on: bool, kind: str) -> str:
        return f"{name} — {labels.get(name, name)}: {kind} {'kept; click to untick' if on else 'unticked; click to tick'}"
    return tip


def _gain_caption(d: dict) -> tuple[str, str]:
    from metricsense.reports import gains

    title = f"{(d.get('source') or '').capitalize()} gains"
    caption = esc(gains.describe(d)) if d.get("kpis") else "nothing kept"
    if d.get("scaled_condition_number") is not None:
        caption += f", scaled condition number {esc(_fmt(d['scaled_condition_number']))}"
    return title, f"{esc(title)} of the kept KPIs and levers: {caption}. "


def gain_matrix_html(d: dict, document: Any, full: tuple[list[str], list[str], list[list[float]], list[str], list[str]]
                     ) -> str:
    """The explorer's gain matrix: every KPI and lever it ticks over (``full``: KPIs, levers,
    matrix, KPIs kept, levers kept), the unticked ones greyed; each row and column label a toggle
    (``kpi-I``, ``lever-J``: indices into ``full``); the caption says the kept ones' numbers.
    Above ``blocks.SMALL`` KPIs or levers: in blocks (``widgets.gainblocks``; ``gain_detail_html``
    draws a block's KPIs)."""
    kpis, levers, matrix, _on, _levers_on = full
    title, caption = _gain_caption(d)
    if gainblocks.is_large(full):
        heat = gainblocks.overview(gainblocks.gain_array(full), full, title=title, blank_zero=True,
                                   tip=_tipper(document))
        return wrap(f'<figure class="gain">{heat}<figcaption>{caption}{esc(gainblocks.said(full, "gain"))}'
                    "</figcaption></figure>", "gains")
    tip, off = _tipper(document), gainblocks.off_of(full)
    heat = heatmap(matrix, kpis, levers, title=title, blank_zero=True,
                   row_titles=[tip(k, i not in off[0], "KPI") for i, k in enumerate(kpis)],
                   col_titles=[tip(v, j not in off[1], "lever") for j, v in enumerate(levers)],
                   label_keys=([f"kpi-{i}" for i in range(len(kpis))], [f"lever-{j}" for j in range(len(levers))]), off=off)
    return wrap(f'<figure class="gain">{heat}<figcaption>{caption}'
                "Click a KPI or a lever (or Tab to it and press Enter) to untick or tick it, as its box does; "
                "greyed and struck through: unticked.</figcaption></figure>", "gains")


def gain_detail_html(d: dict, document: Any, full: tuple, cell: tuple[int, int] | None) -> str:
    """A large gain matrix's block clicked (``cell``: the overview's row and column of blocks):
    its KPIs' rows whole, each label a toggle; a prompt before a click."""
    shown = gainblocks.band(full, *cell) if cell is not None else None
    if shown is None:
        return wrap(gainblocks.prompt("gain matrix"), "gain-detail")
    title, _ = _gain_caption(d)
    heat = gainblocks.detail(gainblocks.gain_array(full), full, *shown, title=title, tip=_tipper(document),
                             blank_zero=True)
    return wrap(f'<figure class="gain-detail">{heat}<figcaption>{len(shown[0])} KPIs × {len(shown[1])} levers: every '
                "gain; click a KPI or a lever to untick or tick it; greyed and struck through: unticked."
                "</figcaption></figure>", "gain-detail")


def rga_html(d: dict, full: tuple) -> str:
    """The RGA of the kept KPIs and levers, the suggested pairing framed, its labels the same
    toggles as the gain matrix's ('' without an RGA). Above ``blocks.SMALL`` KPIs or levers: in
    blocks over every KPI and lever, a block framed when it holds a pair (``rga_detail_html``
    draws a block's KPIs)."""
    from metricsense.reports.html import RGA_SAYS, rga_figure

    if gainblocks.is_large(full):
        if d.get("rga") is None or not d.get("kpis") or not d.get("levers"):
            return ""
        pairs = gainblocks.paired(d, full)
        heat = gainblocks.overview(gainblocks.rga_array(d, full), full, title="Relative gain array", limit=1.0,
                                   blank_zero=True, marked=pairs, marked_as="suggested pair")
        framed = (f" Framed: a block that holds a pair of the suggested pairing ({len(pairs)} pairs, listed above; "
                  "each pair framed in its block's KPIs)." if pairs else "")
        return wrap(f'<figure class="rga">{heat}<figcaption>{esc(RGA_SAYS)}{esc(framed)} '
                    f'{esc(gainblocks.said(full, "relative gain"))}</figcaption></figure>', "gains")
    index_k, index_l = {k: i for i, k in enumerate(full[0])}, {v: j for j, v in enumerate(full[1])}
    rga = rga_figure(d, ([f"kpi-{index_k[k]}" for k in d.get("kpis") or []],
                         [f"lever-{index_l[v]}" for v in d.get("levers") or []]))
    return wrap(rga, "gains") if rga else ""


def rga_detail_html(d: dict, document: Any, full: tuple, cell: tuple[int, int] | None) -> str:
    """A large RGA's block clicked: its KPIs' rows whole, the suggested pairs framed, each label a toggle."""
    shown = gainblocks.band(full, *cell) if cell is not None else None
    if d.get("rga") is None:
        return ""
    if shown is None:
        return wrap(gainblocks.prompt("relative gain array"), "rga-detail")
    heat = gainblocks.detail(gainblocks.rga_array(d, full), full, *shown, title="Relative gain array",
                             tip=_tipper(document), limit=1.0, blank_zero=True, marked=gainblocks.paired(d, full),
                             marked_as="suggested pair")
    return wrap(f'<figure class="rga-detail">{heat}<figcaption>{len(shown[0])} KPIs × {len(shown[1])} levers: every '
                "relative gain of the kept ones (framed: a suggested pair); click a KPI or a lever to untick or tick "
                "it.</figcaption></figure>", "rga-detail")


def decoupling_html(d: dict) -> tuple[str, str, str]:
    """(condition number, rank and levers, pairing) of a decoupling result (its pictures:
    ``gain_matrix_html`` and ``rga_html``)."""
    from metricsense.reports import gains

    if not d:
        return "<i>No gain matrix: no KPI declares `responds`, and no data to estimate one.</i>", "", ""
    cond = (f"condition number <b class=\"value\">{esc(gains.format_condition(d.get('condition_number')))}</b>"
            + (f" (scaled {esc(_fmt(d['scaled_condition_number']))})" if d.get("scaled_condition_number") is not None else ""))
    levers, idle = d.get("levers") or [], d.get("idle") or []
    rank = (f"rank <b class=\"value\">{esc(d.get('rank'))}</b> of {len(d.get('kpis') or [])} KPIs; "
            f"{len(levers) - len(idle)} of {len(levers)} levers move them ({esc(d.get('source'))} gains)"
            + (f"; idle: {esc(', '.join(idle))}" if idle else ""))
    if d.get("orphaned"):
        rank += (f'<div class="orphaned">orphaned: no lever moves '
                 f"{', '.join(f'<code>{esc(k)}</code>' for k in d['orphaned'])}</div>")
    if d.get("pending"):
        pairing = "suggested pairing: <i>searching…</i>"
    elif d.get("suggested_pairing"):
        pairs = "".join(f"<li><code>{esc(k)}</code> ← <code>{esc(v)}</code></li>" for k, v in d["suggested_pairing"].items())
        pairing = f"suggested pairing (RGA number {esc(_fmt(d.get('rga_number')))}):<ul class=\"pairing\">{pairs}</ul>"
    else:
        pairing = "suggested pairing: none"
    return cond, rank, pairing


def whatif_html(baseline: dict, now: dict, last: dict) -> str:
    """The what-if box: the last change's numbers before -> after, then as written -> now."""
    if not baseline:
        return ""
    parts = []
    if last:
        moved = [(m, a, b) for m, a, b in whatif.compare(last["before"], last["after"]) if a != b]
        said = "; ".join(f"{esc(m)} {esc(a)} → <b>{esc(b)}</b>" for m, a, b in moved) or "no number changed"
        parts.append(f'<p class="last-change"><b>{esc(last["change"])}</b>: {said}.</p>')
    rows = "".join(f'<tr class="{"changed" if a != b else ""}"><th>{esc(m)}</th><td>{esc(a)}</td><td>{esc(b)}</td></tr>'
                   for m, a, b in whatif.compare(baseline, now))
    parts.append(f'<table class="whatif"><thead><tr><th></th><th>as written</th><th>now</th></tr></thead>'
                 f"<tbody>{rows}</tbody></table>")
    if now.get("orphaned"):
        parts.append(f'<p class="orphaned">Orphaned: no lever left for '
                     f"{', '.join(f'<code>{esc(k)}</code>' for k in now['orphaned'])}.</p>")
    return wrap(parts, "whatif")
