"""Large KPI systems: check time, JSON report size and peak memory as the number of KPIs grows.

    python -P benchmarks/bench_scale.py [--kpis 250 500 1000 2000] [--against OTHER_PYTHON]

Each size is a generated, realistic spec (issue 25): every KPI with its own column of 104 weekly
periods in one wide CSV, a target, two `responds` gains on levers (one lever per ten KPIs), a
`guards` failure and a trigger. Each run is a fresh `msense check SPEC --format json -o FILE
--exit-zero` process; its wall time, the JSON's size and the process's peak RSS (VmHWM) are
reported (and its CPU seconds), with the issue's goals (2,000 KPIs in 3 s, 10,000 in 20 s, time(2,000)/time(500) at
most 5, JSON at most 10 MB at 2,000 KPIs, peak memory under 2 GB at 10,000). `--against PYTHON`
also runs another checkout's Python (a worktree of another revision, built into its own venv by
`make`) side by side, and prints the ratios (against / this) of CPU time, wall time and JSON size.
`--bytecode` first compiles each measured checkout's package to bytecode (its __pycache__
folders, as an installed wheel has it): meson-python's editable loader never writes bytecode, so
without it every process compiles metricsense's own modules again (about 0.2 s here), whatever
PYTHONDONTWRITEBYTECODE says.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "scale"

CLIENT = r"""
import sys
sys.argv[0] = "msense"
from metricsense.cli import main
try:
    main()
except SystemExit:
    pass
# NOTE: VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print("PEAK_KB", hwm[0] if hwm else 0, file=sys.stderr)
"""


# The package's folder as that Python imports it (an editable install: the checkout's sources).
COMPILE = r"""
import compileall, os
import metricsense
compileall.compile_dir(os.path.dirname(metricsense.__file__), quiet=1)
"""


def generate(n: int, folder: Path) -> Path:
    """The spec and data of a system of ``n`` KPIs (seeded by ``n``); reused when present."""
    spec = folder / "spec.msense"
    if spec.exists():
        return spec
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    t, nl = 104, max(n // 10, 2)
    start = dt.date(2024, 1, 1)
    values = np.cumsum(rng.standard_normal((n, t)), axis=1) + 50
    levers = np.cumsum(rng.standard_normal((nl, t)), axis=1)
    with open(folder / "data.csv", "w") as fh:
        fh.write("period," + ",".join(f"k{i}" for i in range(n)) + "," + ",".join(f"l{j}" for j in range(nl)) + "\n")
        for w in range(t):
            fh.write((start + dt.timedelta(weeks=w)).isoformat() + ","
                     + ",".join(f"{v:.3f}" for v in values[:, w]) + ","
                     + ",".join(f"{v:.3f}" for v in levers[:, w]) + "\n")
    kinds = ("input", "process", "output", "outcome")
    out = ['data "data.csv"', 'mission "Serve people well" { owner "director" }']
    out += [f'lever l{j} "Lever {j}" owner "lead {j}"' for j in range(nl)]
    out += [f'failure f_{k} "Things go wrong at the {k}" at {k}' for k in kinds]
    for i in range(n):
        a, b = rng.choice(nl, 2, replace=False)
        out.append(f'kpi k{i} "KPI {i}" {{\n  kind {kinds[i % 4]}\n  better higher\n'
                   f'  target >= {values[i, -1] + 3:.2f} by 2026-12-31\n  link "k{i} serves the mission"\n'
                   f'  guards f_{kinds[i % 4]}\n  responds l{a} +0.3, l{b} +0.2\n}}')
        out.append(f'trigger t{i} when k{i} < target - 10 for 2 periods {{\n  ask "What held k{i} back?"\n'
                   "  with one-to-one\n}")
    spec.write_text("\n".join(out) + "\n")
    return spec


def run(python: str, spec: Path, out: Path) -> tuple[float, int, int, float, int]:
    """Wall seconds, JSON bytes, peak RSS (KiB), CPU seconds (user + system, every thread) and
    the evaluators the time budget stopped (MS005) of one `msense check`. On a shared machine the CPU seconds are the steadier figure: the wall time
    grows with whatever else runs."""
    out.unlink(missing_ok=True)  # NOTE: a run that fails must not be read from an earlier run's report
    started = time.perf_counter()
    before = os.times()
    done = subprocess.run([python, "-P", "-c", CLIENT, "check", str(spec), "--format", "json", "-o", str(out),
                           "--exit-zero"], capture_output=True, text=True)
    took = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    peak = next((int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB")), 0)
    if done.returncode not in (0, 2, 3) or not out.exists():  # with --exit-zero, 1 is a crash (a traceback)
        raise SystemExit(f"msense check failed on {spec} (exit {done.returncode}): {done.stderr[-2000:]}")
    return took, out.stat().st_size, peak, cpu, cut(out)


def cut(out: Path) -> int:
    """How many evaluators the time budget stopped (MS005): a check cut short is not comparable
    (on a loaded machine an evaluator's 30 s of wall time can pass with a few seconds of CPU)."""
    import json

    with open(out) as fh:
        return sum(d.get("code") == "MS005" for d in json.load(fh).get("diagnostics", []))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kpis", nargs="*", type=int, default=[250, 500, 1000, 2000])
    ap.add_argument("--python", default=sys.executable, help="the Python of the metricsense to measure")
    ap.add_argument("--against", help="also measure this Python (another checkout's venv), side by side")
    ap.add_argument("--bytecode", action="store_true",
                    help="compile each measured package to bytecode first (as an installed wheel has it)")
    args = ap.parse_args(argv)
    pythons = [("this", args.python)] + ([("against", args.against)] if args.against else [])
    if args.bytecode:
        for _, py in pythons:
            subprocess.run([py, "-P", "-c", COMPILE], check=True)
    rows = {}
    for n in args.kpis:
        spec = generate(n, CACHE / f"k{n}")
        for name, py in pythons:
            rows[(name, n)] = run(py, spec, CACHE / f"k{n}" / f"{name}.json")
            took, size, peak, cpu, stopped = rows[(name, n)]
            print(f"{name:8} {n:>6} KPIs  {took:8.1f} s  {cpu:8.1f} s CPU  {size / 1e6:8.1f} MB JSON  "
                  f"{peak / 1024:8.0f} MiB peak" + (f"  CUT: {stopped} MS005" if stopped else ""), flush=True)
    print()
    print("| KPIs | " + " | ".join(f"{name}: time | CPU | JSON | peak" for name, _ in pythons) + " |")
    print("|---:|" + "---:|---:|---:|---:|" * len(pythons))
    for n in args.kpis:
        cells = []
        for name, _ in pythons:
            took, size, peak, cpu, stopped = rows[(name, n)]
            cells.append(f"{took:.1f} s{f' (MS005 x{stopped})' if stopped else ''} | {cpu:.1f} s | "
                         f"{size / 1e6:.1f} MB | {peak / 1024:.0f} MiB")
        print(f"| {n:,} | " + " | ".join(cells) + " |")
    if args.against:
        print("\n| KPIs | CPU: against / this | wall: against / this | JSON: against / this |")
        print("|---:|---:|---:|---:|")
        for n in args.kpis:
            (t0, s0, _, c0, _), (t1, s1, _, c1, _) = rows[("against", n)], rows[("this", n)]
            print(f"| {n:,} | {c0 / c1:.2f}x | {t0 / t1:.2f}x | {s0 / max(s1, 1):.2f}x |")
    print()
    goals = {2000: 3.0, 10000: 20.0}
    for name, _ in pythons:
        for n, most in goals.items():
            if n in args.kpis:
                took, _, _, cpu, _ = rows[(name, n)]
                print(f"{name}: {n:,} KPIs in {took:.1f} s wall, {cpu:.1f} s CPU (goal: at most {most:g} s): "
                      f"{'PASS' if took <= most else 'MISS'}")
        if 500 in args.kpis and 2000 in args.kpis:
            for i, what in ((0, "wall"), (3, "CPU")):
                ratio = rows[(name, 2000)][i] / rows[(name, 500)][i]
                print(f"{name}: time(2,000) / time(500) = {ratio:.1f} by {what} time (goal: at most 5): "
                      f"{'PASS' if ratio <= 5 else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
