"""The explorer without a kernel: a static snapshot of its tabs as last shown.

A notebook reopened without its kernel, nbconvert and a plain-text console cannot run the widgets.
The snapshot is HTML made from the widgets themselves, as they show now: each ``HTML`` widget's
value (already escaped, built from the model, which holds only what the HTML report may show:
no survey group below the minimum, findings about one named person only when the reader asked),
and each control as text (a ticked box, a slider's value, the options chosen). No script, no
style sheet or font from elsewhere: one ``<style>`` (the notebook display's), inline SVG.
Imports ipywidgets only to tell the widgets apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ipywidgets as w

from metricsense.encoding import printable
from metricsense.reports.svg import esc
from metricsense.widgets.display import SCOPE, STYLE

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
EXTRA = """
{s} details.tab{border:1px solid var(--jp-border-color2,#e3e8ef);border-radius:4px;margin:6px 0;padding:2px 10px}
{s} details.tab>summary{cursor:pointer;font-weight:600;padding:4px 0}
{s} .control{margin:2px 0}{s} .row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
""".replace("{s}", SCOPE)


def _strip_style(value: str) -> str:
    # The header and a few views carry the shared <style>; the snapshot carries it once.
    return value.replace(f"<style>{STYLE}</style>", "")


def _options(widget: Any) -> str:
    chosen = [str(v) for v in (widget.value or ())] if isinstance(widget.value, (tuple, list)) else [str(widget.value)]
    return ", ".join(chosen) if chosen and chosen != ["None"] else "(none chosen)"


def widget_html(widget: Any) -> str:
    """A widget as static HTML, as it shows now."""
    own = getattr(widget, "snapshot_html", None)
    if callable(own):  # a widget that knows its static self (the explorer's ClickSVG pictures)
        return own()
    if isinstance(widget, (w.HTML, w.HTMLMath)):
        return _strip_style(widget.value or "")
    if isinstance(widget, w.Label):
        return f"<span>{esc(widget.value)}</span>"
    if isinstance(widget, w.Checkbox):
        return f'<div class="control">{"☑" if widget.value else "☐"} {esc(widget.description)}</div>'
    if isinstance(widget, (w.FloatSlider, w.IntSlider, w.FloatText, w.IntText, w.Text)):
        value = f"{widget.value:.2f}" if isinstance(widget.value, float) else str(widget.value)
        return f'<div class="control">{esc(widget.description)} <strong>{esc(value)}</strong></div>'
    if isinstance(widget, (w.SelectMultiple, w.Select, w.Dropdown, w.RadioButtons, w.ToggleButtons)):
        return f'<div class="control">{esc(widget.description)}: <strong>{esc(_options(widget))}</strong></div>'
    if isinstance(widget, w.Button):
        return ""  # an action: nothing to show without a kernel
    if isinstance(widget, w.Tab):
        return tabs_html(widget.titles, widget.children, widget.selected_index)
    if isinstance(widget, w.Box):
        inner = "".join(f"<div>{widget_html(c)}</div>" for c in widget.children)
        return f'<div class="row">{inner}</div>' if isinstance(widget, w.HBox) else f"<div>{inner}</div>"
    return f'<p class="muted">({esc(type(widget).__name__)}: shown only with a kernel)</p>'


def tabs_html(titles: Iterable[str], children: Iterable[Any], selected: int | None) -> str:
    """Each tab in a <details>, the one shown last open."""
    out = []
    for i, (title, child) in enumerate(zip(titles, children)):
        opened = " open" if i == (selected or 0) else ""
        out.append(f'<details class="tab"{opened}><summary>{esc(title)}</summary>{widget_html(child)}</details>')
    return "".join(out)


def snapshot_html(explorer: Any) -> str:
    """The whole explorer as a self-contained HTML fragment (header, what-if box, every tab)."""
    m = explorer.model
    head = (f"<p><strong>metricsense explorer</strong>: <code>{esc(m.spec)}</code> "
            '<span class="muted">(a snapshot of the tabs as last shown; run the cell for the live explorer)</span></p>')
    body = widget_html(explorer.whatif) + tabs_html(explorer.tabs.titles, explorer.tabs.children,
                                                    explorer.tabs.selected_index)
    return f'<div class="msense msense-snapshot"><style>{STYLE}{EXTRA}</style>{head}{body}</div>'


def snapshot_text(explorer: Any) -> str:
    """The explorer in a few plain lines (its repr): what the numbers say now."""
    from metricsense.reports import gains
    from metricsense.reports.html import severity_counts

    m = explorer.model
    lines = [f"metricsense explorer: {m.spec}"]
    if m.decoupling:
        lines.append(f"  gains: {gains.describe(m.decoupling)}")
    red = m.redundancy
    if red.get("correlation"):
        n = len(red["clusters"])
        eff = red.get("effective_number")
        lines.append(f"  redundancy: {n} redundant group{'s' if n != 1 else ''} at |r| >= {red['threshold']:.2f}"
                     + (f"; effective number of KPIs {eff:.3g} of {red['effective_of']}" if eff is not None else ""))
    lines.append(f"  diagnostics: {len(m.diagnostics)} shown" + (f" ({severity_counts(m.diagnostics)})" if m.diagnostics else ""))
    if m.last_change:
        lines.append(f"  last change: {m.last_change['change']}")
    # The text comes from the spec: no control characters into a terminal.
    return "\n".join(printable(line) for line in lines)


def page(explorer: Any) -> str:
    """A whole page: opens offline (a Content-Security-Policy forbids every load)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>metricsense explorer: {esc(explorer.model.spec)}</title>"
            "<style>body{margin:16px 24px;max-width:1100px;background:#fff}</style></head><body>"
            + snapshot_html(explorer) + "</body></html>\n")
