"""The whole extension surface of metricsense: every hook a plugin may implement.

Plugins are found through the ``metricsense`` entry point group; the built-in evaluators are
registered through the very same hooks (see ``metricsense.plugins.DEFAULT_PLUGINS``). A hook
implementation takes only the arguments it needs.
"""

from __future__ import annotations

import pluggy

PROJECT = "metricsense"
#: The plugin API version. A plugin may declare ``METRICSENSE_API = N`` in its module; a plugin
#: that needs a newer API than this one is refused with a clear message.
API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def metricsense_register_rules(register):
    """Register rules. Called once, when a check (or ``msense rules``) first needs the registry.

    :param register: call ``register(rule)`` once per rule, where ``rule`` was made with the
        ``metricsense.rule`` decorator. A code or name that another plugin already registered
        is an error that names both plugins; one rule never silently replaces another.

    Third-party rules use their own code prefix (two to four capital letters, three digits).
    """


@hookspec
def metricsense_register_formats(register):
    """Register output formats for ``msense check --format NAME``.

    :param register: call ``register(name, render)`` where ``render(report, options) -> str``
        turns a ``metricsense.Report`` into the text written to standard output; ``options`` is a
        mapping with at least ``color`` (True when writing to a terminal).

    Called when the CLI resolves ``--format`` and by ``msense plugins``.
    """


@hookspec
def metricsense_register_analyses(register):
    """Register the types of the analysis records your ``metricsense_analyze`` produces.

    :param register: call ``register(name, record_type)`` once per record, where ``name`` is
        the key the record is stored under in a spec's analysis and ``record_type`` a subclass
        of ``metricsense.analysis.Record`` (a frozen dataclass). A name another plugin already
        registered is an error naming both plugins.

    Called with the other registration hooks. After the analyses of a spec ran, a value stored
    under a registered name that is not of its type is reported (MS005) and dropped, so reports
    and rules can read fields without checking.
    """


@hookspec
def metricsense_register_commands(cli):
    """Add subcommands to the ``msense`` command line.

    :param cli: the click group behind ``msense``; decorate functions with ``@cli.command()``.

    Called once when the CLI starts, before arguments are parsed.
    """


@hookspec
def metricsense_analyze(spec, data, analysis, surveys):
    """Compute numeric results for one spec, before its rules run.

    :param spec: the ``metricsense.model.Document`` being checked.
    :param data: the loaded data for the spec, or None when the check has none.
    :param surveys: the survey answers of the spec's trust signals (name -> ``Survey``), always
        read whole, for the spec: also in a segmented run, whose own pass has no ``data``; None in
        one segment's check (a segment never reads or shows a survey: metricsense.evaluators.trust).
    :param analysis: the spec's analysis mapping; add one entry under your own key: a record
        (a frozen dataclass deriving from ``metricsense.analysis.Record``) whose type your
        plugin registers under that key with ``metricsense_register_analyses``, for example
        ``analysis["structure"] = StructureAnalysis(...)``. It appears in the JSON report's
        ``analysis`` section (its ``to_json()``) whether or not any rule fires, and rules read
        it through ``ctx.analysis``, so the work is done once. A plain JSON-able dict under an
        unregistered key is still accepted (plugins written before records), but reports and
        other plugins can only read a record's fields.

    Called once per spec, for every plugin, in registration order. An exception becomes an
    MS005 diagnostic naming the plugin; the other plugins and the rules still run.
    """


@hookspec
def metricsense_register_data_sources(register):
    """Register readers for data sources.

    :param register: call ``register(kind, reader)``, where ``kind`` is a file suffix with its
        dot (``".csv"``) for ``data "file"`` clauses, or a URL scheme (``"snowflake"``) for
        ``data sql "QUERY" from "URL"`` clauses, and ``reader(request)`` reads one source:
        ``metricsense.data.ReadRequest`` in, a ``metricsense.data.Table`` out, or an iterable
        of Tables (batches with the same columns, for sources too large to hold twice). A reader
        raises ``metricsense.data.DataError`` for a problem with the data (a missing file, a bad
        value): it becomes a diagnostic pointing at the spec's ``data`` clause. Any other
        exception becomes MS005 naming the plugin.

    Called the first time a check needs to read data. A kind another plugin registered is an
    error naming both plugins.
    """


@hookspec
def metricsense_register_explorer_tabs(register):
    """Add tabs to the notebook explorer (``metricsense.explore``, the ``jupyter`` extra).

    :param register: call ``register(title, build)`` once per tab, where ``title`` is the tab's
        label and ``build(model) -> widget`` returns an ipywidgets widget for one
        ``metricsense.widgets.explorer.ExplorerModel``: a traitlets object holding the report,
        the spec's ``document`` and ``data``, and the reader's choices (``kpis_on``,
        ``levers_on``, ``threshold``, ``kpi``, ...). Observe its traits to follow them; compute
        with the core library, not in the widget. Read trust results from ``model.trust``, which
        never holds a suppressed group.

    Called each time an explorer is built, after the built-in tabs. A registration or a
    ``build`` that raises becomes a tab saying so; the other tabs still work.
    """
