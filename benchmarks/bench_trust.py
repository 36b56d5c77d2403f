"""Secondary suppression of groups that share respondents: GaussSuppression's rank test over
respondent classes (``trust._gauss``) against the laminar test (``trust._laminar``), side by side.

    python -P benchmarks/bench_trust.py [--sizes 50 200 500] [--repeat 3]

A generated organisation (seeded): teams of 2 to 14 respondents, departments of every tenth
team, and a division of everyone, each exported as a group with respondent ids, `min_group 5`.
Every group is linked to every other through the division, so one component holds them all.
Prints the median time of each method, their ratio, and how many groups each leaves out (the
same on a hierarchy: the two tests agree there, tests/evaluators/test_trust_linked.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def organisation(teams: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    people = [[f"p{t}-{i}" for i in range(int(rng.integers(2, 15)))] for t in range(teams)]
    stats = [{"group": f"t{t}", "manager": "m", "n": len(ps), "_who": frozenset(ps)} for t, ps in enumerate(people)]
    departments = max(1, teams // 10)
    for d in range(departments):
        ps = [p for t in range(d, teams, departments) for p in people[t]]
        stats.append({"group": f"d{d}", "manager": "m", "n": len(ps), "_who": frozenset(ps)})
    everyone = [p for ps in people for p in ps]
    stats.append({"group": "division", "manager": "m", "n": len(everyone), "_who": frozenset(everyone)})
    return stats


def main(argv: list[str] | None = None) -> int:
    from metricsense.evaluators.trust import _gauss, _laminar

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print("| teams | groups | respondents | rank test (_gauss) | laminar | ratio | left out (gauss, laminar) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for teams in args.sizes:
        stats = organisation(teams)
        hidden = {i for i, st in enumerate(stats) if st["n"] < 5}
        order = sorted(set(range(len(stats))) - hidden, key=lambda i: (-stats[i]["n"], stats[i]["group"]))
        times: dict[str, list[float]] = {"gauss": [], "laminar": []}
        out = {}
        for _ in range(args.repeat):  # alternating, so load from other processes hits both
            for name, method in (("gauss", _gauss), ("laminar", _laminar)):
                t0 = time.perf_counter()
                out[name] = method(order, stats, 5)
                times[name].append(time.perf_counter() - t0)
        g, lam = statistics.median(times["gauss"]), statistics.median(times["laminar"])
        people = len({p for st in stats for p in st["_who"]})
        print(f"| {teams} | {len(stats)} | {people} | {g:.3f} s | {lam:.4f} s | {g / lam:.0f}x | "
              f"{len(out['gauss'])}, {len(out['laminar'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
