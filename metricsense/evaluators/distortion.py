"""Distortion rules (MS4xx): Campbell's law, looked for in the data (Behn's ninth practice).

When was the target set? `target >= 70 by 2027-06-30 since 2024-09-01` says it in the spec:
`by` is the date it must be met, `since` the date it started to bite (the period holding that
date is the first "after" one). Each rule also takes an option `target_set`, a table of KPI
name -> date (`"2024-09-01"`) or whole-number period, which wins over `since`; a KPI with
neither is split at the midpoint of its observed periods (the later half is "after"). The midpoint is chosen before
looking at the values, so the split cannot be tuned to find an effect (a change point searched
for in the data would find one in pure noise); when the true date is earlier, part of the
"before" half is already distorted and the tests lose power but not their size.

The ``DistortionAnalysis`` record (``analysis["distortion"]``) holds per KPI with data a
``KpiDistortion``: ``set`` (the first "after" period) and
``set_from`` (``"target_set"``, ``"since"`` or ``"midpoint"``); ``bunching`` (the McCrary density test at
the target: n, bin, bandwidth, densities below and above, theta, se, z, p); ``divergence``
(per outcome KPI: the mean prediction residual after the target, its t and p); ``variance``
(before and after variances, their ratio, the Brown-Forsythe t and p). NumPy only, imported
inside functions; Phi with math.erf and Student's t through the regularized incomplete beta.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite
from metricsense.evaluators.common import own_values, phi
from metricsense.evaluators.records import (
    BunchingTest,
    DistortionAnalysis,
    DistortionOptions,
    DivergenceTest,
    KpiDistortion,
    VarianceTest,
)
from metricsense.hookspecs import hookimpl
from metricsense.model import KPI, Document

DEFAULTS = {"target_set": {}}

# ---- distributions ------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbeta) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbeta) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    if not math.isfinite(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def norm_sf(z: float) -> float:
    """P(Z > z) = 1 - Phi(z), computed without cancellation in the upper tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# ---- McCrary's density test ---------------------------------------------------------------------


def support_step(x) -> float:
    """The spacing of a discrete or heaped support (0.1 for one decimal, 5 for minutes rounded
    to 5, 1 for whole numbers); 0.0 when the values look continuous."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return 0.0
    for decimals in range(0, 5):
        scaled = x * 10.0**decimals
        ints = np.rint(scaled)
        if np.all(np.abs(scaled - ints) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            if len(np.unique(ints)) > len(x) / 2:  # too many distinct values for a heaped support
                return 0.0
            g = int(np.gcd.reduce((ints - ints.min()).astype(np.int64)))
            return g / 10.0**decimals if g > 0 else 0.0
    return 0.0


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

    def side_h(mask: np.ndarray) -> float | None:
        X, Y = mid[mask], y[mask]
        coef = np.polyfit(X, Y, 4)
        resid = Y - np.polyval(coef, X)
        mse = float(resid @ resid) / max(1, len(X) - 5)
        a4, a3, a2 = coef[0], coef[1], coef[2]
        fpp = 2 * a2 + 6 * a3 * X + 12 * a4 * X**2
        denom = float(fpp @ fpp)
        span = float(np.abs(X).max())
        if denom <= 0 or mse <= 0:
            return None
        return 3.348 * (mse * span / denom) ** 0.2

    hl, hr = side_h(left), side_h(right)
    hs = [h for h in (hl, hr) if h is not None]
    if not hs:
        return {**out, "status": "no bandwidth"}
    h = float(np.mean(hs))

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


# ---- target met, mission flat -------------------------------------------------------------------


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


# ---- variance collapse --------------------------------------------------------------------------


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


# ---- the target-set split ------------------------------------------------------------------------


def set_row(kpi: KPI, data, observed, chosen: dict) -> tuple[int | None, str]:
    """The first row of ``data.periods`` counted as "after the target was set", and why."""
    import numpy as np

    from metricsense.data.periods import bucket

    periods = data.periods
    given, source = chosen.get(kpi.name), "target_set"
    if given is None and kpi.target is not None and kpi.target.since is not None:
        given, source = kpi.target.since, "since"  # `target ... since 2023-10-01` in the spec
    if given is not None:
        try:
            if periods.dtype.kind == "M":
                # the period holding the date is the first one after it (a target set on
                # 2024-09-15 counts from September on monthly data)
                at = bucket(np.array([np.datetime64(str(given), "D")]), data.unit_of(kpi.name))[0]
                return int(np.searchsorted(periods.astype("datetime64[D]"), at)), source
            return int(np.searchsorted(periods, int(given))), source
        except (ValueError, TypeError):
            return None, f"`target_set` for `{kpi.name}` is not a date or period: {given!r}"
    rows = np.flatnonzero(observed)
    if len(rows) < 4:
        return None, "too few periods"
    return int(rows[len(rows) // 2]), "midpoint"


def _better(kpi: KPI) -> float | None:
    """+1 when higher is better, -1 when lower is; from `better`, else from the target's direction."""
    if kpi.better in ("higher", "lower"):
        return 1.0 if kpi.better == "higher" else -1.0
    t = kpi.target
    if t is not None and t.comparison in (">", ">="):
        return 1.0
    if t is not None and t.comparison in ("<", "<="):
        return -1.0
    return None


def outcomes_for(output: KPI, spec: Document) -> list[KPI]:
    """The outcome KPIs guarding a failure the output guards; all outcome KPIs when none does."""
    mine = {g.name for g in output.guards}
    outcomes = [k for k in spec.kpis if k.kind == "outcome" and k is not output]
    shared = [k for k in outcomes if mine & {g.name for g in k.guards}]
    return shared or outcomes


def kpi_distortion(kpi: KPI, spec: Document, data, chosen: dict, min_periods: int = 6) -> KpiDistortion | None:
    import numpy as np

    s = data.series(kpi.name)
    if s is None:
        return None
    observed = ~np.isnan(s.values)
    row, why = set_row(kpi, data, observed, chosen)
    if row is None:
        return KpiDistortion(status=why)
    set_at = data.label(min(row, len(data.periods) - 1))
    bunching: BunchingTest | None = None
    variance: VarianceTest | None = None
    divergence: dict[str, DivergenceTest] | None = None
    after = np.arange(len(data.periods)) >= row
    t = kpi.target
    # -- bunching: unit-level values after the target was set
    if t is not None and t.value is not None and t.comparison in ("<", "<=", ">", ">="):
        block = s.by_segment if s.by_segment is not None else s.values[:, None]
        values = block[after].ravel()
        values = values[~np.isnan(values)]
        res = mccrary(values, float(t.value), "above" if t.comparison in (">", ">=") else "below",
                      inclusive=t.comparison in (">=", "<="))
        res["units"] = len(s.segments) or None
        bunching = res
    # -- variance collapse: per-period spread across units, or period-to-period changes
    if s.by_segment is not None:
        block = s.by_segment
        with np.errstate(all="ignore"):
            med = np.nanmedian(np.where(np.isnan(block).all(axis=1, keepdims=True), 0.0, block), axis=1)
        dev = block - med[:, None]
        before_v = dev[~after].ravel()
        after_v = dev[after].ravel()
        what = "spread across units around each period's median"
    else:
        grid, rows = own_values(data.periods, s.values)
        d = np.diff(grid[:, 0])  # NaN across a missing period
        later = rows[1:] >= row
        before_v, after_v = d[~later], d[later]
        what = "period-to-period changes"
    before_v, after_v = before_v[~np.isnan(before_v)], after_v[~np.isnan(after_v)]
    if len(before_v) >= min_periods and len(after_v) >= min_periods:
        vb, va = float(np.var(before_v, ddof=1)), float(np.var(after_v, ddof=1))
        bf = brown_forsythe(before_v, after_v)
        variance = {"of": what, "before": vb, "after": va, "ratio": (va / vb) if vb > 0 else None,
                    "n_before": len(before_v), "n_after": len(after_v), **bf}
    # -- divergence: an output whose outcomes do not follow
    sign = _better(kpi)
    if kpi.kind == "output" and sign is not None:
        div: dict[str, DivergenceTest] = {}
        for oc in outcomes_for(kpi, spec):
            o = data.series(oc.name)
            osign = _better(oc)
            if o is None or osign is None:
                continue
            both = ~np.isnan(s.values) & ~np.isnan(o.values)
            b_rows, a_rows = both & ~after, both & after
            entry: DivergenceTest = {"n_before": int(b_rows.sum()), "n_after": int(a_rows.sum())}
            if b_rows.sum() < max(min_periods, 4) or a_rows.sum() < 3:
                div[oc.name] = {**entry, "status": "too few periods"}
                continue
            x1, y1 = s.values[b_rows], o.values[b_rows]
            x2, y2 = s.values[a_rows], o.values[a_rows]
            res = mean_residual_test(x1, y1, x2, y2) if np.std(x1) != 0 else None
            if res is None:
                div[oc.name] = {**entry, "status": "the output did not vary before"}
                continue
            res["output_change"] = float(sign * (x2.mean() - x1.mean()))
            res["outcome_change"] = float(osign * (y2.mean() - y1.mean()))
            z = -osign * res["t_adjusted"]  # positive when the outcome falls short of what the output predicts
            res["p"] = t_sf(z, res["df"]) if math.isfinite(z) else None
            res["p_iid"] = t_sf(-osign * res["t"], res["df"]) if math.isfinite(res["t"]) else None
            # the theory: improving the output predicted an improving outcome before the target
            res["theory_holds"] = bool(res["slope"] * sign * osign > 0)
            res["status"] = "evaluated"
            div[oc.name] = res
        if div:
            divergence = div
    return KpiDistortion(set=set_at, set_from=why, bunching=bunching, variance=variance, divergence=divergence)


def distortion_of(spec: Document, data, chosen: dict | None = None, min_periods: int = 6) -> DistortionAnalysis:
    out = {}
    for k in spec.kpis:
        got = kpi_distortion(k, spec, data, chosen or {}, min_periods)
        if got is not None:
            out[k.name] = got
    return DistortionAnalysis(kpis=out)


@hookimpl
def metricsense_register_analyses(register):
    register(DistortionAnalysis.name, DistortionAnalysis)


@hookimpl
def metricsense_analyze(spec, data, analysis):
    if data is None or not len(data.periods) or not spec.kpis:
        return
    found = distortion_of(spec, data)
    if found.kpis:
        analysis[DistortionAnalysis.name] = found


def _current(ctx) -> DistortionAnalysis:
    """The analysis under this rule's `target_set` (recomputed and recorded when one is given)."""
    chosen = ctx.option("target_set")
    least = ctx.options.get("min_periods", 6)
    default = DistortionAnalysis.of(ctx.analysis)
    if not chosen and least == 6 and default is not None:
        return default
    if ctx.data is None or not len(ctx.data.periods):
        return DistortionAnalysis(kpis={})
    found = distortion_of(ctx.spec, ctx.data, chosen, least)
    options: DistortionOptions = ctx.analysis.setdefault("distortion_options", {})
    options[ctx.rule.code] = found
    return found


_SET = Option({}, "KPI name -> the date (\"2024-09-01\") or period the target was set; "
                  "default: the target's `since` date, else the midpoint of the KPI's observed periods")
_ALPHA = Option(0.05, "one-sided significance level of the test")


@rule(code="MS401", name="bunching-at-target", severity=Severity.WARNING,
      options={"target_set": _SET, "alpha": _ALPHA,
               "min_values": Option(200, "the least number of values (units x periods) after the target was set")})
def bunching_at_target(ctx) -> Iterator[Diagnostic]:
    """Values pile up just past the target: the number, not the work, is being managed.

    ## Why is this bad?
    Campbell's law (seed 004, Behn's ninth practice: check for distortions): the more a number
    decides things, the more it is bent. When class averages, response times or scores pile up
    just past a cut-off and thin out just short of it, some units were nudged across (generous
    marking, a canned first reply, a ticket closed and reopened). Dee, Dobbie, Jacob & Rockoff
    (2019) found about 40% of New York test scores near proficiency cut-offs inflated; emergency
    departments bunch departures just before a four-hour target (Bevan & Hood 2006).

    The test is McCrary's (2008) density discontinuity: the density of the values just past the
    target against just short of it, from triangular-weighted local linear fits on a fine
    histogram, with a data-driven bandwidth. It is direction-aware: for `>=` the pile-up is just
    above the target, for `<=` just below it. Discrete or rounded values (scores, minutes
    rounded to 5) get bins aligned to their support, with the target inside the meeting bin.
    Values are unit-level (each segment's value in each period: each class each month) from the
    periods after the target was set: option `target_set` (KPI -> date); by default the later
    half of the observed periods. Simulated at n = 2000, its false-positive rate is about 0.05
    and its power above 0.9 when a fifth of the units just short are moved past (tests). A plain
    binomial count in a window around the target is not used: its false-positive rate grows
    with n where the density slopes. Evidence: n, bin, bandwidth, densities, theta, se, z, p.

    ## Example
    ```msense
    kpi class_scores "Class average" {
      target >= 70 by 2027-06-30
      data "class_scores.csv" layout long segment "class" column "value"
    }
    ```

    ## What to do instead
    Talk with the people closest to the number about what happens near the cut-off, audit a
    sample, and judge the KPI beside an indicator that is not targeted (the state test beside
    the interim assessment): seed 004's many and varied indicators. Options: `target_set`,
    `alpha` (default 0.05), `min_values` (default 200).
    """
    alpha, least = ctx.option("alpha"), ctx.option("min_values")
    found = _current(ctx)
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name) or KpiDistortion()
        res = entry.bunching
        if not res or res.get("status") != "evaluated" or res["n"] < least or res["p"] >= alpha:
            continue
        where = "just above" if res["meets"] == "above" else "just below"
        ratio = math.exp(res["theta"] if res["meets"] == "above" else -res["theta"])
        set_at = entry.set
        yield ctx.report(
            k.target,
            f"`{k.name}` values pile up {where} its target {res['cutoff']:g}: the density there is "
            f"{ratio:.2f} times the density on the other side (McCrary z = {res['z']:.2f}, p = {res['p']:.2g}, "
            f"n = {res['n']} values from {set_at} on)",
            related=[(k, "a number people are judged by, bent toward its target")],
            help="look at what happens near the cut-off with the people closest to it; judge the KPI beside "
                 "an indicator nobody is targeted on",
            evidence={kk: res[kk] for kk in ("n", "cutoff", "meets", "bin", "support_step", "boundary", "bandwidth",
                                             "f_below", "f_above", "theta", "se", "z", "p", "units")}
            | {"set": set_at, "set_from": entry.set_from},
        )


@rule(code="MS402", name="output-outcome-divergence", severity=Severity.WARNING,
      options={"target_set": _SET, "alpha": _ALPHA,
               "min_periods": Option(6, "the least number of periods with both KPIs observed before the target")})
def output_outcome_divergence(ctx) -> Iterator[Diagnostic]:
    """An output KPI improves after its target is set while the outcomes it serves do not follow.

    ## Why is this bad?
    Seed 004 (Behn's fourth practice: clarify the theory linking the target and the mission):
    an output target is worth chasing only while the output still moves the outcome. If the
    output keeps improving after its target is set but the outcome KPIs it shares a key
    failure with (`guards`; all outcome KPIs when none shares one) stay where they were, the
    output is being produced for the target (teaching to the interim test while the state test
    stays flat): Campbell's law again. The test ("target met, mission flat"): fit the outcome on
    the output over the periods before the target was set; after it, test the mean prediction
    residual (one-sided, toward the outcome falling short, with the exact variance of a mean
    prediction error, inflated by (1 + rho) / (1 - rho) for the lag-1 autocorrelation rho > 0 of
    the residuals: KPI series wander, and an iid test would be too eager). It is reported only
    when the output improved after the split and the fit before says that a better output went
    with a better outcome (the theory held). In simulation it beats a Chow test (power 0.91 against 0.70 at moderate
    gaming, size 0.05). Split: option `target_set` (KPI -> date), else the midpoint of the
    output's observed periods. Evidence: slope, mean residual, its se, t, df, p, and how much
    the output and the outcome changed.

    ## Example
    ```msense
    kpi class_scores "Class average" { kind output  guards not_ready  target >= 70 by 2027-06-30 }
    kpi proficiency "State test proficiency" { kind outcome  guards not_ready }
    ```

    ## What to do instead
    Ask what the output's improvement is made of, and whether the theory linking it to the
    outcome still holds; give the outcome at least equal weight in reviews, and look for the
    shortcut before raising the output's target. Options: `target_set`, `alpha`, `min_periods`.
    """
    alpha = ctx.option("alpha")
    found = _current(ctx)
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name) or KpiDistortion()
        for oc_name, res in (entry.divergence or {}).items():
            if res.get("status") != "evaluated" or res.get("p") is None:
                continue
            if res["output_change"] <= 0 or not res["theory_holds"] or res["p"] >= alpha:
                continue
            oc = ctx.spec.lookup(oc_name)
            yield ctx.report(
                k.target or k,
                f"`{k.name}` improved by {res['output_change']:.3g} after {entry.set} but `{oc_name}` fell short "
                f"of what that improvement predicted by {abs(res['mean_residual']):.3g} "
                f"(t = {res['t_adjusted']:.2f}, p = {res['p']:.2g}, {res['n_before']} periods before, {res['n_after']} after)",
                related=[(oc, "the outcome it should move, which did not follow")],
                help="ask what the output's improvement is made of; weigh the outcome at least as much in reviews",
                evidence={"outcome": oc_name, **{kk: res[kk] for kk in (
                    "slope", "intercept", "mean_residual", "se", "t", "rho", "t_adjusted", "df", "p", "p_iid", "n_before", "n_after",
                    "output_change", "outcome_change", "residual_sd")},
                    "set": entry.set, "set_from": entry.set_from},
            )


@rule(code="MS403", name="variance-collapse", severity=Severity.WARNING,
      options={"target_set": _SET, "alpha": _ALPHA,
               "ratio": Option(0.5, "report when the variance after is at most this share of the variance before"),
               "min_periods": Option(6, "the least number of values on each side of the target date")})
def variance_collapse(ctx) -> Iterator[Diagnostic]:
    """A KPI's variance drops sharply after its target is set: the number, not the work, is managed.

    ## Why is this bad?
    Real work varies: illness, seasons, hard cases. When a KPI that used to move stops moving
    once it carries a target (response times all at 59 minutes, every class average at 70.4),
    the likeliest story is that the number is being steered (Campbell's law; seed 004, Behn's
    ninth practice: check for distortions), and it no longer tells you what the work is doing.
    For a plain series the spread compared is that of its period-to-period changes (so a trend
    does not count); for a segmented one (a class per unit), the spread across units around
    each period's median. Before and after are compared by Brown-Forsythe's test (a t test on
    absolute deviations from each side's median, robust to non-normal data), one-sided toward a
    drop, and by the effect size: the variance ratio after / before must be at most `ratio`
    (default 0.5), so a tiny but significant drop in a large sample is not reported. Split:
    option `target_set`, else the midpoint of the observed periods. Evidence: variances, ratio,
    t, df, p.

    ## Example
    ```msense
    kpi attendance "Average daily attendance" { target >= 0.95 by 2027-06-30 }
    # attendance moved 1.2 points a month before the target, 0.3 after it, flu winters included
    ```

    ## What to do instead
    Look at how the number is produced now (who records it, what counts), and compare it with
    a related measure nobody is targeted on. Options: `target_set`, `alpha`, `ratio`, `min_periods`.
    """
    alpha, most = ctx.option("alpha"), ctx.option("ratio")
    found = _current(ctx)
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name) or KpiDistortion()
        res = entry.variance
        if not res or res.get("ratio") is None or res.get("p") is None:
            continue
        if res["ratio"] > most or res["p"] >= alpha:
            continue
        yield ctx.report(
            k.target or k,
            f"the variance of `{k.name}` ({res['of']}) fell to {res['ratio']:.0%} of what it was after "
            f"{entry.set} (Brown-Forsythe t = {res['t']:.2f}, p = {res['p']:.2g}, "
            f"{res['n_before']} values before, {res['n_after']} after)",
            related=[(k, "a number that stopped moving when it started to count")],
            help="look at how the number is produced now, beside a related measure nobody is targeted on",
            evidence={kk: res[kk] for kk in ("of", "before", "after", "ratio", "n_before", "n_after", "t", "df", "F", "p")}
            | {"set": entry.set, "set_from": entry.set_from},
        )




@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)


__all__ = ["betainc", "brown_forsythe", "distortion_of", "mccrary", "mean_residual_test",
           "norm_sf", "phi", "support_step", "t_sf"]
