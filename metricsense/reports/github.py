"""GitHub Actions workflow commands: one `::warning file=...::message` annotation per finding."""

from __future__ import annotations

from metricsense.diagnostics import Severity
from metricsense.reports import is_file, printable, withheld_line

_LINE_ENDS = "\r\n"  # escaped by the workflow command itself (%0D, %0A)

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice", Severity.HINT: "notice"}


def escape_data(text: str) -> str:
    """The message part (as @actions/core escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (as @actions/core escapeProperty): also `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(d) -> str:
    props = []
    span = d.span
    if is_file(span.file):
        props += [("file", span.file), ("line", span.line), ("col", span.column),
                  ("endLine", span.end_line), ("endColumn", span.end_column)]
    props.append(("title", f"{d.code} {d.name}"))
    # NOTE: CR and LF are the workflow command's to escape (%0D, %0A: the annotation keeps its
    # lines); every other control character (a data value's ESC) is written as an escape.
    message = printable(d.message, keep=_LINE_ENDS)
    for r in d.related:
        message += f"\nnote: {printable(r.message, keep=_LINE_ENDS)} ({printable(str(r.span))})"
    if d.help:
        message += f"\nhelp: {printable(d.help, keep=_LINE_ENDS)}"
    head = ",".join(f"{k}={escape_property(printable(str(v)))}" for k, v in props)
    return f"::{COMMANDS[d.severity]} {head}::{escape_data(message)}"


def render_github(report, options=None) -> str:
    from metricsense.reports.text import summary_line

    lines = [annotation(d) for d in report.diagnostics]
    withheld = withheld_line(report)
    if withheld:  # no file, no line: a personal finding is never pinned to a place
        lines.append(f"::notice title={escape_property('metricsense: personal findings')}::{escape_data(withheld)}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
