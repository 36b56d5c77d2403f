"""Pieces of the command line kept out of cli.py: the progress bar, the baseline, fmt's line ends.

Nothing heavy is imported at module level (the CLI's start-up stays light).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


def _usage_error(message: str) -> None:
    """A usage mistake: the message, exit 2 (never a traceback)."""
    click.echo(f"msense: {message}", err=True)
    sys.exit(2)


def _write_file(output: str, text: str) -> None:
    """Write a command's result to ``-o PATH``; a path that cannot be written is a message, exit 2."""
    try:
        Path(output).write_text(text, "utf-8")
    except OSError as exc:
        click.echo(f"msense: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(2)


class ProgressBar:
    """A one-line progress bar on standard error, drawn only after `delay` seconds.

    Used only when standard error is a terminal: piped or redirected output never sees it.
    """

    def __init__(self, delay: float = 0.5, stream=None) -> None:
        import time

        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.delay = delay
        self.drawn = False

    def __call__(self, done: int, total: int, what: str) -> None:
        import time

        if time.monotonic() - self.start < self.delay:
            return
        width = 24
        filled = int(width * done / max(total, 1))
        text = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}"[:100]
        self.stream.write(text.ljust(100))
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()



def read_baseline(path: str):
    """The baseline's fingerprints, counted (a finding twice in the baseline hides two)."""
    import json
    from collections import Counter

    try:
        data = json.loads(Path(path).read_text("utf-8"))
        found = Counter(str(f["fingerprint"]) for f in data["findings"])
    except OSError as exc:
        _usage_error(f"cannot read the baseline {path}: {exc.strerror}")
    except (ValueError, KeyError, TypeError):
        _usage_error(f"{path} is not a metricsense baseline (write one with --write-baseline)")
    return found


def write_baseline(path: str, report) -> None:
    """The run's findings as a baseline: rule, file, segment, fingerprint and message. Personal
    findings (about one named person) are never written: a baseline is committed for all to read."""
    import json

    from metricsense.report import is_personal

    findings = [{"code": d.code, "file": d.span.file, "segment": d.segment, "fingerprint": d.fingerprint(),
                 "message": d.message}
                for d in sorted(report.diagnostics, key=lambda d: d.sort_key())
                if not is_personal(d, report.registry)]
    _write_file(path, json.dumps({"version": 1, "findings": findings}, indent=1, ensure_ascii=False) + "\n")


def without_baseline(report, known) -> tuple[Any, int]:
    from collections import Counter
    from dataclasses import replace

    left, kept, hidden = Counter(known), [], 0
    rules = report.registry.rules if report.registry is not None else {}
    for d in report.diagnostics:
        key = d.fingerprint()
        rule = rules.get(d.code)
        if rule is not None and (rule.exit_code or 0) >= 2:
            kept.append(d)  # a spec, data or plugin error is never baselined: it stops the check
        elif left[key] > 0:
            left[key] -= 1
            hidden += 1
        else:
            kept.append(d)
    return replace(report, diagnostics=kept), hidden


def keep_line_ends(raw: str, format_text) -> str:
    """``format_text`` on ``raw`` with its line ends kept: a file written with CRLF throughout is
    formatted as LF and written back with CRLF (it would otherwise always "need" reformatting)."""
    if "\r\n" in raw and raw.count("\r\n") == raw.count("\n"):
        return format_text(raw.replace("\r\n", "\n")).replace("\n", "\r\n")
    return format_text(raw)


def fmt_failure(exc: BaseException) -> str:
    """Why a file was not formatted, in the checker's words (a syntax error: its line and column)."""
    if isinstance(exc, RecursionError):
        return "the spec nests too deeply to format; it is left as it is"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)
