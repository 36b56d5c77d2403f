"""The built-in readers: CSV and Parquet (Apache Arrow), SQLite and PostgreSQL, in-memory tables.

Each reader yields Tables in batches, so a long file never has to be held twice in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from metricsense.data.table import DataError, Labels, ReadRequest, Table

BATCH_BYTES = 4 << 20


def _arrow_batch_to_table(batch, origin: str, first_line: int | None) -> Table:
    """Arrow columns as NumPy arrays: numbers as float64 (NaN for nulls), dates as
    datetime64[D], text as Labels. NOTE: no pyarrow.compute here: some of its kernels import
    pandas on first use, which costs most of a second."""
    import pyarrow as pa

    columns: dict[str, np.ndarray] = {}
    for name, col in zip(batch.schema.names, batch.columns):
        kind = col.type
        if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
            codes = _with_nulls(col.indices, -1).astype(np.int32)
            columns[name] = Labels(codes, np.array(col.dictionary.to_pylist(), dtype=object))
            continue
        if pa.types.is_dictionary(kind):
            col = col.cast(kind.value_type)
            kind = col.type
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            days = _with_nulls(col.cast(pa.date32()).cast(pa.int32()), np.nan)
            out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
            ok = ~np.isnan(days)
            out[ok] = days[ok].astype(np.int64).astype("datetime64[D]")
            columns[name] = out
        elif pa.types.is_integer(kind) and col.null_count == 0:
            columns[name] = col.to_numpy(zero_copy_only=False)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            columns[name] = _with_nulls(col, np.nan)
        elif pa.types.is_null(kind):
            columns[name] = np.full(len(col), np.nan)
        else:
            columns[name] = np.array(col.cast(pa.string()).to_pylist(), dtype=object)
    return Table(columns, origin, first_line)


def _with_nulls(array, fill) -> np.ndarray:
    """A float64 copy of a numeric Arrow array with nulls replaced by ``fill``, read from its
    buffers (Arrow's own conversion of arrays with nulls goes through pandas)."""
    import pyarrow as pa

    arr = array.cast(pa.float64())
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
    if request.columns:
        header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
        convert.include_columns = [c for c in header if c in request.columns]
    line = 2
    try:
        reader = pacsv.open_csv(path, read_options=read_opts, convert_options=convert)
        for batch in reader:
            table = _arrow_batch_to_table(batch, origin, line)
            line += batch.num_rows
            yield table
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError("MS034", f"data file `{origin}` has no header row") from None
        # NOTE: Arrow infers types from the first block; a later bad value lands here, after
        # earlier batches were handed out. Read the file again as text, find the first value
        # that is not a number in a column Arrow took as numeric, and report it.
        _raise_first_bad_value(path, origin, exc)
    except OSError as exc:
        raise DataError("MS030", f"cannot read data file `{origin}`: {exc}") from None


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
    yield Table({n: np.array(c.to_pylist(), dtype=object) for n, c in zip(table.column_names, table.columns)},
                origin, 2)


def read_parquet(request: ReadRequest) -> Iterator[Table]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, origin = request.path, request.origin
    assert path is not None
    if not _is_file(path, f"data file `{origin}`"):
        raise DataError("MS030", f"data file `{origin}` does not exist")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError("MS030", f"`{origin}` is not a readable Parquet file: {exc}") from None
    if parquet.metadata.num_rows == 0:
        raise DataError("MS034", f"data file `{origin}` has no rows")
    for batch in parquet.iter_batches(batch_size=65536):
        yield _arrow_batch_to_table(batch, origin, None)


# ---- SQL ---------------------------------------------------------------------------------------


def _rows_to_table(names: list[str], rows: list[tuple], origin: str) -> Table:
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        columns[name] = _column_from_python(values)
    return Table(columns, origin, None)


def _column_from_python(values: list[Any]) -> np.ndarray:
    import datetime as dt
    from decimal import Decimal

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (dt.date, dt.datetime)) for v in present) and len(present) == len(values):
        return np.array([np.datetime64(v.date() if isinstance(v, dt.datetime) else v) for v in values],
                        dtype="datetime64[D]")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


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
        conn = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError("MS030", hide(f"cannot open SQLite database `{raw}`: {exc}")) from None
    try:
        # NOTE: mode=ro and query_only stop writes to this database, not ATTACH, which can
        # create a database file anywhere: the authorizer refuses it (and DETACH).
        refused = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}
        conn.set_authorizer(lambda action, *args: sqlite3.SQLITE_DENY if action in refused else sqlite3.SQLITE_OK)
        conn.execute("PRAGMA query_only = ON")
        cur = conn.execute(request.source.query or "")
        names = [d[0] for d in cur.description or ()]
        rows = cur.fetchall()
    except sqlite3.Error as exc:
        raise DataError("MS030", hide(f"the query failed on {shown}: {exc}")) from None
    finally:
        conn.close()
    if not names:
        raise DataError("MS034", "the query returned no columns")
    yield _rows_to_table(names, rows, request.display_url or "sqlite")


def read_postgresql(request: ReadRequest) -> Iterator[Table]:
    """`data sql "SELECT ..." from "postgresql://user:${PGPASSWORD}@host/db"`, in a read-only transaction."""
    try:
        import psycopg
    except ImportError:
        raise DataError("MS030", "PostgreSQL sources need psycopg: pip install 'metricsense[postgres]'") from None
    from metricsense.data.secrets import mask

    try:
        with psycopg.connect(request.url or "", connect_timeout=10) as conn:
            conn.read_only = True
            with conn.cursor() as cur:
                cur.execute(request.source.query or "")
                names = [d.name for d in cur.description or ()]
                rows = cur.fetchall()
    except psycopg.Error as exc:
        # NOTE: driver messages can quote the connection string: mask every secret in them.
        message = mask(re.sub(r"\s+", " ", str(exc)).strip(), request.url or "", request.source.url)
        raise DataError("MS030", f"PostgreSQL source {request.display_url}: {message}") from None
    if not names:
        raise DataError("MS034", "the query returned no columns")
    yield _rows_to_table(names, rows, request.display_url or "postgresql")


# ---- in memory ---------------------------------------------------------------------------------


def table_from_object(obj: Any, origin: str) -> Table:
    """A pandas or polars DataFrame, or a mapping of column name -> sequence, as a Table."""
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        frame = obj
        if frame.index.name and frame.index.name not in frame.columns:
            frame = frame.reset_index()
        columns = {str(c): _from_series(frame[c].to_numpy()) for c in frame.columns}
    elif module == "polars":
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
