"""DuckDB sources: read-only, sealed off from other files, bounded, compared with pandas."""

from __future__ import annotations

import numpy as np
import pytest

from support import require, run_msense
from test_numbers import problems
from test_sources import SPEC, dataset_of, series


@pytest.fixture
def database(tmp_path):
    duckdb = require("duckdb")
    path = tmp_path / "kpis.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE kpis AS SELECT * FROM (VALUES "
                 "(DATE '2026-01-05', 4.1, 'north', '71.5%', 30::BIGINT), (DATE '2026-01-12', NULL, 'north', '70%', 31), "
                 "(DATE '2026-01-19', 4.3, 'north', '69%', NULL), (DATE '2026-01-05', 3.9, 'south', '60%', 20), "
                 "(DATE '2026-01-12', 4.0, 'south', '61%', 21)) t(period, csat, store, share, nps)")
    conn.close()
    return path


def test_a_query_matches_pandas(tmp_path, database):
    duckdb = require("duckdb")
    require("pandas")
    query = "SELECT period, csat, share, nps FROM kpis WHERE store = 'north' ORDER BY period"
    data, report = dataset_of(tmp_path, SPEC + f'data sql "{query}" from "duckdb:///kpis.duckdb"\n'
                                               'kpi csat "C" { }\nkpi share "S" { }\nkpi nps "N" { }\n')
    assert not problems(report), [d.message for d in problems(report)]
    conn = duckdb.connect(str(database), read_only=True)
    frame = conn.execute(query).df()
    conn.close()
    np.testing.assert_array_equal(data.matrix(["csat", "nps"]), frame[["csat", "nps"]].to_numpy(dtype=float))
    np.testing.assert_array_equal(data.series("share").values, frame["share"].str.rstrip("%").astype(float))
    assert series(report, "share")["unit"] == "%" and series(report, "csat")["source"] == "duckdb:///kpis.duckdb"


def test_the_database_is_opened_read_only_and_sealed(tmp_path, database):
    outside = tmp_path / "secret.csv"
    outside.write_text("period,x\n1,2\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    for query, words in [(f"SELECT * FROM read_csv('{outside}')", "disabled by configuration"),
                         (f"COPY kpis TO '{tmp_path / 'out.csv'}'", "disabled by configuration"),
                         (f"ATTACH '{tmp_path / 'new.duckdb'}' AS n", "disabled by configuration"),
                         ("CREATE TABLE t AS SELECT 1 AS period", "read-only"),
                         ("SET enable_external_access = true", "")]:
        _, report = dataset_of(tmp_path, SPEC + f'data sql "{query}" from "duckdb:///kpis.duckdb"\nkpi x "X" {{ }}\n')
        (d,) = problems(report)
        assert d.code in ("MS030", "MS034") and words in d.message, (query, d.message)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["k.msense"])  # nothing created


def test_missing_database_is_never_created_and_outside_paths_are_refused(tmp_path, database):
    _, report = dataset_of(tmp_path, SPEC + 'data sql "SELECT 1" from "duckdb:///nope.duckdb"\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert d.code == "MS030" and "does not exist" in d.message and not (tmp_path / "nope.duckdb").exists()
    _, report = dataset_of(tmp_path, SPEC + 'data sql "SELECT 1" from "duckdb:///../kpis.duckdb"\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert d.code == "MS035"


def test_rows_and_time_are_bounded(tmp_path, database):
    (tmp_path / "msense.toml").write_text("[data]\nmax-rows = 2\n")
    (tmp_path / "k.msense").write_text(SPEC + 'data sql "SELECT * FROM kpis" from "duckdb:///kpis.duckdb"\n'
                                              'kpi csat "C" { }\n')
    result = run_msense("check", "k.msense", "--select", "MS030", cwd=tmp_path)
    assert result.returncode == 2 and "more than 2 rows" in result.stdout
    (tmp_path / "msense.toml").write_text("[data]\nquery-timeout = 0.5\n")
    slow = "SELECT DATE '2026-01-01' + (x % 1000)::INT AS period, x AS csat FROM range(10000000000) t(x) ORDER BY sin(x)"
    (tmp_path / "k.msense").write_text(SPEC + f'data sql "{slow}" from "duckdb:///kpis.duckdb"\nkpi csat "C" {{ }}\n')
    result = run_msense("check", "k.msense", "--select", "MS030", cwd=tmp_path)
    assert result.returncode == 2 and "stopped after 0.5 s" in result.stdout, result.stdout


def test_secrets_in_the_url_are_masked(tmp_path, database, monkeypatch):
    monkeypatch.setenv("KPI_DB", "kpis-secret-name")
    _, report = dataset_of(tmp_path, SPEC + 'data sql "SELECT 1" from "duckdb:///${KPI_DB}.duckdb"\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert "kpis-secret-name" not in d.message and "***" in d.message


def test_segments_push_down_and_a_source_without_the_column_is_shared(tmp_path, database):
    import json

    import metricsense

    (tmp_path / "k.msense").write_text(
        SPEC + 'lever rate "R" { data sql "SELECT period, 1.5 AS rate FROM kpis WHERE store = \'north\'" '
               'from "duckdb:///kpis.duckdb" }\n'
               'data sql "SELECT period, csat, store FROM kpis" from "duckdb:///kpis.duckdb"\n'
               'kpi csat "C" { responds rate +1 }\n')
    report = json.loads(metricsense.check(tmp_path / "k.msense", by="store", config={}).to_json())
    assert [r["segment"] for r in report["segments"]["results"]] == ["north", "south"]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("MS03")]


def test_without_duckdb_the_message_names_the_extra(tmp_path, database):
    (tmp_path / "k.msense").write_text(SPEC + 'data sql "SELECT 1" from "duckdb:///kpis.duckdb"\nkpi x "X" { }\n')
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "duckdb.py").write_text("raise ImportError('hidden')\n")
    result = run_msense("check", "k.msense", "--select", "MS030", cwd=tmp_path,
                        env={"PYTHONPATH": str(tmp_path / "hide")})
    assert "pip install 'metricsense[duckdb]'" in result.stdout and "Traceback" not in result.stderr
