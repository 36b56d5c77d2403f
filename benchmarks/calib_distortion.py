"""Size and power of the distortion rules' tests (MS401-MS403) on simulated KPI data, before and after
issue 21. Run from the repository root:

    python benchmarks/calib_distortion.py [replications]   # default 1000

Each line: the family, the share of replications where the test rejects at alpha = 0.05 (with the
rule's own gates: MS403's variance ratio <= 0.5, MS402's improved output and held theory), its
Monte Carlo standard error sqrt(p (1 - p) / R), for the old test ("before") and the new ("after").
A healthy family should stay at or below 0.05 + 2 MC SE; a planted effect should be found.
The statistics are called the way the rule calls them (distortion._bunching, _variance,
mean_residual_ar1) on a small stand-in for the dataset.
"""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import numpy as np

from metricsense.data.dataset import Series
from metricsense.evaluators import distortion as D
from metricsense.encoding import finite
from metricsense.evaluators.distortion import mccrary_bandwidth, norm_sf, support_step, t_sf
from metricsense.evaluators.records import BunchingTest

ALPHA = 0.05


# ---- the tests before issue 21 (kept here as the benchmark's "before"; the rules no longer use them)


def mccrary(x, cutoff: float, meets: str = "above", inclusive: bool = True,
            step: float | None = None) -> BunchingTest:
    """McCrary (2008) density test at ``cutoff``, one-sided toward the side that meets the target.

    Bin width b = 2 sd n^-1/2 (a multiple of the support step for discrete data), with the
    boundary between the last value that misses and the first that meets on a bin edge; bin
    heights count / (n b); a global quartic on each side gives the bandwidth
    h = 3.348 [mse * range / sum f''^2]^(1/5), averaged over the two sides; triangular-weighted
    linear fits on each side give the densities f- and f+ at the boundary; theta = ln f+ - ln f-,
    se = sqrt((1/(n h)) (24/5) (1/f+ + 1/f-)). z = theta / se when meeting is above (`>=`, `>`),
    -theta / se when it is below (`<=`, `<`), and p = 1 - Phi(z).
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    out: BunchingTest = {"n": n, "cutoff": float(cutoff), "meets": meets}
    if n < 20 or x.std() == 0:
        return {**out, "status": "too few values"}
    g = support_step(x) if step is None else step
    b = 2.0 * x.std(ddof=1) / math.sqrt(n)
    edge = float(cutoff)
    if g > 0:
        b = max(g, math.ceil(b / g - 1e-9) * g)
        on_grid = abs((cutoff - x.min()) / g - round((cutoff - x.min()) / g)) < 1e-6
        if on_grid:  # the boundary lies half a step from the target, on the side that misses
            lower = (meets == "above") == inclusive
            edge = cutoff - g / 2 if lower else cutoff + g / 2
    k = np.floor((x - edge) / b + 1e-9).astype(np.int64)
    kmin, kmax = int(k.min()), int(k.max())
    counts = np.bincount(k - kmin, minlength=kmax - kmin + 1).astype(float)
    ks = np.arange(kmin, kmax + 1)
    mid = (ks + 0.5) * b  # bin midpoints relative to the boundary
    y = counts / (n * b)
    left, right = ks < 0, ks >= 0
    out.update({"bin": b, "support_step": g or None, "boundary": edge})
    if left.sum() < 6 or right.sum() < 6:
        return {**out, "status": "the target is at the edge of the data"}

    h = mccrary_bandwidth(mid, y, left, right)
    if h is None:
        return {**out, "status": "no bandwidth"}

    def at_boundary(mask: np.ndarray) -> tuple[float, int]:
        X, Y = mid[mask], y[mask]
        w = np.maximum(0.0, 1.0 - np.abs(X) / h)
        keep = w > 0
        if keep.sum() < 2:
            return float("nan"), int(keep.sum())
        X, Y, w = X[keep], Y[keep], w[keep]
        A = np.column_stack([np.ones_like(X), X]) * np.sqrt(w)[:, None]
        coef, *_ = np.linalg.lstsq(A, Y * np.sqrt(w), rcond=None)
        return float(coef[0]), int(keep.sum())

    f_minus, bins_l = at_boundary(left)
    f_plus, bins_r = at_boundary(right)
    out.update({"bandwidth": h, "f_below": finite(f_minus), "f_above": finite(f_plus), "bins_used": [bins_l, bins_r]})
    if not (f_minus > 0 and f_plus > 0):
        return {**out, "status": "no density on one side of the target"}
    theta = math.log(f_plus) - math.log(f_minus)
    se = math.sqrt((1.0 / (n * h)) * (24.0 / 5.0) * (1.0 / f_plus + 1.0 / f_minus))
    z = (theta if meets == "above" else -theta) / se
    return {**out, "status": "evaluated", "theta": theta, "se": se, "z": z, "p": norm_sf(z)}


def mean_residual_test(x1, y1, x2, y2) -> dict:
    """Fit y = a + b x on the first period; test the mean prediction residual of the second.

    r = mean(y2 - a - b x2); Var(r) = s^2 (1/n2 + m' (X1'X1)^-1 m) with m = (1, mean x2) and
    s^2 = SSR / (n1 - 2): the exact variance of the mean prediction error under iid normal
    errors (future errors independent of the fit). t = r / sqrt(Var(r)) with n1 - 2 df.
    None when x before does not vary (a singular design): it cannot be tested.
    """
    import numpy as np

    x1, y1, x2, y2 = (np.asarray(a, dtype=float) for a in (x1, y1, x2, y2))
    n1, n2 = len(x1), len(x2)
    # NOTE: x before that does not vary (up to rounding: twenty 0.3s have a std of 5e-17, not 0)
    # makes X1'X1 singular: there is no line to predict from, so no test (None), not a crash.
    if n1 < 3 or not np.ptp(x1) > 64 * np.finfo(float).eps * float(np.abs(x1).max()):
        return None
    X1 = np.column_stack([np.ones(n1), x1])
    beta, *_ = np.linalg.lstsq(X1, y1, rcond=None)
    resid = y1 - X1 @ beta
    s2 = float(resid @ resid) / (n1 - 2)
    m = np.array([1.0, x2.mean()])
    try:
        var = s2 * (1.0 / n2 + float(m @ np.linalg.solve(X1.T @ X1, m)))
    except np.linalg.LinAlgError:  # singular all the same: cannot test
        return None
    r = float((y2 - beta[0] - beta[1] * x2).mean())
    t = r / math.sqrt(var) if var > 0 else float("nan")
    # KPI series wander (autocorrelated errors make the iid test too eager): the variance of a
    # mean of AR(1) errors is inflated by about (1 + rho) / (1 - rho), rho the lag-1
    # autocorrelation of the residuals before; only rho > 0 inflates, and it is capped at 0.9.
    rho = float(resid[1:] @ resid[:-1] / (resid @ resid)) if n1 > 2 and resid @ resid > 0 else 0.0
    rho = min(max(rho, 0.0), 0.9)
    inflate = (1.0 + rho) / (1.0 - rho)
    return {"intercept": float(beta[0]), "slope": float(beta[1]), "residual_sd": math.sqrt(s2),
            "mean_residual": r, "se": math.sqrt(var), "t": t, "df": n1 - 2, "n_before": n1, "n_after": n2,
            "rho": rho, "t_adjusted": t / math.sqrt(inflate)}


def brown_forsythe(before, after) -> dict:
    """Brown-Forsythe for two groups: a pooled t test on |v - group median|; t > 0 when the
    spread after is smaller. Two-sided F = t^2 equals scipy.stats.levene(center="median")."""
    import numpy as np

    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    za, zb = np.abs(a - np.median(a)), np.abs(b - np.median(b))
    n1, n2 = len(za), len(zb)
    sp2 = (((za - za.mean()) ** 2).sum() + ((zb - zb.mean()) ** 2).sum()) / (n1 + n2 - 2)
    se = math.sqrt(sp2 * (1.0 / n1 + 1.0 / n2))
    t = (za.mean() - zb.mean()) / se if se > 0 else float("nan")
    df = n1 + n2 - 2
    return {"t": t, "df": df, "F": t * t, "p": t_sf(t, df) if math.isfinite(t) else None}


def line(name, before, after, reps):
    se = lambda p: math.sqrt(max(p * (1 - p), 1e-12) / reps)  # noqa: E731
    b = f"{before:.3f} ({se(before):.3f})" if before is not None else "    -        "
    print(f"  {name:<52} before {b}   after {after:.3f} ({se(after):.3f})", flush=True)


def weeks(n, start="2022-01-03"):
    return np.datetime64(start, "D") + 7 * np.arange(n)


def months(n, start="2021-01"):
    return (np.datetime64(start, "M") + np.arange(n)).astype("datetime64[D]")


def dataset(periods, unit):
    return SimpleNamespace(periods=periods, unit_of=lambda name: unit)


def ar1(rng, n, phi, sd=1.0):
    e = rng.normal(0, sd, n)
    out = np.empty(n)
    out[0] = e[0] / math.sqrt(max(1 - phi * phi, 1e-9)) if phi < 1 else e[0]
    for i in range(1, n):
        out[i] = phi * out[i - 1] + e[i]
    return out


# ---- MS403 ------------------------------------------------------------------------------------


def old_variance(values, row):
    d = np.diff(values)
    later = np.arange(1, len(values)) >= row
    bf = brown_forsythe(d[~later], d[later])
    ratio = np.var(d[later], ddof=1) / np.var(d[~later], ddof=1)
    return ratio <= 0.5 and bf["p"] < ALPHA


def old_variance_panel(block, row):
    med = np.nanmedian(block, axis=1)
    dev = block - med[:, None]
    b, a = dev[:row].ravel(), dev[row:].ravel()
    bf = brown_forsythe(b, a)
    return np.var(a, ddof=1) / np.var(b, ddof=1) <= 0.5 and bf["p"] < ALPHA


def new_variance(values, periods, unit, row):
    s = Series("k", values, "sim")
    after = np.arange(len(periods)) >= row
    res = D._variance(s, dataset(periods, unit), row, after, unit, 6)
    return bool(res and res.get("ratio") is not None and res.get("p") is not None
                and res["ratio"] <= 0.5 and res["p"] <= ALPHA)


def new_variance_panel(block, periods, unit, row):
    s = Series("k", np.nanmean(block, axis=1), "sim", tuple(f"u{i}" for i in range(block.shape[1])), block)
    after = np.arange(len(periods)) >= row
    res = D._variance(s, dataset(periods, unit), row, after, unit, 6)
    return bool(res and res.get("ratio") is not None and res.get("p") is not None
                and res["ratio"] <= 0.5 and res["p"] <= ALPHA)


def ms403(reps, rng):
    print("MS403 variance collapse (weekly, 2 years, split at the midpoint unless said)")
    n = 104
    per = weeks(n)
    t = np.arange(n)
    week_of_year = ((per - per.astype("datetime64[Y]")).astype(int) // 7)
    winter = (week_of_year < 9) | (week_of_year >= 48)
    fams = {
        "iid N(100, 5)": lambda: 100 + rng.normal(0, 5, n),
        "AR(1) 0.5": lambda: 100 + ar1(rng, n, 0.5, 5),
        "AR(1) 0.8": lambda: 100 + ar1(rng, n, 0.8, 5),
        "AR(1) 0.95": lambda: 100 + ar1(rng, n, 0.95, 5),
        "random walk": lambda: 500 + np.cumsum(rng.normal(0, 5, n)),
        "random walk with drift": lambda: 500 + np.cumsum(rng.normal(1, 5, n)),
        "trend": lambda: 100 + 0.5 * t + rng.normal(0, 5, n),
        "additive seasonality": lambda: 100 + 10 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 3, n),
        "multiplicative seasonality": lambda: 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 52)) * np.exp(rng.normal(0, 0.05, n)),
        "winter volatility (sd x3 Dec-Feb)": lambda: 100 + rng.normal(0, 1, n) * np.where(winter, 6, 2),
        "improvement 40->8, x lognormal(0.2)": lambda: 40 * (8 / 40) ** (t / (n - 1)) * np.exp(rng.normal(0, 0.2, n)),
        "improvement 40->8, Poisson counts": lambda: rng.poisson(40 * (8 / 40) ** (t / (n - 1))).astype(float) + 0.0,
    }
    for name, draw in fams.items():
        old = new = 0
        for _ in range(reps):
            v = draw()
            old += old_variance(v, n // 2)
            new += new_variance(v, per, "week", n // 2)
        line(name, old / reps, new / reps, reps)
    # the seasonal family: one year of weekly data, winter volatile (Jan-Feb and December)
    per1 = weeks(52)
    w1 = winter[:52]
    old = new = 0
    for _ in range(reps):
        v = 100 + rng.normal(0, 1, 52) * np.where(w1, 6, 2)
        old += old_variance(v, 26)
        new += new_variance(v, per1, "week", 26)
    line("a year weekly, winter volatility (sd x3)", old / reps, new / reps, reps)
    # panels: 30 units x 24 months, persistent unit levels
    perm = months(24)
    for icc in (0.5, 0.9, 0.99):
        old = new = 0
        for _ in range(reps):
            u = rng.normal(0, math.sqrt(icc), 30)
            block = 50 + 10 * (u[None, :] + rng.normal(0, math.sqrt(1 - icc), (24, 30)))
            old += old_variance_panel(block, 12)
            new += new_variance_panel(block, perm, "month", 12)
        line(f"panel 30 units x 24 months, ICC {icc}", old / reps, new / reps, reps)
    old = new = 0
    for _ in range(reps):  # improvement in a panel: every unit's level falls 40 -> 8, noise x level
        lvl = 40 * (8 / 40) ** (np.arange(24) / 23)
        u = np.exp(rng.normal(0, 0.3, 30))
        block = lvl[:, None] * u[None, :] * np.exp(rng.normal(0, 0.2, (24, 30)))
        old += old_variance_panel(block, 12)
        new += new_variance_panel(block, perm, "month", 12)
    line("panel improvement 40->8, multiplicative", old / reps, new / reps, reps)
    print("  power:")
    old = new = 0
    for _ in range(reps):  # a halving of the variance (sd / sqrt 2) after the target
        v = 100 + rng.normal(0, 5, n) * np.where(t >= n // 2, 1 / math.sqrt(2), 1.0)
        old += old_variance(v, n // 2)
        new += new_variance(v, per, "week", n // 2)
    line("halving of variance (weekly, 2 years)", old / reps, new / reps, reps)
    old = new = 0
    for _ in range(reps):  # a halving of the spread (sd / 2: variance / 4)
        v = 100 + rng.normal(0, 5, n) * np.where(t >= n // 2, 0.5, 1.0)
        old += old_variance(v, n // 2)
        new += new_variance(v, per, "week", n // 2)
    line("variance to a quarter (weekly, 2 years)", old / reps, new / reps, reps)
    old = new = 0
    for _ in range(reps):
        u = rng.normal(0, math.sqrt(0.5), 30)
        scale = np.where(np.arange(24) >= 12, 1 / math.sqrt(2), 1.0)[:, None]
        block = 50 + 10 * (u[None, :] + rng.normal(0, math.sqrt(0.5), (24, 30))) * scale
        old += old_variance_panel(block, 12)
        new += new_variance_panel(block, perm, "month", 12)
    line("panel ICC 0.5, spread variance halved", old / reps, new / reps, reps)


# ---- MS401 ------------------------------------------------------------------------------------


def bunch(x, c, pi, rng, window, width):
    """A share pi of the values within `window` short of c moved just past it (within `width`)."""
    x = x.copy()
    short = (x >= c - window) & (x < c)
    moved = short & (rng.random(x.shape) < pi)
    x[moved] = c + rng.uniform(0, width, moved.sum())
    return x


def ms401_case(block, c, step=0.0):
    """(old, new) rejection of a `>= c` target on a units x periods block (periods x units)."""
    values = block.ravel()
    old = mccrary(values, c, "above", True)
    s = Series("k", np.nanmean(block, axis=1), "sim", tuple(f"u{i}" for i in range(block.shape[1])), block)
    new = D._bunching(s, np.ones(block.shape[0], dtype=bool), SimpleNamespace(comparison=">=", value=c))
    return (old.get("status") == "evaluated" and old["p"] < ALPHA,
            new.get("status") == "evaluated" and new["p"] <= ALPHA)


def ms401(reps, rng):
    print("MS401 bunching at the target (values of units x periods after the target)")

    def panel(icc, units=80, periods=12):
        u = rng.normal(0, math.sqrt(icc), units)
        return u[None, :] + rng.normal(0, math.sqrt(1 - icc), (periods, units))

    fams = {
        "iid N(0,1), 80 x 12, target 0.3": lambda: (panel(0.0), 0.3),
        "panel ICC 0.5, 80 x 12, target 0.3": lambda: (panel(0.5), 0.3),
        "panel ICC 0.9, 80 x 12, target 0.3": lambda: (panel(0.9), 0.3),
        "panel ICC 0.99, 80 x 12, target 0.3": lambda: (panel(0.99), 0.3),
        "panel ICC 0.9, 30 x 24, target 0.3": lambda: (panel(0.9, 30, 24), 0.3),
        "lognormal(0,0.6), target at the 90th pct": lambda: (np.exp(rng.normal(0, 0.6, (12, 80))), math.exp(0.6 * 1.2816)),
        "exponential, target at the 75th pct": lambda: (rng.exponential(1, (12, 80)), math.log(4)),
        "sloped: N(0,1) target at -1.5 (left tail)": lambda: (panel(0.0), -1.5),
        "integer scores 1-10 (N(6,1.5)), ICC 0.5, >= 7": lambda: (
            np.clip(np.round(6 + 1.5 * panel(0.5)), 1, 10), 7.0),
        "integer scores 0-20 (N(12,3)), >= 14": lambda: (np.clip(np.round(12 + 3 * panel(0.0)), 0, 20), 14.0),
    }
    for name, draw in fams.items():
        old = new = 0
        for _ in range(reps):
            block, c = draw()
            o, nw = ms401_case(block, c)
            old += o
            new += nw
        line(name, old / reps, new / reps, reps)
    print("  power (a share pi of the values within 0.5 sd short of the target moved within 0.1 sd past it):")
    for icc in (0.0, 0.5, 0.9):
        for pi in (0.05, 0.1, 0.2):
            old = new = 0
            for _ in range(reps):
                block = bunch(panel(icc), 0.3, pi, rng, 0.5, 0.1)
                o, nw = ms401_case(block, 0.3)
                old += o
                new += nw
            line(f"80 x 12, ICC {icc}, pi = {pi}", old / reps, new / reps, reps)
    for pi in (0.1, 0.2):
        old = new = 0
        for _ in range(reps):
            raw = 60 + 12 * panel(0.5)
            gamed = np.round(bunch(raw, 69.5, pi, rng, 6.0, 1.4) + (raw >= 69.5) * 0)
            o, nw = ms401_case(gamed, 70.0)
            old += o
            new += nw
        line(f"integer scores N(60,12) ICC 0.5, pi = {pi} of 64-69 to 70-71", old / reps, new / reps, reps)


# ---- MS402 ------------------------------------------------------------------------------------


def ms402(reps, rng, n=36):
    print(f"MS402 output-outcome divergence ({n} periods, split at the midpoint, output improves by 1 sd after)")
    t = np.arange(n)
    later = t >= n // 2

    def one(err, shortfall=0.0):
        x = ar1(rng, n, 0.5) + 1.0 * later
        y = 1 + 0.5 * x + 0.3 * err - shortfall * later
        x1, y1, x2, y2 = x[~later], y[~later], x[later], y[later]
        old = mean_residual_test(x1, y1, x2, y2)
        new = mean_residual_ar1(x1, y1, t[~later], x2, y2, t[later])
        gate = lambda r: x2.mean() > x1.mean() and r["slope"] > 0  # noqa: E731
        o = gate(old) and D.t_sf(-old["t_adjusted"], old["df"]) < ALPHA
        nw = gate(new) and D.t_sf(-new["t"], new["df"]) <= ALPHA
        return o, nw

    def unit_ar(phi):
        return lambda: ar1(rng, n, phi) * (math.sqrt(1 - phi * phi) if phi < 1 else 0.3)

    fams = {"iid errors": unit_ar(0.0), "AR(1) 0.5 errors": unit_ar(0.5), "AR(1) 0.8 errors": unit_ar(0.8),
            "AR(1) 0.95 errors": unit_ar(0.95), "random-walk errors (sd 0.3 a step)": unit_ar(1.0)}
    for name, draw in fams.items():
        old = new = 0
        for _ in range(reps):
            o, nw = one(draw())
            old += o
            new += nw
        line(name, old / reps, new / reps, reps)
    print("  power (the outcome falls short of the prediction by a step after the split):")
    for name, draw in (("iid", unit_ar(0.0)), ("AR(1) 0.5", unit_ar(0.5)), ("AR(1) 0.8", unit_ar(0.8))):
        for short in (0.3, 0.6):
            old = new = 0
            for _ in range(reps):
                o, nw = one(draw(), short)
                old += o
                new += nw
            line(f"{name} errors, shortfall {short} (error sd 0.3)", old / reps, new / reps, reps)


mean_residual_ar1 = D.mean_residual_ar1

if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    which = sys.argv[2:] or ["ms401", "ms402", "ms403"]
    print(f"{reps} replications; MC SE in parentheses")
    for i, name in enumerate(which):
        globals()[name](reps, np.random.default_rng(2100 + i))
