"""The data layer: read KPI, lever and survey data from files, SQL and DataFrames.

Its modules load NumPy (and Arrow for files) and are imported only when a spec points at
data, so a check of a spec without data stays light: the names below load on first use.
"""

from __future__ import annotations

__all__ = ["DataError", "DataSet", "ReadRequest", "Series", "Survey", "Table"]


def __getattr__(name: str):
    if name in ("DataSet", "Series", "Survey"):
        from metricsense.data import dataset

        return getattr(dataset, name)
    if name in ("DataError", "ReadRequest", "Table"):
        from metricsense.data import table

        return getattr(table, name)
    raise AttributeError(name)
