"""IPython integration: ``%load_ext metricsense`` registers the ``%%msense`` cell magic.

The cell is a spec. Its ``include`` and ``data`` paths are relative to the notebook (the
kernel's working folder), as for spec text given to ``metricsense.check``. Options on the magic
line::

    %%msense [--data VAR] [--select RULES] [--ignore RULES] [--fail-on LEVEL] [--config FILE]
             [--allow-path DIR] [--as VAR] [--explore] [--no-raise]

``--data VAR`` passes a variable of the notebook (a pandas or polars DataFrame, or a mapping of
file name or stem to one) as ``check(..., data=VAR)``; ``--select``/``--ignore`` take
comma-separated codes, prefixes or names; ``--as VAR`` stores the Report in a variable;
``--explore`` shows the explorer instead of the report. The cell's output is the Report, shown
as the HTML report (diagnostics with their source lines, then the pictures).

The cell fails (it raises, so Run All stops there) when the spec has errors, its data cannot be
read, a plugin crashed, or an option on the magic line is wrong: what the command line answers
with exit code 2 or 3. ``--fail-on LEVEL`` also fails it on findings at or above LEVEL (the
magic's own default is ``error``, whatever a msense.toml says: warnings are what a notebook is
there to look at). The error shows the failing diagnostics as ``msense check`` prints them, with
no traceback; ``--as VAR`` is set first. ``--no-raise`` shows the report instead of failing.

Loading the extension also registers IPython's display formatters for a Report, a Document and a
single Diagnostic (``metricsense.widgets.display.register_formatters``); importing metricsense
inside IPython does the same, so a Report shows as HTML without ``%load_ext``.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any


class MsenseCellError(Exception):
    """A ``%%msense`` cell that fails: IPython shows the message alone, not a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return str(self).splitlines()


class MagicUsageError(MsenseCellError):
    """A wrong option on the ``%%msense`` line, or a --data variable the notebook does not hold."""


class SpecFailed(MsenseCellError):
    """The cell's spec has errors (or findings at --fail-on): ``report`` holds the whole Report."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # never SystemExit inside a kernel
        raise MagicUsageError(f"%%msense: {message}\n{self.format_usage()}")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="%%msense", add_help=False, description="Check the cell as a metricsense spec.")
    p.add_argument("--data", metavar="VAR", help="a notebook variable holding the data (DataFrame or mapping)")
    p.add_argument("--select", metavar="RULES", help="comma-separated codes, prefixes or names")
    p.add_argument("--ignore", metavar="RULES", help="comma-separated codes, prefixes or names")
    p.add_argument("--fail-on", dest="fail_on", choices=["error", "warning", "info", "hint", "never"])
    p.add_argument("--config", metavar="FILE", help="a msense.toml or pyproject.toml")
    p.add_argument("--allow-path", dest="allow_path", action="append", default=[], metavar="DIR")
    p.add_argument("--as", dest="name", metavar="VAR", help="store the Report in this variable")
    p.add_argument("--explore", action="store_true", help="show the explorer instead of the report")
    p.add_argument("--no-raise", dest="no_raise", action="store_true",
                   help="show the report of a spec with errors instead of failing the cell")
    return p


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def run_cell(line: str, cell: str, namespace: dict[str, Any]) -> Any:
    """What ``%%msense`` does, without IPython: check ``cell`` with the options in ``line``."""
    from metricsense.engine import check
    from metricsense.widgets.explorer import explore

    args = parser().parse_args(shlex.split(line))
    data = None
    if args.data:
        if args.data not in namespace:
            raise MagicUsageError(f"%%msense: --data {args.data}: no such variable in the notebook")
        data = namespace[args.data]
    overrides: dict[str, Any] = {}
    if args.select:
        overrides["select"] = _split(args.select)
    if args.ignore:
        overrides["ignore"] = _split(args.ignore)
    if args.fail_on:
        overrides["fail_on"] = args.fail_on
    # NOTE: the cell's first line is the `%%msense` line: the spec starts on line 2, so one blank
    # line goes first and findings name the lines the notebook shows. It also keeps a cell with
    # no brace from being taken for a path by `check`.
    text = "\n" + (cell if cell.endswith("\n") else cell + "\n")
    report = check(text, data=data, config=args.config or None,  # None: the nearest msense.toml
                               allow_paths=args.allow_path, overrides=overrides or None)
    if args.name:
        namespace[args.name] = report
    if not args.no_raise:
        _raise_on_failure(report, args.fail_on or "error", line)
    if args.explore:
        return explore(report, data=data)
    return report


def _raise_on_failure(report: Any, fail_on: str, line: str = "") -> None:
    """SpecFailed with the diagnostics that fail the cell (as `msense check` prints them). A
    finding on the cell's line 1 (in-memory data, the spec as a whole) quotes the magic's line."""
    from metricsense.registry import exit_code_of
    from metricsense.reports.text import render_diagnostics, summary_line

    registry = report.registry
    failing = [d for d in report.diagnostics if exit_code_of([d], registry, fail_on)]
    if not failing and not getattr(report, "streamed_exit", 0):
        return
    n = len(failing)
    what = "fails" if fail_on in ("error", "never") else f"fails at --fail-on {fail_on}"
    head = f"%%msense: the check {what}: {n} diagnostic{'s' if n != 1 else ''} below (--no-raise shows the report instead)"
    sources = dict(getattr(report, "sources", None) or {})
    for name, text in sources.items():
        if text.startswith("\n"):  # the blank line run_cell puts where the magic's line is
            sources[name] = f"%%msense {line}".rstrip() + text
    body = render_diagnostics(failing, False, sources).rstrip("\n")
    raise SpecFailed(f"{head}\n\n{body}\n\n{summary_line(report)}", report)


def msense(line: str, cell: str) -> Any:
    """Check the cell as a metricsense spec and show the report (``%%msense --help`` style options
    are described in ``metricsense.magic``)."""
    from IPython import get_ipython

    ip = get_ipython()
    # A MsenseCellError fails the cell with its message alone (no traceback): Run All stops here.
    return run_cell(line, cell, ip.user_ns if ip is not None else {})


def load_ipython_extension(ipython: Any) -> None:
    from metricsense.widgets.display import register_formatters

    ipython.register_magic_function(msense, magic_kind="cell", magic_name="msense")
    register_formatters(ipython)
