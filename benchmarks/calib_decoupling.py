"""Calibration of MS205 (declared gain unsupported) and MS201/MS202 on gains estimated from data.

`python -P benchmarks/calib_decoupling.py [--reps 200]` prints the share of replications where
each rule fired, with its Monte Carlo SE sqrt(p (1 - p) / reps). Weekly data, 80 periods.

- MS205, healthy: the declared gain is the true standardised gain; the KPI responds to the lever
  2 weeks later (declared `lag 2 weeks`); a declared disturbance drives both the KPI and the
  lever's plan (confounding); errors AR(1) with phi 0 / 0.5 / 0.8 on the changes. Planted: the
  declared gain is +0.6 where the truth is 0.
- MS201/MS202, no declarations, two KPIs on two levers: a true rank-1 gain matrix (both KPIs
  respond alike), or a well-conditioned one (identity-like).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

N = 80


def ar(rng, n, phi):
    e = np.empty(n)
    e[0] = rng.standard_normal() / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + rng.standard_normal()
    return e


def write(tmp, columns, spec):
    start = dt.date(2024, 1, 1)
    rows = ["period," + ",".join(columns)]
    for i in range(N):
        rows.append(f"{start + dt.timedelta(weeks=i)}," + ",".join(f"{columns[c][i]:.6f}" for c in columns))
    (tmp / "kpis.csv").write_text("\n".join(rows) + "\n")
    (tmp / "spec.msense").write_text(spec)
    return tmp / "spec.msense"


def ms205(rng, tmp, phi, planted):
    import metricsense

    dw = rng.standard_normal(N)                       # changes of the disturbance
    du = 0.6 * dw + 0.8 * rng.standard_normal(N)      # lever planned around it
    b = 0.0 if planted else 0.5
    lagged = np.concatenate([np.zeros(2), du[:-2]])
    dy = b * lagged + 0.7 * dw + ar(rng, N, phi)
    # the true standardised gain: b sd(du) / sd(dy), computed on a long simulation of the same process
    big = 200_000
    dwb = rng.standard_normal(big)
    dub = 0.6 * dwb + 0.8 * rng.standard_normal(big)
    eb = ar(rng, big, phi) if phi else rng.standard_normal(big)
    dyb = b * np.concatenate([np.zeros(2), dub[:-2]]) + 0.7 * dwb + eb
    true = b * dub.std() / dyb.std()
    declared = 0.6 if planted else true
    spec = ('mission "M"\ndata "kpis.csv"\nlever u "U"\ndisturbance w "W"\n'
            f'kpi y "Y" {{\n  responds u {declared:+.4f} lag 2 weeks\n  disturbed w +0.5\n}}\n')
    path = write(tmp, {"u": np.cumsum(du), "w": np.cumsum(dw), "y": np.cumsum(dy)}, spec)
    report = metricsense.check(path, config={"select": ["MS205"]})
    return {"MS205": any(d.code == "MS205" for d in report.diagnostics)}


def ms20x(rng, tmp, rank_one):
    import metricsense

    du = rng.standard_normal((N, 2))
    g = np.array([[0.6, 0.4], [0.6, 0.4]]) if rank_one else np.array([[0.6, 0.0], [0.0, 0.6]])
    dy = du @ g.T + 0.5 * rng.standard_normal((N, 2))
    spec = 'mission "M"\ndata "kpis.csv"\nlever a "A"\nlever b "B"\nkpi x "X" { }\nkpi y "Y" { }\n'
    cols = {"a": np.cumsum(du[:, 0]), "b": np.cumsum(du[:, 1]), "x": np.cumsum(dy[:, 0]), "y": np.cumsum(dy[:, 1])}
    path = write(tmp, cols, spec)
    report = metricsense.check(path, config={"select": ["MS201", "MS202"]})
    codes = {d.code for d in report.diagnostics}
    return {"MS201": "MS201" in codes, "MS202": "MS202" in codes}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args(argv)
    import metricsense

    print(f"metricsense from {Path(metricsense.__file__).parent}; reps {args.reps}")
    cases = [(f"MS205 healthy, lag 2, confounder, AR errors phi {p}", lambda r, d, p=p: ms205(r, d, p, False))
             for p in (0.0, 0.5, 0.8)]
    cases += [("MS205 planted: declared +0.6, truth 0", lambda r, d: ms205(r, d, 0.0, True)),
              ("MS201/MS202 true rank 1", lambda r, d: ms20x(r, d, True)),
              ("MS201/MS202 well-conditioned", lambda r, d: ms20x(r, d, False))]
    print("| case | rule | fired | MC SE |")
    print("| --- | --- | ---: | ---: |")
    for i, (label, fn) in enumerate(cases):
        rng = np.random.default_rng([7, i])
        hits: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as d:
            for _ in range(args.reps):
                for code, fired in fn(rng, Path(d)).items():
                    hits[code] = hits.get(code, 0) + fired
        for code, h in hits.items():
            p = h / args.reps
            print(f"| {label} | {code} | {p:.3f} | {math.sqrt(p * (1 - p) / args.reps):.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
