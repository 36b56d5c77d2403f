"""The data layer against independent computations: files, SQL (SQLite and PostgreSQL), DataFrames."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import numpy as np

import metricsense
from metricsense.evaluators.records import DataSummary
from support import EXAMPLES, PG_PASSWORD, require, run_msense

SPEC = 'mission "M"\n'


def check(folder, text, **kwargs):
    spec = folder / "k.msense"
    spec.write_text(textwrap.dedent(text))
    return metricsense.check(spec, config={}, **kwargs)


def series(report, name):
    (doc,) = report.documents.values()
    return DataSummary.of(report.analysis[doc.root]).series[name].to_json()


def dataset_of(folder, text, **kwargs):
    """The DataSet the evaluators see, through the analyze hook."""
    from metricsense import hookimpl
    from metricsense.plugins import get_plugin_manager

    seen = {}

    class Spy:
        @hookimpl
        def metricsense_analyze(self, data):
            seen["data"] = data

    pm, _ = get_plugin_manager(entrypoints=False)
    pm.register(Spy(), name="spy")
    report = check(folder, text, plugin_manager=pm, **kwargs)
    return seen.get("data"), report


def test_wide_csv_matches_pandas(tmp_path):
    pd = require("pandas")
    (tmp_path / "kpis.csv").write_text(
        "period,csat,nps\n2026-01-05,4.1,30\n2026-01-12,,31\n2026-01-19,4.3,NA\n2026-01-26,4.4,33\n"
    )
    data, report = dataset_of(tmp_path, SPEC + 'data "kpis.csv"\nkpi csat "C" { }\nkpi nps "N" { }\n')
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")]
    expected = pd.read_csv(tmp_path / "kpis.csv", parse_dates=["period"])
    np.testing.assert_array_equal(data.matrix(["csat", "nps"]), expected[["csat", "nps"]].to_numpy())
    assert data.periods.dtype.kind == "M" and str(data.periods[0]) == "2026-01-05"
    assert data.frequency == "week"
    got = series(report, "csat")
    assert got.pop("source").endswith("kpis.csv")
    assert got == {"observed": 3, "missing": 1, "first": "2026-01-05", "last": "2026-01-26"}


def test_long_layout_with_segments_matches_a_pandas_pivot(tmp_path):
    pd = require("pandas")
    rng = np.random.default_rng(3)
    rows = [(p, f"c{c}", round(float(rng.normal(70, 5)), 3)) for p in (1, 2, 3, 4) for c in range(6)
            if not (p == 2 and c == 3)]
    frame = pd.DataFrame(rows, columns=["period", "class", "value"])
    frame.to_csv(tmp_path / "scores.csv", index=False)
    data, report = dataset_of(tmp_path, SPEC + 'kpi score "S" { data "scores.csv" layout long segment "class" }\n')
    s = data.series("score")
    pivot = frame.pivot(index="period", columns="class", values="value")
    np.testing.assert_allclose(s.by_segment, pivot.to_numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(s.values, pivot.mean(axis=1).to_numpy(), rtol=1e-12)
    assert s.segments == tuple(pivot.columns) and data.periods.tolist() == [1, 2, 3, 4]
    assert data.frequency == "period"


def test_long_layout_with_series_column_and_paired_parts(tmp_path):
    (tmp_path / "long.csv").write_text(
        "period,series,value\n1,a,1.5\n2,a,2.5\n1,b,10\n3,b,30\n"
    )
    (tmp_path / "est.csv").write_text("period,task,estimate_self,estimate_manager\n1,t1,10,12\n2,t2,5,4\n")
    text = SPEC + ('data "long.csv" layout long\nkpi a "A" { }\nkpi b "B" { }\n'
                   'kpi estimate "E" { data "est.csv" layout long segment "task" }\n'
                   'trigger gap when abs(estimate.self - estimate.manager) > 1 { with one-to-one }\n')
    data, report = dataset_of(tmp_path, text)
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")], report.diagnostics
    np.testing.assert_array_equal(data.series("a").values, [1.5, 2.5, np.nan])
    np.testing.assert_array_equal(data.series("b").values, [10, np.nan, 30])
    np.testing.assert_array_equal(data.series("estimate.self").by_segment, [[10, np.nan], [np.nan, 5], [np.nan, np.nan]])
    assert "estimate" not in data  # the pair is read through its parts


def test_sources_align_on_the_period_and_keep_gaps(tmp_path):
    (tmp_path / "a.csv").write_text("period,x\n2026-01-01,1\n2026-03-01,3\n")
    (tmp_path / "b.csv").write_text("period,y\n2026-02-01,20\n2026-03-01,30\n")
    data, _ = dataset_of(tmp_path, SPEC + 'kpi x "X" { data "a.csv" }\nkpi y "Y" { data "b.csv" }\n')
    assert [str(p) for p in data.periods] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    np.testing.assert_array_equal(data.matrix(["x", "y"]), [[1, np.nan], [np.nan, 20], [3, 30]])
    assert data.frequency == "month"


def test_parquet_and_lever_blocks(tmp_path):
    pa = require("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"period": [1, 2, 3], "m1": [1.0, 2.0, 4.0]}), tmp_path / "macro.parquet")
    data, report = dataset_of(tmp_path, SPEC + 'lever m1 "Money" { data "macro.parquet" column "m1" }\n')
    np.testing.assert_array_equal(data.series("m1").values, [1.0, 2.0, 4.0])


def test_sqlite_read_only(tmp_path):
    db = tmp_path / "k.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE kpis (period TEXT, csat REAL)")
        conn.executemany("INSERT INTO kpis VALUES (?, ?)", [("2026-01-05", 4.1), ("2026-01-12", None), ("2026-01-19", 4.4)])
    text = SPEC + 'kpi csat "C" { data sql "SELECT period, csat FROM kpis ORDER BY period" from "sqlite:///k.db" }\n'
    data, report = dataset_of(tmp_path, text)
    np.testing.assert_array_equal(data.series("csat").values, [4.1, np.nan, 4.4])
    write = SPEC + 'kpi csat "C" { data sql "DELETE FROM kpis RETURNING period, csat" from "sqlite:///k.db" }\n'
    _, report = dataset_of(tmp_path, write)
    (d,) = [d for d in report.diagnostics if d.code == "MS030"]
    assert "readonly" in d.message.replace("-", "").replace(" ", "").lower()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM kpis").fetchone()[0] == 3


def test_postgresql_with_masked_credentials(tmp_path, postgres_url, monkeypatch):
    pd = require("pandas")
    text = SPEC + f'kpi csat "C" {{ data sql "SELECT period, csat FROM kpis ORDER BY period" from "{postgres_url}" }}\n'
    data, report = dataset_of(tmp_path, text)
    assert not report.diagnostics or all(d.code != "MS030" for d in report.diagnostics), report.diagnostics
    expected = pd.read_csv(EXAMPLES / "customer-love" / "data" / "kpis.csv")["csat"].to_numpy()
    np.testing.assert_allclose(data.series("csat").values, expected, equal_nan=True)
    # A failing query: the message names the source with the password masked.
    bad = SPEC + f'kpi csat "C" {{ data sql "SELECT nope FROM kpis" from "{postgres_url}" }}\n'
    _, report = dataset_of(tmp_path, bad)
    (d,) = [d for d in report.diagnostics if d.code == "MS030"]
    assert PG_PASSWORD not in json.dumps(report.to_dict()) and "***" in d.message
    # Writes are refused: the transaction is read-only.
    write = SPEC + f'kpi csat "C" {{ data sql "DELETE FROM kpis RETURNING period, csat" from "{postgres_url}" }}\n'
    _, report = dataset_of(tmp_path, write)
    (d,) = [d for d in report.diagnostics if d.code == "MS030"]
    assert "read-only" in d.message
    # A missing variable is named, never its value.
    monkeypatch.delenv("PGPASSWORD")
    _, report = dataset_of(tmp_path, text)
    assert any(d.code == "MS030" and "PGPASSWORD" in d.message for d in report.diagnostics)


def test_postgresql_through_the_cli(tmp_path, postgres_url):
    (tmp_path / "msense.toml").write_text("")
    (tmp_path / "k.msense").write_text(
        SPEC + f'kpi csat "C" {{ data sql "SELECT period, csat FROM kpis" from "{postgres_url}" }}\n'
        f'kpi uptime "U" {{ data sql "SELECT period, uptime FROM kpis" from "{postgres_url}" }}\n'
    )
    result = run_msense("check", "--format", "json", "k.msense", cwd=tmp_path, env={"PGPASSWORD": PG_PASSWORD})
    doc = json.loads(result.stdout)
    assert PG_PASSWORD not in result.stdout + result.stderr
    summary = doc["analysis"]["k.msense"]["data"]["series"]
    assert summary["csat"]["observed"] > 50 and "***" in summary["csat"]["source"]


def test_in_memory_pandas_polars_and_mappings(tmp_path):
    pd = require("pandas")
    pl = require("polars")
    spec = metricsense.load(SPEC + 'data "kpis.csv"\nkpi csat "C" { }\nkpi nps "N" { }\n')
    frame = pd.DataFrame({"period": pd.to_datetime(["2026-01-05", "2026-01-12"]), "csat": [4.1, 4.2], "nps": [30, 31]})
    for data in ({"kpis": frame}, frame, {"kpis": pl.from_pandas(frame)},
                 {"period": [1, 2], "csat": [4.1, 4.2], "nps": [30, 31]}):
        report = metricsense.check(spec, data=data, config={})
        got = DataSummary.of(report.analysis["<string>"]).series
        assert got["csat"].observed == 2 and got["nps"].observed == 2, data
        assert not [d for d in report.diagnostics if d.code.startswith("MS03")]


def test_long_file_over_many_batches_matches_a_pandas_pivot(tmp_path):
    # Several MB, so it streams through many reader batches: rows in period order (new periods
    # in every batch), series not in the spec's order, a segment first seen late, gaps, missing
    # values and rows of series the spec does not read. Checked cell by cell against pandas.
    pd = require("pandas")
    rng = np.random.default_rng(8)
    periods = np.datetime64("2014-01-06") + np.arange(600) * 7
    names = [f"k{i:03d}" for i in range(90)]
    frame = pd.DataFrame([(p, n, s, v) for p in periods for n in names + ["other"] for s in ("north", "south")
                          for v in [round(float(rng.normal(50, 9)), 4)] if rng.random() > 0.1],
                         columns=["period", "series", "region", "value"])
    frame = frame[(frame.region == "north") | (frame.period > periods[300])]  # "south" starts late
    frame.loc[frame.index[::37], "value"] = np.nan
    frame.to_csv(tmp_path / "long.csv", index=False)
    assert (tmp_path / "long.csv").stat().st_size > 2 << 20
    spec = 'data "long.csv" layout long segment "region"\n' + "".join(f'kpi {n} "{n}" {{ }}\n' for n in names[::-1])
    data, report = dataset_of(tmp_path, SPEC + spec)
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")], report.diagnostics
    wanted = frame[frame.series != "other"].copy()
    wanted["period"] = pd.to_datetime(wanted["period"])
    cube = wanted.pivot_table(index="period", columns=["series", "region"], values="value", aggfunc="first",
                              dropna=False)
    assert data.periods.tolist() == sorted(set(wanted["period"].dt.date))
    for n in names:
        s = data.series(n)
        assert s.segments == ("north", "south")
        for j, region in enumerate(s.segments):
            want = wanted[(wanted.series == n) & (wanted.region == region)].set_index("period")["value"]
            got = pd.Series(s.by_segment[:, j], index=pd.to_datetime(data.periods))
            np.testing.assert_array_equal(got.reindex(want.index).to_numpy(), want.to_numpy())
            assert np.isnan(got.drop(want.index)).all()
    assert cube.shape[0] == len(data.periods)


def test_long_file_problems_name_the_row_past_the_first_batch(tmp_path):
    # The line of a repeated period or of a value that is not a number, counted over the whole
    # file (rows of series the spec does not read included), after the first batches.
    body = "".join(f"{p},{n},{p * 0.5}\n" for n in ("x", "skip", "y") for p in range(1, 60_001))
    (tmp_path / "dup.csv").write_text("period,series,value\n" + body + "17,y,1.0\n")
    _, (d,) = run_problems(tmp_path, SPEC + 'data "dup.csv" layout long\nkpi x "X" { }\nkpi y "Y" { }\n')
    assert d.code == "MS033" and f"line {180_002}" in d.message
    (tmp_path / "bad.csv").write_text("period,series,value\n" + body.replace("\n59999,y,", "\n59999,y,x", 1))
    _, (d,) = run_problems(tmp_path, SPEC + 'data "bad.csv" layout long\nkpi y "Y" { }\n')
    assert d.code == "MS032" and f"line {2 + 120_000 + 59_998}" in d.message and "x29999.5" in d.message


def run_problems(folder, text):
    report = check(folder, text)
    return report, [d for d in report.diagnostics if d.code.startswith("MS03")]


def test_long_layout_with_spread_out_whole_number_periods(tmp_path):
    # Periods far apart (no lookup table over their range) still come out in order, each row in
    # its cell.
    (tmp_path / "l.csv").write_text("period,series,value\n20240101,a,1\n5,a,2\n1000000000000,b,3\n7,b,4\n5,b,5\n")
    data, report = dataset_of(tmp_path, SPEC + 'data "l.csv" layout long\nkpi a "A" { }\nkpi b "B" { }\n')
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")], report.diagnostics
    assert data.periods.tolist() == [5, 7, 20240101, 1000000000000]
    np.testing.assert_array_equal(data.series("a").values, [2, np.nan, 1, np.nan])
    np.testing.assert_array_equal(data.series("b").values, [5, 4, np.nan, 3])


def _column_one_by_one(values):
    """What a SQL column becomes, value by value: whole numbers as int64, numbers with gaps as
    float64 with NaN, anything else as text (True is not a number)."""
    from decimal import Decimal

    def number(v):
        return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)

    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if all(-2**63 <= v < 2**63 for v in values):
            return np.array(values, dtype=np.int64)
        if all(0 <= v < 2**64 for v in values):
            return np.array(values, dtype=np.uint64)
        return np.array([str(v) for v in values], dtype=object)  # an id beyond 64 bits stays itself
    whole = [v for v in values if v is not None]
    if whole and all((isinstance(v, int) and not isinstance(v, bool)) or
                     (isinstance(v, Decimal) and v.is_finite() and v == int(v)) for v in whole) and \
            any(abs(v) >= 2**53 for v in whole):
        return np.array([None if v is None else str(v) for v in values], dtype=object)  # ids with gaps
    if all(v is None or number(v) for v in values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def test_sql_columns_read_in_one_pass_match_value_by_value():
    from decimal import Decimal

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from metricsense.data.readers import _column_from_python

    value = st.one_of(st.none(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                      st.booleans(), st.text(max_size=3),
                      st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1e6, max_value=1e6))

    @settings(max_examples=400, deadline=None)
    @given(st.lists(value, max_size=8))
    def same(values):
        got, want = _column_from_python(tuple(values)), _column_one_by_one(values)
        assert got.dtype == want.dtype
        if got.dtype.kind == "f":
            np.testing.assert_array_equal(got, want)  # NaN where NaN
        else:
            assert got.tolist() == want.tolist()

    same()
    assert _column_from_python((Decimal("1.5"), None, 2)).tolist()[::2] == [1.5, 2.0]
    # Distinct ids stay distinct, whatever their size (as floats 2**63 and 2**63 + 1 are equal),
    # with gaps (a NULL) and as PostgreSQL's numeric (Decimal) too.
    for ids in ((2**63, 2**63 + 1), (2**64 + 1, 2**64 + 2), (-2**63 - 1, 5), (2**53 + 1, 2**53, None),
                (Decimal(2**64 - 1), Decimal(2**64 - 2)), (Decimal(2**60), None, 2**60 + 1)):
        column = _column_from_python(ids).tolist()
        assert len({v for v in column if v is not None}) == 2, ids
    assert _column_from_python((2**53 + 1, None)).tolist() == [str(2**53 + 1), None]
    assert _column_from_python((Decimal("1.5"), None, 2**60)).dtype == np.float64  # not whole: numbers


def test_a_reader_in_a_module_of_its_own_is_registered_as_the_recipe_says(tmp_path, monkeypatch):
    # Review regression: docs/architecture.md's "add a data source" recipe put the reader in its
    # own module, which the built-in registration could not import (MS005, exit 3).
    import sys
    import types

    from metricsense import hookimpl
    from metricsense.data import Table
    from metricsense.data.plugin import lazy_reader
    from support import manager_with

    module = types.ModuleType("metricsense_test_tsv")

    def read_tsv(request):
        rows = [line.split("\t") for line in request.path.read_text().splitlines()]
        return Table({name: np.array([float(r[i]) for r in rows[1:]]) for i, name in enumerate(rows[0])},
                     str(request.path))

    module.read_tsv = read_tsv
    monkeypatch.setitem(sys.modules, "metricsense_test_tsv", module)

    class Plugin:
        @hookimpl
        def metricsense_register_data_sources(register):
            register(".tsv", lazy_reader("metricsense_test_tsv", "read_tsv"))

    (tmp_path / "k.tsv").write_text("period\tk\n1\t1.0\n2\t2.5\n3\t2.0\n")
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.tsv"\nkpi k "K" { }\n')
    report = metricsense.check(tmp_path / "k.msense", config={}, plugin_manager=manager_with(Plugin))
    assert not [d for d in report.diagnostics if d.code in ("MS005", "MS030", "MS031")], report.diagnostics
    summary = DataSummary.of(report.analysis[str(tmp_path / "k.msense")])
    assert summary.series["k"].observed == 3


def test_a_wide_file_is_read_in_blocks_of_rows_not_of_a_megabyte(tmp_path):
    # 2,000 columns of 80 rows (2 MB): read in 1 MB blocks, a dozen rows each, Arrow's cost per
    # column was paid per block. Blocks of BATCH_ROWS header lines read it in one batch, with the
    # same values as pandas reads; a long narrow file keeps its 1 MB blocks.
    from metricsense.data import csvblocks
    from metricsense.data.readers import read_csv
    from metricsense.data.table import ReadRequest
    from metricsense.model import DataSource
    from metricsense.span import Span

    pd = require("pandas")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(1000, 300, size=(80, 2000)).round(9),
                         columns=[f"kpi_{i:04d}" for i in range(2000)])
    frame.insert(0, "period", pd.date_range("2024-01-01", periods=80, freq="W-MON").strftime("%Y-%m-%d"))
    frame.to_csv(tmp_path / "wide.csv", index=False)
    assert (tmp_path / "wide.csv").stat().st_size > 2 << 20
    source = DataSource("file", "wide.csv", None, None, None, None, None, None, None, Span.point("k.msense"))
    request = ReadRequest(source, path=tmp_path / "wide.csv", base=tmp_path, allowed=(tmp_path,))
    (table,) = list(read_csv(request))
    assert table.rows == 80 and table.first_line == 2
    for name in ("kpi_0000", "kpi_1234", "kpi_1999"):
        np.testing.assert_array_equal(table.columns[name], pd.read_csv(tmp_path / "wide.csv")[name].to_numpy())
    (tmp_path / "long.csv").write_text("period,x\n" + "".join(f"{i},{i * 0.5}\n" for i in range(200_000)))
    assert csvblocks.block_size(tmp_path / "long.csv") == csvblocks.BATCH_BYTES
    assert len(list(read_csv(ReadRequest(source, path=tmp_path / "long.csv", base=tmp_path,
                                         allowed=(tmp_path,))))) > 1
