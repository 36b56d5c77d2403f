"""Finding the segments: the distinct values of the segment column in a spec's data sources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsense.encoding import printable
from metricsense.model import Document

#: A segment column is a plain identifier: it may be quoted into SQL (never spliced raw).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SegmentError(Exception):
    """A segmented run that cannot start: a bad column name, an unreachable scheduler."""


def check_column(by: str) -> str:
    if not _IDENTIFIER.match(by or ""):
        raise SegmentError(f"`--by {by}`: a segment column is a plain name (letters, digits, _), "
                           "as in `--by team`")
    return by


def shown(label: str) -> str:
    """A segment name as printed for people: control characters escaped, never sent raw."""
    return printable(label)


def _sort_key(label: str) -> tuple:
    """Numbers first, by value (store 2 before store 10), then text; "nan" and "inf" are text."""
    if re.fullmatch(r"-?\d+(\.\d+)?", label):
        return (0, float(label), label)
    return (1, 0.0, label)


@dataclass
class Found:
    """What finding the segments met: the segments, and what a person should hear about."""

    segments: list[tuple[str, Any]]
    problems: list = field(default_factory=list)  # DataProblem
    crashes: list[str] = field(default_factory=list)
    with_column: list = field(default_factory=list)  # the sources (DataSource) that have it
    unassigned: list = field(default_factory=list)  # (DataSource, origin, rows without a value)
    columns: dict = field(default_factory=dict)  # the columns of files without it: column -> None


def discover(doc: Document, by: str, data: Any, readers, allowed: list[Path], base: Path) -> Found:
    """The segments of ``doc``'s data, sorted, as (label, raw value) pairs.

    Each source is asked only for the distinct values of the column (a reader may push that
    down: `SELECT DISTINCT`); files are read one column at a time, batch by batch, so memory does
    not grow with the rows. A raw value keeps its type (text, whole or decimal number), so a
    database compares it with the column as stored.
    """
    import numpy as np

    from metricsense.data.dataset import Builder, source_key
    from metricsense.diagnostics import Problem
    from metricsense.data.readers import DISTINCT_ROWS
    from metricsense.data.table import DataError, Labels, column_labels, find_column

    b = Builder(doc, data, readers, [Path(a) for a in allowed], base)
    values: dict[str, Any] = {}
    found = Found([])
    # Segments are of the series' data: a survey is never split (its one table is the spec's),
    # so its columns make no segments (`--by group` would list every group, hidden ones too).
    series = {source_key(n.source) for n in b.needs()[0]}
    found.problems.extend(b.survey_refusals())  # a series on survey answers is read nowhere (MS037)
    for src in (s for k, s in b.sources().items() if k in series):
        try:
            missing, origin, seen = 0, "?", False
            for table in b.batches(src, columns=(by,), distinct=by):
                origin = table.origin
                name = find_column(table.columns, by)
                if name is None:
                    _columns_of(b, src, found.columns)  # for the message when no source has it
                    break  # a source every segment shares
                seen = True
                column = table.columns[name]
                if DISTINCT_ROWS in table.columns:  # one row per value, with its number of rows
                    empty = column_labels(column) == ""
                    missing += int(np.nansum(np.asarray(table.columns[DISTINCT_ROWS], dtype=float)[empty]))
                    column = column[~empty] if not isinstance(column, Labels) else column
                # NOTE: distinct values first, then labels: a Python string per row would make
                # the client's memory grow with the data, which segmented runs must not do.
                if isinstance(column, Labels):
                    missing += int((column.codes < 0).sum())
                    codes = np.unique(column.codes[column.codes >= 0]).astype(np.int32)
                    labels, numeric = column_labels(Labels(codes, column.labels)), False
                else:
                    column = np.asarray(column)
                    numeric = column.dtype.kind in "iuf"
                    if column.dtype.kind == "f":
                        missing += int(np.isnan(column).sum())
                        column = np.unique(column[~np.isnan(column)])
                    elif numeric:
                        column = np.unique(column)
                    labels = column_labels(column)
                    if not numeric:
                        missing += int((labels == "").sum())
                        labels = np.unique(labels)
                for label in labels[labels != ""].tolist():
                    if label not in values:
                        values[label] = (int(label) if re.fullmatch(r"-?\d+", label) else float(label)) \
                            if numeric else label
            if seen:
                found.with_column.append(src)
                if missing:
                    found.unassigned.append((src, origin, missing))
        except DataError as exc:
            found.problems.append(Problem(exc.code, src.span, exc.message))
        except Exception as exc:  # a reader plugin that crashed
            found.crashes.append(f"{type(exc).__name__}: {exc}")
    found.segments = [(label, values[label]) for label in sorted(values, key=_sort_key)]
    return found


def _columns_of(b, src, into: dict) -> None:
    """The columns of a file source (its header, read again cheaply), added to ``into``."""
    from metricsense.data.sources import header_names

    try:
        made = b.request(src)
    except Exception:  # noqa: BLE001 - only for a message; the read itself reports problems
        return
    if made is not None and made[1].path is not None:
        for name in header_names(str(made[1].path)) or []:
            into.setdefault(name, None)


@contextmanager
def paths_shown_from(base: Path) -> Iterator[None]:
    """Paths in messages relative to ``base`` (the client's working folder), as the client shows them."""
    from metricsense.loader import DISPLAY_BASE

    token = DISPLAY_BASE.set(str(base))
    try:
        yield
    finally:
        DISPLAY_BASE.reset(token)
