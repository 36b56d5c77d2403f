"""Markdown: a report a team can paste into a wiki page or a pull request."""

from __future__ import annotations

from metricsense.evaluators.records import CorrelationAnalysis, StructureAnalysis
from metricsense.reports import gains, withheld_line


def cell(text: object) -> str:
    """Text safe inside a table cell: no HTML, no pipes, no line breaks."""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(s.split())


def diagnostics_table(diagnostics) -> list[str]:
    lines = ["| severity | code | rule | where | message |", "|---|---|---|---|---|"]
    for d in diagnostics:
        msg = cell(d.message) + (f"<br>_help: {cell(d.help)}_" if d.help else "")
        lines.append(f"| {d.severity} | {d.code} | {cell(d.name)} | {cell(d.span)} | {msg} |")
    return lines


def segments_table(rollup, limit: int = 12) -> list[str]:
    """A segmented run's rollup: per rule, in how many segments it fired, and which."""
    out = [f"### Segments by `{cell(rollup.by)}`: {rollup.count} checked", ""]
    items = rollup.rules()
    if not items:
        return out + ["No rule fired in any segment.", ""]
    out += ["| code | rule | segments | which |", "|---|---|---|---|"]
    for item in items:
        names = item["segments"]
        which = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        out.append(f"| {item['code']} | {cell(item['name'])} | {item['fired']} of {item['of']} | {cell(which)} |")
    return out + [""]


def render_markdown(report, options=None) -> str:
    from metricsense.reports.text import summary_line

    out = ["## metricsense report", "", summary_line(report), ""]
    withheld = withheld_line(report)
    if withheld:
        out += [f"_{cell(withheld)}_", ""]
    if report.diagnostics:
        out += diagnostics_table(report.diagnostics)
        out.append("")
    if getattr(report, "segments", None) is not None:
        out += segments_table(report.segments)
    for root, analysis in report.analysis.items():
        s = StructureAnalysis.of(analysis)
        doc = report.documents.get(root)
        out += [f"### `{cell(root)}`", ""]
        rows = [("KPIs", s.kpis), ("levers", s.levers), ("disturbances", s.disturbances),
                ("structural rank", s.structural_rank)] if s is not None else []
        if doc is not None:
            g = gains.declared(doc)
            rows.append(("condition number (declared gains)", gains.format_condition(g["condition_number"])))
        corr = CorrelationAnalysis.of(analysis)
        if corr is not None and corr.effective_number is not None:
            rows.append(("effective number of KPIs", f"{corr.effective_number:.2f}"))
        failures = s.failures if s is not None else None
        if failures:
            rows.append(("key failures by level", ", ".join(f"{k} {v}" for k, v in failures.items())))
        out += ["| measure | value |", "|---|---|"]
        out += [f"| {name} | {cell(value)} |" for name, value in rows if value is not None]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
