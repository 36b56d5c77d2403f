"""Per-segment evaluation at scale: segments per second serially, in 2 processes and on a
2-worker Dask LocalCluster, and the client's peak memory as the number of segments grows.

    python -P benchmarks/bench_segments.py [--segments 1000 10000] [--kpis 30] [--periods 500]
                                           [--sources parquet sqlite] [--runners serial jobs2 dask]
                                           [--repeat 3]

Data is generated once (seeded) into benchmarks/.cache/: a wide table of `segment`, `period`, 6
levers and the KPIs, sorted by segment, as one Parquet file (row groups of 50 whole segments,
25,000 rows: a batch reads one or two) and as
an SQLite database with an index on `segment`. Each run is a fresh `msense check SPEC --by segment
--format json -o /dev/null` process; its own peak RSS (VmHWM of that process, workers not
included) is the client's memory. The Dask runs come last, on a 2-worker LocalCluster
this script starts for them (so no idle cluster shares the cores with the other runs). Runs at
the larger sizes take a while: pass smaller --segments to sample.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "segments"
LEVERS = 6

CLIENT = r"""
import resource, sys, time
sys.argv[0] = "msense"
from metricsense.cli import main
t0 = time.perf_counter()
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
# NOTE: VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child of a
# large process would report its parent's size.
try:
    hwm = int([ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0])
except (OSError, IndexError):
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write("\nMSENSE-BENCH %f %d %d\n" % (time.perf_counter() - t0, hwm, code))
"""


def spec_text(kpis: int, data_clause: str) -> str:
    lines = ['mission "Every store serves its neighbourhood well" { why "bench" }', data_clause]
    lines += [f'lever u{j} "Lever {j}" owner "ops"' for j in range(LEVERS)]
    lines.append('failure f "Customers leave" at outcome')
    for i in range(kpis):
        gains = ", ".join(f"u{j} {'+' if (i + j) % 3 else '-'}0.{(i * 7 + j) % 9 + 1}"
                          for j in range(LEVERS) if (i + j) % 2 == 0)
        lines += [f'kpi y{i} "KPI {i}" {{', "  kind output", "  better higher", f'  target >= {10 + i} by 2027-06-30',
                  '  link "bench"', "  guards f", f"  responds {gains}", "}"]
    lines += ['trigger y0_low when y0 < target - 2 for 2 periods {', '  ask "What changed?"', "  with team", "}"]
    return "\n".join(lines) + "\n"


def generate(segments: int, kpis: int, periods: int) -> Path:
    """The data for ``segments`` segments (the first ones of the same seeded sequence)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = CACHE / f"s{segments}-k{kpis}-p{periods}"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    names = ["segment", "period"] + [f"u{j}" for j in range(LEVERS)] + [f"y{i}" for i in range(kpis)]
    rng = np.random.default_rng(10)
    gain = rng.normal(0, 0.5, (kpis, LEVERS))
    writer = None
    db = sqlite3.connect(folder / "kpis.db")
    db.execute(f"CREATE TABLE kpis (segment TEXT, period INTEGER, {', '.join(n + ' REAL' for n in names[2:])})")
    chunk = 50
    for start in range(0, segments, chunk):
        n = min(chunk, segments - start)
        u = rng.normal(size=(n, periods, LEVERS)).cumsum(axis=1) * 0.3
        y = u @ gain.T + rng.normal(size=(n, periods, kpis))
        seg = np.repeat([f"s{start + k:05d}" for k in range(n)], periods)
        per = np.tile(np.arange(1, periods + 1), n)
        cols = [pa.array(seg), pa.array(per)] + [pa.array(u[:, :, j].ravel()) for j in range(LEVERS)] + \
               [pa.array(y[:, :, i].ravel()) for i in range(kpis)]
        table = pa.Table.from_arrays(cols, names=names)
        if writer is None:
            writer = pq.ParquetWriter(folder / "kpis.parquet", table.schema)
        writer.write_table(table, row_group_size=periods * 50)  # row groups of 50 whole segments
        rows = zip(seg.tolist(), per.tolist(), *(c.to_numpy().tolist() for c in cols[2:]))
        db.executemany(f"INSERT INTO kpis VALUES ({', '.join('?' * len(names))})", rows)
    writer.close()
    db.execute("CREATE INDEX kpis_segment ON kpis(segment)")
    db.commit()
    db.close()
    (folder / "parquet.msense").write_text(spec_text(kpis, 'data "kpis.parquet"'), "utf-8")
    (folder / "sqlite.msense").write_text(spec_text(kpis, 'data sql "SELECT * FROM kpis" from "sqlite:///kpis.db"'),
                                          "utf-8")
    (folder / "done").write_text("ok")
    return folder


def run_client(spec: Path, extra: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB of the client process, exit code) of one segmented check."""
    cmd = [sys.executable, "-P", "-c", CLIENT, "check", str(spec), "--by", "segment", "--format", "json",
           "-o", os.devnull, *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=spec.parent)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("MSENSE-BENCH ")]
    if not line:
        raise SystemExit(f"the check failed:\n{result.stderr[-3000:]}")
    _, seconds, rss, code = line[-1].split()
    return float(seconds), int(rss), int(code)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--kpis", type=int, default=30)
    ap.add_argument("--periods", type=int, default=500)
    ap.add_argument("--sources", nargs="+", default=["parquet", "sqlite"])
    ap.add_argument("--runners", nargs="+", default=["serial", "jobs2", "dask"])
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every configuration this many times, interleaved, and judge the goals on the "
                         "medians (one run's client peak moves by several MiB from run to run)")
    args = ap.parse_args()

    cluster = None
    if "dask" in args.runners:
        import distributed  # noqa: F401 - fail now, not after hours of the other runs

    def dask_address() -> str:
        # NOTE: started for the first Dask run, not before: an idle cluster's heartbeats took a
        # few percent of a core from the serial and --jobs runs.
        nonlocal cluster
        if cluster is None:
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                   local_directory=str(CACHE / "dask-work"), silence_logs=40)
        return cluster.scheduler_address

    rows = []
    try:
        folders = {}
        for n in args.segments:
            t0 = time.perf_counter()
            folders[n] = folder = generate(n, args.kpis, args.periods)
            print(f"data: {n} segments x {args.kpis} KPIs x {args.periods} periods "
                  f"({(folder / 'kpis.parquet').stat().st_size / 2**20:.0f} MiB Parquet, "
                  f"{(folder / 'kpis.db').stat().st_size / 2**20:.0f} MiB SQLite; {time.perf_counter() - t0:.0f} s)",
                  flush=True)
        # Dask runs come last, so the cluster is idle during no other run.
        runs = [(n, source, runner) for runner in args.runners if runner != "dask"
                for n in args.segments for source in args.sources]
        runs += [(n, source, "dask") for n in args.segments for source in args.sources if "dask" in args.runners]
        # NOTE: repeats interleaved (every configuration once, then again): a drift in the
        # machine's state weighs on every configuration alike
        for n, source, runner in runs * max(args.repeat, 1):
            spec = folders[n] / f"{source}.msense"
            extra = ["--jobs", "2"] if runner == "jobs2" else ["--scheduler", dask_address()] if runner == "dask" else []
            seconds, rss, code = run_client(spec, extra)
            rows.append({"segments": n, "source": source, "runner": runner, "seconds": seconds,
                         "per_second": n / seconds, "client_rss_mib": rss / 1024, "exit": code})
            print(f"  {n:>6} {source:<8} {runner:<7} {seconds:8.1f} s  {n / seconds:8.1f} segments/s  "
                  f"client peak {rss / 1024:6.0f} MiB  (exit {code})", flush=True)
    finally:
        if cluster is not None:
            cluster.close()
        (CACHE / "last.json").write_text(json.dumps(rows, indent=2))  # what ran, even if a run failed

    judge(rows, args.segments, args.sources, args.runners)


def _median(rows: list[dict], key: str) -> tuple[float, float, float]:
    """(median, lowest, highest) of ``key`` over the repeats of one configuration."""
    values = sorted(r[key] for r in rows)
    mid = len(values) // 2
    median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return median, values[0], values[-1]


def judge(rows: list[dict], segments: list[int], sources: list[str], runners: list[str]) -> None:
    """The goals, on the median of each configuration's repeats (with their range when repeated)."""
    def of(n: int, source: str, runner: str) -> list[dict]:
        return [r for r in rows if r["segments"] == n and r["source"] == source and r["runner"] == runner]

    def spread(lo: float, hi: float, fmt: str) -> str:
        return f" (runs {lo:{fmt}}-{hi:{fmt}})" if hi > lo else ""

    print("\nratios (same source, same size; medians of the repeats):")
    for n in segments:
        for source in sources:
            serial = of(n, source, "serial")
            if serial:
                for runner in ("jobs2", "dask"):
                    mine = of(n, source, runner)
                    if mine:
                        ratio = _median(mine, "per_second")[0] / _median(serial, "per_second")[0]
                        pairs = [m["per_second"] / s["per_second"] for m, s in zip(mine, serial)]
                        goal = "  goal >= 1.8x: " + ("PASS" if ratio >= 1.8 else "MISS") if runner == "jobs2" else ""
                        print(f"  {n:>6} {source:<8} {runner} / serial: {ratio:4.2f}x"
                              f"{spread(min(pairs), max(pairs), '.2f')}{goal}")
    if len(segments) > 1:
        lo, hi = min(segments), max(segments)
        print(f"\nclient peak memory, {hi} vs {lo} segments (goal: within 10%; medians of the repeats):")
        for source in sources:
            for runner in runners:
                a, b = of(lo, source, runner), of(hi, source, runner)
                if a and b:
                    (ma, la, ha), (mb, lb, hb) = _median(a, "client_rss_mib"), _median(b, "client_rss_mib")
                    growth = mb / ma - 1
                    print(f"  {source:<8} {runner:<7} {ma:6.0f}{spread(la, ha, '.0f')} -> {mb:6.0f}{spread(lb, hb, '.0f')} MiB "
                          f"({growth:+.1%}) {'PASS' if growth <= 0.10 else 'MISS'}")


if __name__ == "__main__":
    main()
