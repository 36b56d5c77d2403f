"""One self-contained HTML file: diagnostics, and pictures drawn as inline SVG.

No script, no stylesheet or font from elsewhere: a Content-Security-Policy forbids every load,
so the page renders the same offline. Every text from a spec or a diagnostic is escaped.
Pictures need analysis results; each is drawn when its result is present in
``report.analysis[spec]`` (the trust and triggers records are read by field, from
metricsense.evaluators.records; see docs/reports.md for the other shapes read). The gain matrix the spec
declares (`responds`) is always drawn, with its condition number and relative gain array.
"""

from __future__ import annotations

import math
from typing import Any

from metricsense.evaluators.records import (
    CorrelationAnalysis,
    GainAnalysis,
    StructureAnalysis,
    TriggersAnalysis,
    TrustAnalysis,
    TrustSignalAnalysis,
)
from metricsense.reports import gains, picture, withheld_line
from metricsense.reports.picture_svg import html_figure
from metricsense.reports.blocks import matrix_figure
from metricsense.reports.svg import esc, gap_bars, line_chart
from metricsense.reports.text import source_and_caret

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fff}
header{background:#1f4e79;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.9}main{padding:8px 28px 40px;max-width:1200px}
h2{border-bottom:2px solid #e3e8ef;padding-bottom:4px;margin-top:32px}h3{margin:22px 0 6px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #e3e8ef;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f6fa}code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
pre{background:#f6f8fa;padding:6px 8px;margin:4px 0;overflow-x:auto;white-space:pre}
.sev{font-weight:600;border-radius:3px;padding:1px 6px;color:#fff;font-size:12px}
.sev-error{background:#c62828}.sev-warning{background:#b26a00}.sev-info{background:#0277bd}.sev-hint{background:#2e7d32}
.caret{color:#b3261e}.help{color:#2d5a27}.note{color:#555}.muted{color:#666}figure{margin:10px 0 18px}figcaption{color:#444;font-size:13px;margin-top:4px}
.grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.grid figure figcaption{max-width:480px}svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#222}
.ok{color:#2e7d32;font-weight:600}
table.diagnostics{table-layout:fixed;width:100%}table.diagnostics col.sev{width:78px}table.diagnostics col.rule{width:150px}
table.diagnostics col.where{width:170px}table.diagnostics td{overflow-wrap:anywhere}table.diagnostics td pre{overflow-wrap:normal}
.diag-summary{margin:6px 0 2px}
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:.{digits}g}"
    return str(value)


#: Errors first: the order of the diagnostics table (a stable sort keeps each severity's order).
SEVERITY_ORDER = ("error", "warning", "info", "hint")


def severity_counts(diagnostics) -> str:
    """'2 errors, 5 warnings, 1 info' (severities present, errors first)."""
    counts = {s: 0 for s in SEVERITY_ORDER}
    for d in diagnostics:
        counts[str(d.severity)] = counts.get(str(d.severity), 0) + 1
    plural = {"error": "errors", "warning": "warnings", "info": "info", "hint": "hints"}
    return ", ".join(f"{n} {plural.get(s, s) if n != 1 else s}" for s, n in counts.items() if n)


def diagnostic_rows(report, sources) -> list[str]:
    """The diagnostics table, errors first, under a line that counts them by severity."""
    if not report.diagnostics:
        return ['<p class="ok">No findings.</p>']
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    ordered = sorted(report.diagnostics, key=lambda d: rank.get(str(d.severity), len(rank)))
    out = [f'<p class="diag-summary"><strong>{esc(severity_counts(ordered))}</strong>; errors first.</p>',
           '<table id="diagnostics-table" class="diagnostics"><colgroup><col class="sev"><col class="rule">'
           '<col class="where"><col class="finding"></colgroup><thead><tr><th>severity</th><th>rule</th><th>where</th>'
           '<th>finding</th></tr></thead><tbody>']
    for d in ordered:
        sev = str(d.severity)
        body = [f'<div class="msg">{esc(d.message)}</div>']
        quoted = source_and_caret(d.span, sources)
        if quoted is not None:
            text, caret = quoted
            gutter = " " * len(str(d.span.line))
            body.append(f'<pre>{esc(d.span.line)} | {esc(text)}\n{gutter} | <span class="caret">{esc(caret)}</span></pre>')
        body += [f'<div class="note">note: {esc(r.message)} → <code>{esc(r.span)}</code></div>' for r in d.related]
        if d.help:
            body.append(f'<div class="help">help: {esc(d.help)}</div>')
        out.append(f'<tr class="diag"><td><span class="sev sev-{esc(sev)}">{esc(sev)}</span></td>'
                   f"<td><code>{esc(d.code)}</code> {esc(d.name)}</td><td><code>{esc(d.span)}</code></td>"
                   f"<td>{''.join(body)}</td></tr>")
    out.append("</tbody></table>")
    return out


def withheld_html(report) -> list[str]:
    """The sentence on personal findings not shown (none are given to this page), if any."""
    line = withheld_line(report)
    return [f'<p class="muted" id="withheld">{esc(line)}</p>'] if line else []


def kpi_table(doc) -> list[str]:
    if not doc.kpis:
        return []
    out = ["<table class=\"kpis\"><thead><tr><th>KPI</th><th>label</th><th>kind</th><th>target</th>"
           "<th>owner</th><th>levers</th></tr></thead><tbody>"]
    for k in doc.kpis:
        t = k.target
        if t is None:
            target = ""
        elif t.value is not None:
            target = f"{t.comparison} {_fmt(t.value, 6)}" + (f" by {t.by.isoformat()}" if t.by else "")
        else:
            target = f'"{t.words}"'
        levers = ", ".join(f"{g.name} {g.value:+g}" for g in k.responds)
        out.append(f"<tr><td><code>{esc(k.name)}</code></td><td>{esc(k.label or '')}</td><td>{esc(k.kind or '')}</td>"
                   f"<td>{esc(target)}</td><td>{esc(k.owner or '')}</td><td>{esc(levers)}</td></tr>")
    out.append("</tbody></table>")
    return out


def gain_figures(g: dict, doc, title: str, whole: bool = True) -> list[str]:
    """The gain matrix and its RGA as heatmaps; a large one in blocks unless ``whole``
    (``blocks.matrix_figure``)."""
    kpis, levers, matrix = g.get("kpis") or [], g.get("levers") or [], g.get("matrix") or []
    if not kpis or not levers:
        return [f"<p class=\"muted\">{esc(title)}: no KPIs or no levers.</p>"]
    labels = {s.name: (getattr(s, "label", None) or s.name) for s in (doc.named() if doc else ())}
    caption = esc(gains.describe(g))
    if g.get("scaled_condition_number") is not None:
        caption += f", scaled condition number {esc(_fmt(g['scaled_condition_number']))}"
    drawn, said = matrix_figure(matrix, kpis, levers, whole=whole, title=title, blank_zero=True,
                                row_titles=[labels.get(k, k) for k in kpis], col_titles=[labels.get(lv, lv) for lv in levers])
    figs = [f'<figure class="gain">{drawn}<figcaption>{esc(title)}: {caption}.{esc(said)}</figcaption></figure>']
    rga = rga_figure(g, whole=whole)
    if rga:
        figs.append(rga)
    return ['<div class="grid">', *figs, "</div>"]


#: What the RGA's caption says first.
RGA_SAYS = ("Relative gain array (G ∘ pinv(G)ᵀ): pair each KPI with the lever whose value is near 1; negative or "
            "large values warn of interaction.")


def rga_figure(g: dict, label_keys: tuple[list[str], list[str]] | None = None, whole: bool = True) -> str:
    """The RGA with the decoupling evaluator's suggested pairing (the smallest RGA number) framed;
    '' without one. ``label_keys``: the labels are the explorer's toggles (every cell drawn); a
    large RGA in blocks unless ``whole`` (``blocks.matrix_figure``)."""
    kpis, levers, rga = g.get("kpis") or [], g.get("levers") or [], g.get("rga")
    if rga is None or not kpis or not levers:
        return ""
    pairing = g.get("suggested_pairing") or {}
    marked = [(kpis.index(k), levers.index(lv)) for k, lv in pairing.items() if k in kpis and lv in levers]
    said = (" Framed: the suggested pairing (" + ", ".join(f"{k} ← {lv}" for k, lv in pairing.items()) + ")."
            if marked else "")
    drawn, drawn_as = matrix_figure(rga, kpis, levers, whole=whole or label_keys is not None, title="Relative gain array",
                                    limit=1.0, blank_zero=True, marked=marked, marked_as="suggested pair",
                                    **({"label_keys": label_keys} if label_keys is not None else {}))
    return (f'<figure class="rga">{drawn}'
            f"<figcaption>{esc(RGA_SAYS)}{esc(said)}{esc(drawn_as)}"
            "</figcaption></figure>")


def _correlation(corr: CorrelationAnalysis, whole: bool) -> list[str]:
    kpis, matrix = list(corr.kpis), corr.matrix or []
    if not kpis:
        return []
    eff = corr.effective_number
    caption = f"{esc(corr.method)} correlation of {esc(corr.basis)}"
    if eff is not None:
        caption += f"; effective number of KPIs {esc(_fmt(eff))} of {len(kpis)}"
    drawn, said = matrix_figure(matrix, kpis, kpis, whole=whole, title="KPI correlation", limit=1.0, symmetric=True,
                                axes=("KPI", "KPI"))
    return ["<h3>KPI correlation</h3>",
            f'<figure class="correlation">{drawn}<figcaption>{caption}.{esc(said)}</figcaption></figure>']


def fired_by_kpi(doc, triggers: TriggersAnalysis) -> dict[str, list[str]]:
    """Per KPI, the periods where a trigger reading it fired."""
    by_kpi: dict[str, list[str]] = {}
    declared = {t.name: t for t in doc.triggers} if doc else {}
    for name, info in triggers.fired.items():
        kpi = info.kpi
        if kpi is None and name in declared and declared[name].refs():
            kpi = declared[name].refs()[0].name
        if kpi is not None:
            by_kpi.setdefault(kpi, []).extend(map(str, info.periods))
    return by_kpi


def _series(doc, triggers: TriggersAnalysis) -> list[str]:
    if not triggers.series:
        return []
    fired = fired_by_kpi(doc, triggers)
    out = ["<h3>KPI series, targets and triggers</h3>", '<div class="grid">']
    for kpi, s in triggers.series.items():
        node = doc.lookup(kpi) if doc else None
        target = s.target
        if target is None and node is not None and getattr(node, "target", None) is not None:
            target = node.target.value
        label = getattr(node, "label", None) or kpi
        n_fired = len(fired.get(kpi, ()))
        out.append(f'<figure class="kpi-series">{line_chart(list(s.periods), list(s.values), title=str(label), target=target, fired=fired.get(kpi, ()))}'
                   f"<figcaption><code>{esc(kpi)}</code> {esc(label)}"
                   + (f"; target {esc(_fmt(target))} (dashed)" if target is not None else "")
                   + (f"; triggers fired in {n_fired} period{'s' if n_fired != 1 else ''} (shaded)" if n_fired else "")
                   + "</figcaption></figure>")
    out.append("</div>")
    return out


def gap_rows(signal: TrustSignalAnalysis) -> list[dict]:
    """The shown groups of a trust signal as ``gap_bars`` draws them."""
    return [{"group": g.group, "managers": g.managers, "team": g.team, "gap": g.gap} for g in signal.groups]


def _trust(trust: TrustAnalysis) -> list[str]:
    # Confidentiality is the trust evaluator's: the record holds the groups that may be shown, and
    # of the others only how many there are.
    if not trust.signals:
        return []
    out = ["<h3>Trust gaps</h3>"]
    for name, info in trust.signals.items():
        note = " Groups too small to stay anonymous are not shown." if info.suppressed else ""
        if info.groups:
            out.append(f'<figure class="trust-gap">{gap_bars(gap_rows(info), title=f"Trust gap: {name}", threshold=info.gap, scale=tuple(info.scale))}'
                       f"<figcaption><code>{esc(name)}</code>: managers' and team's answers per group"
                       f"; gaps over {esc(_fmt(info.gap))} in red"
                       f".{esc(note)}</figcaption></figure>")
        elif info.not_named:
            out.append(f"<p class=\"muted\"><code>{esc(name)}</code>: {info.not_named} group"
                       f"{'s are' if info.not_named != 1 else ' is'} not named here: each gap names a manager "
                       f"(run with --show-personal, or see msense agenda).{esc(note)}</p>")
        else:
            out.append(f"<p class=\"muted\"><code>{esc(name)}</code>: no group can be shown.{esc(note)}</p>")
    return out


def spec_section(root: str, analysis: dict, doc, diagnostics=(), whole: bool = True) -> list[str]:
    """One spec's section; ``diagnostics`` (the report's, as this reader may see them) are counted
    on the nodes of the KPI system's picture. ``whole``: every matrix cell by cell, however large
    (else a large one in blocks: ``blocks.matrix_figure``)."""
    out = [f'<section class="spec"><h2>{esc(root)}</h2>']
    if doc is not None and doc.mission is not None:
        out.append(f'<p class="mission"><strong>Mission:</strong> {esc(doc.mission.text)}</p>')
    if picture.worth_drawing(doc):
        files = set(doc.files) | {root}
        own = [d for d in diagnostics if d.span.file in files]
        out += ["<h3>The KPI system</h3>", html_figure(picture.build(doc, analysis, own))]
    s = StructureAnalysis.of(analysis)
    if s is not None:
        cells = [("KPIs", s.kpis), ("levers", s.levers), ("disturbances", s.disturbances),
                 ("structural rank", s.structural_rank), ("triggers", s.triggers),
                 ("trust signals", s.trust_signals)]
        cells += [(f"failures at {k}", v) for k, v in s.failures.items()]
        out.append("<table class=\"structure\"><tbody>" + "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in cells if v is not None) + "</tbody></table>")
    if doc is not None:
        out += kpi_table(doc)
        out.append("<h3>Declared gain matrix</h3>")
        declared = gains.declared(doc)
        found = GainAnalysis.of(analysis)
        if found is not None and found.source == "declared":
            declared["suggested_pairing"] = dict(found.suggested_pairing or {})
        out += gain_figures(declared, doc, "Declared gains (responds)", whole)
    gain = GainAnalysis.of(analysis)
    # The decoupling analysis holds the declared gains (drawn above) or, without declarations,
    # gains estimated from data; estimates beside declarations sit under `estimated` (which has
    # no conditioning of its own).
    est: dict[str, Any] | None = None
    if gain is not None and gain.source == "estimated":
        est = {"kpis": list(gain.kpis), "levers": list(gain.levers), "matrix": gain.matrix,
               "condition_number": gain.condition_number, "rank": gain.rank, "rga": gain.rga,
               "scaled_condition_number": gain.scaled_condition_number}
    elif gain is not None and gain.estimated is not None:
        e = gain.estimated
        est = {"kpis": list(e.kpis), "levers": list(e.levers), "matrix": e.matrix}
    if est is not None and est["matrix"] is not None:
        out.append("<h3>Gain matrix estimated from data</h3>")
        out += gain_figures(est, doc, "Estimated gains", whole)
    corr = CorrelationAnalysis.of(analysis)
    if corr is not None:
        out += _correlation(corr, whole)
    triggers, trust = TriggersAnalysis.of(analysis), TrustAnalysis.of(analysis)
    if triggers is not None:
        out += _series(doc, triggers)
    if trust is not None:
        out += _trust(trust)
    out.append("</section>")
    return out


def _segments(rollup, limit: int = 20) -> list[str]:
    out = ['<section id="segments">', f"<h2>Segments by <code>{esc(rollup.by)}</code>: {esc(rollup.count)} checked</h2>"]
    items = rollup.rules()
    if not items:
        return out + ['<p class="ok">No rule fired in any segment.</p>', "</section>"]
    out.append("<table><tr><th>code</th><th>rule</th><th>segments</th><th>which</th></tr>")
    for item in items:
        names = item["segments"]
        which = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        out.append(f"<tr><td>{esc(item['code'])}</td><td>{esc(item['name'])}</td>"
                   f"<td>{esc(item['fired'])} of {esc(item['of'])}</td><td>{esc(which)}</td></tr>")
    return out + ["</table>", "</section>"]


def render_html(report, options=None) -> str:
    from metricsense.version import __version__
    from metricsense.reports.text import SourceCache, summary_line

    sources = SourceCache(getattr(report, "sources", None))
    body = ["<header><h1>metricsense report</h1>",
            f'<p id="summary">{esc(summary_line(report))} Files: {esc(len(report.files))}.</p></header><main>',
            '<section id="diagnostics"><h2>Diagnostics</h2>', *diagnostic_rows(report, sources),
            *withheld_html(report), "</section>"]
    if getattr(report, "segments", None) is not None:
        body += _segments(report.segments)
    for root, analysis in report.analysis.items():
        body += spec_section(root, analysis or {}, report.documents.get(root), report.diagnostics,
                             whole=getattr(report, "analysis_form", "compact") == "full")
    body.append(f'<p class="muted">metricsense {esc(__version__)}</p></main>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>metricsense report</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
