"""Rich display in notebooks: HTML and Markdown for reports, specs, diagnostics and agendas.

The same escaping rules as the HTML report: every text that comes from a spec, its data or a
diagnostic goes through ``metricsense.reports.svg.esc`` (Markdown through the Markdown report's
``cell``), and nothing here emits a script. The pictures are the HTML report's inline SVG.
Imports neither IPython nor ipywidgets. The core knows nothing of display: ``register_formatters``
teaches IPython how to show a Report, a Document and a Diagnostic (called by ``%load_ext
metricsense``, and when metricsense is imported inside IPython).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from metricsense.reports.svg import esc

# Scoped to .msense so a notebook's own styles are left alone; JupyterLab keeps <style> in
# trusted outputs and drops it in untrusted ones (the tables still read without it).
# NOTE: JupyterLab's `:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td` (right-aligned) and
# `.jp-ThemedContainer .jp-RenderedHTMLCommon pre` (pre-wrap) weigh two classes and an element,
# more than `.msense td`; nbconvert's lab template carries the same rules. Every rule below is
# scoped with `.msense:not(#msense-scope)`, which weighs an id (no element carries that id), so
# ours win whatever the order of the style sheets. Colours are JupyterLab's theme variables,
# with the light theme's values as fallbacks (nbconvert's page and other front ends). The
# pictures draw dark text, so they keep a light ground.
SCOPE = ".msense:not(#msense-scope)"
_RULES = """
{s}{font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--jp-content-font-color1,#1d1d1f)}
{s} table{border-collapse:collapse;margin:6px 0;table-layout:auto;color:inherit;font-size:inherit}
{s} th,{s} td{border:1px solid var(--jp-border-color2,#e3e8ef);padding:3px 7px;text-align:left;vertical-align:top;white-space:normal;line-height:1.45;background:none;color:inherit}
{s} th{background:var(--jp-layout-color2,#f3f6fa);color:inherit;font-weight:600}
{s} code{font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,monospace);background:none;color:inherit;padding:0}
{s} pre{background:var(--jp-layout-color2,#f6f8fa);color:inherit;padding:4px 6px;margin:3px 0;white-space:pre;overflow-x:auto;overflow-wrap:normal;word-break:normal;font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,monospace);font-size:12px;line-height:1.35}
{s} table.diagnostics{table-layout:fixed;width:100%;max-width:1100px}
{s} table.diagnostics col.sev{width:78px}{s} table.diagnostics col.rule{width:150px}{s} table.diagnostics col.where{width:170px}
{s} table.diagnostics td{overflow-wrap:anywhere}{s} table.diagnostics td pre{overflow-wrap:normal}
{s} .diag-summary{margin:6px 0 2px}
{s} .sev{font-weight:600;border-radius:3px;padding:1px 6px;color:#fff;font-size:12px}
{s} .sev-error{background:#c62828}{s} .sev-warning{background:#b26a00}{s} .sev-info{background:#0277bd}{s} .sev-hint{background:#2e7d32}
{s} .caret{color:var(--jp-error-color1,#b3261e)}
{s} .help{color:var(--jp-success-color1,#2d5a27)}{s} .note,{s} .muted{color:var(--jp-content-font-color2,#555)}{s} .ok{color:var(--jp-success-color1,#2e7d32);font-weight:600}
{s} .orphaned{color:var(--jp-error-color1,#b3261e)}{s} table.whatif tr.changed td{font-weight:600}
{s} figure{margin:8px 0 14px}{s} figcaption{color:var(--jp-content-font-color2,#444);font-size:12px}{s} .grid{display:flex;flex-wrap:wrap;gap:20px}
{s} svg{background:#fff;border-radius:3px}{s} svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#222}
"""
STYLE = _RULES.replace("{s}", SCOPE)


def wrap(body: Iterable[str] | str, kind: str, style: bool = True) -> str:
    """Body HTML inside a scoped container with the shared style (``style=False``: the page has it)."""
    text = body if isinstance(body, str) else "".join(body)
    sheet = f"<style>{STYLE}</style>" if style else ""
    return f'<div class="msense msense-{esc(kind)}">{sheet}{text}</div>'


def diagnostics_html(diagnostics: Iterable[Any], sources: Any = None) -> str:
    """The HTML report's diagnostics table (source line, related notes, help) for any list."""
    from metricsense.reports.text import SourceCache
    from metricsense.reports.html import diagnostic_rows

    if sources is None:
        sources = SourceCache()
    return "".join(diagnostic_rows(SimpleNamespace(diagnostics=list(diagnostics)), sources))


def _for_reader(report: Any, shows_personal: bool) -> Any:
    """What the matching format may show of ``report`` (``Report.for_reader``: personal findings)."""
    return report.for_reader(shows_personal) if callable(getattr(report, "for_reader", None)) else report


def report_html(report: Any) -> str:
    """A report as a notebook output: summary, diagnostics, then each spec's pictures (folded).

    As the HTML report: findings about one named person only when the reader asked."""
    from metricsense.reports.text import SourceCache, summary_line
    from metricsense.reports.html import spec_section, withheld_html

    report = _for_reader(report, True)
    sources = SourceCache(getattr(report, "sources", None))
    body = [f'<p class="msense-summary"><strong>{esc(summary_line(report))}</strong> '
            f'Files: {esc(len(report.files))}.</p>', diagnostics_html(report.diagnostics, sources),
            *withheld_html(report)]
    for root, analysis in report.analysis.items():
        body.append(f"<details><summary>{esc(root)}: structure, gains and data pictures</summary>")
        body += spec_section(root, analysis or {}, report.documents.get(root), report.diagnostics)
        body.append("</details>")
    return wrap(body, "report")


def report_markdown(report: Any) -> str:
    """The Markdown report (``--format markdown``: never a finding about one named person)."""
    from metricsense.reports.markdown import render_markdown

    return render_markdown(_for_reader(report, False))


def document_html(doc: Any) -> str:
    """A spec: its mission, key failures per level with the KPIs that guard them, and its KPIs."""
    from metricsense.model import LEVELS
    from metricsense.reports.html import kpi_table

    body = [f"<p><strong>{esc(doc.root)}</strong>: {len(doc.kpis)} KPIs, {len(doc.levers)} levers, "
            f"{len(doc.disturbances)} disturbances, {len(doc.triggers)} triggers, "
            f"{len(doc.trusts)} trust signals.</p>"]
    if doc.mission is not None:
        body.append(f'<p class="mission"><strong>Mission:</strong> {esc(doc.mission.text)}</p>')
    guards: dict[str, list[str]] = {}
    for k in doc.kpis:
        for ref in k.guards:
            guards.setdefault(ref.name, []).append(k.name)
    if doc.failures:
        body.append("<table class=\"failures\"><thead><tr><th>level</th><th>key failure</th><th>guarded by</th>"
                    "</tr></thead><tbody>")
        for level in LEVELS:
            for f in (f for f in doc.failures if f.level == level):
                body.append(f"<tr><td>{esc(level)}</td><td><code>{esc(f.name)}</code> {esc(f.label)}</td>"
                            f"<td>{esc(', '.join(guards.get(f.name, [])) or 'nobody')}</td></tr>")
        body.append("</tbody></table>")
    body += kpi_table(doc)
    return wrap(body, "spec")


def diagnostic_html(d: Any) -> str:
    return wrap(diagnostics_html([d]), "diagnostic")


def _plain(markdown: str) -> str:
    """Agenda lines are Markdown-escaped for the Markdown agenda: undo that, drop code ticks."""
    return re.sub(r"\\([\\`*_\[\]<>|#])", r"\1", markdown).replace("`", "")


def agenda_html(agenda: Any) -> str:
    """An agenda as a table: audience, the question, what sparked it, and the periods."""
    body = []
    if not agenda.items:
        body.append('<p class="ok">Nothing sparked a conversation.</p>')
    else:
        body.append("<table class=\"agenda\"><thead><tr><th>with</th><th>from</th><th>question</th>"
                    "<th>sparked by</th><th>periods</th></tr></thead><tbody>")
        for audience, items in agenda.by_audience():
            for item in items:
                when = " to ".join(esc(p) for p in dict.fromkeys((item.start, item.end)) if p)
                sparked = "<br>".join(esc(_plain(s)) for s in item.sparked)
                body.append(f"<tr><td>{esc(audience)}</td><td><code>{esc(item.source)}</code></td>"
                            f"<td>{esc(item.question)}</td><td>{sparked}</td><td>{when}</td></tr>")
        body.append("</tbody></table>")
    return wrap(body, "agenda")


def register_formatters(ipython: Any) -> None:
    """IPython's HTML and Markdown formatters for the core's classes, which hold no display code.

    Registered by module and class name, so nothing is imported until such an object is shown."""
    html = ipython.display_formatter.formatters["text/html"]
    markdown = ipython.display_formatter.formatters["text/markdown"]
    html.for_type_by_name("metricsense.report", "Report", report_html)
    markdown.for_type_by_name("metricsense.report", "Report", report_markdown)
    html.for_type_by_name("metricsense.model", "Document", document_html)
    html.for_type_by_name("metricsense.diagnostics", "Diagnostic", diagnostic_html)
