"""The text report: ruff-style findings for people, with the source line and a caret."""

from __future__ import annotations

from pathlib import Path

from metricsense.data.secrets import mask_text
from metricsense.diagnostics import Diagnostic, Severity
from metricsense.reports import printable, withheld_line
from metricsense.segments.results import rollup_text
from metricsense.span import split_lines

_COLOURS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.INFO: "\x1b[1;36m",
    Severity.HINT: "\x1b[1;32m",
}
_BOLD, _BLUE, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[0m"


class SourceCache:
    """Lines of the files diagnostics point at, read once each (text given inline included)."""

    def __init__(self, inline: dict[str, str] | None = None) -> None:
        self._lines: dict[str, list[str]] = {k: split_lines(v) for k, v in (inline or {}).items()}

    def line(self, file: str, number: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None:
            try:
                lines = split_lines(Path(file).read_text("utf-8", errors="replace"))
            except OSError:
                lines = []
            self._lines[file] = lines
        if 1 <= number <= len(lines):
            # A password written in a connection URL is masked wherever a line is quoted (text
            # and HTML reports), as in every message.
            return mask_text(lines[number - 1].rstrip("\r"))
        return None


def render_text(report, options=None) -> str:
    color = bool((options or {}).get("color"))
    out = render_diagnostics(report.diagnostics, color, getattr(report, "sources", None))
    if getattr(report, "segments", None) is not None:
        out += "\n".join(rollup_text(report.segments)) + "\n\n"
    return out + summary_lines(report) + "\n"


def summary_lines(report) -> str:
    """The summary line, after the sentence on personal findings not shown, if any."""
    line = withheld_line(report)
    return (f"{line}\n" if line else "") + summary_line(report)


def render_diagnostics(diagnostics, color: bool = False, inline: dict[str, str] | None = None) -> str:
    """Each diagnostic ruff-style, followed by a blank line."""
    sources = SourceCache(inline)
    out: list[str] = []

    def paint(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    for d in diagnostics:
        out.extend(_render_one(d, sources, paint))
        out.append("")
    return "\n".join(out) + "\n" if out else ""


def _shown_line(text: str, column: int, end: int) -> tuple[str, int, int]:
    """A source line as shown (control characters, a NUL or an ESC in the spec, as escapes: never
    raw on a terminal or in a CI log), and the columns ``column`` and ``end`` moved to match."""
    if text.isprintable():
        return text, column, end
    parts = [c if c.isprintable() else printable(c) for c in text]
    starts = [0]
    for part in parts:
        starts.append(starts[-1] + len(part))

    def moved(c: int) -> int:
        return starts[min(max(c, 1), len(text) + 1) - 1] + 1

    return "".join(parts), moved(column), moved(end)


def source_and_caret(span, sources: SourceCache) -> tuple[str, str] | None:
    """The span's source line as shown (tabs as one space, a long line cut around the span) and
    the caret line under it; None when the source line is not to be had. Text and HTML share it."""
    text = sources.line(span.file, span.line)
    if text is None:
        return None
    text = text.expandtabs(1)
    end = span.end_column if span.end_line == span.line else len(text) + 1
    text, start, stop = _shown_line(text, span.column, min(end, len(text) + 1))
    return text, " " * (start - 1) + "^" * max(1, stop - start)


def _render_one(d: Diagnostic, sources: SourceCache, paint) -> list[str]:
    head = paint(_COLOURS[d.severity], f"{d.severity}[{d.code}]") + paint(_BOLD, f": {printable(d.message)}")
    lines = [head]
    span = d.span
    gutter = len(str(span.line))
    pad = " " * gutter
    lines.append(f"{pad}{paint(_BLUE, '-->')} {printable(span.file)}:{span.line}:{span.column}")
    quoted = source_and_caret(span, sources)
    if quoted is not None:
        text, caret = quoted
        lines.append(f"{pad} {paint(_BLUE, '|')}")
        lines.append(f"{paint(_BLUE, str(span.line))} {paint(_BLUE, '|')} {text}")
        lines.append(f"{pad} {paint(_BLUE, '|')} {paint(_COLOURS[d.severity], caret)}")
        lines.append(f"{pad} {paint(_BLUE, '|')}")
    for rel in d.related:
        lines.append(f"{pad} {paint(_BLUE, '=')} note: {printable(rel.message)} --> {printable(str(rel.span))}")
    if d.help:
        lines.append(f"{pad} {paint(_BLUE, '=')} help: {printable(d.help)}")
    return lines


def summary_line(report) -> str:
    counts = report.summary()["by_severity"]
    total = sum(counts.values())
    if total == 0:
        checked = len(report.files)
        return f"All checks passed ({checked} file{'s' if checked != 1 else ''})."
    parts = [f"{n} {name}{'s' if n != 1 and name in ('error', 'warning', 'hint') else ''}"
             for name, n in counts.items() if n]
    tail = f", {report.suppressed} suppressed" if report.suppressed else ""
    return f"Found {total} diagnostic{'s' if total != 1 else ''} ({', '.join(parts)}{tail})."
