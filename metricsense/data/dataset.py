"""Read every series a spec points at into aligned arrays: the evaluators' view of the data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from metricsense.collector import paused
from metricsense.data.paths import resolve_inside
from metricsense.data.pivot import PeriodIndex, Pivot, Rows, as_labels, take
from metricsense.data import periods as P
from metricsense.data.numbers import NumberReader
from metricsense.data.table import DataError, ReadRequest, RowFilter, Table
from metricsense.model import KPI, DataSource, Document, Ref, walk_expr
from metricsense.diagnostics import Problem
from metricsense.data.summary import DataSummary, SeriesSummary, SurveySummary
from metricsense.span import Span

from metricsense.data.sources import Survey, period_column as _period_column, problem as _problem  # noqa: E402
from metricsense.data.sources import reader_plugin as _reader_plugin, shown as _shown  # noqa: E402
from metricsense.data.survey import SURVEY_COLUMNS  # noqa: E402,F401  (re-exported here)


@dataclass
class Series:
    """One series on the dataset's period index: NaN where a period has no value.

    For long data with a segment column, ``by_segment`` holds one column per segment and
    ``values`` is their mean per period (NaN where no segment has a value).
    """

    name: str
    values: np.ndarray
    origin: str
    segments: tuple[str, ...] = ()
    by_segment: np.ndarray | None = None
    #: What the values were written in when the file said (`%`, a currency symbol), else None.
    unit: str | None = None


@dataclass
class DataSet:
    """Every series on one period index (the union of their calendar periods, in order).

    ``units`` is each series' frequency (day, week, month, quarter, year; "period" for whole
    numbers; None when its dates follow no calendar unit); ``frequency`` the series' common unit,
    or the finest when they differ (see ``aligned`` for how series of different units meet).
    """

    periods: np.ndarray
    series_map: dict[str, Series]
    surveys: dict[str, Survey]
    frequency: str | None
    problems: list[Problem] = field(default_factory=list)
    units: dict[str, str | None] = field(default_factory=dict)

    def unit_of(self, name: str) -> str | None:
        return self.units.get(name, self.frequency)

    def label(self, i: int) -> str:
        """Period ``i`` as people write it: ``2024-03`` for a month, ``2024-Q1``, ``2024``; a day
        or a week as its (first) date. Among series of different frequencies, a period is named
        at the coarsest frequency of the series with a value in it."""
        return self._labels()[i]

    def labels(self) -> list[str]:
        """``label`` of every period."""
        return list(self._labels())

    def _labels(self) -> tuple[str, ...]:
        # NOTE: made once: a label looked at every series (`mixed`, `_row_units`), and a
        # thousand triggers each naming their periods made that quadratic in the series.
        key = (id(self.periods), len(self.periods), self.frequency, len(self.series_map), len(self.units))
        cached = self.__dict__.get("_label_cache")
        if cached is None or cached[0] != key:
            if self.mixed is None:
                made = tuple(P.labels(self.periods, self.frequency))
            else:
                made = tuple(P.label(p, u) for p, u in zip(self.periods, self._row_units))
            cached = self.__dict__["_label_cache"] = (key, made)
        return cached[1]

    @property
    def _row_units(self) -> list[str | None]:
        order = {u: i for i, u in enumerate(P.UNITS)}
        best = np.full(len(self.periods), -1)
        for name, s in self.series_map.items():
            rank = order.get(self.units.get(name), -1)
            best = np.where(~np.isnan(s.values) & (rank > best), rank, best)
        return [P.UNITS[b] if b >= 0 else None for b in best.tolist()]

    @property
    def mixed(self) -> tuple[str, ...] | None:
        """The distinct units of the series when they differ, else None."""
        found = sorted({u for u in self.units.values() if u is not None}, key=_unit_order)
        return tuple(found) if len(found) > 1 else None

    def aligned(self, names: Iterable[str]) -> tuple[np.ndarray, str | None]:
        """The series on one regular calendar: G consecutive periods x n series (NaN: missing).

        The unit is the coarsest of the series' units; a series of a finer unit is its mean over
        the periods it has in each coarser one (a weekly lever against a monthly KPI is the
        lever's monthly mean). Every period between the first and the last is a row, so a row
        and the next are consecutive periods and a change between them never bridges a gap.
        """
        return aligned(self, list(names))

    def changes(self, names: Iterable[str]) -> np.ndarray:
        """Period-to-period changes on ``aligned``: a change exists only between two consecutive
        periods that both have a value (as pandas' ``diff()``); the first row is NaN."""
        return changes_of(self.aligned(names)[0])

    def series(self, name: str) -> Series | None:
        return self.series_map.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.series_map

    def matrix(self, names: Iterable[str]) -> np.ndarray:
        """T periods x n series (float64, NaN for missing), in the order given."""
        cols = [self.series_map[n].values for n in names]
        if not cols:
            return np.empty((len(self.periods), 0))
        return np.column_stack(cols)

    def summary(self) -> DataSummary:
        """What was read: the periods, and per series and survey its source (the `data` analysis)."""
        series = {}
        for name, s in self.series_map.items():
            present = ~np.isnan(s.values)
            first = last = None
            if present.any():
                idx = np.flatnonzero(present)
                first, last = self.label(idx[0]), self.label(idx[-1])
            series[name] = SeriesSummary(s.origin, int(present.sum()), int((~present).sum()), first, last,
                                         len(s.segments) if s.segments else None, s.unit)
        return DataSummary(
            periods=len(self.periods),
            first=self.label(0) if len(self.periods) else None,
            last=self.label(-1) if len(self.periods) else None,
            frequency=self.frequency,
            series=series,
            surveys={name: SurveySummary(s.origin) for name, s in sorted(self.surveys.items())},
        )


@dataclass
class _Need:
    """A series (or survey) the spec wants, and from where."""

    name: str
    node: Any
    source: DataSource
    column: str
    report_missing: bool


Reader = Callable[[ReadRequest], Iterable[Table]]


def source_key(src: DataSource) -> tuple:
    """Sources that are read once for every series they serve share a key."""
    return (src.kind, src.path, src.query, src.url, src.period, src.layout, src.segment,
            src.column if src.layout == "long" else None, src.span.file,
            src.decimal, src.currency, src.sheet, src.cells, src.table)


class Builder:
    def __init__(self, doc: Document, data: Any, readers: Mapping[str, tuple[Reader, str]],
                 allowed: list[Path], base: Path, where: RowFilter | None = None,
                 prefetched: Mapping[tuple, list[Table]] | None = None,
                 limits: tuple[int, float] | None = None) -> None:
        self.doc, self.data, self.readers = doc, data, readers
        self.limits = limits  # (max rows, timeout in seconds) of a query; None: the defaults
        self.allowed, self.base = allowed, base
        self.where = where  # one segment's rows (msense check --by), or None for all rows
        self.prefetched = prefetched or {}  # source key -> its (already filtered) tables
        self.problems: list[Problem] = []
        self.crashes: list[tuple[str, str]] = []  # (plugin, message)
        self.reads_survey: list[tuple[_Need, str]] = []  # series refused: they read a trust signal's survey
        self._identities: dict[tuple, tuple | None] = {}
        self._needs: tuple[list[_Need], list[_Need]] | None = None

    # ---- which source each series reads ----------------------------------------------------
    def needs(self) -> tuple[list[_Need], list[_Need]]:
        """The series and the surveys the spec reads (found once: ``survey_refusals`` and
        ``sources`` ask again)."""
        if self._needs is None:
            self._needs = self._find_needs()
        series, surveys = self._needs
        return list(series), list(surveys)

    def _find_needs(self) -> tuple[list[_Need], list[_Need]]:
        doc = self.doc
        defaults = list(doc.data_defaults)
        if _single_table(self.data):
            defaults = [_memory_source("<data>", doc)]
        series: list[_Need] = []
        for node in (*doc.kpis, *doc.levers, *doc.disturbances):
            if node.data is not None:
                src = node.data
                column = node.name if src.layout == "long" else (src.column or node.name)
                series.append(_Need(node.name, node, src, column, True))
            elif defaults:
                series.append(_Need(node.name, node, defaults[0], node.name, isinstance(node, KPI)))
        by_name = {n.name: n for n in series}
        for trig in doc.triggers:
            for ref in (r for r in walk_expr(trig.condition) if isinstance(r, Ref) and len(r.parts) > 1):
                owner = by_name.get(ref.parts[0])
                dotted = ".".join(ref.parts)
                if owner is not None and dotted not in by_name:
                    column = "_".join(ref.parts)
                    by_name[dotted] = _Need(dotted, ref, owner.source, column, True)
                    series.append(by_name[dotted])
        # A segment reads no survey: trust is one table per survey, for the spec (evaluators.trust).
        surveys = ([] if self.where is not None else
                   [_Need(t.name, t, t.data, "", True) for t in doc.trusts if t.data is not None])
        # NOTE: a series reading a trust signal's survey (a KPI `segment "group"` on survey.csv)
        # would publish every group, hidden ones too, with its exact mean: it is not read (MS037),
        # whether a trust signal of this spec names the file or its header says it is survey
        # answers (a spec with the KPI alone; data.survey.is_survey_file).
        held: dict[tuple, str] = {}
        for t in doc.trusts:
            if t.data is not None:
                held.setdefault(self.identity(t.data), f"the survey of trust signal `{t.name}`")
        held.pop(None, None)
        self.reads_survey = []
        kept = []
        answers: dict[tuple, bool] = {}  # file identity -> its header is a survey's (one look per file)
        for n in series:
            identity = self.identity(n.source)
            why = held.get(identity) if identity is not None else None
            if why is None and identity is not None and identity[0] == "file":
                if identity not in answers:
                    from metricsense.data.survey import is_survey_file

                    # NOTE: by the path its reader opens (a link `survey.xlsx` to `answers.v2` is
                    # read as a workbook), not the resolved one
                    made = self.request(n.source)
                    answers[identity] = is_survey_file(str(made[1].path) if made else identity[-1])
                why = "survey answers (its columns are a survey's)" if answers[identity] else None
            if why is None:
                kept.append(n)
            else:
                self.reads_survey.append((n, why))
        return kept, surveys

    def survey_refusals(self) -> list[Problem]:
        """MS037 for each series not read because its source is survey answers (see ``needs``)."""
        self.needs()
        return [_problem(DataError("MS037", f"`{need.name}` reads `{_shown(need.source)}`, {why}: survey answers "
                                            "are read by a trust signal only (its groups below `min_group` stay "
                                            "hidden)"), need.source, [need])
                for need, why in self.reads_survey]

    def identity(self, src: DataSource) -> tuple | None:
        """What a source reads: a file (its device and inode, so a hard link is the same file,
        and its resolved path last), an in-memory table (the object), a URL and its query; None
        when it cannot be read."""
        key = source_key(src)
        if key not in self._identities:
            memory = self._memory_object(src)
            try:
                made = None if memory is not None else self.request(src)
            except DataError:
                made = False
            if memory is not None:
                found = ("memory", id(memory))
            elif made is False or made is None:
                found = None
            elif made[1].path is not None:
                path = Path(made[1].path).resolve()
                try:
                    stat = path.stat()
                    found = ("file", stat.st_dev, stat.st_ino, str(path))
                except OSError:
                    found = ("file", None, None, str(path))
            else:
                found = ("url", src.url, src.query)
            self._identities[key] = found
        return self._identities[key]

    def _memory_object(self, src: DataSource) -> Any:
        """The object in ``data`` a source reads (as ``memory_table`` finds it), None when it reads
        a file or a URL: one object under several keys is one source."""
        if self.data is None:
            return None
        if src.kind == "memory":
            return self.data
        if isinstance(self.data, Mapping) and src.path:
            for key in (src.path, Path(src.path).name, Path(src.path).stem):
                if key in self.data and _is_table_like(self.data[key]):
                    return self.data[key]
        return None

    def sources(self) -> dict[tuple, DataSource]:
        """Every source the spec reads (series and surveys), once each, by ``source_key``."""
        series, surveys = self.needs()
        found: dict[tuple, DataSource] = {}
        for need in (*series, *surveys):
            found.setdefault(source_key(need.source), need.source)
        return found

    # ---- reading ----------------------------------------------------------------------------
    def request(self, src: DataSource) -> tuple[Reader, ReadRequest] | None:
        from metricsense.data import secrets

        spec_dir = (self.base / src.span.file).parent if src.span.file != "<string>" else self.base
        if src.kind == "memory":
            return None
        if src.kind == "file":
            path = resolve_inside(src.path or "", spec_dir, self.allowed + [spec_dir])
            suffix = path.suffix.lower()
            if suffix not in self.readers:
                known = ", ".join(sorted(k for k in self.readers if k.startswith(".")))
                raise DataError("MS030", f"no reader for `{src.path}` (files this installation reads: {known})")
            request = ReadRequest(src, path=path, base=spec_dir, allowed=tuple(self.allowed + [spec_dir]))
            if self.limits is not None:  # a workbook is bounded like a query (metricsense.data.excel)
                from dataclasses import replace

                request = replace(request, max_rows=self.limits[0], timeout=self.limits[1])
            return self.readers[suffix][0], request
        template = src.url or ""
        scheme = template.split(":", 1)[0].split("+", 1)[0].lower()
        if scheme == "postgres":
            scheme = "postgresql"
        if scheme not in self.readers:
            known = ", ".join(sorted(k for k in self.readers if not k.startswith(".")))
            raise DataError("MS030", f"no reader for `{scheme}:` URLs (this installation reads: {known})")
        expanded = secrets.expand(template)
        request = ReadRequest(src, url=expanded, display_url=secrets.display(template), base=spec_dir,
                              allowed=tuple(self.allowed + [spec_dir]))
        if self.limits is not None:
            from dataclasses import replace

            request = replace(request, max_rows=self.limits[0], timeout=self.limits[1])
        return self.readers[scheme][0], request

    def batches(self, src: DataSource, columns: tuple[str, ...] | None = None,
                distinct: str | None = None, layout: tuple[str, ...] | None = None) -> Iterable[Table]:
        """The source's rows in batches; ``columns`` is a hint that only those are needed,
        ``distinct`` one that only the distinct values of that column are, and ``layout`` one
        that a workbook's header with these names will be looked for (see ReadRequest).

        With a segment filter (``where``) only that segment's rows are kept, whatever the reader
        did with the hint; a table without the segment column is shared by every segment.
        """
        key = source_key(src)
        if key in self.prefetched:
            return self.prefetched[key]
        memory = self.memory_table(src)
        if memory is not None:
            return [memory] if self.where is None else [self.where.apply(memory)]
        made = self.request(src)
        assert made is not None
        reader, req = made
        if columns is not None or self.where is not None or distinct is not None or layout is not None:
            from dataclasses import replace

            if columns is not None and self.where is not None:
                columns = (*columns, self.where.column)
            req = replace(req, columns=columns, where=self.where, distinct=distinct, layout=layout)
        result = reader(req)
        batches = [result] if isinstance(result, Table) else result
        if self.where is None:
            return batches
        return (self.where.apply(t) for t in batches)

    def memory_table(self, src: DataSource) -> Table | None:
        from metricsense.data.readers import table_from_object

        if self.data is None:
            return None
        if src.kind == "memory":
            return table_from_object(self.data, "<data>")
        if isinstance(self.data, Mapping) and src.path:
            for key in (src.path, Path(src.path).name, Path(src.path).stem):
                if key in self.data and _is_table_like(self.data[key]):
                    return table_from_object(self.data[key], f"<data[{key!r}]>")
        return None

    def read_all(self, src: DataSource, layout: tuple[str, ...] | None = None) -> Table:
        """The whole source as one Table (batches concatenated); ``layout`` as for ``batches``."""
        parts = list(self.batches(src, layout=layout))
        if not parts:
            raise DataError("MS034", f"`{_shown(src)}` has no rows")
        if len(parts) == 1:
            return parts[0]
        names = parts[0].columns.keys()
        cols = {n: _concat([p.columns[n] for p in parts]) for n in names}
        if any(p.lines is not None for p in parts):  # a segment's rows: keep each row's line
            lines = [p.lines if p.lines is not None else
                     (np.arange(p.rows) + p.first_line if p.first_line is not None else np.full(p.rows, -1))
                     for p in parts]
            if all(ln is not None for ln in lines) and not any((ln < 0).any() for ln in lines):
                return Table(cols, parts[0].origin, None, np.concatenate(lines))
            return Table(cols, parts[0].origin, None)
        return Table(cols, parts[0].origin, parts[0].first_line)


def changes_of(x: np.ndarray) -> np.ndarray:
    """Row-to-row changes of aligned columns: NaN in the first row, across a missing value and
    where the difference overflows (DataSet.changes, and the gains' own placement of series)."""
    out = np.full(x.shape, np.nan)
    if len(x) > 1:
        with np.errstate(over="ignore", invalid="ignore"):
            out[1:] = x[1:] - x[:-1]
    out[~np.isfinite(out)] = np.nan
    return out


def _concat(columns: list) -> np.ndarray:
    return np.concatenate([np.asarray(c) for c in columns])


def _is_table_like(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("pandas", "polars") or isinstance(obj, Mapping)


def _single_table(data: Any) -> bool:
    """One table for every series (a DataFrame, or a mapping of column -> values), as opposed to
    a mapping of source name -> table."""
    if data is None:
        return False
    if not isinstance(data, Mapping):
        return True
    return bool(data) and not all(_is_table_like(v) for v in data.values())


def _memory_source(name: str, doc: Document) -> DataSource:
    return DataSource("memory", name, None, None, None, None, None, None, None,
                      Span.point(doc.files[0] if doc.files else doc.root))


@paused()
def build(doc: Document, data: Any, readers: Mapping[str, tuple[Reader, str]], allowed: list[Path],
          base: Path | None = None, *, where: RowFilter | None = None,
          prefetched: Mapping[tuple, list[Table]] | None = None, limits: tuple[int, float] | None = None,
          surveys_only: bool = False,
          ) -> tuple[DataSet, list[Problem], list[tuple[str, str]]]:
    """Read what ``doc`` points at; problems are returned, never raised.

    ``where`` keeps one segment's rows (see metricsense.segments), and then no survey is read;
    ``prefetched`` gives tables already read (and filtered) for some sources, by ``source_key``;
    ``surveys_only`` reads the surveys and no series (the spec's own pass of a segmented run).
    """
    b = Builder(doc, data, readers, [Path(a) for a in allowed], base or Path.cwd(), where, prefetched, limits)
    series_needs, survey_needs = b.needs()
    series_needs = [] if surveys_only else series_needs
    by_source: dict[tuple, list[_Need]] = {}
    sources: dict[tuple, DataSource] = {}
    for need in series_needs:
        key = source_key(need.source)
        by_source.setdefault(key, []).append(need)
        sources[key] = need.source
    raw: dict[str, tuple[np.ndarray, np.ndarray, str, tuple[str, ...], np.ndarray | None, str | None]] = {}
    for key, needs in by_source.items():
        src = sources[key]
        try:
            if src.layout == "long":
                raw.update(_read_long(b, src, needs))
            else:
                raw.update(_read_wide(b, src, needs))
        except DataError as exc:
            b.problems.append(_problem(exc, src, needs))
        except Exception as exc:  # a reader plugin that crashed: MS005, the rest still runs
            b.crashes.append((_reader_plugin(b, src), f"{type(exc).__name__}: {exc}"))
    if where is None:  # said once, by the spec's own pass (a segment's build would repeat it)
        b.problems.extend(b.survey_refusals())
    from metricsense.data.survey import read_surveys

    surveys = read_surveys(b, survey_needs)
    return _align(raw, surveys, b), b.problems, b.crashes


def _read_wide(b: Builder, src: DataSource, needs: list[_Need]) -> dict:
    table = b.read_all(src)
    if table.rows == 0:
        raise DataError("MS034", f"`{table.origin}` has no rows")
    pcol = _period_column(src, table)
    parsed = P.read_periods(table.columns[pcol], table, pcol, src.period_format, src.frequency)
    periods, unit = parsed.keys, _declared(src) or parsed.unit
    if unit is None and periods.dtype.kind == "M":  # the series of one wide file share its rows' unit
        from metricsense.data.align import own_unit

        unit = own_unit(periods)
    order = np.argsort(periods, kind="stable")
    sorted_p = periods[order]
    dup = np.flatnonzero(sorted_p[1:] == sorted_p[:-1])
    if len(dup):
        first, second = sorted(int(i) for i in (order[dup[0]], order[dup[0] + 1]))
        raise DataError("MS033", f"`{table.origin}` has period {P.label(periods[first])} twice: "
                                 f"{table.where(first)} and {table.where(second)}",
                        row=second + 1, line=table.line_of(second))
    out = {}
    suggest = None
    for need in needs:
        if need.column not in table.columns:
            if need.report_missing:
                if suggest is None:  # one for the table: a thousand missing columns are not a million comparisons
                    from metricsense.names import Suggester

                    suggest = Suggester(list(table.columns), cutoff=0.6)
                b.problems.append(_missing_column(need, table, suggest))
            continue
        try:
            numbers = NumberReader(need.column, src.decimal, src.currency)
            values = numbers(table.columns[need.column], table)
        except DataError as exc:
            b.problems.append(_problem(exc, need.source, [need]))
            continue
        out[need.name] = (sorted_p, values[order], table.origin, (), None, unit, numbers.unit)
    return out


def _unit_of(values: np.ndarray, unit: str | None, common: str | None) -> str | None:
    """A long series' unit: the declared or written one, else the source's when the series has a
    value in at least 4 of 5 of its periods (then its dates step by the source's unit), else None
    (inferred from its own dates: a monthly series among weekly ones in one file)."""
    if unit is not None or common is None:
        return unit
    return common if np.count_nonzero(~np.isnan(values)) >= 0.8 * len(values) else None


def _declared(src: DataSource) -> str | None:
    """The unit the data clause declares (`every month`), None for none or `every period`."""
    return src.frequency if src.frequency in P.UNITS else None


def _missing_column(need: _Need, table: Table, suggest) -> Problem:
    close = [hit] if (hit := suggest(need.column)) is not None else []
    span = need.source.span if need.node is None or getattr(need.node, "data", None) is need.source else (
        getattr(need.node, "name_span", None) or need.node.span)
    return Problem(
        "MS031", span, f"`{table.origin}` has no column `{need.column}` for `{need.name}`",
        f"did you mean `{close[0]}`?" if close else f"its columns: {', '.join(list(table.columns)[:12])}",
        ((need.source.span, "the data it reads"),) if span is not need.source.span else (),
    )


def _read_long(b: Builder, src: DataSource, needs: list[_Need]) -> dict:
    """Pivot long rows (period, [series], value, [segment]) into one array per series.

    A series reads the rows whose `series` is its name (every row when there is no `series`
    column), its values from `column` (default `value`); a paired part `x.self` reads the column
    `x_self` instead. The source streams through once: each batch's wanted rows are written
    straight into a preallocated series x period x segment array (periods and segments are
    numbered as met, the axes grow when new ones arrive, and are put in order at the end), so
    no per-row keys are kept; a byte per cell catches a repeated (series, period, segment).
    """
    seg_col = src.segment
    default_value = src.column or "value"
    dotted_bases = {n.name.split(".", 1)[0] for n in needs if "." in n.name}

    def value_col(need: _Need) -> str:
        return need.column if "." in need.name else default_value

    def label(need: _Need) -> str:
        return need.name.split(".", 1)[0]

    groups: dict[str, list[_Need]] = {}
    for need in needs:
        groups.setdefault(value_col(need), []).append(need)
    indexes = {col: {label(m): i for i, m in enumerate(members)} for col, members in groups.items()}
    period_index = PeriodIndex()
    seg_index: dict[str, int] = {}
    pivots = {col: Pivot(len(members)) for col, members in groups.items()}
    # One reader per value column for the whole source: a convention (`%`) holds across batches.
    numbers = {col: NumberReader(col, src.decimal, src.currency) for col in groups}
    labels_seen: set[str] = set()
    columns_seen: set[str] = set()
    has_series = False
    origin, rows = "?", 0
    form_unit = _UNSET
    cache: dict = {}
    for table in b.batches(src):
        origin = table.origin
        pcol = _period_column(src, table)
        if seg_col and seg_col not in table.columns:
            raise DataError("MS031", f"`{table.origin}` has no segment column `{seg_col}`")
        columns_seen.update(table.columns)
        has_series = "series" in table.columns
        n = table.rows
        labels = as_labels(table.columns["series"]) if has_series else None
        if labels is not None:
            labels_seen.update(labels.unique())
        seg = None
        if seg_col:
            seg_labels = as_labels(table.columns[seg_col])
            for name in seg_labels.unique():
                seg_index.setdefault(name, len(seg_index))
            seg = seg_labels.lookup(seg_index)
            missing = seg < 0
            if missing.any():
                # A row without a segment goes to the last one met, as it always has (to one
                # named "" when none has been met yet).
                if not seg_index:
                    seg_index[""] = 0
                seg[missing] = len(seg_index) - 1
        for column, members in groups.items():
            if column not in table.columns:
                continue
            idx = labels.lookup(indexes[column]) if labels is not None else np.zeros(n, dtype=np.int64)
            keep = idx >= 0
            if not keep.any():
                continue
            every = bool(keep.all())
            positions = None if every else np.flatnonzero(keep)
            where = table if every else Rows(table, positions)
            parsed = P.read_periods(take(table.columns[pcol], keep), where, pcol, src.period_format,
                                    src.frequency, cache)
            periods = parsed.keys
            if parsed.unit != form_unit and form_unit is not _UNSET:
                raise DataError("MS032", f"{where.where(0)}: periods of this batch are {parsed.unit or 'dates'}s, "
                                         f"earlier ones {form_unit or 'date'}s: one period column holds one form",
                                row=1, line=where.line_of(0), column=pcol)
            form_unit = parsed.unit
            values = numbers[column](take(table.columns[column], keep), where)
            pidx = period_index.add(periods, where, pcol)
            pivots[column].put(idx if every else idx[positions], pidx,
                               None if seg is None else (seg if every else seg[positions]),
                               values, period_index.count, max(len(seg_index), 1), table, positions,
                               rows, seg_col)
        rows += n
    if rows == 0:
        raise DataError("MS034", f"`{origin}` has no rows")
    unit = _declared(src) or (None if form_unit is _UNSET else form_unit)
    segments = tuple(sorted(seg_index)) if seg_col else ("",)
    uniq_periods, p_order = period_index.sorted()
    common = None  # the unit of the source's own dates: that of a series with most of them
    if unit is None and uniq_periods.dtype.kind == "M":
        from metricsense.data.align import own_unit

        common = own_unit(uniq_periods)
    s_order = np.argsort(np.array(list(seg_index), dtype=object)) if seg_col else np.zeros(1, dtype=np.int64)
    out = {}
    for column, members in groups.items():
        for need in members:
            if column not in columns_seen:
                if need.name not in dotted_bases and need.report_missing:
                    b.problems.append(Problem(
                        "MS031", need.source.span, f"`{origin}` has no column `{column}` for `{need.name}`"))
            elif has_series and label(need) not in labels_seen and need.report_missing:
                b.problems.append(Problem("MS031", need.source.span,
                                              f"`{origin}` has no rows for series `{label(need)}`"))
        pivot = pivots[column]
        if pivot.cube is None:
            continue
        cube = pivot.finish(p_order, s_order)
        for i, need in enumerate(members):
            if not pivot.seen[i]:
                continue
            block = cube[i]
            if seg_col:
                with np.errstate(all="ignore"):
                    counts = (~np.isnan(block)).sum(axis=1)
                    mean = np.where(counts > 0, np.nansum(block, axis=1) / np.maximum(counts, 1), np.nan)
                out[need.name] = (uniq_periods, mean, origin, segments, block, _unit_of(mean, unit, common),
                                  numbers[column].unit)
            else:
                out[need.name] = (uniq_periods, block[:, 0], origin, (), None, _unit_of(block[:, 0], unit, common),
                                  numbers[column].unit)
    return out


def _align(raw: dict, surveys: dict[str, Survey], b: Builder) -> DataSet:
    from metricsense.data.align import align

    union, placed, units, frequency, problems = align(raw, b.doc)
    b.problems.extend(problems)
    series_map = {name: Series(name, values, raw[name][2], raw[name][3], block, raw[name][6])
                  for name, (values, block) in placed.items()}
    return DataSet(union, series_map, surveys, frequency, units=units)


def _unit_order(unit: str) -> int:
    return P.UNITS.index(unit) if unit in P.UNITS else len(P.UNITS)


def aligned(data: DataSet, names: list[str]) -> tuple[np.ndarray, str | None]:
    from metricsense.data.align import regular

    return regular(data.periods, [data.series_map[n].values for n in names],
                   [data.unit_of(n) for n in names])


#: No batch read yet (a form's unit may be None: a full date).
_UNSET = object()
