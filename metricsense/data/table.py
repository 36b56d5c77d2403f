"""Tables as readers return them, periods, and the errors a data source can have."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metricsense.model import UNIT_DAYS, DataSource  # noqa: F401 - named here too


class DataError(Exception):
    """A problem with a data source that a person can fix; reported against the `data` clause.

    ``code`` is the rule it is reported under (MS030-MS035); ``row`` is the 1-based data row
    (header excluded) and ``line`` the line in the file, when known.
    """

    def __init__(self, code: str, message: str, *, row: int | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.row, self.line, self.column = code, message, row, line, column


class Labels:
    """A text column kept as codes into its distinct values (Arrow's dictionary encoding).

    Readers of long files return one per text column so a million repeated series names cost
    four bytes each, not a Python string each. It behaves like an object array where needed
    (``np.asarray``, iteration, ``astype(str)``).
    """

    dtype = np.dtype(object)

    def __init__(self, codes: np.ndarray, labels: np.ndarray) -> None:
        self.codes, self.labels = codes, labels

    def __len__(self) -> int:
        return len(self.codes)

    def __array__(self, dtype=None, copy=None):
        # NOTE: code -1 is a missing value: indexed as it is, it would read the last label (every
        # empty cell of a column took another row's value), so it reads None from a slot of its own.
        table = np.empty(len(self.labels) + 1, dtype=object)
        table[:len(self.labels)] = self.labels
        out = table[np.where(self.codes < 0, len(self.labels), self.codes)]
        return out if dtype is None else out.astype(dtype)

    def __iter__(self):
        return iter(np.asarray(self))

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            code = self.codes[index]
            return None if code < 0 else self.labels[code]
        return Labels(self.codes[index], self.labels)

    def astype(self, dtype):
        return np.asarray(self).astype(dtype)

    def lookup(self, index: dict[str, int]) -> np.ndarray:
        """Each row's position in ``index`` (by label), -1 where the label is not there."""
        table = np.array([index.get(str(label), -1) for label in self.labels] + [-1], dtype=np.int64)
        codes = np.where(self.codes < 0, len(self.labels), self.codes)
        return table[codes]

    def unique(self) -> list[str]:
        # A count per label (code -1, a missing value, lands in slot 0): linear, no sort.
        present = np.flatnonzero(np.bincount(self.codes + 1, minlength=len(self.labels) + 1)[1:])
        return [str(self.labels[c]) for c in present]


@dataclass
class Table:
    """Columns of equal length, as read from one source.

    ``columns`` maps a column name to a 1-D array (float, integer, datetime64 or object).
    ``origin`` names the source for messages (a file path, or a URL with its secrets masked);
    ``first_line`` is the line of the first data row in that file (2 for a CSV with a header),
    or None where rows have no lines (SQL, Parquet, DataFrames).
    """

    columns: dict[str, np.ndarray]
    origin: str
    first_line: int | None = None
    #: Each row's line in its file when the rows are not contiguous (a segment's rows).
    lines: np.ndarray | None = None
    #: A spreadsheet's rows are not lines of a text file: ``sheet`` names the sheet, ``first_line``
    #: and ``lines`` are then its row numbers and ``letters`` each column's letter, so messages
    #: name the cell (`sheet KPIs cell C7`) and no diagnostic quotes a "line" of a binary file.
    sheet: str | None = None
    letters: dict[str, str] | None = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def _number(self, row_index: int) -> int | None:
        if self.lines is not None:
            return int(self.lines[row_index])
        return None if self.first_line is None else self.first_line + row_index

    def line_of(self, row_index: int) -> int | None:
        return None if self.sheet is not None else self._number(row_index)

    def take(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is true, each keeping its line in the file (``lines``)."""
        idx = np.flatnonzero(mask)
        cols = {n: (c[idx] if not isinstance(c, Labels) else Labels(c.codes[idx], c.labels))
                for n, c in self.columns.items()}
        if self.lines is not None:
            lines = self.lines[idx]
        else:
            lines = None if self.first_line is None else idx + self.first_line
        return Table(cols, self.origin, None, lines, self.sheet, self.letters)

    def where(self, row_index: int, column: str | None = None) -> str:
        """The row as people find it: `file line 7`, `file row 7` or `book.xlsx sheet KPIs cell C7`."""
        number = self._number(row_index)
        if self.sheet is not None:
            letter = (self.letters or {}).get(column) if column is not None else None
            place = f"cell {letter}{number}" if letter and number is not None else f"row {number}"
            return f"{self.origin} sheet `{self.sheet}` {place}"
        return f"{self.origin} line {number}" if number is not None else f"{self.origin} row {row_index + 1}"


def refuse_repeated_names(names, origin: str, first_line: int | None) -> None:
    """MS031 when two columns share a name: a series would read one of them silently (the last)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        name = str(name)
        if name in seen:
            where = f"{origin} line {first_line - 1}" if first_line is not None and first_line > 1 else origin
            raise DataError("MS031", f"{where}: columns {seen[name] + 1} and {i + 1} are both named `{name}`; "
                                     "which one a series reads would be a guess: rename one",
                            line=first_line - 1 if first_line is not None and first_line > 1 else None,
                            column=name)
        seen[name] = i


def segment_label(value: Any) -> str:
    """A segment value as text, the same whatever the storage: 7, 7.0, "7" and b"7" are "7"."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (float, np.floating)):
        if value != value:
            return ""
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (np.datetime64, _dt.date)):
        return str(value)[:10] if not isinstance(value, _dt.datetime) else value.isoformat()
    return "" if value is None else str(value)


def column_labels(column) -> np.ndarray:
    """Each row's segment label (an object array of str), "" for a missing value."""
    if isinstance(column, Labels):
        labels = np.array([segment_label(v) for v in column.labels] + [""], dtype=object)
        codes = np.where(column.codes < 0, len(column.labels), column.codes)
        return labels[codes]
    arr = np.asarray(column)
    if arr.dtype.kind == "f":
        out = np.full(len(arr), "", dtype=object)
        ok = ~np.isnan(arr)
        whole = ok & (np.floor(arr) == arr) & (np.abs(arr) < 2**53)
        out[whole] = arr[whole].astype(np.int64).astype(str)
        rest = ok & ~whole
        out[rest] = [repr(float(v)) for v in arr[rest]]
        return out
    if arr.dtype.kind in "iu":
        return arr.astype(str).astype(object)
    return np.array([segment_label(v) for v in arr], dtype=object)


def find_column(columns, name: str) -> str | None:
    """The column called ``name``; else the one column whose name differs only in case (SQL
    folds or keeps the case of names, depending on the database); else None."""
    if name in columns:
        return name
    folded = [c for c in columns if c.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


@dataclass(frozen=True)
class RowFilter:
    """Rows whose ``column`` holds one of ``values`` (raw values as found: text or whole numbers).

    Tables without the column are not segmented (data every segment shares, such as a
    macro-economic lever) and pass whole.
    """

    column: str
    values: tuple[Any, ...]

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(segment_label(v) for v in self.values)

    def apply(self, table: Table) -> Table:
        column = find_column(table.columns, self.column)
        if column is None:
            return table
        keep = np.isin(column_labels(table.columns[column]), list(self.labels))
        if keep.all():
            return table
        return table.take(keep)


@dataclass(frozen=True)
class ReadRequest:
    """What a reader is asked to read: the spec's `data` clause, resolved.

    ``path`` is the file for a file source (already checked to lie inside the allowed folders);
    ``url`` the connection URL for a query with ``${VAR}`` references expanded (never print it:
    ``display_url`` is the masked form for messages); ``base`` the folder relative paths in a URL
    resolve against.
    """

    source: DataSource
    path: Path | None = None
    url: str | None = None
    display_url: str | None = None
    base: Path = field(default_factory=Path.cwd)
    allowed: tuple[Path, ...] = ()
    #: When set, only these columns are needed; a reader may skip the others (a hint).
    columns: tuple[str, ...] | None = None
    #: When set, only the rows of these segments are needed (a hint a reader may push down to
    #: its storage: Parquet row groups and partitions, a SQL WHERE); rows are filtered again
    #: after reading, so a reader that ignores it is still correct.
    where: RowFilter | None = None
    #: When set, only the distinct values of this column are needed (finding the segments of
    #: `msense check --by`); a hint, like ``columns``.
    distinct: str | None = None
    #: When set, a workbook reader may note, while the file is open, where it holds a header with
    #: these names (``data.excel.layout``), so a survey's checks need not open it again; a hint.
    layout: tuple[str, ...] | None = None
    #: A query may return at most this many rows and run this many seconds (`[data] max-rows`,
    #: `query-timeout`); past either it is stopped (MS030), never read without bound.
    max_rows: int = 10_000_000
    timeout: float = 60.0

    @property
    def origin(self) -> str:
        """How to name this source in messages: the file as shown to people, or the masked URL."""
        if self.path is not None:
            from metricsense.loader import display_path

            return display_path(self.path)
        return self.display_url or "?"



