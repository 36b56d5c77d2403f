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

from metricsense.data.table import DataError, Labels, ReadRequest, Table, refuse_repeated_names

# CSV blocks of 1 MB: a long file streams through a few MB of Arrow buffers, whatever its size.
BATCH_BYTES = 1 << 20


def _arrow_batch_to_table(batch, origin: str, first_line: int | None) -> Table:
    """Arrow columns as NumPy arrays: numbers as float64 (NaN for nulls), dates as
    datetime64[D], text as Labels. NOTE: no pyarrow.compute here: some of its kernels import
    pandas on first use, which costs most of a second."""
    import pyarrow as pa

    refuse_repeated_names(batch.schema.names, origin, first_line)
    columns: dict[str, np.ndarray] = {}
    for name, col in zip(batch.schema.names, batch.columns):
        kind = col.type
        if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
            idx = col.indices
            if col.null_count == 0 and pa.types.is_int32(idx.type):  # the usual case: no copy
                raw = np.frombuffer(idx.buffers()[1], dtype=np.int32, count=idx.offset + len(idx))
                codes = raw[idx.offset:]
            else:
                codes = _with_nulls(idx, -1).astype(np.int32)
            columns[name] = Labels(codes, np.array(col.dictionary.to_pylist(), dtype=object))
            continue
        if pa.types.is_dictionary(kind):
            col = col.cast(kind.value_type)
            kind = col.type
        if (pa.types.is_date(kind) or pa.types.is_timestamp(kind)) and col.null_count == 0:
            days = col.cast(pa.date32()).cast(pa.int32())  # NOTE: to_numpy() would import pandas
            raw = np.frombuffer(days.buffers()[1], dtype=np.int32, count=days.offset + len(days))
            columns[name] = raw[days.offset:].astype("datetime64[D]")
        elif pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            days = _with_nulls(col.cast(pa.date32()).cast(pa.int32()), np.nan)
            out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
            ok = ~np.isnan(days)
            out[ok] = days[ok].astype(np.int64).astype("datetime64[D]")
            columns[name] = out
        elif pa.types.is_integer(kind) and col.null_count == 0:
            wide = pa.uint64() if pa.types.is_uint64(kind) else pa.int64()
            ints = col.cast(wide)
            raw = np.frombuffer(ints.buffers()[1], dtype=np.uint64 if wide == pa.uint64() else np.int64, count=ints.offset + len(ints))
            values = raw[ints.offset:].copy()
            # NOTE: a uint64 above 2**63 stays uint64 (an id, exact); the int64 cast refused it.
            if values.dtype == np.uint64 and (not len(values) or values.max() < 2**63):
                values = values.astype(np.int64)
            columns[name] = values
        elif pa.types.is_integer(kind):
            try:
                columns[name] = _with_nulls(col, np.nan)
            except pa.ArrowInvalid:  # beyond 2**53 a float is not exact: Python ints, None for nulls
                columns[name] = np.array(col.to_pylist(), dtype=object)
        elif pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            columns[name] = _with_nulls(col, np.nan)
        elif pa.types.is_null(kind):
            columns[name] = np.full(len(col), np.nan)
        elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            # Bytes that are not UTF-8 are shown escaped (b"\xff" as "\\xff"): text no other value
            # can have, refused as a number (MS032 naming the row) where a series reads it.
            columns[name] = np.array([None if v is None else v.decode("utf-8", "backslashreplace")
                                      for v in col.to_pylist()], dtype=object)
        else:
            try:
                columns[name] = np.array(col.cast(pa.string()).to_pylist(), dtype=object)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                # A list, struct or map column has no number or label in it: each cell as the text
                # of its value ("[1, 2]"), which a series reading it refuses with MS032 and its row.
                columns[name] = np.array([None if v is None else str(v) for v in col.to_pylist()],
                                         dtype=object)
    return Table(columns, origin, first_line)


def _with_nulls(array, fill) -> np.ndarray:
    """A float64 copy of a numeric Arrow array with nulls replaced by ``fill``, read from its
    buffers (Arrow's own conversion of arrays with nulls goes through pandas)."""
    import pyarrow as pa

    arr = array if pa.types.is_float64(array.type) else array.cast(pa.float64())
    validity, data = arr.buffers()[0], arr.buffers()[1]
    n, offset = len(arr), arr.offset
    if data is None:
        return np.full(n, fill, dtype=np.float64)
    values = np.frombuffer(data, dtype=np.float64, count=offset + n)[offset:].copy()
    if arr.null_count and validity is not None:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[offset:offset + n]
        values[bits == 0] = fill
    return values


def _is_file(path: Path, what: str) -> bool:
    """``path.is_file()``, with the errors it passes on (a path over PATH_MAX, a folder it may not
    enter) as MS030 instead of an OSError out of the data plugin."""
    try:
        return path.is_file()
    except OSError as exc:
        raise DataError("MS030", f"cannot read {what}: {exc.strerror}") from None


def read_csv(request: ReadRequest) -> Iterator[Table]:
    """CSV with a header row. Types are inferred by Arrow; on a conversion error the file is read
    again as text so the exact row and value can be named."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path, origin = request.path, request.origin
    assert path is not None
    if not _is_file(path, f"data file `{origin}`"):
        raise DataError("MS030", f"data file `{origin}` does not exist")
    if path.stat().st_size == 0:
        raise DataError("MS034", f"data file `{origin}` is empty")
    read_opts = pacsv.ReadOptions(block_size=BATCH_BYTES)
    # Text columns arrive dictionary-encoded (see Labels): long files repeat their series names.
    convert = pacsv.ConvertOptions(strings_can_be_null=True, auto_dict_encode=True,
                                   auto_dict_max_cardinality=1 << 20)
    segment = request.distinct or (request.where.column if request.where is not None else None)
    period = request.source.period or "period"
    if request.columns or segment:
        try:
            header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
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
                convert.column_types = {**convert.column_types, name: pa.string()}
    line = 2
    try:
        # NOTE: memory-mapped: given a path or an OSFile, Arrow reads ahead and holds the whole
        # file in its pool; mapped, it holds a block or two and the pages stay the OS's cache.
        with pa.memory_map(str(path)) as source:
            reader = pacsv.open_csv(source, read_options=read_opts, convert_options=convert)
            kind = reader.schema.field(period).type if period in reader.schema.names else None
            if kind is not None and pa.types.is_timestamp(kind) and kind.tz is not None:
                # NOTE: Arrow turns `2024-03-31T23:30-05:00` into the UTC day after; a period is
                # the date as written, so this column is read as text (metricsense.data.periods).
                convert.column_types = {**convert.column_types, period: pa.dictionary(pa.int32(), pa.string())}
                source.seek(0)
                reader = pacsv.open_csv(source, read_options=read_opts, convert_options=convert)
            for batch in reader:
                table = _arrow_batch_to_table(batch, origin, line)
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
        _raise_first_bad_value(path, origin, exc)
    except OSError as exc:
        raise DataError("MS030", f"cannot read data file `{origin}`: {exc}") from None


def _raise_not_utf8(path: Path, origin: str) -> None:
    """MS032 naming the first line and column of a CSV file whose bytes are not UTF-8 text."""
    import csv

    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
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


def _raise_first_bad_value(path: Path, origin: str, exc: Exception) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from metricsense.data.table import to_numeric

    try:
        schema = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema
    except pa.ArrowInvalid:
        schema = pa.schema([])
    numeric = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
    for table in _read_csv_as_text(path, origin, exc):
        for name in numeric:
            to_numeric(table.columns[name], table, name)  # raises MS032 naming the row
    message = re.sub(r"\s+", " ", str(exc)).strip()
    raise DataError("MS032", f"`{origin}` could not be read as a table: {message}")


def _read_csv_as_text(path: Path, origin: str, exc: Exception) -> Iterator[Table]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
        types = {name: pa.string() for name in header}
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types,
                                                                          strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError):
        message = re.sub(r"\s+", " ", str(exc)).strip()
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
