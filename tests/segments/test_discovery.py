"""Finding the segments: the segment column in every source, the filter pushed down to the storage, odd segment values."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

import metricsense
from metricsense.data.readers import read_parquet, read_sqlite
from metricsense.data.table import ReadRequest, RowFilter
from metricsense.model import DataSource
from metricsense.span import Span
from segments_support import SPEC, TEAMS, kpi_frame, strip_segment, survey_frame, write_spec
from support import require, run_msense


@pytest.mark.parametrize("source", ["parquet", "parts", "sqlite"])
def test_every_source_gives_the_same_segments(folder, source):
    csv = json.loads(metricsense.check(folder / "csv.msense", by="team", config={}).to_json())
    other = json.loads(metricsense.check(folder / f"{source}.msense", by="team", config={}).to_json())
    assert [strip_segment(d) + (d.get("segment"),) for d in other["diagnostics"]] == \
           [strip_segment(d) + (d.get("segment"),) for d in csv["diagnostics"]]
    assert [r["segment"] for r in other["segments"]["results"]] == [r["segment"] for r in csv["segments"]["results"]]


def test_a_column_no_source_has_is_a_clear_error(folder):
    result = run_msense("check", "csv.msense", "--by", "region", cwd=folder)
    assert result.returncode == 2
    assert "error[MS031]: no data source of `csv.msense` has a column `region` to segment by" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bad", ["te am", "team;drop", "1team", ""])
def test_a_segment_column_must_be_a_plain_name(folder, bad):
    result = run_msense("check", "csv.msense", "--by", bad, cwd=folder)
    assert result.returncode == 2, result.stdout
    assert "MS006" in result.stdout and "plain name" in result.stdout
    assert "Traceback" not in result.stderr


def _request(source: DataSource, folder, **kw) -> ReadRequest:
    return ReadRequest(source, base=folder, allowed=(folder,), **kw)


def test_sqlite_reads_only_the_segment_rows_with_bound_values(folder):
    src = DataSource("sql", None, "SELECT * FROM kpis;", "sqlite:///kpis.db", None, None, None, None, None,
                     Span.point("x.msense"))
    url = "sqlite:///kpis.db"
    rows = lambda where: sum(t.rows for t in read_sqlite(_request(src, folder, url=url, display_url=url,
                                                                    where=where)))
    assert rows(RowFilter("team", ("north", "7"))) == 80
    assert rows(RowFilter("team", ("x') OR 1=1 --",))) == 0  # a value is a value, never SQL
    assert rows(None) == 40 * len(TEAMS)
    distinct = list(read_sqlite(_request(src, folder, url=url, display_url=url, distinct="team")))
    assert sorted(map(str, distinct[0].columns["team"])) == sorted(TEAMS)
    with sqlite3.connect(folder / "kpis.db") as conn:
        assert conn.execute("SELECT count(*) FROM kpis").fetchone()[0] == 40 * len(TEAMS)


def test_parquet_pushes_the_filter_into_partitions_and_row_groups(folder):
    for name in ("kpis.parquet", "parts.parquet"):
        src = DataSource("file", name, None, None, None, None, None, None, None, Span.point("x.msense"))
        tables = list(read_parquet(_request(src, folder, path=folder / name, where=RowFilter("team", ("east",)))))
        teams = {str(v) for t in tables for v in np.asarray(t.columns["team"])}
        assert teams == {"east"} and sum(t.rows for t in tables) == 40, name


def test_postgresql_segments(postgres_url, tmp_path):
    psycopg = require("psycopg")
    import os

    frame = kpi_frame()
    url = postgres_url.replace("${PGPASSWORD}", os.environ["PGPASSWORD"])
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS regions")
            cur.execute("CREATE TABLE regions (period integer, team text, lev double precision, "
                        "weather double precision, a double precision, b double precision)")
            with cur.copy("COPY regions FROM STDIN") as copy:
                for row in frame.itertuples(index=False):
                    copy.write_row([row.period, row.team, row.lev, row.weather, row.a,
                                    None if np.isnan(row.b) else row.b])
        conn.commit()
    survey_frame().to_csv(tmp_path / "survey.csv", index=False)
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    (tmp_path / "pg.msense").write_text(SPEC.replace(
        "DATA", f'data sql "SELECT * FROM regions" from "{postgres_url}"'), "utf-8")
    (tmp_path / "csv.msense").write_text(SPEC.replace("DATA", 'data "kpis.csv"'), "utf-8")
    on_pg = json.loads(run_msense("check", "pg.msense", "--by", "team", "--format", "json", cwd=tmp_path).stdout)
    on_csv = json.loads(run_msense("check", "csv.msense", "--by", "team", "--format", "json", cwd=tmp_path).stdout)
    assert [strip_segment(d) for d in on_pg["diagnostics"]] == [strip_segment(d) for d in on_csv["diagnostics"]]
    assert os.environ["PGPASSWORD"] not in json.dumps(on_pg)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("store", ["parquet", "sqlite"])
def test_rows_without_a_segment_are_counted_not_a_crash(tmp_path, store, jobs):
    frame = kpi_frame()
    frame["team"] = frame["team"].astype(object)
    frame.loc[::13, "team"] = None
    survey_frame().to_csv(tmp_path / "survey.csv", index=False)
    if store == "parquet":
        frame.to_parquet(tmp_path / "kpis.parquet", index=False)
        spec = write_spec(tmp_path, 'data "kpis.parquet"')
    else:
        with sqlite3.connect(tmp_path / "kpis.db") as conn:
            frame.to_sql("kpis", conn, index=False)
        spec = write_spec(tmp_path, 'data sql "SELECT * FROM kpis" from "sqlite:///kpis.db"')
    report = metricsense.check(spec, by="team", config={}, jobs=jobs)  # jobs=2: found by a worker
    assert report.exit_code == 1, [d.message for d in report.diagnostics if d.code in ("MS005", "MS031")]
    assert report.segments.count == len(TEAMS)
    notes = [d for d in report.diagnostics if d.code == "MS036"]
    missing = int(frame["team"].isna().sum())
    assert len(notes) == 1 and notes[0].message.startswith(f"{missing} rows of ")


def test_decimal_segment_values_reach_sql_as_numbers(tmp_path):
    frame = kpi_frame()
    codes = {t: v for t, v in zip(TEAMS, (1.5, 2, 3.25, 7, 10))}
    frame["team"] = frame["team"].map(codes)
    survey = survey_frame()
    survey["team"] = survey["team"].map({t: f"{v:g}" for t, v in codes.items()})  # as written: 2, not 2.0
    survey.to_csv(tmp_path / "survey.csv", index=False)
    with sqlite3.connect(tmp_path / "kpis.db") as conn:
        frame.to_sql("kpis", conn, index=False)
    spec = write_spec(tmp_path, 'data sql "SELECT period, team + 0 AS team, lev, weather, a, b FROM kpis" '
                                 'from "sqlite:///kpis.db"')
    report = metricsense.check(spec, by="team", config={})
    assert [r.segment for r in report.segment_results] == ["1.5", "2", "3.25", "7", "10"]
    assert not [d for d in report.diagnostics if d.code in ("MS031", "MS033", "MS034")]


def test_a_column_named_in_another_case_is_found(folder):
    spec = write_spec(folder, 'data sql "SELECT period, team AS Team, lev, weather, a, b FROM kpis" '
                               'from "sqlite:///kpis.db"', "upper.msense")
    upper = json.loads(metricsense.check(spec, by="team", config={}).to_json())
    plain = json.loads(metricsense.check(folder / "sqlite.msense", by="team", config={}).to_json())
    assert [strip_segment(d) for d in upper["diagnostics"]] == [strip_segment(d) for d in plain["diagnostics"]]


def test_no_data_and_empty_columns_are_errors(tmp_path):
    (tmp_path / "nodata.msense").write_text('mission "M"\nkpi a "A" { }\n', "utf-8")
    report = metricsense.check(tmp_path / "nodata.msense", by="team", config={})
    assert report.exit_code == 2
    assert any(d.code == "MS031" and "reads no data" in d.message for d in report.diagnostics)
    (tmp_path / "k.csv").write_text("period,team,a\n1,,1\n2,,2\n", "utf-8")
    (tmp_path / "empty.msense").write_text('mission "M"\ndata "k.csv"\nkpi a "A" { }\n', "utf-8")
    report = metricsense.check(tmp_path / "empty.msense", by="team", config={})
    assert report.exit_code == 2
    assert any(d.code == "MS031" and "has no values" in d.message for d in report.diagnostics)


def test_csv_segment_ids_keep_their_text(tmp_path):
    """`01` in one CSV file and `01` in another are one segment, not `1` and `01`."""
    frame = kpi_frame()
    ids = {t: f"0{i + 1}" for i, t in enumerate(TEAMS)}
    frame["team"] = frame["team"].map(ids)
    survey = survey_frame()
    survey["team"] = survey["team"].map(ids)
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    spec = write_spec(tmp_path, 'data "kpis.csv"')
    report = metricsense.check(spec, by="team", config={})
    assert [r.segment for r in report.segment_results] == ["01", "02", "03", "04", "05"]
    assert not [d for d in report.diagnostics if d.code in ("MS031", "MS034")]


def test_a_sqlite_source_without_the_segment_column_is_shared_by_every_segment(tmp_path):
    # SQLite reads an unknown quoted name as a string literal: wrapped, every segment came back
    # empty (MS034 once per segment, exit 2) and the message showed the URL as `sqlite:/macro.db`.
    with sqlite3.connect(tmp_path / "macro.db") as conn:
        conn.execute("CREATE TABLE m (period TEXT, rate REAL)")
        conn.executemany("INSERT INTO m VALUES (?, ?)", [(f"2026-0{i}-01", i * 0.5) for i in range(1, 7)])
    (tmp_path / "stores.csv").write_text("period,store,sales\n" + "".join(
        f"2026-0{i}-01,{s},{i * 10 + j}\n" for i in range(1, 7) for j, s in enumerate(("north", "south"))))
    (tmp_path / "k.msense").write_text(
        'mission "M"\nlever rate "R" { data sql "SELECT period, rate FROM m" from "sqlite:///macro.db" }\n'
        'data "stores.csv" layout long column "sales" segment "store"\nkpi sales "S" { responds rate +1 }\n')
    report = json.loads(metricsense.check(tmp_path / "k.msense", by="store", config={}).to_json())
    assert [r["segment"] for r in report["segments"]["results"]] == ["north", "south"]
    assert not [d for d in report["diagnostics"] if d["code"].startswith("MS03")], report["diagnostics"]
    src = DataSource("sql", None, "SELECT period, rate FROM m", "sqlite:///macro.db", None, None, None, None, None,
                     Span.point("x.msense"))
    url = "sqlite:///macro.db"
    tables = list(read_sqlite(_request(src, tmp_path, url=url, display_url=url, where=RowFilter("store", ("north",)))))
    assert sum(t.rows for t in tables) == 6  # the whole source, for every segment
    from metricsense.data.secrets import display

    assert display(url) == url and display("sqlite:///a.db?password=x") == "sqlite:///a.db?password=***"


@pytest.mark.parametrize("jobs", [1, 2])
def test_segment_values_that_look_like_missing_markers_are_segments(tmp_path, jobs):
    """`NA` is Namibia: only an empty cell is a missing segment. Arrow reads `NA`, `nan`, `NULL`
    and `n/a` in text columns as missing, so their rows were in no segment (MS036) and never
    checked. Numbers written `NA` (R's write.csv) stay missing numbers."""
    names = {"north": "NA", "south": "nan", "east": "NULL", "west": "n/a", "7": "7"}
    frame, survey = kpi_frame(), survey_frame()
    for folder, rename in (("odd", names), ("plain", {t: f"t{t}" for t in TEAMS})):
        (tmp_path / folder).mkdir()
        frame.assign(team=frame["team"].map(rename)).to_csv(tmp_path / folder / "kpis.csv", index=False, na_rep="NA")
        survey.assign(team=survey["team"].map(rename)).to_csv(tmp_path / folder / "survey.csv", index=False)
        write_spec(tmp_path / folder, 'data "kpis.csv"')
    odd = metricsense.check(tmp_path / "odd" / "spec.msense", by="team", config={}, jobs=jobs)
    plain = metricsense.check(tmp_path / "plain" / "spec.msense", by="team", config={}, jobs=jobs)
    assert sorted(r.segment for r in odd.segment_results) == sorted(names.values())
    assert not [d for d in odd.diagnostics if d.code in ("MS031", "MS032", "MS036")]
    back = {v: f"t{k}" for k, v in names.items()}
    seen = sorted((back[d.segment] if d.segment else "", d.code, d.span.line) for d in odd.diagnostics)
    assert seen == sorted((d.segment or "", d.code, d.span.line) for d in plain.diagnostics)
    # an empty cell is still a row without a segment
    frame.loc[::13, "team"] = ""
    frame.to_csv(tmp_path / "odd" / "kpis.csv", index=False, na_rep="NA")
    again = metricsense.check(tmp_path / "odd" / "spec.msense", by="team", config={}, jobs=jobs)
    assert [d.code for d in again.diagnostics].count("MS036") == 1
