"""DuckDB: `data sql "SELECT ..." from "duckdb:///relative/path.duckdb"`, read-only and sealed off.

The database file must exist and lie inside the allowed folders (MS035); it is opened
`read_only=True` (nothing is created or written) with external access turned off and the
configuration locked, so a query cannot read or write other files (`read_csv('/etc/passwd')`,
`COPY ... TO`), attach another database or install an extension. Rows arrive as Arrow batches,
bounded by `[data] max-rows`; past `query-timeout` the query is interrupted.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

from metricsense.data.arrow import _arrow_batch_to_table
from metricsense.data.readers import (
    _is_file,
    _lacks_segment_column,
    _probe_query,
    _rows_to_table,
    _segment_query,
    _too_long,
)
from metricsense.data.table import DataError, ReadRequest, Table

BATCH_ROWS = 65_536
#: Settings that keep a query inside the database it was pointed at.
SEALED = {"enable_external_access": False, "autoinstall_known_extensions": False,
          "autoload_known_extensions": False, "lock_configuration": True}


def read_duckdb(request: ReadRequest) -> Iterator[Table]:
    try:
        import duckdb
    except ImportError:
        raise DataError("MS030", "DuckDB sources need duckdb: pip install 'metricsense[duckdb]'") from None
    from metricsense.data.paths import resolve_inside
    from metricsense.data.secrets import mask

    url = request.url or ""
    raw = url[len("duckdb:///"):] if url.startswith("duckdb:///") else url[len("duckdb://"):]
    shown = request.display_url or "duckdb"

    def hide(message: str) -> str:  # the path may hold ${VAR} values: never show them
        return mask(re.sub(r"\s+", " ", message).strip(), url, request.source.url)

    if not raw or raw == ":memory:":
        raise DataError("MS030", "a DuckDB URL names a database file: duckdb:///path/to/file.duckdb")
    path = resolve_inside(raw, request.base, request.allowed)
    if not _is_file(path, hide(f"DuckDB database `{raw}`")):
        raise DataError("MS030", hide(f"DuckDB database `{raw}` does not exist"))
    try:
        conn = duckdb.connect(str(path), read_only=True, config=dict(SEALED))
    except duckdb.Error as exc:
        raise DataError("MS030", hide(f"cannot open DuckDB database `{raw}`: {exc}")) from None
    timer = threading.Timer(request.timeout, conn.interrupt)
    timer.daemon = True
    deadline = time.monotonic() + request.timeout
    timer.start()
    try:
        query, params = request.source.query or "", None
        wrapped = _segment_query(request, "?")
        if wrapped is not None:
            try:
                probe = [d[0] for d in conn.execute(_probe_query(request)).description or ()]
            except duckdb.Error:
                probe = None  # run as written below, which names the error
            if probe is not None and _lacks_segment_column(request, probe):
                if request.distinct:  # no segments here: the source is shared by them all
                    yield _rows_to_table(probe, [], shown)
                    return
            elif probe is not None:
                query, params = wrapped
        relation = conn.sql(query, params=params) if params else conn.sql(query)
        if relation is None:  # a statement that is not a query (refused or harmless when sealed)
            raise DataError("MS034", f"the query on {shown} returned no columns (a data query is a SELECT)")
        # NOTE: `to_arrow_reader` since DuckDB 1.4 (and in 2.x); `fetch_arrow_reader` before it.
        reader = (getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader)(BATCH_ROWS)
        tables: list[Table] = []
        count = 0
        for batch in reader:
            count += batch.num_rows
            if count > request.max_rows:
                raise DataError("MS030", f"the query on {shown} returns more than {request.max_rows:,} rows; it was "
                                         "stopped (`max-rows` in the configuration's [data] table raises the limit)")
            if time.monotonic() > deadline:
                raise DataError("MS030", _too_long(request, shown))
            tables.append(_arrow_batch_to_table(batch, shown, None))
        tables = tables or [_rows_to_table(list(reader.schema.names), [], shown)]
    except duckdb.InterruptException:
        raise DataError("MS030", _too_long(request, shown)) from None
    except duckdb.Error as exc:
        if time.monotonic() > deadline:
            raise DataError("MS030", _too_long(request, shown)) from None
        raise DataError("MS030", hide(f"the query failed on {shown}: {exc}")) from None
    finally:
        timer.cancel()
        conn.close()
    if not tables[0].columns:
        raise DataError("MS034", "the query returned no columns")
    yield from tables

