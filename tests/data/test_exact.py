"""Data read exactly, or refused with a clear diagnostic (MS03x): never a value invented or
dropped silently, never a traceback (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

import metricsense
from metricsense.data.table import Labels
from metricsense.evaluators.records import DataSummary

SPEC = 'mission "M"\n'


def run(tmp_path, text, files=None, **kwargs):
    for name, content in (files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, "utf-8")
    spec = tmp_path / "k.msense"
    spec.write_text(text, "utf-8")
    report = metricsense.check(spec, config=kwargs.pop("config", {}), **kwargs)
    assert not [d for d in report.diagnostics if d.code == "MS005"], [d.message for d in report.diagnostics]
    return report, [d for d in report.diagnostics if d.code.startswith("MS03")]


def summary(report):
    return DataSummary.of(report.analysis[next(iter(report.analysis))])


# ---- 1. empty cells stay missing; a number is written in ASCII digits -------------------------

def test_labels_missing_code_is_none_not_the_last_label():
    labels = Labels(np.array([0, -1, 1, -1], dtype=np.int32), np.array(["x", "y"], dtype=object))
    assert list(np.asarray(labels)) == ["x", None, "y", None]
    assert labels[1] is None and list(labels) == ["x", None, "y", None]


def test_empty_cells_of_a_text_column_stay_missing(tmp_path):
    # `-` is a missing value to metricsense but text to Arrow: the column arrives as text, with
    # empty cells as nulls; each empty cell used to take the last distinct label's value (7).
    report, diags = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n',
                        {"k.csv": "period,a\n1,1\n2,\n3,-\n4,\n5,7\n"})
    assert diags == []
    a = summary(report).series["a"]
    assert (a.observed, a.missing) == (2, 3)


@pytest.mark.parametrize("cell", ["4_2", "１２", "٤", "4.2_0"])
def test_numbers_python_reads_but_a_data_file_does_not_are_refused(tmp_path, cell):
    report, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n',
                       {"k.csv": f"period,a\n1,1\n2,\n3,{cell}\n4,\n"})
    assert d.code == "MS032" and "line 4" in d.message and repr(cell) in d.message
    assert d.related[0].span.line == 4 and report.exit_code == 2


def test_period_in_other_digits_is_refused(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": "period,a\n1,1\n２,2\n3,3\n"})
    assert d.code == "MS032" and "line 3" in d.message


def test_survey_blanks_are_not_answers(tmp_path):
    # 3 answers and 2 blanks in a group (a `-` makes the column text): n is 3 (6 with the other
    # group), never 5.
    rows = ["group,manager_id,role,question,score", "a,m,manager,q,4"]
    rows += [f"a,m,team,q,{s}" for s in ("4", "", "5", "-", "", "3")]
    rows += ["b,n,manager,q,4"] + ["b,n,team,q,3"] * 5
    report, diags = run(tmp_path, SPEC + 'trust v {\n scale 1..5\n data "s.csv"\n min_group 3\n}\n',
                        {"s.csv": "\n".join(rows) + "\n"})
    from metricsense.evaluators.records import TrustAnalysis

    assert diags == []
    signal = TrustAnalysis.of(next(iter(report.analysis.values()))).signals["v"].to_json()
    shown = {g["group"]: g for g in signal["groups"] if not g["suppressed"]}
    assert shown["a"]["n"] == 3


# ---- 2. odd bytes and types are MS03x naming the file, row and column, never MS005 ---------

def _parquet(path, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def test_csv_header_not_utf8_is_ms032(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": b"period,caf\xe9,a\n1,2,3\n"})
    assert d.code == "MS032" and "k.csv line 1" in d.message and "column 2" in d.message and "0xe9" in d.message


def test_csv_cell_not_utf8_names_row_and_column(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": b"period,a\n1,2\n2,caf\xe9\n"})
    assert d.code == "MS032" and "line 3" in d.message and "`a`" in d.message and "UTF-8" in d.message


def test_parquet_uint64_above_2_63_and_odd_types(tmp_path):
    import pyarrow as pa

    _parquet(tmp_path / "u.parquet", {"period": pa.array([1, 2], pa.int64()),
                                       "a": pa.array([2**63 + 5, 1], pa.uint64())})
    report, diags = run(tmp_path, SPEC + 'data "u.parquet"\nkpi a "A" { }\n')
    assert diags == [] and summary(report).series["a"].observed == 2
    _parquet(tmp_path / "l.parquet", {"period": [1, 2], "a": [[1, 2], [3]], "s": [{"x": 1}, {"x": 2}],
                                       "b": pa.array([b"\xff\xfe", b"1"], pa.binary())})
    _, diags = run(tmp_path, SPEC + 'data "l.parquet"\nkpi a "A" { }\nkpi s "S" { }\nkpi b "B" { }\n')
    assert sorted(d.code for d in diags) == ["MS032"] * 3
    assert all("l.parquet row 1" in d.message for d in diags)


def test_parquet_int64_with_nulls_beyond_2_53(tmp_path):
    import pyarrow as pa

    _parquet(tmp_path / "n.parquet", {"period": [1, 2, 3], "a": pa.array([1, None, 2**53 + 1], pa.int64())})
    report, diags = run(tmp_path, SPEC + 'data "n.parquet"\nkpi a "A" { }\n')
    assert diags == [] and (summary(report).series["a"].observed, summary(report).series["a"].missing) == (2, 1)


# ---- 4. periods beyond 64 bits; two columns of one name ------------------------------------

def test_period_beyond_int64_is_refused_not_wrapped(tmp_path):
    import pyarrow as pa

    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n',
                  {"k.csv": "period,a\n1,2\n99999999999999999999,3\n"})
    assert d.code == "MS032" and "line 3" in d.message
    _parquet(tmp_path / "u.parquet", {"period": pa.array([1, 2**64 - 1], pa.uint64()), "a": [1.0, 2.0]})
    _, (d,) = run(tmp_path, SPEC + 'data "u.parquet"\nkpi a "A" { }\n')
    assert d.code == "MS032" and "row 2" in d.message and "18446744073709551615" in d.message


def test_two_columns_of_one_name_are_refused(tmp_path):
    _, (d,) = run(tmp_path, SPEC + 'data "k.csv"\nkpi a "A" { }\n', {"k.csv": "period,a,a\n1,2,3\n2,3,4\n"})
    assert d.code == "MS031" and "columns 2 and 3" in d.message and "`a`" in d.message
    import sqlite3

    sqlite3.connect(tmp_path / "d.db").close()
    _, (d,) = run(tmp_path, SPEC + 'kpi a "A" { data sql "SELECT 1 AS period, 2 AS a, 3 AS a" from "sqlite:///d.db" }\n')
    assert d.code == "MS031" and "columns 2 and 3" in d.message
    _, (d,) = run(tmp_path, SPEC + 'data "m.csv"\nkpi a "A" { }\n', data={"m.csv": _frame_with_twice_a()})
    assert d.code == "MS031" and "columns 2 and 3" in d.message


def _frame_with_twice_a():
    pd = pytest.importorskip("pandas")
    return pd.DataFrame([[1, 2, 3], [2, 3, 4]], columns=["period", "a", "a"])


# ---- 5. an SQLite path is quoted in its URI; reading writes nothing beside the database -----

def _db(path, rows=((1, 2.0), (2, 3.0)), wal=False):
    import sqlite3

    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (period INTEGER, a REAL)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    conn.commit()
    conn.close()


def _sql_spec(file):
    return SPEC + f'kpi a "A" {{ data sql "SELECT period, a FROM t" from "sqlite:///{file}" }}\n'


def test_sqlite_hash_in_path_keeps_read_only(tmp_path):
    _db(tmp_path / "k#x.db")
    report, diags = run(tmp_path, _sql_spec("k#x.db"))
    assert diags == [] and summary(report).series["a"].observed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k#x.db", "k.msense"]  # no `k` created


def test_sqlite_percent_in_path_is_not_decoded_out_of_the_folder(tmp_path):
    (tmp_path / "spec").mkdir()
    _db(tmp_path / "x.db", rows=((1, 42.0), (2, 43.0)))  # outside the spec's folder
    (tmp_path / "spec" / "..%2Fx.db").write_bytes(b"")  # the name the allowed-folder check saw
    spec = tmp_path / "spec" / "k.msense"
    spec.write_text(_sql_spec("..%2Fx.db"))
    report = metricsense.check(spec, config={})
    assert "a" not in summary(report).series  # x.db was not read
    assert [d.code for d in report.diagnostics if d.code.startswith("MS03")] == ["MS030"]


def test_sqlite_wal_database_is_read_writing_nothing_beside_it(tmp_path):
    import sqlite3

    _db(tmp_path / "w.db", wal=True)
    before = sorted(p.name for p in tmp_path.iterdir())
    report, diags = run(tmp_path, _sql_spec("w.db"))
    assert diags == [] and summary(report).series["a"].observed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["k.msense"])
    # a writer at work: its committed rows (still in the -wal file) are read too
    writer = sqlite3.connect(tmp_path / "w.db")
    writer.execute("INSERT INTO t VALUES (3, 4.0)")
    writer.commit()
    report, diags = run(tmp_path, _sql_spec("w.db"))
    writer.close()
    assert diags == [] and summary(report).series["a"].observed == 3


# ---- 6. a query's result is bounded: rows and time ------------------------------------------

_ENDLESS = ("WITH RECURSIVE n(period) AS (SELECT 1 UNION ALL SELECT period + 1 FROM n) "
            "SELECT period, period AS a FROM n")
_MANY = ("WITH RECURSIVE n(period) AS (SELECT 1 UNION ALL SELECT period + 1 FROM n WHERE period < 5000) "
         "SELECT period, period AS a FROM n")


def _query_spec(query, url):
    return SPEC + f'kpi a "A" {{ data sql "{query}" from "{url}" }}\n'


def _limits(**data):
    from metricsense.config import Config

    return Config.from_mapping({"data": data})


def test_data_limits_are_configured_and_checked():
    from metricsense.config import ConfigError

    cfg = _limits(**{"max-rows": 10, "query-timeout": 0.5})
    assert (cfg.max_rows, cfg.query_timeout) == (10, 0.5)
    assert (_limits().max_rows, _limits().query_timeout) == (10_000_000, 60.0)
    for bad in ({"max-rows": 0}, {"max-rows": "many"}, {"query-timeout": -1}, {"rows": 5}):
        with pytest.raises(ConfigError):
            _limits(**bad)


def test_sqlite_query_stopped_past_its_rows(tmp_path):
    _db(tmp_path / "k.db")
    _, (d,) = run(tmp_path, _query_spec(_MANY, "sqlite:///k.db"), config=_limits(**{"max-rows": 1000}))
    assert d.code == "MS030" and "more than 1,000 rows" in d.message and "k.db" in d.message
    report, diags = run(tmp_path, _query_spec(_MANY, "sqlite:///k.db"))
    assert diags == [] and summary(report).series["a"].observed == 5000


def test_sqlite_endless_query_stopped_past_its_time(tmp_path):
    import time

    _db(tmp_path / "k.db")
    start = time.monotonic()
    _, (d,) = run(tmp_path, _query_spec(_ENDLESS, "sqlite:///k.db"),
                  config=_limits(**{"query-timeout": 0.5, "max-rows": 10**9}))
    assert d.code == "MS030" and "stopped after 0.5 s" in d.message and "k.db" in d.message
    assert time.monotonic() - start < 20


def test_postgresql_query_bounded(tmp_path, postgres_url):
    import time

    _, (d,) = run(tmp_path, _query_spec(_MANY, postgres_url), config=_limits(**{"max-rows": 1000}))
    assert d.code == "MS030" and "more than 1,000 rows" in d.message
    start = time.monotonic()
    _, (d,) = run(tmp_path, _query_spec("SELECT 1 AS period, 2 AS a FROM pg_sleep(30)", postgres_url),
                  config=_limits(**{"query-timeout": 0.5}))
    assert d.code == "MS030" and "stopped after 0.5 s" in d.message
    assert time.monotonic() - start < 20
    start = time.monotonic()
    _, (d,) = run(tmp_path, _query_spec(_ENDLESS, postgres_url), config=_limits(**{"max-rows": 100_000}))
    assert d.code == "MS030" and "more than 100,000 rows" in d.message
    assert time.monotonic() - start < 20
    report, diags = run(tmp_path, _query_spec(_MANY, postgres_url))
    assert diags == [] and summary(report).series["a"].observed == 5000


# ---- 7. a password written in a URL is masked in the quoted spec line too --------------------

def test_literal_password_masked_in_quoted_source_lines(tmp_path):
    pytest.importorskip("psycopg")
    from metricsense.reports.html import render_html
    from metricsense.reports.text import render_text

    secret = "hunter2-literal-5150"
    report, (d,) = run(tmp_path, SPEC + 'kpi a "A" { data sql "SELECT 1" '
                                         f'from "postgresql://me:{secret}@127.0.0.1:1/kpis?password={secret}x" }}\n')
    assert d.code == "MS030"
    text, html = render_text(report), render_html(report)
    assert "postgresql://me:***@127.0.0.1:1/kpis?password=***" in text
    assert secret not in text and secret not in html and "me:***@" in html
    # a ${VAR} reference names the secret; it is shown as written
    from metricsense.data.secrets import mask_text

    assert mask_text('from "postgresql://me:${PGPASSWORD}@db/k"') == 'from "postgresql://me:${PGPASSWORD}@db/k"'


def test_a_segmented_run_keeps_the_configured_query_limits(tmp_path):
    # The batch that reads a query once for its segments used the default limits, not [data]'s.
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as con:
        con.execute("CREATE TABLE k (period INTEGER, team TEXT, a REAL)")
        con.executemany("INSERT INTO k VALUES (?, ?, ?)", [(p, t, p * 1.0) for p in range(1, 501) for t in "xy"])
    spec = 'mission "M"\ndata sql "SELECT period, team, a FROM k" from "sqlite:///t.db"\nkpi a "A" { }\n'
    (tmp_path / "k.msense").write_text(spec)
    report = metricsense.check(tmp_path / "k.msense", config=_limits(**{"max-rows": 100}), by="team")
    assert any(d.code == "MS030" and "more than 100 rows" in d.message for d in report.diagnostics), \
        [(d.code, d.message) for d in report.diagnostics]
