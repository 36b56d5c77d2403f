"""The built-in data plugin: readers, the data rules (MS030-MS037) and the data summary."""

from __future__ import annotations

from metricsense.diagnostics import Severity, declare, rules_of
from metricsense.data.summary import DataSummary
from metricsense.hookspecs import hookimpl

_DOC_TAIL = """
    ## What to do instead
    Fix the source, or the `data` clause that points at it; `msense check --format json` lists,
    under `analysis.<spec>.data`, every series that was read, from where and over which periods.
"""

DATA_SOURCE_MISSING = declare(
    code="MS030", name="data-source-missing", severity=Severity.ERROR, exit_code=2,
    doc='''A data source cannot be read: the file is missing, the database refuses, the query fails.

    ## Why is this bad?
    The KPIs that read it cannot be checked against their data, so the noise, redundancy and
    distortion checks (seed 002, seed 004 practice #9: check for distortions) stay silent about
    them. The evaluators that do not need this source still run. Credentials in a URL come from
    the environment (`${PGPASSWORD}`) and are masked in every message.

    ## Example
    ```msense
    data "data/kpi.csv"                 # the file is data/kpis.csv
    kpi csat "C" { data sql "SELECT period, csat FROM kpis" from "postgresql://me:${PGPASSWORD}@db/kpis" }
    ```
    ''' + _DOC_TAIL,
)

DATA_COLUMN_MISSING = declare(
    code="MS031", name="data-column-missing", severity=Severity.ERROR, exit_code=2,
    doc='''A source has no column (or, in long layout, no rows) for a series the spec names.

    ## Why is this bad?
    The KPI is declared but unmeasured: its target can never be met or missed on the record,
    and a conversation about it (seed 003) has nothing to start from. In wide layout a series
    reads the column named after it (or `column "..."`); in long layout the rows whose `series`
    is its name, with values in `column` (default `value`).

    ## Example
    ```msense
    data "data/kpis.csv"            # has columns period, csat, nps
    kpi uptime "Uptime" { }         # no column `uptime`
    ```
    ''' + _DOC_TAIL,
)

DATA_NOT_NUMERIC = declare(
    code="MS032", name="data-not-numeric", severity=Severity.ERROR, exit_code=2,
    doc='''A value is not a number (or a period not a date or whole number); the row is named.

    ## Why is this bad?
    A KPI series with text in it cannot be measured, and guessing (dropping the row, reading
    "4,5" as 45) would change the numbers a team is held to (seed 004: numbers people trust).
    Empty cells and NA, N/A, null are missing values, which are kept as gaps, never filled.

    ## Example
    ```
    period,csat
    2026-01-05,4.4
    2026-01-12,n.a.        <- row 2
    ```
    ''' + _DOC_TAIL,
)

DATA_DUPLICATE_PERIOD = declare(
    code="MS033", name="data-duplicate-period", severity=Severity.ERROR, exit_code=2,
    doc='''A period appears twice for the same series (and segment).

    ## Why is this bad?
    Two values for one week mean one of them is wrong, or the data is at a finer grain than the
    spec says; either way a variance computed from it misleads the conversation (seed 003).

    ## Example
    ```
    period,csat
    2026-01-05,4.4
    2026-01-05,4.6
    ```
    ''' + _DOC_TAIL,
)

DATA_EMPTY = declare(
    code="MS034", name="data-empty", severity=Severity.ERROR, exit_code=2,
    doc='''A data source has no rows (or no header).

    ## Why is this bad?
    An empty export usually means a broken pipeline upstream; checking a KPI system against no
    data would report it clean (seed 004: track the numbers before acting on them).

    ## Example
    An empty `data/kpis.csv`, or a query that selects no columns.
    ''' + _DOC_TAIL,
)

DATA_PATH_OUTSIDE = declare(
    code="MS035", name="data-path-outside", severity=Severity.ERROR, exit_code=2,
    doc='''A data path leaves the spec's folder, or is absolute, without being allowed.

    ## Why is this bad?
    A spec is data written by many hands: it must not be able to read any file on the machine
    that runs the check (a CI runner's secrets, another team's survey answers, seed 001's
    confidential value question). Paths are resolved with symlinks followed.

    ## Example
    ```msense
    data "../../hr/salaries.csv"
    data "/etc/passwd"
    ```

    ## What to do instead
    Keep data beside the spec, or allow a folder explicitly: `msense check --allow-path ../shared`
    or `allow-paths = ["../shared"]` in the configuration.
    ''',
)

SEGMENT_VALUE_MISSING = declare(
    code="MS036", name="segment-value-missing", severity=Severity.WARNING,
    doc='''Rows without a value in the segment column: a segmented run checks them nowhere.

    ## Why is this bad?
    `msense check --by store` checks every store on its own; a row whose `store` is empty belongs
    to no store, so none of its numbers is looked at. A KPI system checked store by store should
    account for every row (seed 004: many indicators, each with its theory; a number nobody reads
    is not measured), and rows that fall between segments are often the first sign of an export
    that dropped a field.

    ## Example
    ```msense
    data "stores.csv"        # some rows have an empty `store`
    ```
    `msense check spec.msense --by store`

    ## What to do instead
    Fill in the segment on every row, or leave those rows out of the source (a `WHERE store IS
    NOT NULL` in a query, a filter before the export).
    ''',
)

DATA_FREQUENCIES_MIXED = declare(
    code="MS038", name="data-frequencies-mixed", severity=Severity.INFO,
    doc='''Series of different frequencies (weekly levers, monthly KPIs): how they are compared.

    Also said when weekly series are dated on different weekdays (a lever by each week's Sunday,
    a KPI by its Saturday): weeks are ISO weeks, Monday to Sunday, and such series may be paired
    one week apart.

    ## Why is this bad?
    It is not wrong, but a weekly lever and a monthly KPI have no common period until one is
    chosen, and a comparison made on a silently chosen calendar misleads the conversation it
    starts (seed 003). Each series is checked on its own periods (its noise, its triggers); where
    two of different frequencies are compared (correlation, estimated gains, response lags), the
    finer one is taken as its mean over the values it has in each coarser period (a weekly
    lever's monthly mean against a monthly KPI). This finding says which series are which.

    ## Example
    ```msense
    lever deploys "Deploys" { data "weekly.csv" }      # dated every Monday
    kpi csat "C" { data "monthly.csv" responds deploys +0.3 }   # one value a month
    ```

    ## What to do instead
    Nothing, when the monthly means are what you mean; when another summary is meant (a
    monthly sum, the month's last value), export the finer series monthly that way.
    ''',
)


SURVEY_UNSAFE = declare(
    code="MS037", name="survey-unsafe", severity=Severity.ERROR, exit_code=2,
    doc='''A survey cannot be read without risking a person's answers, so it is not read.

    ## Why is this bad?
    Survey answers are personal (seed 000: double-check, don't inspect; seed 001: the value
    question works only if people answer honestly). Every way of reading an unclear survey
    "approximately" was found to publish a small group: answers to other questions or other
    rounds pooled in (a two-person team shown as six respondents), two trust signals' tables of
    the same answers subtracted from each other, a KPI reading the survey file, scores off the
    scale averaged into a mean. So the trust signal reads nothing until the survey is clear, and
    this finding names the line and column, never an answer.

    ## Example
    ```msense
    trust value_question {
      team "What value did your manager bring to your team?"   # the survey words it differently
      scale 1..5
      data "survey.csv"        # rounds in a `wave` column, not declared
    }
    kpi team_mood "Mood" { data "survey.csv" column "score" }   # a KPI reading the survey
    ```

    ## What to do instead
    Word the questions as the survey does (or use the codes `managers` and `team`), declare the
    round column (`data "survey.csv" period "wave"`), give each trust signal its own questions,
    keep scores on the declared scale, and keep KPIs off the survey file (publish the survey's
    trust signal, not its rows).
    ''',
)


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)


def lazy_reader(module: str, name: str):
    """The reader ``module.name``, imported (with NumPy and Arrow) only when it is first called."""

    def reader(request):
        import importlib

        return getattr(importlib.import_module(module), name)(request)

    reader.__name__ = reader.__qualname__ = name
    return reader


@hookimpl
def metricsense_register_data_sources(register):
    # A new built-in source is a module of its own beside readers.py, registered here by its
    # suffix or URL scheme (docs/architecture.md).
    register(".csv", lazy_reader("metricsense.data.readers", "read_csv"))
    register(".parquet", lazy_reader("metricsense.data.readers", "read_parquet"))
    register(".pq", lazy_reader("metricsense.data.readers", "read_parquet"))
    register("sqlite", lazy_reader("metricsense.data.readers", "read_sqlite"))
    register("postgresql", lazy_reader("metricsense.data.readers", "read_postgresql"))
    register(".xlsx", lazy_reader("metricsense.data.excel", "read_excel"))
    register(".xlsm", lazy_reader("metricsense.data.excel", "read_excel"))
    register("duckdb", lazy_reader("metricsense.data.duckdb", "read_duckdb"))


@hookimpl
def metricsense_register_analyses(register):
    register(DataSummary.name, DataSummary)


@hookimpl
def metricsense_analyze(data, analysis):
    if data is not None:
        analysis["data"] = data.summary()
