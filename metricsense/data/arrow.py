"""Arrow record batches as Tables: the one conversion the CSV, Parquet and DuckDB readers share."""

from __future__ import annotations

import numpy as np

from metricsense.data.table import Labels, Table, refuse_repeated_names


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
            # NOTE: to_numpy() would import pandas; a date32 column (what Arrow reads `2024-03-04`
            # as) is its buffer as it is, without a cast (a cast imports pyarrow.compute: 50 ms).
            days = col if pa.types.is_date32(kind) else col.cast(pa.date32()).cast(pa.int32())
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
        elif pa.types.is_decimal(kind) and not (kind.scale == 0 and kind.precision > 15):
            # NOTE: through text: Arrow's decimal-to-float cast is not correctly rounded (4.1 -> 4.1000000000000005).
            columns[name] = _with_nulls(col.cast(pa.string()).cast(pa.float64()), np.nan)
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
