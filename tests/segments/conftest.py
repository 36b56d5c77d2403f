"""Fixtures for the segment tests (helpers live in segments_support.py)."""

from __future__ import annotations

import sqlite3

import pytest

from segments_support import SPEC, TEAMS, kpi_frame, survey_frame
from support import require


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    """The same data as CSV, Parquet, a partitioned Parquet folder and SQLite, and the spec for each."""
    pa = require("pyarrow")
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("segments")
    frame, survey = kpi_frame(), survey_frame()
    frame.to_csv(root / "kpis.csv", index=False)
    survey.to_csv(root / "survey.csv", index=False)
    table = pa.Table.from_pandas(frame.astype({"team": str}), preserve_index=False)
    pq.write_table(table, root / "kpis.parquet", row_group_size=40)
    pads.write_dataset(table, root / "parts.parquet", format="parquet", partitioning=["team"],
                       partitioning_flavor="hive")
    with sqlite3.connect(root / "kpis.db") as conn:
        frame.to_sql("kpis", conn, index=False)
        conn.execute("CREATE INDEX kpis_team ON kpis(team)")
    sources = {
        "csv": 'data "kpis.csv"',
        "parquet": 'data "kpis.parquet"',
        "parts": 'data "parts.parquet"',
        "sqlite": 'data sql "SELECT period, team, lev, weather, a, b FROM kpis -- all of it" from "sqlite:///kpis.db"',
    }
    for name, clause in sources.items():
        (root / f"{name}.msense").write_text(SPEC.replace("DATA", clause), "utf-8")
    # One folder per segment, holding only that segment's rows: the independent oracle.
    for team in TEAMS:
        sub = root / f"only-{team}"
        sub.mkdir()
        frame[frame["team"].astype(str) == team].drop(columns="team").to_csv(sub / "kpis.csv", index=False)
        survey[survey["team"] == team].drop(columns="team").to_csv(sub / "survey.csv", index=False)
        (sub / "spec.msense").write_text(SPEC.replace("DATA", 'data "kpis.csv"'), "utf-8")
    return root
