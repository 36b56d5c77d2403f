"""What the data layer's modules share: a survey as read, and how a source's problem is told."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metricsense.data.table import DataError, Table
from metricsense.diagnostics import Problem
from metricsense.model import DataSource
from metricsense.span import Span


@dataclass
class Survey:
    """A trust signal's survey answers, long form: one array per column, one entry per answer."""

    name: str
    columns: dict[str, np.ndarray]
    origin: str
    period: str | None = None  # the column holding the survey round (the data clause's `period`)


def reader_plugin(b: Any, src: DataSource) -> str:
    kind = Path(src.path).suffix.lower() if src.kind == "file" and src.path else (src.url or "").split(":", 1)[0]
    return b.readers.get(kind, (None, "metricsense.data"))[1]


def problem(exc: DataError, src: DataSource, needs: list[Any]) -> Problem:
    related = []
    if exc.line is not None and src.kind == "file" and src.path:
        file = (Path(src.span.file).parent / src.path).as_posix() if src.span.file != "<string>" else src.path
        related.append((Span(file, exc.line, 1, exc.line, 2), "this row"))
    return Problem(exc.code, src.span, exc.message, related=tuple(related))


def period_column(src: DataSource, table: Table) -> str:
    name = src.period or "period"
    if name not in table.columns:
        have = ", ".join(f"`{c}`" for c in list(table.columns)[:12])
        raise DataError("MS031", f"`{table.origin}` has no period column `{name}` (its columns: {have})")
    return name


def shown(src: DataSource) -> str:
    return src.path or "query"


def header_names(path: str, wanted: tuple[str, ...] = ()) -> list[str] | None:
    """The column names of a CSV (comma or semicolon), Parquet or Excel file (a workbook: the row
    holding every name of ``wanted``, when one does), None when not to be had. Its format is told
    by its name, as a reader is picked: give the path its reader opens, not a link's target."""
    suffix = str(path).lower().rsplit(".", 1)[-1]
    try:
        if suffix == "csv":
            from metricsense.data.csvblocks import header_names as csv_header  # as the reader reads it

            return [n.strip() for n in csv_header(Path(path))]
        if suffix in ("parquet", "pq"):
            import os

            if os.path.isdir(path):  # a folder of Parquet parts, read as one table
                import pyarrow.dataset as ds

                return list(ds.dataset(path, format="parquet", partitioning="hive").schema.names)
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        if suffix in ("xlsx", "xlsm"):
            from metricsense.data.excel import header_names as workbook_header  # one scan, kept (data.excel.layout)

            return workbook_header(path, wanted)
    except Exception:  # noqa: BLE001 - unreadable here: the reader reports it
        return None
    return None
