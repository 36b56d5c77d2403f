"""Loading long-format data into the evaluators' arrays, side by side with pandas, in one run.

    python -P benchmarks/bench_data.py [--series 1000] [--periods 1000]

Writes a long CSV (period, series, value; series x periods rows, 2% of values missing), then in
fresh processes (so peak memory is each tool's own) loads it: metricsense's data layer into one
aligned float64 array per series, and `pandas.read_csv` plus `pivot` into a wide frame. The two
alternate process by process, so load from other jobs hits both. Reports median wall time, the
ratio, and the peak memory each adds, against the size of the float64 arrays produced
(series x periods x 8 bytes), measured the same way on both sides:
- traced: the peak of tracemalloc (every NumPy array and Python object) plus the peak of Arrow's
  memory pool (0 for pandas' C parser, which allocates outside both: see RSS);
- RSS: the rise of the process's peak resident set (ru_maxrss) over the load. It also counts
  allocator slack and, for metricsense, the pages of the memory-mapped file as they are read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

METRICSENSE = r"""
import json, resource, sys, time
from pathlib import Path
import numpy, pyarrow.csv, pyarrow.compute  # imported before the baseline: libraries are not data
import metricsense
import metricsense.data.readers
from metricsense.data.dataset import build
from metricsense.registry import build_registry
from metricsense.plugins import get_plugin_manager
folder = Path(sys.argv[1])
doc = metricsense.load(folder / "bench.msense")
registry = build_registry(get_plugin_manager(entrypoints=False)[0])
import tracemalloc, pyarrow
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
data, problems, crashes = build(doc, None, registry.readers, [folder])
elapsed = time.perf_counter() - t0
alloc = tracemalloc.get_traced_memory()[1] + pyarrow.default_memory_pool().max_memory()
tracemalloc.stop()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
matrix_bytes = sum(s.values.nbytes for s in data.series_map.values())
assert not problems and not crashes, problems
print(json.dumps({"seconds": elapsed, "peak_kb": peak, "array_bytes": matrix_bytes, "alloc": alloc,
                  "checksum": float(numpy.nansum([numpy.nansum(s.values) for s in data.series_map.values()]))}))
"""

PANDAS = r"""
import json, resource, sys, time
from pathlib import Path
import numpy, pandas, pyarrow
folder = Path(sys.argv[1])
import tracemalloc
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
frame = pandas.read_csv(folder / "long.csv", parse_dates=["period"])
wide = frame.pivot(index="period", columns="series", values="value")
elapsed = time.perf_counter() - t0
alloc = tracemalloc.get_traced_memory()[1] + pyarrow.default_memory_pool().max_memory()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": elapsed, "peak_kb": peak, "array_bytes": int(wide.to_numpy().nbytes), "alloc": alloc,
                  "checksum": float(numpy.nansum(wide.to_numpy()))}))
"""


def write_inputs(folder: Path, n_series: int, n_periods: int) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    periods = np.arange("2000-01-03", n_periods * 7, 7, dtype="datetime64[D]")[:n_periods] if False else \
        np.datetime64("2000-01-03") + np.arange(n_periods) * 7
    names = [f"s{i:04d}" for i in range(n_series)]
    with (folder / "long.csv").open("w") as fh:
        fh.write("period,series,value\n")
        for name in names:
            values = rng.normal(100, 10, n_periods).round(3)
            missing = rng.random(n_periods) < 0.02
            lines = (f"{p},{name},{'' if m else v}\n" for p, v, m in zip(periods.astype(str), values, missing))
            fh.writelines(lines)
    spec = ['mission "Benchmark"', 'data "long.csv" layout long']
    spec += [f'kpi {n} "{n}" {{ }}' for n in names]
    (folder / "bench.msense").write_text("\n".join(spec) + "\n")


def run_once(code: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-P", "-c", code, str(folder)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)


def summary(results: list[dict]) -> dict:
    best = dict(results[0])
    best["seconds"] = statistics.median(r["seconds"] for r in results)
    best["peak_kb"] = statistics.median(r["peak_kb"] for r in results)
    best["alloc"] = statistics.median(r["alloc"] for r in results)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--periods", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder, args.series, args.periods)
        rows = args.series * args.periods
        size = (folder / "long.csv").stat().st_size
        print(f"Long CSV: {rows:,} rows ({args.series} series x {args.periods} periods), {size / 1e6:.1f} MB; "
              f"median of {args.repeat} fresh processes each")
        runs: dict[str, list[dict]] = {"ms": [], "pd": []}
        for _ in range(args.repeat):  # alternating, so load hits both sides alike
            runs["ms"].append(run_once(METRICSENSE, folder))
            runs["pd"].append(run_once(PANDAS, folder))
        ms, pd = summary(runs["ms"]), summary(runs["pd"])
        ratios = sorted(p["seconds"] / m["seconds"] for m, p in zip(runs["ms"], runs["pd"]))
        assert abs(ms["checksum"] - pd["checksum"]) <= 1e-6 * abs(pd["checksum"]), (ms["checksum"], pd["checksum"])
        arrays = ms["array_bytes"]
        for name, r in (("metricsense data layer", ms), ("pandas read_csv + pivot", pd)):
            print(f"  {name:<26} {r['seconds']:7.3f} s   RSS peak +{r['peak_kb'] / 1024:6.1f} MB "
                  f"({r['peak_kb'] * 1024 / arrays:5.2f}x the {arrays / 1e6:.1f} MB of arrays); "
                  f"traced allocations peak {r['alloc'] / 1e6:6.1f} MB ({r['alloc'] / arrays:4.2f}x)")
        ratio = pd["seconds"] / ms["seconds"]
        print(f"  speed: metricsense is {ratio:.2f}x pandas (ratio of medians; pair by pair "
              f"{ratios[0]:.2f}x to {ratios[-1]:.2f}x) (goal >= 1.0: {'MET' if ratio >= 1 else 'MISSED'})")
        mem = ms["alloc"] / arrays
        print(f"  memory: traced peak (tracemalloc + Arrow's pool) {mem:.2f}x the arrays produced "
              f"(goal < 3: {'MET' if mem < 3 else 'MISSED'}); RSS also counts allocator slack and mapped file pages")


if __name__ == "__main__":
    main()
