"""`msense select`'s search: branch and bound against exhaustive enumeration, and the issue's sizes.

    python benchmarks/bench_select.py [--quick] [--limit SECONDS]

Two kinds of system, both seeded:

- "kpi": what a KPI spec looks like. Each KPI responds to 1-3 of the levers (gains 0.1-0.8 either
  way), is disturbed by 0-2 of the disturbances, noise 0.1-0.7 of a typical move; Juu = I, Jud = 0.
- "randcase": Yi Cao's randcase.m (the test systems of Kariwala & Cao 2009): dense Gaussian G,
  uniform Gd, Wd, Wn, Jud, Juu = diag of sums of squares. Much harder to prune.

For each case: the time and sets evaluated by the branch and bound, the same for enumeration
where C(n_y, n) is small enough, the ratio of times, whether both return the same 5 sets, and
pySOC's pb3wc beside them when pySOC is installed. Times are wall clock on a shared machine:
read one run as a sample. No test asserts a time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from metricsense.selection.losses import prepare
from metricsense.selection.search import Stats, branch_and_bound, enumerate_best

#: Enumerate only below this many sets.
ENUMERABLE = 200_000


def kpi_system(rng, ny: int, nu: int, nd: int):
    gy = np.zeros((ny, nu))
    gyd = np.zeros((ny, nd))
    for i in range(ny):
        for j in rng.choice(nu, size=int(rng.integers(1, 4)), replace=False):
            gy[i, j] = rng.choice([-1, 1]) * rng.uniform(0.1, 0.8)
        for k in rng.choice(nd, size=int(rng.integers(0, 3)), replace=False):
            gyd[i, k] = rng.normal(scale=0.4)
    return gy, gyd, np.eye(nu), np.zeros((nu, nd)), np.ones(nd), rng.uniform(0.1, 0.7, ny)


def randcase(rng, ny: int, nu: int, nd: int):
    g = rng.normal(size=(ny, nu))
    gd = rng.uniform(size=(ny, nd))
    x = rng.normal(size=(nu, nu + 2 * ny + nd))
    return g, gd, np.diag((x * x).sum(axis=1)), rng.uniform(size=(nu, nd)), rng.uniform(size=nd), rng.uniform(size=ny)


def pysoc_time(system, n: int, top: int):
    try:
        from pysoc.bnb import pb3wc  # noqa: PLC0415 - optional
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - pySOC 1.x uses np.Inf, gone in NumPy 2
        return f"fails to import ({type(exc).__name__})"
    g, gd, juu, jud, wd, wn = system
    t = time.perf_counter()
    pb3wc(g, gd, np.diag(wd), np.diag(wn), juu, jud, n, nc=top)
    return time.perf_counter() - t


def run(kind: str, ny: int, nu: int, nd: int, n: int, limit: float, seed: int = 1, top: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    system = (kpi_system if kind == "kpi" else randcase)(rng, ny, nu, nd)
    prep = prepare(*system)
    stats = Stats()
    t = time.perf_counter()
    found = branch_and_bound(prep, n, top, stats, seconds=limit)
    bnb = time.perf_counter() - t
    row = {"case": f"{kind}: {n} of {ny} (n_u {nu}, n_d {nd})", "bnb_s": bnb, "complete": stats.complete,
           "evaluated": stats.evaluated, "sets": math.comb(ny, n), "enum_s": None, "same": None,
           "pysoc_s": None, "best_loss": 0.5 / found[0][0] if found else None}
    if math.comb(ny, n) <= ENUMERABLE:
        t = time.perf_counter()
        expected = enumerate_best(prep, n, top)
        row["enum_s"] = time.perf_counter() - t
        row["same"] = expected == found
    if ny <= 100:
        row["pysoc_s"] = pysoc_time(system, n, top)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the cases enumeration can check")
    ap.add_argument("--limit", type=float, default=60.0, help="stop a search after this many seconds")
    args = ap.parse_args(argv)
    cases = [("kpi", 20, 3, 2, 3), ("kpi", 30, 4, 3, 4), ("randcase", 20, 3, 2, 3), ("randcase", 24, 4, 3, 4),
             ("kpi", 16, 5, 3, 7)]
    if not args.quick:
        cases += [("kpi", 100, 10, 5, 10), ("kpi", 300, 10, 5, 10), ("randcase", 100, 10, 5, 10),
                  ("randcase", 300, 10, 5, 10)]
    print("| case | branch and bound | sets evaluated / all | enumeration | ratio | same 5 sets | pySOC pb3wc |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for kind, ny, nu, nd, n in cases:
        r = run(kind, ny, nu, nd, n, args.limit)
        bnb = f"{r['bnb_s']:.3f} s" + ("" if r["complete"] else f" (stopped at {args.limit:g} s)")
        enum = f"{r['enum_s']:.3f} s" if r["enum_s"] is not None else "not feasible"
        ratio = f"{r['enum_s'] / r['bnb_s']:.0f}x faster" if r["enum_s"] is not None else ""
        same = "" if r["same"] is None else ("yes" if r["same"] else "NO")
        soc = (r["pysoc_s"] if isinstance(r["pysoc_s"], str) else f"{r['pysoc_s']:.3f} s" if r["pysoc_s"] is not None
               else "not installed")
        print(f"| {r['case']} | {bnb} | {r['evaluated']:,} / {r['sets']:.3g} | {enum} | {ratio} | {same} | {soc} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
