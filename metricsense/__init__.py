"""metricsense: a linter and explorer for KPI systems.

The public API: ``load`` a spec into its model, ``check`` it into a ``Report``, and the pieces a
plugin needs (``hookimpl``, ``rule``, ``Option``, ``Diagnostic``, ``Severity``, ``Span``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricsense.diagnostics import Diagnostic, Option, Rule, Severity, rule, rules_of
from metricsense.hookspecs import hookimpl
from metricsense.span import Span

if TYPE_CHECKING:
    from metricsense.report import Report
    from metricsense.model import Document

from metricsense.version import __version__
__all__ = [
    "Diagnostic", "Option", "Report", "Rule", "Severity", "Span", "SpecError",
    "__version__", "agenda", "check", "explore", "hookimpl", "load", "load_ipython_extension", "rule", "rules_of",
    "select",
]


class SpecError(Exception):
    """A spec that cannot be loaded: ``problems`` lists each one with its position."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first.span}: {first.message}{more}")


def load(path_or_text: str | Path, *, allow_paths=()) -> Document:
    """Parse a spec (a path to a .msense or .md file, or spec text) into its model.

    Includes are followed. Raises ``SpecError`` listing every syntax or include problem.
    """
    from metricsense.engine import looks_like_text
    from metricsense.loader import load_path

    if isinstance(path_or_text, str) and looks_like_text(path_or_text):
        result = load_path(Path("<string>"), text=path_or_text, allow_paths=list(allow_paths))
    else:
        result = load_path(Path(path_or_text), allow_paths=[Path(p) for p in allow_paths])
    if result.problems or result.document is None:
        raise SpecError(result.problems)
    return result.document


def select(spec_or_path: Any, size: int | None = None, top: int = 5, data: Any = None, *, allow_paths=(),
           time_limit: float | None = None):
    """Choose the KPIs to hold at their targets: the ``top`` best sets of ``size`` KPIs.

    Self-optimizing control's exact local method (``msense select``; docs/select.md): each set's
    worst-case and average loss, the loss of the spec's targeted KPIs, the best combination of all
    KPIs and the null-space check. ``size`` defaults to the number of levers (seed 002: no more
    KPIs than levers). ``data`` (as for ``check``) gives each KPI's noise when it declares none;
    by default the spec's own data is read, when it has any. Returns a
    ``metricsense.selection.Selection`` (``.as_dict()`` is the JSON); raises ``SpecError`` for a
    spec that does not parse and ``metricsense.selection.SelectError`` (with ``span``) for one
    that `select` cannot use. ``time_limit`` (seconds): stop the search then and return the best
    sets found so far (``result.complete`` is False); by default it runs to the end.
    """
    from metricsense.selection.run import Unreadable, select_spec

    try:
        return select_spec(spec_or_path, size=size, top=top, data=data, allow_paths=allow_paths,
                           time_limit=time_limit)
    except Unreadable as exc:
        raise SpecError(exc.problems) from None


def check(spec: Any, data: Any = None, config: Any = None, **kwargs: Any) -> Report:
    """Check a spec (a Document, a path, paths, or spec text) and return the Report.

    ``config`` is a ``Config``, a mapping shaped like ``[tool.metricsense]``, or a path to a
    config file; by default the nearest msense.toml or pyproject.toml is used. User mistakes
    never raise: they are diagnostics in the report (exit code 2).
    """
    from metricsense.engine import check as _check

    return _check(spec, data=data, config=config, **kwargs)


def agenda(report_or_spec: Any, since: Any = None, **kwargs: Any):
    """The conversation agenda (seed 003) of a Report, or of a spec checked first.

    ``since`` (a date or a period label) keeps the items whose periods end on or after it. The
    result has ``items``, ``to_markdown()`` and ``to_dict()``, and displays as Markdown.
    """
    from metricsense.agenda import agenda as _agenda

    return _agenda(report_or_spec, since=since, **kwargs)


def explore(report: Any, spec: str | None = None, data: Any = None, **kwargs: Any):
    """An ipywidgets explorer of a Report (or of a spec, checked first): needs the ``jupyter`` extra.

    Tabs: overview, diagnostics (by family and severity), redundancy (a threshold that
    re-clusters), decoupling (tick KPIs and levers off and see the condition number, rank and
    pairing), conversations and trust; above them, every change before -> after. ``spec`` picks
    one spec of a report that holds several; ``compare=`` (another Report, spec or path) adds a
    Diff tab (`msense diff`'s view). ``explorer.snapshot()`` and ``explorer.save_html(path)`` give
    the tabs as last shown, for a page without a kernel.
    """
    from metricsense.widgets.explorer import explore as _explore

    return _explore(report, spec=spec, data=data, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext metricsense``: the ``%%msense`` cell magic and rich display of diagnostics."""
    from metricsense.magic import load_ipython_extension as _load

    _load(ipython)


def __getattr__(name: str):
    if name == "Report":
        from metricsense.report import Report

        return Report
    raise AttributeError(name)


def _display_in_ipython() -> None:
    """Inside IPython (a notebook, a console), show reports, specs and findings as HTML at once."""
    import sys

    if "IPython" not in sys.modules:  # the CLI and plain scripts never pay for this
        return
    try:
        from IPython import get_ipython

        ipython = get_ipython()
        if ipython is not None and hasattr(ipython, "display_formatter"):
            from metricsense.widgets.display import register_formatters

            register_formatters(ipython)
    except Exception:  # noqa: BLE001 - rich display is a nicety; never fail an import for it
        pass


_display_in_ipython()
