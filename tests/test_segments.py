"""Per-segment evaluation (`msense check --by`): each segment checked alone, in any runner.

The oracle is independent of the segment machinery: each segment's rows are written to a file of
their own (with pandas) and checked by a plain `metricsense.check`; the segmented run must give
the same findings (prefixed with the segment) and the same analysis.
"""

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
from support import require, run_msense

TEAMS = ["north", "south", "east", "west", "7"]

SPEC = """mission "Serve every region well" { why "Regions are where customers are." }
DATA
lever lev "Staff hours" owner "ops"
disturbance weather "Weather"
failure f1 "Customers leave" at outcome
kpi a "Satisfaction" {
  kind outcome
  focus relationships
  better higher
  owner "ops"
  target >= 10 by 2027-01-01
  link "Satisfied customers stay"
  guards f1
  responds lev +0.5
  disturbed weather -0.2
}
kpi b "Wait time" {
  kind process
  better lower
  owner "ops"
  target <= 1 by 2027-01-01
  link "Waiting drives customers away"
  responds lev -0.5
}
trigger a_low when a < 0 for 2 periods {
  ask "What happened to satisfaction?"
  with one-to-one
}
trust value_question {
  managers "What value are you bringing?"
  team "What value did your manager bring?"
  scale 1..5
  data "survey.csv"
  gap > 1.0
  min_group 5
}
"""


def _frame(seed: int = 3):
    pd = require("pandas")
    rng = np.random.default_rng(seed)
    rows = []
    for k, team in enumerate(TEAMS):
        lev = rng.normal(size=40).cumsum()
        weather = rng.normal(size=40)
        for i in range(40):
            a = 0.5 * lev[i] - 0.2 * weather[i] + rng.normal() * 0.2
            # north: b says what a says (MS101 there only); the others are independent.
            b = -a + rng.normal() * 0.01 if team == "north" else -0.5 * lev[i] + rng.normal()
            if team == "west" and i % 7 == 3:
                b = np.nan  # gaps stay gaps
            rows.append({"period": i + 1, "team": team, "lev": round(lev[i], 4), "weather": round(weather[i], 4),
                         "a": round(a, 4), "b": b if np.isnan(b) else round(b, 4)})
    return pd.DataFrame(rows)


def _survey():
    pd = require("pandas")
    rows = []
    sizes = {"north": 7, "south": 3, "east": 6, "west": 8, "7": 6}  # south: below the minimum
    for k, team in enumerate(TEAMS):
        own = 5 if team == "east" else 4
        rows.append({"team": team, "group": f"grp-{team}", "manager_id": f"mgr-{k}", "role": "manager",
                     "question": "managers", "score": own})
        for j in range(sizes[team]):
            score = 2 if team == "east" else (1 + (j * 7 + k) % 5 if team == "south" else 4 - (j % 2))
            rows.append({"team": team, "group": f"grp-{team}", "manager_id": f"mgr-{k}", "role": "team",
                         "question": "team", "score": score})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The same data as CSV, Parquet, a partitioned Parquet folder and SQLite, and the spec for each."""
    pa = require("pyarrow")
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("segments")
    frame, survey = _frame(), _survey()
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


def _strip(d: dict) -> tuple:
    message = d["message"]
    if d.get("segment") is not None:
        prefix = f"[team={d['segment']}] "
        assert message.startswith(prefix), message
        message = message[len(prefix):]
    return (d["code"], d["span"]["line"], d["span"]["column"], message)


def _sorted_teams() -> list[str]:
    return sorted(TEAMS, key=lambda t: (0, float(t), t) if t.isdigit() else (1, 0.0, t))


def test_each_segment_is_checked_as_if_alone(folder):
    report = metricsense.check(folder / "csv.msense", by="team", config={})
    doc = json.loads(report.to_json())
    assert doc["segments"]["by"] == "team"
    assert doc["segments"]["count"] == len(TEAMS)
    assert [r["segment"] for r in doc["segments"]["results"]] == _sorted_teams()  # numbers first, then text
    spec_level = {_strip(d) for d in doc["diagnostics"] if "segment" not in d}
    assert spec_level, "the structural findings are reported once, for the spec"
    for result in doc["segments"]["results"]:
        team = result["segment"]
        alone = json.loads(metricsense.check(folder / f"only-{team}" / "spec.msense", config={}).to_json())
        # Hidden trust groups (MS502) are added up over segments, never reported per segment.
        expected = {_strip(d) for d in alone["diagnostics"] if d["code"] != "MS502"} - spec_level
        got = {_strip(d) for d in doc["diagnostics"] if d.get("segment") == team}
        assert got == expected, team
        assert result["diagnostics"] == len(got)
        ours = result["analysis"][str(folder / "csv.msense")]
        theirs = alone["analysis"][str(folder / f"only-{team}" / "spec.msense")]
        for family in ("correlation", "noise"):
            assert json.dumps(ours.get(family), sort_keys=True) == json.dumps(theirs.get(family), sort_keys=True)
    fired = {(r["code"], tuple(r["segments"])) for r in doc["segments"]["rules"]}
    assert ("MS101", ("north",)) in fired  # planted in north only
    assert doc["summary"]["exit_code"] == report.exit_code == 1


@pytest.mark.parametrize("source", ["parquet", "parts", "sqlite"])
def test_every_source_gives_the_same_segments(folder, source):
    csv = json.loads(metricsense.check(folder / "csv.msense", by="team", config={}).to_json())
    other = json.loads(metricsense.check(folder / f"{source}.msense", by="team", config={}).to_json())
    assert [_strip(d) + (d.get("segment"),) for d in other["diagnostics"]] == \
           [_strip(d) + (d.get("segment"),) for d in csv["diagnostics"]]
    assert [r["segment"] for r in other["segments"]["results"]] == [r["segment"] for r in csv["segments"]["results"]]


def test_parallel_and_serial_runs_are_byte_identical(folder):
    serial = run_msense("check", "csv.msense", "--by", "team", "--format", "json", cwd=folder)
    parallel = run_msense("check", "csv.msense", "--by", "team", "--format", "json", "--jobs", "2", cwd=folder)
    assert serial.returncode == parallel.returncode == 1, serial.stderr + parallel.stderr
    assert serial.stdout == parallel.stdout
    # The CLI streams results through files on disk; the API keeps them: the same document.
    import os

    here = os.getcwd()
    os.chdir(folder)
    try:
        api = metricsense.check("csv.msense", by="team").to_json() + "\n"
    finally:
        os.chdir(here)
    assert api == serial.stdout


def test_dask_cluster_gives_the_serial_result(folder):
    require("distributed")
    from distributed import LocalCluster

    serial = run_msense("check", "sqlite.msense", "--by", "team", "--format", "json", cwd=folder)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(folder / "dask-work")) as cluster:
        on_dask = run_msense("check", "sqlite.msense", "--by", "team", "--format", "json",
                             "--scheduler", cluster.scheduler_address, cwd=folder)
    assert on_dask.returncode == serial.returncode == 1, on_dask.stderr
    assert on_dask.stdout == serial.stdout


def test_text_output_has_the_rollup(folder):
    result = run_msense("check", "csv.msense", "--by", "team", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Segments by `team`: 5 checked." in result.stdout
    assert "MS101 redundant-kpis: 1 of 5 segments (north)" in result.stdout
    assert "warning[MS101]: [team=north]" in result.stdout


def test_streamed_run_keeps_only_the_rollup(folder):
    seen = []
    report = metricsense.check(folder / "csv.msense", by="team", config={}, on_segment=seen.append,
                               keep_segments=False)
    kept = metricsense.check(folder / "csv.msense", by="team", config={})
    assert report.segment_results == [] and len(seen) == len(TEAMS)
    assert [r.segment for r in seen] == [r.segment for r in kept.segment_results]
    assert report.summary() == kept.summary()
    assert report.exit_code == kept.exit_code
    assert report.segments.rules() == kept.segments.rules()


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_confidentiality_holds_per_segment(folder, jobs):
    """`south` has 3 team answers (< min_group 5): nothing of its survey appears anywhere."""
    for fmt in ("json", "text", "sarif", "markdown", "html"):
        result = run_msense("check", "csv.msense", "--by", "team", "--format", fmt, *jobs, cwd=folder)
        assert result.returncode == 1, result.stderr
        text = result.stdout + result.stderr
        assert "grp-south" not in text and "mgr-1" not in text, fmt
    doc = json.loads(run_msense("check", "csv.msense", "--by", "team", "--format", "json", *jobs, cwd=folder).stdout)
    # Which segment hides a group is not said (a segment may be one team): the count is summed.
    assert not [d for d in doc["diagnostics"] if d["code"] == "MS502" and "segment" in d]
    notes = [d for d in doc["diagnostics"] if d["code"] == "MS502"]
    assert len(notes) == 1 and "1 group not shown, in 1 of 5 segments" in notes[0]["message"]
    assert notes[0]["message"].startswith("`value_question`: ")  # the signal the finding points at
    for r in doc["segments"]["results"]:
        assert "MS502" not in r["codes"]
        signal = r["analysis"][next(iter(r["analysis"]))].get("trust", {}).get("signals", {}).get("value_question")
        if signal is not None:
            assert "suppressed" not in signal and "below_minimum" not in signal
            assert all(not g.get("suppressed") for g in signal["groups"])
    east = [d for d in doc["diagnostics"] if d.get("segment") == "east" and d["code"] == "MS501"]
    assert east and "grp-east" in east[0]["message"]  # a group above the minimum is shown


def test_a_segment_keeps_what_each_record_keeps_and_plugins_values_whole():
    from dataclasses import dataclass

    from metricsense.analysis import Record
    from metricsense.segments.batches import _lean

    @dataclass(frozen=True)
    class Secretive(Record):
        name = "secretive"
        shown: int
        hidden: int

        def in_segment(self):
            return Secretive(self.shown, 0)

    plugin_value = {"series": [1, 2], "signals": {"x": {"suppressed": 3}}}
    lean = _lean({"s.msense": {"secretive": Secretive(1, 9), "plugin": plugin_value}})
    assert lean == {"s.msense": {"secretive": Secretive(1, 0), "plugin": plugin_value}}


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


def test_an_unreachable_scheduler_is_a_clear_error(folder):
    require("distributed")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    result = run_msense("check", "csv.msense", "--by", "team", "--scheduler", f"tcp://127.0.0.1:{port}",
                        cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot reach the Dask scheduler" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("toml,message", [
    ("jobs = 0", "`jobs` must be a whole number of at least 1"),
    ("by = 3", "`by` must be a non-empty string"),
    ("scheduler = ''", "`scheduler` must be a non-empty string"),
])
def test_config_keys_are_checked(folder, tmp_path, toml, message):
    (tmp_path / "msense.toml").write_text(toml + "\n", "utf-8")
    result = run_msense("check", str(folder / "csv.msense"), "--config", str(tmp_path / "msense.toml"))
    assert result.returncode == 2
    assert message in result.stdout


def test_config_by_and_jobs_apply(folder, tmp_path):
    (tmp_path / "msense.toml").write_text('by = "team"\njobs = 2\n', "utf-8")
    result = run_msense("check", "csv.msense", "--config", str(tmp_path / "msense.toml"), "--format", "json",
                        cwd=folder)
    plain = run_msense("check", "csv.msense", "--by", "team", "--format", "json", cwd=folder)
    assert json.loads(result.stdout)["segments"]["count"] == len(TEAMS)
    assert result.stdout == plain.stdout


def test_in_memory_data_is_segmented_too(folder):
    frame = _frame()
    report = metricsense.check(folder / "csv.msense", data={"kpis.csv": frame}, by="team", config={})
    from_file = metricsense.check(folder / "csv.msense", by="team", config={})
    assert [d.message for d in report.diagnostics] == [d.message for d in from_file.diagnostics]


# ---- the segment filter pushed down to the storage ------------------------------------------------


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

    frame = _frame()
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
    _survey().to_csv(tmp_path / "survey.csv", index=False)
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    (tmp_path / "pg.msense").write_text(SPEC.replace(
        "DATA", f'data sql "SELECT * FROM regions" from "{postgres_url}"'), "utf-8")
    (tmp_path / "csv.msense").write_text(SPEC.replace("DATA", 'data "kpis.csv"'), "utf-8")
    on_pg = json.loads(run_msense("check", "pg.msense", "--by", "team", "--format", "json", cwd=tmp_path).stdout)
    on_csv = json.loads(run_msense("check", "csv.msense", "--by", "team", "--format", "json", cwd=tmp_path).stdout)
    assert [_strip(d) for d in on_pg["diagnostics"]] == [_strip(d) for d in on_csv["diagnostics"]]
    assert os.environ["PGPASSWORD"] not in json.dumps(on_pg)


def test_progress_counts_segments(folder):
    seen = []
    metricsense.check(folder / "csv.msense", by="team", config={},
                      progress=lambda done, total, what: seen.append((done, total, what)))
    ticks = [(d, t) for d, t, w in seen if "team" in w]
    assert ticks == [(i, len(TEAMS)) for i in range(1, len(TEAMS) + 1)]


# ---- what a cold review found ---------------------------------------------------------------------


def _write_spec(folder, clause: str, name: str = "spec.msense"):
    (folder / name).write_text(SPEC.replace("DATA", clause), "utf-8")
    return folder / name


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("store", ["parquet", "sqlite"])
def test_rows_without_a_segment_are_counted_not_a_crash(tmp_path, store, jobs):
    frame = _frame()
    frame["team"] = frame["team"].astype(object)
    frame.loc[::13, "team"] = None
    _survey().to_csv(tmp_path / "survey.csv", index=False)
    if store == "parquet":
        frame.to_parquet(tmp_path / "kpis.parquet", index=False)
        spec = _write_spec(tmp_path, 'data "kpis.parquet"')
    else:
        with sqlite3.connect(tmp_path / "kpis.db") as conn:
            frame.to_sql("kpis", conn, index=False)
        spec = _write_spec(tmp_path, 'data sql "SELECT * FROM kpis" from "sqlite:///kpis.db"')
    report = metricsense.check(spec, by="team", config={}, jobs=jobs)  # jobs=2: found by a worker
    assert report.exit_code == 1, [d.message for d in report.diagnostics if d.code in ("MS005", "MS031")]
    assert report.segments.count == len(TEAMS)
    notes = [d for d in report.diagnostics if d.code == "MS036"]
    missing = int(frame["team"].isna().sum())
    assert len(notes) == 1 and notes[0].message.startswith(f"{missing} rows of ")


def test_decimal_segment_values_reach_sql_as_numbers(tmp_path):
    frame = _frame()
    codes = {t: v for t, v in zip(TEAMS, (1.5, 2, 3.25, 7, 10))}
    frame["team"] = frame["team"].map(codes)
    survey = _survey()
    survey["team"] = survey["team"].map({t: f"{v:g}" for t, v in codes.items()})  # as written: 2, not 2.0
    survey.to_csv(tmp_path / "survey.csv", index=False)
    with sqlite3.connect(tmp_path / "kpis.db") as conn:
        frame.to_sql("kpis", conn, index=False)
    spec = _write_spec(tmp_path, 'data sql "SELECT period, team + 0 AS team, lev, weather, a, b FROM kpis" '
                                 'from "sqlite:///kpis.db"')
    report = metricsense.check(spec, by="team", config={})
    assert [r.segment for r in report.segment_results] == ["1.5", "2", "3.25", "7", "10"]
    assert not [d for d in report.diagnostics if d.code in ("MS031", "MS033", "MS034")]


def test_a_column_named_in_another_case_is_found(folder):
    spec = _write_spec(folder, 'data sql "SELECT period, team AS Team, lev, weather, a, b FROM kpis" '
                               'from "sqlite:///kpis.db"', "upper.msense")
    upper = json.loads(metricsense.check(spec, by="team", config={}).to_json())
    plain = json.loads(metricsense.check(folder / "sqlite.msense", by="team", config={}).to_json())
    assert [_strip(d) for d in upper["diagnostics"]] == [_strip(d) for d in plain["diagnostics"]]


def test_plugins_registered_by_hand_keep_the_run_in_this_process(folder):
    from metricsense import hookimpl
    from metricsense.diagnostics import Severity, rule
    from metricsense.plugins import get_plugin_manager

    @rule(code="XYZ001", name="every-segment", severity=Severity.INFO)
    def every_segment(ctx):
        """Fires once per segment with data.

        ## Why is this bad?
        A test rule.
        """
        if ctx.data is not None:
            yield ctx.report(ctx.spec.kpis[0], "seen")

    class Plugin:
        @hookimpl
        def metricsense_register_rules(self, register):
            register(every_segment)

    pm, problems = get_plugin_manager()
    pm.register(Plugin(), name="by-hand")
    serial = metricsense.check(folder / "csv.msense", by="team", config={}, plugin_manager=pm)
    parallel = metricsense.check(folder / "csv.msense", by="team", config={}, plugin_manager=pm, jobs=2)
    assert sum(d.code == "XYZ001" for d in parallel.diagnostics) == len(TEAMS)
    assert parallel.to_json() == serial.to_json()


def test_a_script_without_a_main_guard_gets_a_diagnostic(folder, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import metricsense\n"
        f"r = metricsense.check({str(folder / 'csv.msense')!r}, by='team', jobs=2, config={{}})\n"
        "print('EXIT', r.exit_code)\n"
        "print([d.message for d in r.diagnostics if d.code == 'MS005'])\n"
        "print('HELP', [d.help for d in r.diagnostics if d.code == 'MS005'])\n", "utf-8")
    result = subprocess.run([sys.executable, "-P", str(script)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert "EXIT 3" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "__main__" in result.stdout and "while finding the segments of" in result.stdout
    assert "HELP [None]" in result.stdout  # no segment was checked: none is said to be reported


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


@pytest.mark.parametrize("address", ["nonsense", "tcp://[::1", "tcp://host", "http://x:1/y"])
def test_a_malformed_scheduler_address_is_refused_at_once(folder, address):
    result = run_msense("check", "csv.msense", "--by", "team", "--scheduler", address, cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "expected a Dask scheduler address" in result.stdout
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_suppressions_are_counted_once(tmp_path, folder):
    text = (folder / "csv.msense").read_text().replace(
        'mission "Serve every region well" { why "Regions are where customers are." }',
        'mission "Serve every region well" { why "Regions are where customers are." }'
        '  # msense: ignore[MS014] reason "one level is enough here"')
    (tmp_path / "kpis.csv").write_text((folder / "kpis.csv").read_text())
    (tmp_path / "survey.csv").write_text((folder / "survey.csv").read_text())
    (tmp_path / "s.msense").write_text(text)
    segmented = metricsense.check(tmp_path / "s.msense", by="team", config={})
    whole_spec = metricsense.check(tmp_path / "s.msense", config={"select": ["MS0"]})
    assert whole_spec.suppressed == 1
    assert segmented.suppressed == 1


def test_control_characters_in_segment_names_never_reach_the_terminal(tmp_path):
    frame = _frame()
    frame["team"] = frame["team"].replace({"north": "no\x1b]0;pwn\x07rth"})
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    _survey().to_csv(tmp_path / "survey.csv", index=False)
    _write_spec(tmp_path, 'data "kpis.csv"')
    result = run_msense("check", "spec.msense", "--by", "team", cwd=tmp_path)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[team=no\\x1b]0;pwn\\x07rth]" in result.stdout


@pytest.mark.parametrize("args", [["--jobs", "2"], ["--scheduler", "tcp://127.0.0.1:1"],
                                  ["--by", "team", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"]])
def test_parallel_options_need_by_and_exclude_each_other(folder, args):
    result = run_msense("check", "csv.msense", *args, cwd=folder)
    assert result.returncode == 2
    assert "msense: " in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt,marker", [("markdown", "| MS101 | redundant-kpis | 1 of 5 | north |"),
                                        ("html", "<td>MS101</td><td>redundant-kpis</td><td>1 of 5</td><td>north</td>")])
def test_markdown_and_html_reports_show_the_rollup(folder, fmt, marker):
    result = run_msense("check", "csv.msense", "--by", "team", "--format", fmt, cwd=folder)
    assert result.returncode == 1, result.stderr
    assert marker in result.stdout


def test_csv_segment_ids_keep_their_text(tmp_path):
    """`01` in one CSV file and `01` in another are one segment, not `1` and `01`."""
    frame = _frame()
    ids = {t: f"0{i + 1}" for i, t in enumerate(TEAMS)}
    frame["team"] = frame["team"].map(ids)
    survey = _survey()
    survey["team"] = survey["team"].map(ids)
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    survey.to_csv(tmp_path / "survey.csv", index=False)
    spec = _write_spec(tmp_path, 'data "kpis.csv"')
    report = metricsense.check(spec, by="team", config={})
    assert [r.segment for r in report.segment_results] == ["01", "02", "03", "04", "05"]
    assert not [d for d in report.diagnostics if d.code in ("MS031", "MS034")]


def test_batches_shrink_towards_the_end_so_workers_finish_together():
    from metricsense.segments import batch_sizes

    for n in (1, 2, 7, 12, 100, 1000, 10_007):
        serial = list(batch_sizes(n, 1))
        assert sum(serial) == n
        assert serial == [32] * (n // 32) + ([n % 32] if n % 32 else [])
        for workers in (2, 8, 100):
            sizes = list(batch_sizes(n, workers))
            assert sum(sizes) == n and all(1 <= s <= 32 for s in sizes)
            assert sizes == sorted(sizes, reverse=True)  # never a big task after a small one
            assert all(s >= 4 for s in sizes[:-1])  # the floor (the last task takes what is left)
            assert len(sizes) <= -(-n // 32) + 5 * workers  # the shrinking adds a few tasks a worker
            if n >= 1000 and workers == 2:
                assert sizes[0] == 32 and sizes[-1] <= 4  # the last tasks are a few segments


def test_a_result_from_a_worker_unpacks_its_findings_only_when_read(folder):
    import pickle

    report = metricsense.check(folder / "csv.msense", by="team", config={})
    result = next(r for r in report.segment_results if r.diagnostics)
    copy = pickle.loads(pickle.dumps(result))
    assert "diagnostics" not in copy.__dict__  # still packed
    assert copy.brief() == [(d.code, d.name, int(d.severity)) for d in result.diagnostics]
    assert "diagnostics" not in copy.__dict__
    assert copy.diagnostics == result.diagnostics  # unpacked on first use, then kept
    assert "diagnostics" in copy.__dict__ and "_packed" not in copy.__dict__
    assert copy.brief() == result.brief() and copy.encoded == result.encoded
    with pytest.raises(AttributeError):
        copy.no_such_field  # noqa: B018
    assert pickle.loads(pickle.dumps(copy)).diagnostics == result.diagnostics  # packed again


def test_a_parallel_run_never_opens_the_data_in_this_process(folder, tmp_path):
    """Workers find the segments and read their rows: the client neither imports Arrow nor reads
    a Parquet footer, so its memory does not grow with the data."""
    import subprocess
    import sys

    script = tmp_path / "client.py"
    script.write_text(
        "import sys\n"
        "import metricsense\n"
        "if __name__ == '__main__':\n"
        f"    r = metricsense.check({str(folder / 'parquet.msense')!r}, by='team', jobs=2, config={{}},\n"
        "                          keep_segments=False)\n"
        "    print('SEGMENTS', r.segments.count, 'EXIT', r.exit_code)\n"
        "    print('ARROW', 'pyarrow' in sys.modules)\n"
        "    print('RULES', sorted(i['code'] for i in r.segments.rules()))\n", "utf-8")
    result = subprocess.run([sys.executable, "-P", str(script)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert f"SEGMENTS {len(TEAMS)} EXIT 1" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "ARROW False" in result.stdout
    serial = metricsense.check(folder / "parquet.msense", by="team", config={})
    assert f"RULES {sorted(i['code'] for i in serial.segments.rules())}" in result.stdout


def test_the_rollup_is_written_in_pieces_that_make_the_same_json():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from metricsense.encoding import json_pieces as _json_pieces, json_value as _json_value

    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=4))
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                         max_leaves=20)

    @settings(max_examples=300, deadline=None)
    @given(value, st.integers(0, 3))
    def same(v, level):
        assert "".join(_json_pieces(v, level)) == _json_value(v, level)

    same()
    rules = [{"code": "MS101", "segments": [f"s{i:05d}" for i in range(1000)]}]
    assert max(len(p) for p in _json_pieces(rules, 2)) < 100  # no piece holds the list


def test_a_copy_of_a_packed_result_stays_packed_and_complete(folder):
    import copy
    import pickle

    report = metricsense.check(folder / "csv.msense", by="team", config={})
    result = next(r for r in report.segment_results if r.diagnostics)
    packed = pickle.loads(pickle.dumps(result))
    twin = copy.copy(packed)
    assert type(twin) is type(packed) and "diagnostics" not in twin.__dict__
    assert twin.brief() == result.brief() and twin.diagnostics == result.diagnostics
    assert "diagnostics" not in packed.__dict__  # unpacking the copy left the original packed
    assert packed.diagnostics == result.diagnostics


def test_two_specs_on_a_dask_cluster_give_the_serial_result(folder):
    require("distributed")
    from distributed import LocalCluster

    specs = ("csv.msense", "parquet.msense")
    serial = run_msense("check", *specs, "--by", "team", "--format", "json", cwd=folder)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(folder / "dask-work-2")) as cluster:
        on_dask = run_msense("check", *specs, "--by", "team", "--format", "json",
                             "--scheduler", cluster.scheduler_address, cwd=folder)
        with cluster.get_client() as client:  # nothing the run sent is left on the cluster
            held = client.run(lambda dask_worker: len(dask_worker.data))
    assert on_dask.returncode == serial.returncode == 1, on_dask.stderr
    assert on_dask.stdout == serial.stdout
    assert json.loads(serial.stdout)["segments"]["count"] == 2 * len(TEAMS)
    assert sum(held.values()) == 0
