"""The built-in readers: CSV and Parquet (Apache Arrow), SQLite and PostgreSQL, in-memory tables.

Each reader yields Tables in batches, so a long file never has to be held twice in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from metricsense.data.arrow import _arrow_batch_to_table
from metricsense.data.csvblocks import block_size, header_options, parse_options as _parse_options
from metricsense.data.table import DataError, Labels, ReadRequest, Table, refuse_repeated_names

def _is_file(path: Path, what: str) -> bool:
    """``path.is_file()``, with the errors it passes on (a path over PATH_MAX, a folder it may not
    enter) as MS030 instead of an OSError out of the data plugin."""
    try:
        return path.is_file()
    except OSError as exc:
        raise DataError("MS030", f"cannot read {what}: {exc.strerror}") from None


def _csv_batches(path: Path, read_opts, parse, convert, period: str | None = None):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # NOTE: memory-mapped: given a path or an OSFile, Arrow reads ahead and holds the whole
    # file in its pool; mapped, it holds a block or two and the pages stay the OS's cache.
    with pa.memory_map(str(path)) as source:
        reader = pacsv.open_csv(source, read_options=read_opts, parse_options=parse, convert_options=convert)
        kind = reader.schema.field(period).type if period and period in reader.schema.names else None
        if kind is not None and pa.types.is_timestamp(kind) and kind.tz is not None:
            # NOTE: Arrow turns `2024-03-31T23:30-05:00` into the UTC day after; a period is
            # the date as written, so this column is read as text (metricsense.data.periods).
            convert.column_types = {**dict(convert.column_types), period: pa.dictionary(pa.int32(), pa.string())}
            source.seek(0)
            reader = pacsv.open_csv(source, read_options=read_opts, parse_options=parse, convert_options=convert)
        yield from reader


def read_csv(request: ReadRequest) -> Iterator[Table]:
    """CSV with a header row (commas, or semicolons: see ``_parse_options``). Types are inferred
    by Arrow; on a conversion error the file is read again as text so the exact row and value can
    be named."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path, origin = request.path, request.origin
    assert path is not None
    if not _is_file(path, f"data file `{origin}`"):
        raise DataError("MS030", f"data file `{origin}` does not exist")
    if path.stat().st_size == 0:
        raise DataError("MS034", f"data file `{origin}` is empty")
    parse = _parse_options(path)
    read_opts = pacsv.ReadOptions(block_size=block_size(path))
    # Text columns arrive dictionary-encoded (see Labels): long files repeat their series names.
    # NOTE: Arrow reads `NA`, `nan`, `NULL` ... in a text column as missing: Namibia's rows (`NA`)
    # were in no segment (MS036) and a survey group `NA` merged with answers that had no group.
    # Text is read as written and only an empty cell is missing (_empty_is_missing); in a number
    # column those markers are still missing numbers (Arrow's null_values, and data.numbers).
    convert = pacsv.ConvertOptions(strings_can_be_null=False, auto_dict_encode=True,
                                   auto_dict_max_cardinality=1 << 20)
    segment = request.distinct or (request.where.column if request.where is not None else None)
    period = request.source.period or "period"
    # NOTE: with `decimal ","` (or `currency`) every column is read as text for
    # metricsense.data.numbers: Arrow would read `1.234` as one point two three four, a
    # thousands point the option says it is (found by an attack: values wrong, no finding).
    as_text = bool(getattr(request.source, "decimal", None) or getattr(request.source, "currency", None))
    if request.columns or segment or as_text:
        try:
            header = pacsv.open_csv(path, read_options=header_options(path),
                                    parse_options=parse).schema.names
        except UnicodeDecodeError:
            _raise_not_utf8(path, origin)
            raise
        except pa.ArrowInvalid:
            header = []  # the full read below reports it
        if request.columns:
            convert.include_columns = [c for c in header if c in request.columns]
        if segment:
            from metricsense.data.table import find_column

            # A segment column is read as text, as written: store "07" stays "07" in every file,
            # whatever Arrow would infer from the first block.
            name = find_column(header, segment)
            if name is not None:
                convert.column_types = {**dict(convert.column_types), name: pa.string()}
        if as_text:
            convert.column_types = {**{n: pa.dictionary(pa.int32(), pa.string()) for n in header},
                                    **dict(convert.column_types)}
    line, done, schema = 2, 0, None
    try:
        try:
            for batch in _csv_batches(path, read_opts, parse, convert, period):
                schema = schema or batch.schema
                table = _empty_is_missing(_arrow_batch_to_table(batch, origin, line))
                line += batch.num_rows
                done += batch.num_rows
                yield table
        except pa.ArrowInvalid as exc:
            # NOTE: Arrow infers types from the first block; a later block holding what that type
            # cannot (`1,001` or `71.5%` after plain numbers) stops the stream after batches were
            # handed out. The rest is read again with the columns Arrow typed as text, for
            # metricsense.data.numbers to read or refuse (naming the row) like any other text;
            # rows are skipped by count, the same count both reads make.
            if not done or schema is None or "conversion error" not in str(exc):
                raise
            texts = {f.name: pa.string() for f in schema
                     if not (pa.types.is_string(f.type) or pa.types.is_dictionary(f.type))}
            convert.column_types = {**texts, **dict(convert.column_types)}
            skip = done
            for batch in _csv_batches(path, read_opts, parse, convert, period):
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
                table = _empty_is_missing(_arrow_batch_to_table(batch, origin, line))
                line += batch.num_rows
                yield table
    except UnicodeDecodeError:  # a header name that is not UTF-8 (pyarrow decodes names itself)
        _raise_not_utf8(path, origin)
        raise
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError("MS034", f"data file `{origin}` has no header row") from None
        if "UTF8" in str(exc):
            _raise_not_utf8(path, origin)
        # NOTE: Arrow infers types from the first block; a later bad value lands here, after
        # earlier batches were handed out. Read the file again as text, find the first value
        # that is not a number in a column Arrow took as numeric, and report it.
        _raise_first_bad_value(path, origin, exc, parse)
    except OSError as exc:
        raise DataError("MS030", f"cannot read data file `{origin}`: {exc}") from None


def _empty_is_missing(table: Table) -> Table:
    """Read with ``strings_can_be_null`` off, a text column holds its empty cells as ``""``: each
    is missing, as Arrow would have read it; `NA`, `null`, `nan` stay the text they are."""
    for name, col in table.columns.items():
        if isinstance(col, Labels):
            empty = np.flatnonzero(col.labels == "")
            if len(empty):
                codes = col.codes.copy()
                codes[np.isin(codes, empty)] = -1
                table.columns[name] = Labels(codes, col.labels)
        elif col.dtype == object:
            hit = np.fromiter((v == "" for v in col), dtype=bool, count=len(col))
            if hit.any():
                col = col.copy()
                col[hit] = None
                table.columns[name] = col
    return table


def _raise_not_utf8(path: Path, origin: str) -> None:
    """MS032 naming the first line and column of a CSV file whose bytes are not UTF-8 text."""
    import csv

    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f, delimiter=_parse_options(path).delimiter)
        header: list[str] = []
        for fields in reader:
            if not header:
                header = fields
            for i, field in enumerate(fields):
                bad = next((c for c in field if "\udc80" <= c <= "\udcff"), None)
                if bad is None:
                    continue
                byte = f"0x{ord(bad) - 0xDC00:02x}"
                line = reader.line_num
                if fields is header:
                    raise DataError("MS032", f"{origin} line {line}: the name of column {i + 1} holds byte {byte}, "
                                             "which is not UTF-8 text (save the file as UTF-8)", row=None, line=line)
                name = header[i] if i < len(header) else str(i + 1)
                name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise DataError("MS032", f"{origin} line {line}: column `{name}` holds byte {byte}, which is not "
                                         "UTF-8 text (save the file as UTF-8)", row=line - 1, line=line, column=name)
    raise DataError("MS032", f"`{origin}` is not UTF-8 text (save the file as UTF-8)")


def _raise_first_bad_value(path: Path, origin: str, exc: Exception, parse) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from metricsense.data.numbers import to_numeric

    try:
        schema = pacsv.open_csv(path, read_options=header_options(path),
                                parse_options=parse).schema
    except pa.ArrowInvalid:
        schema = pa.schema([])
    numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    for table in _read_csv_as_text(path, origin, exc, parse):
        for name in numeric:
            to_numeric(table.columns[name], table, name)  # raises MS032 naming the row
    message = re.sub(r"\s+", " ", str(exc)).strip()
    raise DataError("MS032", f"`{origin}` could not be read as a table: {message}")


def _ragged_line(path: Path, delimiter: str) -> tuple[int, int, int] | None:
    """The first line whose number of fields differs from the header's: (line, fields, header's)."""
    import csv

    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                return None
            for fields in reader:
                if fields and len(fields) != len(header):
                    return reader.line_num, len(fields), len(header)
    except (OSError, csv.Error):
        return None
    return None


def _read_csv_as_text(path: Path, origin: str, exc: Exception, parse) -> Iterator[Table]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        header = pacsv.open_csv(path, read_options=header_options(path),
                                parse_options=parse).schema.names
        types = {name: pa.string() for name in header}
        table = pacsv.read_csv(path, parse_options=parse,
                               convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError):
        message = re.sub(r"\s+", " ", str(exc)).strip()
        line = _ragged_line(path, parse.delimiter)
        if line is not None:
            where, fields, expected = line
            raise DataError("MS032", f"{origin} line {where}: {fields} fields where the header has {expected}: "
                                     f"`{origin}` is not a well-formed CSV file ({message})", line=where) from None
        raise DataError("MS032", f"`{origin}` is not a well-formed CSV file: {message}") from None
    refuse_repeated_names(table.column_names, origin, 2)
    yield Table({n: np.array(c.to_pylist(), dtype=object) for n, c in zip(table.column_names, table.columns)},
                origin, 2)


def read_parquet(request: ReadRequest) -> Iterator[Table]:
    """A Parquet file, or a folder of them (`kpis.parquet/team=north/part-0.parquet`, partitions in
    the paths). A segment filter (``where``) is pushed down: partitions and row groups that
    cannot hold the segments are not read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, origin = request.path, request.origin
    assert path is not None
    is_file = _is_file(path, f"data file `{origin}`")
    if (not is_file and path.is_dir()) or (request.where is not None and is_file):
        yield from _read_parquet_dataset(request)
        return
    if not is_file:
        raise DataError("MS030", f"data file `{origin}` does not exist")
    try:
        dictionary = None
        if request.distinct:
            # NOTE: finding segments reads one text column of every row: as dictionary codes it
            # costs 4 bytes a row, as Python strings 60 and most of the time.
            from metricsense.data.table import find_column

            schema = pq.read_schema(path)
            name = find_column(schema.names, request.distinct)
            if name is not None and pa.types.is_string(schema.field(name).type):
                dictionary = [name]
        parquet = pq.ParquetFile(path, read_dictionary=dictionary)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError("MS030", f"`{origin}` is not a readable Parquet file: {exc}") from None
    if parquet.metadata.num_rows == 0:
        raise DataError("MS034", f"data file `{origin}` has no rows")
    columns = None
    if request.columns:
        columns = [c for c in parquet.schema_arrow.names if c in request.columns] or None
    for batch in parquet.iter_batches(batch_size=65536, columns=columns):
        yield _arrow_batch_to_table(batch, origin, None)


def _read_parquet_dataset(request: ReadRequest) -> Iterator[Table]:
    import pyarrow as pa
    import pyarrow.dataset as pads

    path, origin = request.path, request.origin
    try:
        dataset = pads.dataset(path, format="parquet", partitioning="hive")
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError("MS030", f"`{origin}` is not a readable Parquet dataset: {exc}") from None
    names = dataset.schema.names
    columns = None
    if request.columns:
        columns = [c for c in names if c in request.columns]
    filt = None
    where = request.where
    if where is not None and where.column in names:
        kind = dataset.schema.field(where.column).type
        values = list(where.values)
        if pa.types.is_integer(kind):
            values = [int(v) for v in values if isinstance(v, int) or str(v).lstrip("-").isdigit()]
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
            values = [str(v) for v in values]
        else:
            values = None  # rows are filtered after reading
        if values is not None:
            filt = pads.field(where.column).isin(values)
    try:
        scanner = dataset.scanner(columns=columns, filter=filt, batch_size=65536)
        rows = 0
        for batch in scanner.to_batches():
            if batch.num_rows:
                rows += batch.num_rows
                yield _arrow_batch_to_table(batch, origin, None)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError("MS030", f"cannot read `{origin}`: {exc}") from None
    if rows == 0 and where is None:
        raise DataError("MS034", f"data file `{origin}` has no rows")


# ---- SQL ---------------------------------------------------------------------------------------

#: Rows a query result is read by: a Table per batch, so at most one batch is held as Python rows.
SQL_BATCH_ROWS = 100_000


def _too_long(request: ReadRequest, shown: str) -> str:
    return (f"the query on {shown} was stopped after {request.timeout:g} s (`query-timeout` in the "
            "configuration's [data] table raises the limit)")


def _bounded(fetch, names: list[str], request: ReadRequest, shown: str) -> list[Table]:
    """The result read batch by batch (``fetch`` returns the next rows, empty at the end) as Tables;
    more than ``request.max_rows`` rows, or past ``request.timeout``, is MS030."""
    origin = request.display_url or shown
    deadline = time.monotonic() + request.timeout
    tables: list[Table] = []
    count = 0
    while True:
        rows = fetch()
        if not rows:
            break
        count += len(rows)
        if count > request.max_rows:
            raise DataError("MS030", f"the query on {shown} returns more than {request.max_rows:,} rows; it was "
                                     "stopped (`max-rows` in the configuration's [data] table raises the limit)")
        if time.monotonic() > deadline:
            raise DataError("MS030", _too_long(request, shown))
        tables.append(_rows_to_table(names, rows, origin))
    return tables or [_rows_to_table(names, [], origin)]



#: With ``ReadRequest.distinct``, a reader may return one row per distinct value with the number
#: of rows holding it in this column (SQL pushes a GROUP BY down); without it, rows count one each.
DISTINCT_ROWS = "msense_rows"


def _quote_identifier(name: str) -> str:
    """A column name as a quoted SQL identifier. Only plain names reach here (letters, digits,
    _: metricsense.segments checks them), and quotes are doubled all the same."""
    return '"' + name.replace('"', '""') + '"'


def _segment_query(request: ReadRequest, placeholder: str) -> tuple[str, list | None] | None:
    """The spec's query wrapped to return only the segments' rows, or the distinct segments.

    The segment values are bound as parameters, never spliced in. None when nothing is asked.
    With psycopg's ``%s`` placeholders a literal ``%`` in the query is doubled, as its
    parameter syntax requires.
    """
    query = (request.source.query or "").strip().rstrip(";").rstrip()
    if request.distinct:
        col = _quote_identifier(request.distinct)
        return (f"SELECT {col}, count(*) AS {DISTINCT_ROWS} FROM (\n{query}\n) AS msense_rows GROUP BY {col}",
                None)
    if request.where is not None and request.where.values:
        if placeholder == "%s":
            query = query.replace("%", "%%")
        col = _quote_identifier(request.where.column)
        marks = ", ".join([placeholder] * len(request.where.values))
        return f"SELECT * FROM (\n{query}\n) AS msense_rows WHERE {col} IN ({marks})", list(request.where.values)
    return None


def _lacks_segment_column(request: ReadRequest, columns) -> bool:
    """True when the query's result has no column for the segment asked about (``columns``: its
    names, from running it with LIMIT 0). Such a source is shared by every segment; wrapped, SQLite
    would read the unknown quoted name as a string literal and every segment would come back empty."""
    from metricsense.data.table import find_column

    segment = request.distinct or (request.where.column if request.where is not None else None)
    return segment is not None and find_column(list(columns), segment) is None


def _probe_query(request: ReadRequest) -> str:
    query = (request.source.query or "").strip().rstrip(";").rstrip()
    return f"SELECT * FROM (\n{query}\n) AS msense_rows LIMIT 0"


def _rows_to_table(names: list[str], rows: list[tuple], origin: str) -> Table:
    # NOTE: zip(*rows) turns rows into columns in C; a list per column built in Python cost
    # most of the time of reading a segment's rows.
    refuse_repeated_names(names, origin, None)
    values = list(zip(*rows)) if rows else [() for _ in names]
    return Table({name: _column_from_python(col) for name, col in zip(names, values)}, origin, None)


#: Column types read straight into float64 by NumPy (None becomes NaN); bool is not among them.
_NUMBER_TYPES = frozenset({int, float, type(None)})


def _whole_numbers(values) -> np.ndarray:
    """int64, else uint64 (an unsigned 64-bit id), else text: two ids never become one float."""
    for dtype in (np.int64, np.uint64):
        try:
            return np.array(values, dtype=dtype)
        except OverflowError:
            pass
    return np.array([str(v) for v in values], dtype=object)


def _big_whole_numbers(values, types: set) -> bool:
    """Whole numbers (int, or a Decimal without a fraction) with gaps, one beyond 2**53: as
    floats two ids could become one, so such a column is read as text."""
    from decimal import Decimal

    if not types <= {int, Decimal, type(None)} or types <= {type(None)}:
        return False
    whole = [v for v in values if v is not None]
    if not all(isinstance(v, int) or (v.is_finite() and v == v.to_integral_value()) for v in whole):
        return False
    return any(abs(v) >= 2**53 for v in whole)


def _column_from_python(values) -> np.ndarray:
    import datetime as dt
    from decimal import Decimal

    types = set(map(type, values))
    if types == {int}:
        return _whole_numbers(values)
    if _big_whole_numbers(values, types):
        return np.array([None if v is None else str(v) for v in values], dtype=object)
    try:  # the usual columns, in one C pass
        if types and types <= _NUMBER_TYPES | {Decimal}:
            return np.array(values, dtype=np.float64)
    except (OverflowError, TypeError, ValueError):
        pass  # numbers beyond float: one by one below
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (dt.date, dt.datetime)) for v in present) and len(present) == len(values):
        return np.array([np.datetime64(v.date() if isinstance(v, dt.datetime) else v) for v in values],
                        dtype="datetime64[D]")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(values):
        return _whole_numbers(values)
    if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def sqlite_uri(path: Path) -> str:
    """The ``file:`` URI that opens ``path`` read-only, writing nothing beside it.

    The path is percent-quoted: pasted as it is, a `#` ended the path (`?mode=ro` was lost and
    the cut name opened read-write, created if missing) and a `%2F` was decoded by SQLite into a
    path other than the one checked against the allowed folders. A database in WAL mode opened
    `mode=ro` creates `-wal` and `-shm` files beside itself and leaves them: without a `-wal`
    file every committed row is in the database file, and it is opened `immutable=1` (no lock,
    no file written); with one (a writer is at work, or stopped before a checkpoint) its rows
    are read too, through `mode=ro`.
    """
    import os
    from urllib.parse import quote

    params = "mode=ro"
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        header = b""
    wal = len(header) == 20 and header.startswith(b"SQLite format 3\x00") and header[18] == 2
    if wal and not os.path.exists(os.fspath(path) + "-wal"):
        params += "&immutable=1"
    return f"file:{quote(path.as_posix(), safe='/')}?{params}"


def read_sqlite(request: ReadRequest) -> Iterator[Table]:
    """`data sql "SELECT ..." from "sqlite:///relative/path.db"`, opened read-only."""
    import sqlite3

    from metricsense.data.paths import resolve_inside

    url = request.url or ""
    raw = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
    if not raw:
        raise DataError("MS030", "an SQLite URL names a database file: sqlite:///path/to/file.db")
    from metricsense.data.secrets import mask

    shown = request.display_url or "sqlite"

    def hide(message: str) -> str:  # the path may hold ${VAR} values: never show them
        return mask(message, request.url or "", request.source.url)

    path = resolve_inside(raw, request.base, request.allowed)
    if not _is_file(path, hide(f"SQLite database `{raw}`")):
        raise DataError("MS030", hide(f"SQLite database `{raw}` does not exist"))
    try:
        conn = sqlite3.connect(sqlite_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise DataError("MS030", hide(f"cannot open SQLite database `{raw}`: {exc}")) from None
    try:
        # NOTE: mode=ro and query_only stop writes to this database, not ATTACH, which can
        # create a database file anywhere: the authorizer refuses it (and DETACH).
        refused = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}
        conn.set_authorizer(lambda action, *args: sqlite3.SQLITE_DENY if action in refused else sqlite3.SQLITE_OK)
        conn.execute("PRAGMA query_only = ON")
        # The query is stopped past its time (a handler called every 10,000 SQLite steps, during
        # the fetch too: rows are computed as they are read) and past its rows (read in batches).
        deadline = time.monotonic() + request.timeout
        late = []

        def stop() -> int:
            if time.monotonic() > deadline:
                late.append(True)
                return 1
            return 0

        conn.set_progress_handler(stop, 10_000)
        cur = None
        wrapped = _segment_query(request, "?")
        if wrapped is not None:
            try:
                probe = [d[0] for d in conn.execute(_probe_query(request)).description or ()]
            except sqlite3.Error:
                probe = None  # run as written below, which names the error
            if probe is not None and _lacks_segment_column(request, probe):
                wrapped = None
                if request.distinct:  # no segments here: the source is shared by them all
                    return (yield _rows_to_table(probe, [], shown))
        if wrapped is not None:
            try:  # NOTE: a query that cannot be wrapped is run as written, filtered after reading
                cur = conn.execute(wrapped[0], wrapped[1] or ())
            except (sqlite3.Error, OverflowError):  # OverflowError: a value SQLite cannot bind
                if late:
                    raise
                cur = None
        if cur is None:
            cur = conn.execute(request.source.query or "")
        names = [d[0] for d in cur.description or ()]
        tables = _bounded(lambda: cur.fetchmany(SQL_BATCH_ROWS), names, request, shown)
    except sqlite3.Error as exc:
        if late:
            raise DataError("MS030", _too_long(request, shown)) from None
        raise DataError("MS030", hide(f"the query failed on {shown}: {exc}")) from None
    finally:
        conn.close()
    if not names:
        raise DataError("MS034", "the query returned no columns")
    yield from tables


def read_postgresql(request: ReadRequest) -> Iterator[Table]:
    """`data sql "SELECT ..." from "postgresql://user:${PGPASSWORD}@host/db"`, in a read-only transaction."""
    try:
        import psycopg
    except ImportError:
        raise DataError("MS030", "PostgreSQL sources need psycopg: pip install 'metricsense[postgres]'") from None
    from metricsense.data.secrets import mask

    shown = request.display_url or "postgresql"
    conn = None
    try:
        # NOTE: no `with` around the connection: its exit rolls back, which waits until a stream
        # stopped early (too many rows) has been read to its end; closed, the server stops it.
        conn = psycopg.connect(request.url or "", connect_timeout=10)
        conn.read_only = True
        # The server stops a statement past the time; rows are streamed (never the whole
        # result in the client's memory at once) and counted.
        conn.execute("SELECT set_config('statement_timeout', %s, false)",
                     [f"{max(1, int(request.timeout * 1000))}ms"])
        with conn.cursor() as cur:
            wrapped = _segment_query(request, "%s")
            query, params = (request.source.query or "", None)
            if wrapped is not None:
                try:  # NOTE: a query that cannot be wrapped is run as written, filtered after
                    with conn.transaction():
                        cur.execute(f"EXPLAIN {wrapped[0]}", wrapped[1])
                    query, params = wrapped
                except psycopg.Error:
                    pass
            try:
                rows = cur.stream(query, params, size=SQL_BATCH_ROWS)
            except TypeError:  # psycopg 3.1: one row at a time
                rows = cur.stream(query, params)
            batch: list = []

            def fetch() -> list:
                batch.clear()
                for row in rows:
                    batch.append(row)
                    if len(batch) >= SQL_BATCH_ROWS:
                        break
                return list(batch)

            first = fetch()
            names = [d.name for d in cur.description or ()]
            pending = [first]
            try:
                tables = _bounded(lambda: pending.pop() if pending else fetch(), names, request, shown)
            except DataError:
                _cancel(conn)
                raise
    except psycopg.errors.QueryCanceled:
        raise DataError("MS030", _too_long(request, shown)) from None
    except psycopg.Error as exc:
        # NOTE: driver messages can quote the connection string: mask every secret in them.
        message = mask(re.sub(r"\s+", " ", str(exc)).strip(), request.url or "", request.source.url)
        raise DataError("MS030", f"PostgreSQL source {request.display_url}: {message}") from None
    finally:
        if conn is not None:
            conn.close()
    if not names:
        raise DataError("MS034", "the query returned no columns")
    yield from tables


def _cancel(conn) -> None:
    """Ask the server to stop the running query (best effort: the connection is closed next)."""
    try:
        cancel = getattr(conn, "cancel_safe", None) or conn.cancel
        cancel()
    except Exception:  # noqa: BLE001 - closing the connection stops it all the same
        pass


# ---- in memory ---------------------------------------------------------------------------------


def table_from_object(obj: Any, origin: str) -> Table:
    """A pandas or polars DataFrame, or a mapping of column name -> sequence, as a Table."""
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        frame = obj
        if frame.index.name and frame.index.name not in frame.columns:
            frame = frame.reset_index()
        refuse_repeated_names(frame.columns, origin, None)
        columns = {str(c): _from_series(frame[c].to_numpy()) for c in frame.columns}
    elif module == "polars":
        refuse_repeated_names(obj.columns, origin, None)
        columns = {str(c): _from_series(obj[c].to_numpy()) for c in obj.columns}
    elif isinstance(obj, Mapping):
        columns = {str(k): _from_series(np.asarray(v)) for k, v in obj.items()}
    else:
        raise DataError("MS030", f"in-memory data `{origin}` is a {type(obj).__name__}; expected a pandas or "
                                 "polars DataFrame, or a mapping of column name to values")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise DataError("MS030", f"in-memory data `{origin}` has columns of different lengths: {sorted(lengths)}")
    return Table(columns, origin, None)


def _from_series(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    if values.dtype.kind == "O":
        present = [v for v in values if v is not None and v == v]
        if present and all(hasattr(v, "isoformat") and hasattr(v, "year") for v in present):
            return np.array([np.datetime64(v.isoformat()[:10]) if v is not None and v == v else np.datetime64("NaT")
                             for v in values], dtype="datetime64[D]")
    return values
