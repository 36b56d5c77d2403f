"""Excel workbooks (`.xlsx`, `.xlsm`): a sheet, a range of it, or a named table, read with openpyxl.

`data "kpis.xlsx"` reads the first sheet; `sheet "KPIs"` another; `range "B3:F40"` a block of it
and `table "Sales"` an Excel table (both: header in their first row). Without a range the header
is the sheet's first row that holds anything. Cells are read as Excel computed them (the values
saved in the file): numbers, dates, text. A cell formatted as a percentage (0.715 shown as 71.5%)
is read as the number shown, 71.5, with the unit `%`, as a CSV's `71.5%` is. An error cell
(`#DIV/0!`) is refused naming the cell; `#N/A` is a missing value; a formula saved without its
value (by a program that does not calculate) is refused, never read as empty. Rows with no value
at all are skipped; columns without a header are not read (no series can name them).
"""

from __future__ import annotations

import os
import posixpath
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from metricsense.data.readers import _column_from_python, _is_file
from metricsense.data.table import DataError, ReadRequest, Table, refuse_repeated_names

SUFFIXES = (".xlsx", ".xlsm")


def read_excel(request: ReadRequest) -> Iterator[Table]:
    try:
        import openpyxl
        from openpyxl.utils.cell import get_column_letter, range_boundaries
    except ImportError:
        raise DataError("MS030", "Excel workbooks need openpyxl: pip install 'metricsense[excel]'") from None
    path, origin, src = request.path, request.origin, request.source
    assert path is not None
    if not _is_file(path, f"workbook `{origin}`"):
        raise DataError("MS030", f"workbook `{origin}` does not exist")
    if src.table and src.cells:
        raise DataError("MS030", f"`{origin}`: name a `table` or a `range`, not both")
    deadline = time.monotonic() + request.timeout
    # the file as it is before it is opened: a change while it is read is looked at again
    try:
        key = _layout_key(path, request.layout) if request.layout is not None else None
    except OSError:
        key = None  # removed since: the load below says so
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # noqa: BLE001 - a zip, XML or format error from a file people hand in
        raise DataError("MS030", f"`{origin}` is not a readable Excel workbook ({type(exc).__name__}: "
                                 f"{str(exc)[:120]})") from None
    try:
        sheet, bounds = _where(book, path, origin, src, range_boundaries)
        worksheet = book[sheet]
        if bounds is None:
            worksheet.reset_dimensions()  # NOTE: a writer's stale <dimension> would cut the sheet short
        rows = _rows(worksheet, bounds, request, origin, sheet, deadline)
        header_row, header = next(rows, (None, None))
        if header is None:
            raise DataError("MS034", f"`{origin}` sheet `{sheet}` has no rows")
        first_col = bounds[0] if bounds else 1
        named = [(i, _name(cell.value)) for i, cell in enumerate(header) if _name(cell.value)]
        refuse_repeated_names([n for _, n in named], f"{origin} sheet `{sheet}`", None)
        letters = {name: get_column_letter(first_col + i) for i, name in named}
        columns: dict[str, list] = {name: [] for _, name in named}
        numbers: list[int] = []
        empty: list[tuple[int, int]] = []  # (row, column index) of cells without a value
        for row_number, cells in rows:
            values = [_value(cells[i]) if i < len(cells) else None for i, _ in named]
            if all(v is None for v in values):
                continue
            numbers.append(row_number)
            for (i, name), value in zip(named, values):
                columns[name].append(value)
                if value is None:
                    empty.append((row_number, i))
        if key is not None and _kept(key) is None:
            _note_layout(book, key)
    finally:
        book.close()
    if empty:
        _refuse_formulas_without_values(path, sheet, bounds, empty, named, letters, origin)
    if not numbers:
        shown = ", ".join(f"`{n}`" for _, n in named[:6])
        raise DataError("MS034", f"`{origin}` sheet `{sheet}`: row {header_row} ({shown}) is read as the header and "
                                 "no row below it has a value under a header; name the block with `range \"B3:F40\"`")
    table = Table({name: _column_from_python(values) for name, values in columns.items()}, origin, None,
                  np.asarray(numbers, dtype=np.int64), sheet, letters)
    yield table


def _where(book, path, origin: str, src, range_boundaries) -> tuple[str, tuple[int, int, int, int] | None]:
    """The sheet to read and the (min col, min row, max col, max row) of the block, None for all."""
    if src.table:
        sheet, ref = _find_table(book, path, src.table, origin)
        return sheet, range_boundaries(ref)
    sheet = src.sheet or book.sheetnames[0]
    if sheet not in book.sheetnames:
        raise DataError("MS031", f"`{origin}` has no sheet `{sheet}` (its sheets: "
                                 f"{', '.join(f'`{s}`' for s in book.sheetnames[:12])})")
    if not src.cells:
        return sheet, None
    try:
        bounds = range_boundaries(src.cells.replace("$", ""))
    except (ValueError, TypeError):
        bounds = (None,)
    if None in bounds:
        raise DataError("MS030", f"`range {src.cells!r}` is not a block of cells such as \"B3:F40\"")
    return sheet, bounds


def _find_table(book, path, name: str, origin: str) -> tuple[str, str]:
    """(sheet, ref) of the Excel table called ``name`` (its name or display name, any case)."""
    found: list[str] = []
    for sheet, names, ref in _tables(book, path):
        found.extend(names)
        if name.casefold() in {n.casefold() for n in names} and ref:
            return sheet, ref
    have = ", ".join(f"`{n}`" for n in sorted(set(found))[:12]) or "none"
    raise DataError("MS031", f"`{origin}` has no table `{name}` (its tables: {have})")


def _tables(book, path) -> Iterator[tuple[str, set[str], str | None]]:
    """(sheet, names, ref) of each Excel table of the workbook: its name and display name.

    NOTE: openpyxl reads tables only when it loads every cell of the workbook; in read-only mode
    they are found here, from the package: each sheet's relationships name its table parts.
    """
    import xml.etree.ElementTree as ET

    rel = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
    with zipfile.ZipFile(path) as archive:
        present = set(archive.namelist())
        for ws in book.worksheets:
            part = ws._worksheet_path.lstrip("/")
            rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
            if rels not in present:
                continue
            for r in ET.fromstring(archive.read(rels)).iter(rel):
                if not r.get("Type", "").endswith("/table"):
                    continue
                target = posixpath.normpath(posixpath.join(posixpath.dirname(part), r.get("Target", "")))
                if r.get("Target", "").startswith("/"):
                    target = r.get("Target", "").lstrip("/")
                if target not in present:
                    continue
                table = ET.fromstring(archive.read(target))
                yield ws.title, {n for n in (table.get("name", ""), table.get("displayName", "")) if n}, table.get("ref")


@dataclass(frozen=True)
class SheetLayout:
    """A sheet as the survey checks see it: its first row holding anything (``first``: the names
    as written, stripped), its first row holding every wanted name (``header``, its number, and
    ``names``) and its last row holding anything (``last``)."""

    title: str
    first: tuple[str, ...] | None
    header: int | None
    names: tuple[str, ...]
    last: int | None


@dataclass(frozen=True)
class TableLayout:
    """An Excel table: its sheet, names, block (min col, min row, max col, max row) and whether its
    first row holds every wanted name."""

    sheet: str
    names: frozenset[str]
    bounds: tuple[int, int, int, int]
    holds: bool


@dataclass(frozen=True)
class WorkbookLayout:
    sheets: tuple[SheetLayout, ...]
    tables: tuple[TableLayout, ...]
    #: What could not be looked at (a sheet's cell, a table's part or block), or None: the sheets
    #: are as found up to it; a check that needs the whole workbook refuses it (``answer_places``).
    #: NOTE: never a cell's value: it may be a person's answer.
    problem: str | None = None
    #: Every sheet was read to its end (a table's problem leaves them whole).
    whole: bool = True


class LayoutProblem(ValueError):
    """A workbook that cannot be looked through whole for where it holds survey answers."""


def layout(path, wanted: tuple[str, ...]) -> WorkbookLayout:
    """Where a workbook's rows are (see ``SheetLayout``), looking for a header holding every name
    of ``wanted`` (any case): one load and one pass over each sheet, kept while the file is
    unchanged (its path and the digest of its bytes), so the checks that ask (``answer_places``,
    ``sources.header_names``) read a workbook once between them, and not at all after a read
    that asked for it (``ReadRequest.layout``).

    NOTE: every row of every sheet is looked at, without a bound: a `range` makes any row a
    header, and a survey anywhere in the workbook is one (data.survey)."""
    key = _layout_key(path, wanted)
    found = _kept(key)
    if found is not None:
        return found
    import openpyxl

    book = openpyxl.load_workbook(key[0], read_only=True, data_only=True, keep_links=False)
    try:
        found = _scan(book, key[0], key[-1])
    finally:
        book.close()
    return _keep_if_unchanged(key, found)


#: The layouts looked at, newest last (at most 256): a small LRU cache keyed by ``_layout_key``.
_LAYOUTS: OrderedDict[tuple, WorkbookLayout] = OrderedDict()
_LAYOUTS_LOCK = threading.Lock()


def _layout_key(path, wanted: tuple[str, ...]) -> tuple:
    """(path, digest of its bytes, wanted in lower case): a file rewritten is looked at again.

    NOTE: its bytes, not its times and size: a filesystem with times in whole seconds (vfat,
    sshfs) keeps them for a workbook rewritten in place within the second, and a second sheet of
    answers would go unseen. Hashing is some 1 GB/s, far below what reading the workbook costs."""
    import hashlib

    path = os.fspath(path)
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return path, digest.digest(), tuple(w.lower() for w in wanted)


def _kept(key: tuple) -> WorkbookLayout | None:
    with _LAYOUTS_LOCK:
        found = _LAYOUTS.get(key)
        if found is not None:
            _LAYOUTS.move_to_end(key)
        return found


def _keep(key: tuple, found: WorkbookLayout) -> WorkbookLayout:
    with _LAYOUTS_LOCK:
        _LAYOUTS[key] = found
        while len(_LAYOUTS) > 256:
            _LAYOUTS.popitem(last=False)
    return found


def _keep_if_unchanged(key: tuple, found: WorkbookLayout) -> WorkbookLayout:
    """``found``, kept under ``key`` (the file as it was before it was opened) only if the file
    is still so: one changed while it was read is looked at again next time."""
    try:
        same = _layout_key(key[0], key[-1]) == key
    except OSError:
        same = False
    return _keep(key, found) if same else found


def _note_layout(book, key: tuple) -> None:
    """The layout of the workbook a reader has open, kept for ``layout`` (ReadRequest.layout)."""
    try:
        _keep_if_unchanged(key, _scan(book, key[0], key[-1]))
    except Exception:  # noqa: BLE001 - the data is read; ``layout`` looks again and reports it
        pass


def _scan(book, path, wanted: tuple[str, ...]) -> WorkbookLayout:
    """The layout of an open workbook (read-only): each sheet's rows once, each table's first row
    taken as its sheet's rows pass."""
    from openpyxl.utils.cell import range_boundaries

    wanted_set = set(wanted)
    problem = None
    whole = True
    # each table's block; its first row is taken in the sheet's one pass below
    tables = []
    try:
        for sheet, names, ref in _tables(book, path):
            if ref:
                min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
                # whole rows (`1:6`) or columns (`A:F`): to the sheet's edge
                tables.append((sheet, frozenset(names), (min_col or 1, min_row or 1, max_col or _MAX_COLUMN,
                                                         max_row or _MAX_ROW)))
    except Exception:  # noqa: BLE001 - a part or block that does not read: said, never skipped
        problem = "its Excel tables cannot all be read"
    firsts: dict[int, tuple] = {}  # table index -> its first row's values
    sheets = []
    for ws in book.worksheets:
        ws.reset_dimensions()  # NOTE: a writer's stale <dimension> would cut the sheet short
        starts: dict[int, list[int]] = {}  # row -> the tables of this sheet that start on it
        for i, (sheet, _, bounds) in enumerate(tables):
            if sheet == ws.title:
                starts.setdefault(bounds[1], []).append(i)
        first = header = last = None
        names: tuple[str, ...] = ()
        row = 0
        try:
            # NOTE: without a dimension every row from the first is yielded (a missing one as
            # empty) and its values start at column A, so the count is the row number.
            for row, values in enumerate(ws.iter_rows(values_only=True), start=1):
                for i in starts.get(row, ()):
                    min_col, _, max_col, _ = tables[i][2]
                    firsts[i] = values[min_col - 1:max_col]
                if all(v is None for v in values):
                    continue
                if first is None:
                    first = tuple(str(v).strip() for v in values if v is not None)
                if header is None and wanted_set <= {_name(v).lower() for v in values}:
                    header, names = row, tuple(str(v).strip() for v in values if v is not None)
                last = row
        except Exception:  # noqa: BLE001 - a cell that does not read: what came before it stands
            # NOTE: the row, never the cell's value or the reader's words for it (an answer)
            problem = problem or f"sheet `{ws.title}` cannot be read" + (f" past row {row}" if row else "")
            whole = False  # NOTE: the other sheets are still looked at: the survey may be on one
        sheets.append(SheetLayout(ws.title, first, header, names, last))
    found = tuple(TableLayout(sheet, names, bounds, wanted_set <= {_name(v).lower() for v in firsts.get(i, ())})
                  for i, (sheet, names, bounds) in enumerate(tables))
    return WorkbookLayout(tuple(sheets), found, problem, whole)


#: Excel's edges: a table over whole rows or columns reaches them
_MAX_ROW, _MAX_COLUMN = 1_048_576, 16_384


def header_names(path, wanted: tuple[str, ...] = ()) -> list[str] | None:
    """A workbook's row (of any sheet) holding every name of ``wanted`` (any case), else the first
    row that holds anything (of the first sheet that has one); None for an empty workbook."""
    found = layout(path, wanted)
    sheets = found.sheets
    if wanted:
        names = next((s.names for s in sheets if s.header is not None), None)
        if names is not None:
            return list(names)  # NOTE: whatever cannot be read after it: survey answers are here
    if not found.whole:
        raise LayoutProblem(found.problem)  # the header may be past what could be read
    return next((list(s.first) for s in sheets if s.first is not None), None)


def answer_places(path, wanted: tuple[str, ...]) -> list[str]:
    """Where a workbook holds rows under a header with every name of ``wanted`` (any case): each
    sheet with such a header row (`sheet `S``), and each Excel table whose first row is one and
    that holds fewer of the sheet's rows (`table `T``): a table over its sheet's whole block is
    the sheet. A survey's answers are to be in one place: in two, one may hold some of the
    other's, and the two tables of them subtract to a person's answer. LayoutProblem when a part
    of the workbook cannot be read: answers may be there."""
    found = layout(path, wanted)
    if found.problem is not None:
        raise LayoutProblem(found.problem)
    blocks = {s.title: (s.header, s.last or s.header) for s in found.sheets if s.header is not None}
    places = [f"sheet `{title}`" for title in blocks]
    for table in found.tables:
        if not table.holds:
            continue
        _, min_row, _, max_row = table.bounds
        block = blocks.get(table.sheet)
        if block is not None and block[0] == min_row and max_row >= block[1]:
            continue  # the sheet's whole block
        places.append(f"table `{min(table.names)}`" if table.names else f"a table of sheet `{table.sheet}`")
    return places


def _rows(worksheet, bounds, request: ReadRequest, origin: str, sheet: str, deadline: float):
    """(row number, cells) of the block, from its first row that holds anything; bounded."""
    if bounds is None:
        it = worksheet.iter_rows()
    else:
        min_col, min_row, max_col, max_row = bounds
        it = worksheet.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col)
    started, count, first = False, 0, bounds[1] if bounds else 1
    for index, cells in enumerate(it):
        cells = tuple(cells)
        if not started:
            if bounds is None and all(c.value is None for c in cells):
                continue
            started = True
        row = next((c.row for c in cells if getattr(c, "row", None)), first + index)
        count += 1
        if count > request.max_rows + 1:
            raise DataError("MS030", f"`{origin}` sheet `{sheet}` has more than {request.max_rows:,} rows; it was "
                                     "not read (`max-rows` in the configuration's [data] table raises the limit)")
        if count % 1000 == 0 and time.monotonic() > deadline:
            raise DataError("MS030", f"reading `{origin}` was stopped after {request.timeout:g} s "
                                     "(`query-timeout` in the configuration's [data] table raises the limit)")
        yield row, cells


def _name(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if not hasattr(value, "hour") or not value.hour else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _value(cell):
    """A cell as the data layer reads it: a percentage as the text shown (`71.5%`)."""
    value = cell.value
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _scales_by_100(cell.number_format):
        # NOTE: the decimal shift of the value as Python writes it (0.715 -> 71.5), not 0.715 * 100
        # (71.49999999999999).
        shifted = Decimal(repr(float(value))).scaleb(2)
        return f"{shifted:f}%"
    return value


def _refuse_formulas_without_values(path, sheet, bounds, empty, named, letters, origin) -> None:
    """MS032 for the first empty cell that holds a formula: it was saved without its value."""
    import openpyxl

    wanted = set(empty)
    book = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    try:
        worksheet = book[sheet]
        if bounds is None:
            worksheet.reset_dimensions()
            it = worksheet.iter_rows()
        else:
            min_col, min_row, max_col, max_row = bounds
            it = worksheet.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col)
        last = max(r for r, _ in empty)
        for index, cells in enumerate(it):
            cells = tuple(cells)
            row = next((c.row for c in cells if getattr(c, "row", None)), (bounds[1] if bounds else 1) + index)
            if row > last:
                break
            for i, name in named:
                if (row, i) in wanted and i < len(cells) and isinstance(cells[i].value, str) \
                        and cells[i].value.startswith("="):
                    formula = cells[i].value if len(cells[i].value) <= 40 else cells[i].value[:37] + "..."
                    raise DataError(
                        "MS032", f"{origin} sheet `{sheet}` cell {letters[name]}{row}: column `{name}` holds the "
                                 f"formula {formula!r} with no value saved (the file was written by a program that "
                                 "does not calculate: open and save it in Excel or LibreOffice)",
                        row=None, column=name)
    finally:
        book.close()


def _scales_by_100(number_format: str | None) -> bool:
    """A number format that shows the value times 100 with a percent sign: a bare `%` in a
    section, not one in quotes (`0" %"`) or escaped (`0\\%`), which only prints the sign."""
    text = number_format or ""
    i, quoted = 0, False
    while i < len(text):
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "\\":
            i += 1  # the next character is printed as it is
        elif not quoted and c == "%":
            return True
        i += 1
    return False
