"""Calibration of the noise rules (MS301, MS302, MS303) on simulated healthy and planted KPIs.

`python -P benchmarks/calib_noise.py [--reps 200] [--rules MS302,MS301,MS303] [--families ...]`
runs `metricsense.check` end to end on a weekly spec with one KPI (52 weeks), writing the data to
a temporary CSV, and prints for each family the share of replications where the rule fired, its
Monte Carlo SE sqrt(p (1 - p) / reps), and for MS302 the mean stated false-alarm rate against the
true one. Point it at another checkout with PYTHONPATH to measure before and after. The system-level
reference is the calibration suite (calibration/, `make calibrate`); this script keeps the
single-KPI setups the noise rules were first measured on (MS301 now judges the target against the
KPI's moves over one review period: see `msense explain MS301`).

- MS302 (`trigger t when kpi > c for N periods`, `max_rate` 0.1): the threshold c is set so the
  TRUE rate of firing over the next 52 weeks, from the series' last state, is 5% (healthy: the
  rule should stay quiet) or 30% (planted: it should fire). The truth is the pooled quantile of
  4,000 paths of the true process from its state (bisection for runs).
- MS301 (`target >= c`, `ratio` 1): the target is 2 true one-step spreads above the true next
  value's mean (healthy) or 0.3 spreads (planted).
- MS303 (`review every 1 week`, a lever with no declared lag): healthy = the lever's changes are
  independent of the KPI's; planted = the KPI responds to the lever 3 weeks later (r about 0.45).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

T = 52
H = 52


def ar_path(rng, n, phi, sigma=1.0, x0=None):
    x = np.empty(n)
    x[0] = rng.standard_normal() * sigma / math.sqrt(1 - phi ** 2) if x0 is None else x0
    for t in range(1, n):
        x[t] = phi * x[t - 1] + sigma * rng.standard_normal()
    return x


def family_series(name, rng, n):
    """(values for n periods, a function state -> future paths (M, H)) of one healthy family."""
    t = np.arange(n)
    if name == "iid":
        x = rng.standard_normal(n)
        return x, lambda m: rng.standard_normal((m, H))
    if name.startswith("ar"):
        phi = float(name[2:])
        x = ar_path(rng, n, phi)

        def future(m, last=None):
            out = np.empty((m, H))
            y = np.full(m, x[-1])
            for h in range(H):
                y = phi * y + rng.standard_normal(m)
                out[:, h] = y
            return out
        return x, future
    if name in ("rw", "rw_drift"):
        drift = 0.3 if name == "rw_drift" else 0.0
        x = np.cumsum(drift + rng.standard_normal(n))
        return x, lambda m: x[-1] + np.cumsum(drift + rng.standard_normal((m, H)), axis=1)
    if name == "trend":
        phi, slope = 0.5, 0.1
        e = ar_path(rng, n, phi)
        x = slope * t + e

        def future(m):
            out = np.empty((m, H))
            y = np.full(m, e[-1])
            for h in range(H):
                y = phi * y + rng.standard_normal(m)
                out[:, h] = slope * (n + h) + y
            return out
        return x, future
    if name in ("season_add", "season_mult"):
        e = ar_path(rng, n, 0.5, 0.5)
        s = 2.0 * np.sin(2 * np.pi * t / 13)
        base = 20.0
        x = base + s + e if name == "season_add" else (base + e) * (1 + 0.15 * np.sin(2 * np.pi * t / 13))

        def future(m):
            out = np.empty((m, H))
            y = np.full(m, e[-1])
            for h in range(H):
                y = 0.5 * y + 0.5 * rng.standard_normal(m)
                tt = n + h
                out[:, h] = (base + 2.0 * np.sin(2 * np.pi * tt / 13) + y if name == "season_add"
                             else (base + y) * (1 + 0.15 * np.sin(2 * np.pi * tt / 13)))
            return out
        return x, future
    if name == "ragged_missing":
        x, future = family_series("ar0.8", rng, n)
        x = x.copy()
        x[:8] = np.nan
        x[8:][rng.random(n - 8) < 0.08] = np.nan
        x[-1] = x[-1] if not math.isnan(x[-1]) else 0.0
        return x, future
    raise ValueError(name)


def threshold_for(paths, rate, n_run):
    """The threshold c with P(fire) = rate over the paths (pooled; a run of n_run periods)."""
    if n_run == 1:
        return float(np.quantile(paths, 1 - rate))
    lo, hi = float(paths.min()), float(paths.max())
    for _ in range(40):
        c = (lo + hi) / 2
        past = paths > c
        cs = np.concatenate([np.zeros((len(paths), 1)), np.cumsum(past, axis=1)], axis=1)
        r = float(((cs[:, n_run:] - cs[:, :-n_run]) >= n_run).mean())
        lo, hi = (c, hi) if r > rate else (lo, c)
    return (lo + hi) / 2


def write(tmp, columns, spec):
    start = dt.date(2024, 1, 1)
    rows = ["period," + ",".join(columns)]
    n = len(next(iter(columns.values())))
    for i in range(n):
        vals = ["" if math.isnan(columns[c][i]) else f"{columns[c][i]:.6f}" for c in columns]
        rows.append(f"{start + dt.timedelta(weeks=i)}," + ",".join(vals))
    (tmp / "kpis.csv").write_text("\n".join(rows) + "\n")
    (tmp / "spec.msense").write_text(spec)
    return tmp / "spec.msense"


def run_ms302(family, rng, tmp, true_rate, n_run):
    import metricsense

    x, future = family_series(family, rng, T)
    c = threshold_for(future(4000), true_rate, n_run)
    spec = (f'mission "M"\ndata "kpis.csv"\nkpi q "Q" {{ better lower }}\n'
            f'trigger t when q > {c:.6f} for {n_run} periods {{\n  ask "why?"\n  with team\n}}\n')
    path = write(tmp, {"q": x}, spec)
    report = metricsense.check(path, config={"select": ["MS302"]})
    fired = any(d.code == "MS302" for d in report.diagnostics)
    (analysis,) = report.analysis.values()
    noise = analysis.get("noise")
    stated = None
    if noise is not None:
        for e in noise.kpis.values():
            info = (e.triggers or {}).get("t")
            if info and info.get("status") == "evaluated":
                stated = info["rate_per_run"]
    return fired, stated


def run_ms301(family, rng, tmp, gap):
    import metricsense

    x, future = family_series(family, rng, T)
    nxt = future(4000)[:, 0]
    c = float(nxt.mean() + gap * nxt.std())
    spec = f'mission "M"\ndata "kpis.csv"\nkpi q "Q" {{\n  target >= {c:.6f} by 2030-01-01\n}}\n'
    path = write(tmp, {"q": x}, spec)
    report = metricsense.check(path, config={"select": ["MS301"]})
    return any(d.code == "MS301" for d in report.diagnostics), None


def run_ms303(family, rng, tmp, planted):
    import metricsense

    n = 104
    lever = np.cumsum(rng.standard_normal(n))
    noise, _ = family_series(family, rng, n)
    y = np.nan_to_num(noise, nan=0.0)
    if planted:
        y = y + 0.5 * np.concatenate([np.zeros(3), lever[:-3]])
    y[np.isnan(noise)] = np.nan
    spec = ('mission "M"\ndata "kpis.csv"\nlever u "U"\n'
            'kpi q "Q" {\n  responds u +0.4\n  review every 1 week\n}\n')
    path = write(tmp, {"u": lever, "q": y}, spec)
    report = metricsense.check(path, config={"select": ["MS303"]})
    return any(d.code == "MS303" for d in report.diagnostics), None


FAMILIES = ["iid", "ar0.5", "ar0.8", "ar0.95", "rw", "rw_drift", "trend", "season_add", "season_mult",
            "ragged_missing"]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--rules", default="MS302,MS301,MS303")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    import metricsense

    print(f"metricsense from {Path(metricsense.__file__).parent}; reps {args.reps}")
    cases = []
    for rule in args.rules.split(","):
        for fam in args.families.split(","):
            if rule == "MS302":
                cases += [(rule, fam, "healthy 5%/period, for 1", lambda f, r, d: run_ms302(f, r, d, 0.05, 1)),
                          (rule, fam, "healthy 5%, for 3", lambda f, r, d: run_ms302(f, r, d, 0.05, 3)),
                          (rule, fam, "planted 30%/period", lambda f, r, d: run_ms302(f, r, d, 0.30, 1))]
            elif rule == "MS301":
                cases += [(rule, fam, "healthy: gap 2 spreads", lambda f, r, d: run_ms301(f, r, d, 2.0)),
                          (rule, fam, "planted: gap 0.3 spreads", lambda f, r, d: run_ms301(f, r, d, 0.3))]
            elif rule == "MS303":
                cases += [(rule, fam, "healthy: no effect", lambda f, r, d: run_ms303(f, r, d, False)),
                          (rule, fam, "planted: lag 3", lambda f, r, d: run_ms303(f, r, d, True))]
    print("| rule | family | case | fired | MC SE | mean stated rate |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for i, (rule, fam, label, fn) in enumerate(cases):
        rng = np.random.default_rng([args.seed, i])
        hits, stated = 0, []
        with tempfile.TemporaryDirectory() as d:
            for _ in range(args.reps):
                fired, s = fn(fam, rng, Path(d))
                hits += fired
                if s is not None:
                    stated.append(s)
        p = hits / args.reps
        se = math.sqrt(p * (1 - p) / args.reps)
        st = f"{np.mean(stated):.3f}" if stated else ""
        print(f"| {rule} | {fam} | {label} | {p:.3f} | {se:.3f} | {st} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
