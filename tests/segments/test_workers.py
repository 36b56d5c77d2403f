"""Running segments in worker processes and on Dask: the same result as a serial run, and clear errors."""

from __future__ import annotations

import json

import pytest

import metricsense
from segments_support import TEAMS
from support import require, run_msense


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


@pytest.mark.parametrize("address", ["nonsense", "tcp://[::1", "tcp://host", "http://x:1/y"])
def test_a_malformed_scheduler_address_is_refused_at_once(folder, address):
    result = run_msense("check", "csv.msense", "--by", "team", "--scheduler", address, cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "expected a Dask scheduler address" in result.stdout
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.parametrize("args", [["--jobs", "2"], ["--scheduler", "tcp://127.0.0.1:1"],
                                  ["--by", "team", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"]])
def test_parallel_options_need_by_and_exclude_each_other(folder, args):
    result = run_msense("check", "csv.msense", *args, cwd=folder)
    assert result.returncode == 2
    assert "msense: " in result.stderr and "Traceback" not in result.stderr


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


def test_a_batch_lets_go_of_each_result_once_taken():
    # a batch's results hold their analysis as JSON text (some 100 KB each): the client lets go of
    # each once written, not of all 32 when the last is
    import gc
    import weakref

    from metricsense.segments.pools import one_at_a_time

    class Result:
        pass

    batch = [Result() for _ in range(5)]
    refs = [weakref.ref(r) for r in batch]
    it = one_at_a_time(batch)
    del batch
    for k in range(5):
        r = next(it)
        assert r is refs[k]()
        del r
        gc.collect()
        assert refs[k]() is None and all(ref() is not None for ref in refs[k + 1:])
    assert next(it, None) is None
