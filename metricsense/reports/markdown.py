"""Markdown: a report a team can paste into a wiki page or a pull request."""

from __future__ import annotations

import re

from metricsense.evaluators.records import CorrelationAnalysis, StructureAnalysis
from metricsense.reports import gains, picture, printable, withheld_line

# Every character Markdown (CommonMark and GitHub's tables) gives a meaning inline: code,
# emphasis, links and images, raw HTML, table cells, headings, strikethrough, entities.
_SPECIAL = {ord(c): "\\" + c for c in "\\`*_[]()!<>|#~&"}


def _one_line(text: object) -> str:
    # Every line break (\n, \r, U+2028, ...) and run of blanks becomes one space; what is left
    # unprintable (ESC, NUL) is written as an escape by printable().
    return printable(" ".join(str(text).split()))


def md_text(text: object) -> str:
    """Text from a spec, the data or a finding, made inert in Markdown wherever it goes (a table
    cell, a heading, a list item): one line, every special character escaped with a backslash,
    so a store named ``![x](https://...)`` reads as that text, not an image."""
    return _one_line(text).translate(_SPECIAL)


def md_code(text: object, table: bool = False) -> str:
    """Text as a code span (a name, a file): shown as written. Backslash escapes do not apply
    inside a code span, so none are added; the span's fence is longer than any run of backticks
    in the text. In a table (``table=True``), ``|`` is written ``\\|``, as GitHub's tables ask."""
    s = _one_line(text)
    if not s:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" or (s[0] == " " and s[-1] == " ") else ""
    if table:
        s = s.replace("|", "\\|")
    return f"{fence}{pad}{s}{pad}{fence}"


#: The name the other Markdown writers (msense diff) used; the same as md_text.
cell = md_text


def diagnostics_table(diagnostics) -> list[str]:
    lines = ["| severity | code | rule | where | message |", "|---|---|---|---|---|"]
    for d in diagnostics:
        msg = md_text(d.message) + (f"<br>_help: {md_text(d.help)}_" if d.help else "")
        lines.append(f"| {md_text(d.severity)} | {md_text(d.code)} | {md_text(d.name)} | {md_text(d.span)} "
                     f"| {msg} |")
    return lines


def segments_table(rollup, limit: int = 12) -> list[str]:
    """A segmented run's rollup: per rule, in how many segments it fired, and which."""
    out = [f"### Segments by {md_code(rollup.by)}: {rollup.count} checked", ""]
    items = rollup.rules()
    if not items:
        return out + ["No rule fired in any segment.", ""]
    out += ["| code | rule | segments | which |", "|---|---|---|---|"]
    for item in items:
        names = item["segments"]
        which = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        out.append(f"| {md_text(item['code'])} | {md_text(item['name'])} | {item['fired']} of {item['of']} | "
                   f"{md_text(which)} |")
    return out + [""]


def picture_block(pic) -> list[str]:
    """The KPI system (``reports.picture``) as a ```` ```mermaid ```` fence, which GitHub and
    JupyterLab draw, and its caption. No line of the diagram holds a backtick (``mermaid_text``)."""
    return ["#### The KPI system", "", "```mermaid", *picture.mermaid(pic).splitlines(), "```", "",
            f"_{md_text(pic.caption())}_", ""]


def render_markdown(report, options=None) -> str:
    from metricsense.reports.text import summary_line

    out = ["## metricsense report", "", summary_line(report), ""]
    withheld = withheld_line(report)
    if withheld:
        # NOTE: metricsense's own sentence (its `msense agenda` is a code span on purpose); the
        # only values in it are rule codes, which the registry holds to [A-Z]{2,4}[0-9]{3}.
        out += [f"_{withheld}_", ""]
    if report.diagnostics:
        out += diagnostics_table(report.diagnostics)
        out.append("")
    if getattr(report, "segments", None) is not None:
        out += segments_table(report.segments)
    for root, analysis in report.analysis.items():
        s = StructureAnalysis.of(analysis)
        doc = report.documents.get(root)
        out += [f"### {md_code(root)}", ""]
        rows = [("KPIs", s.kpis), ("levers", s.levers), ("disturbances", s.disturbances),
                ("structural rank", s.structural_rank)] if s is not None else []
        if doc is not None:
            g = gains.declared(doc)
            rows.append(("declared gains", gains.describe(g)))
        corr = CorrelationAnalysis.of(analysis)
        if corr is not None and corr.effective_number is not None:
            rows.append(("effective number of KPIs", f"{corr.effective_number:.2f}"))
        failures = s.failures if s is not None else None
        if failures:
            rows.append(("key failures by level", ", ".join(f"{k} {v}" for k, v in failures.items())))
        out += ["| measure | value |", "|---|---|"]
        out += [f"| {name} | {md_text(value)} |" for name, value in rows if value is not None]  # our own names
        out.append("")
        if picture.worth_drawing(doc):
            out += picture_block(picture.of_report(report, root))
    return "\n".join(out).rstrip("\n") + "\n"
