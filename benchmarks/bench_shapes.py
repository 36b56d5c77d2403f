"""Hostile shapes of a spec, each at two sizes: does `msense check` take linear time?

    python -P benchmarks/bench_shapes.py [--scale 1.0] [--python PY] [--against PY]

Issue 25's shapes: one `guards` list of 100,000 names (declared failures), the same list of
undeclared names among 50,000 declared ones (MS002's did-you-mean), `responds` with 80,000
pairs, a data path and an include path of 512k parts, and 1,000 KPIs with data and a trigger
each. Each runs at a size and at a quarter of it in fresh `msense check --format json`
processes; the ratio time(size) / time(size / 4) is 4 for linear time (16 for quadratic), read
from the checks' CPU seconds (user + system; on a shared machine the wall time measures the load),
with the wall time's ratio beside it.
`--scale` shrinks every size (0.25: a quick look); `--against PY` runs another checkout's Python
side by side. `--kpis-without-stats` leaves the noise and distortion evaluators out of the
trigger shape (METRICSENSE_DISABLE_PLUGINS), to time the rest of the check on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "shapes"


def guards(n: int, folder: Path) -> str:
    fails = [f'failure f{i} "F{i}" at outcome' for i in range(n)]
    return "\n".join(fails) + '\nkpi k "K" {\n  kind outcome\n  guards ' + ", ".join(f"f{i}" for i in range(n)) + "\n}\n"


def guards_undeclared(n: int, folder: Path) -> str:
    fails = [f'failure g{i} "G{i}" at outcome' for i in range(n // 2)]
    return "\n".join(fails) + '\nkpi k "K" {\n  kind outcome\n  guards ' + ", ".join(f"f{i}" for i in range(n)) + "\n}\n"


def responds(n: int, folder: Path) -> str:
    levers = [f'lever l{i} "L{i}"' for i in range(n)]
    return "\n".join(levers) + '\nkpi k "K" {\n  responds ' + ", ".join(f"l{i} +0.1" for i in range(n)) + "\n}\n"


def data_path(n: int, folder: Path) -> str:
    return 'kpi k "K" {\n  data "' + "a/" * n + 'x.csv"\n}\n'


def include_path(n: int, folder: Path) -> str:
    return 'include "' + "a/" * n + 'x.msense"\nkpi k "K" { }\n'


def triggers(n: int, folder: Path) -> str:
    rng = np.random.default_rng(n)
    t = 104
    values = np.cumsum(rng.standard_normal((n, t)), axis=1) + 50
    start = dt.date(2024, 1, 1)
    with open(folder / "data.csv", "w") as fh:
        fh.write("period," + ",".join(f"k{i}" for i in range(n)) + "\n")
        for w in range(t):
            fh.write((start + dt.timedelta(weeks=w)).isoformat() + ","
                     + ",".join(f"{v:.3f}" for v in values[:, w]) + "\n")
    out = ['data "data.csv"']
    for i in range(n):
        out.append(f'kpi k{i} "K{i}" {{\n  target >= 60 by 2026-12-31\n}}')
        out.append(f'trigger t{i} when k{i} < target - 10 for 2 periods {{\n  ask "Why k{i}?"\n  with one-to-one\n}}')
    return "\n".join(out) + "\n"


SHAPES = {  # name -> (generator, size)
    "guards (declared)": (guards, 100_000),
    "guards (undeclared)": (guards_undeclared, 100_000),
    "responds": (responds, 80_000),
    "data path parts": (data_path, 512_000),
    "include path parts": (include_path, 512_000),
    "KPIs with data and a trigger": (triggers, 1_000),
}


def spec_of(shape: str, n: int) -> Path:
    folder = CACHE / f"{shape.split()[0]}-{shape.split()[-1].strip('()')}-{n}"
    spec = folder / "spec.msense"
    if not spec.exists():
        folder.mkdir(parents=True, exist_ok=True)
        spec.write_text(SHAPES[shape][0](n, folder))
    return spec


def run(python: str, spec: Path, env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one fresh check."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([python, "-P", "-m", "metricsense", "check", str(spec), "--format", "json", "-o",
                           str(spec.with_suffix(".json")), "--exit-zero", "--config", str(CACHE / "msense.toml")],
                          capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        raise SystemExit(f"msense check failed on {spec}: {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size by this")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--against", help="another checkout's Python, run side by side")
    ap.add_argument("--only", nargs="*", help="shape names (a prefix) to run")
    ap.add_argument("--kpis-without-stats", action="store_true",
                    help="leave noise and distortion out of the trigger shape")
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "msense.toml").write_text("time-budget = 600\n")
    pythons = [("this", args.python)] + ([("against", args.against)] if args.against else [])
    print("| shape | size | " + " | ".join(f"{n}: CPU(size/4) | CPU(size) | ratio | wall ratio" for n, _ in pythons) + " |")
    print("|---|---:|" + "---:|---:|---:|---:|" * len(pythons))
    for shape, (_, size) in SHAPES.items():
        if args.only and not any(shape.startswith(o) for o in args.only):
            continue
        n = max(int(size * args.scale), 8)
        env = dict(os.environ)
        if shape.startswith("KPIs") and args.kpis_without_stats:
            env["METRICSENSE_DISABLE_PLUGINS"] = "metricsense.evaluators.noise,metricsense.evaluators.distortion"
        cells = []
        for _, py in pythons:
            (small, small_cpu), (big, big_cpu) = run(py, spec_of(shape, n // 4), env), run(py, spec_of(shape, n), env)
            cells.append(f"{small_cpu:.1f} s | {big_cpu:.1f} s | {big_cpu / small_cpu:.1f} | {big / small:.1f}")
        print(f"| {shape} | {n:,} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
