"""Decoupling rules (MS2xx): can the levers move the KPIs independently, and which lever for which KPI?

The gain matrix G is KPIs x levers: declared by `responds`, or estimated from data by least
squares of KPI changes on lever changes. NumPy and the kernels load inside the functions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite
from metricsense.evaluators.common import phi, usable_scale
from metricsense.evaluators.records import EstimatedGains, GainAnalysis
from metricsense.hookspecs import hookimpl


def direction(kpi) -> int:
    """+1 when higher is better, -1 when lower is, 0 when the spec does not say."""
    if kpi.better == "higher":
        return 1
    if kpi.better == "lower":
        return -1
    if kpi.target is not None and kpi.target.comparison in (">", ">="):
        return 1
    if kpi.target is not None and kpi.target.comparison in ("<", "<="):
        return -1
    return 0


def declared_gains(spec):
    """(KPIs, levers, G) from `responds`, keeping KPIs and levers that take part in a gain."""
    import numpy as np

    lever_names = [lv.name for lv in spec.levers]
    kpis = [k for k in spec.kpis if any(g.name in lever_names for g in k.responds)]
    used = {g.name for k in kpis for g in k.responds}
    levers = [lv for lv in spec.levers if lv.name in used]
    g = np.zeros((len(kpis), len(levers)))
    col = {lv.name: j for j, lv in enumerate(levers)}
    for i, k in enumerate(kpis):
        for gain in k.responds:
            if gain.name in col:
                g[i, col[gain.name]] = gain.value
    return kpis, levers, g


def lag_periods(duration, frequency) -> int:
    """A declared `lag` in periods of the data (0 when there is none or the frequency is unknown)."""
    from metricsense.model import UNIT_DAYS

    if duration is None:
        return 0
    if duration.unit == "period":
        return int(duration.count)
    if frequency not in UNIT_DAYS or duration.unit not in UNIT_DAYS:
        return 0
    return int(round(duration.count * UNIT_DAYS[duration.unit] / UNIT_DAYS[frequency]))


def _shift(col, k: int):
    import numpy as np

    return col if k <= 0 else np.concatenate([np.full(k, np.nan), col[:-k]])


def estimate_gains(spec, data, kpis, levers, lag: int = 0, min_periods: int = 12):
    """Standardised least-squares gains of KPI changes on lever changes, with standard errors.

    For each KPI: regress its period-to-period change on the levers' changes, each at the lag
    the KPI declares for it (`responds x +0.3 lag 2 weeks`, in periods of the data; else
    ``lag``), and on the changes of the disturbances it declares (`disturbed weather +0.2`, at
    their lags), plus an intercept, over the periods where all are present. Leaving a declared
    disturbance out would confound a lever planned around it. The slopes are scaled by
    sd(lever change) / sd(KPI change): the effect of a typical move of the lever, in typical
    moves of the KPI, which is how declared gains are read. Standard errors are Newey-West
    (autocorrelation-robust), and the standardised gain's by the delta method (the two standard
    deviations are estimated too; metricsense.evaluators.serial.standardised_gains). Returns
    (G, SE, n per KPI, lags, controls); NaN where a KPI has too few periods.
    """
    import numpy as np

    from metricsense.evaluators import serial

    names_l = [lv.name for lv in levers if lv.name in data]
    g = np.full((len(kpis), len(levers)), np.nan)
    se = np.full_like(g, np.nan)
    n_used = [0] * len(kpis)
    lags: dict[str, dict[str, int]] = {}
    controls: dict[str, list[str]] = {}
    if not names_l:
        return g, se, n_used, lags, controls
    lcols = [j for j, lv in enumerate(levers) if lv.name in data]
    freq = getattr(data, "frequency", None)
    for i, k in enumerate(kpis):
        if k.name not in data:
            continue
        declared = {r.name: lag_periods(r.lag, freq) for r in k.responds if r.lag is not None}
        dist = [(d.name, lag_periods(d.lag, freq)) for d in getattr(k, "disturbed", ())
                if d.name in data and d.name not in names_l and d.name != k.name]
        # One regular calendar for the KPI and its regressors (the coarsest of their frequencies):
        # a change exists only between consecutive periods that both have a value.
        d = data.changes([*names_l, *(n for n, _ in dist), k.name])
        y = d[:, -1]
        kl = [declared.get(n, lag) for n in names_l]
        cols = [_shift(d[:, j], kl[j]) for j in range(len(names_l))]
        cols += [_shift(d[:, len(names_l) + j], dl) for j, (_, dl) in enumerate(dist)]
        xl = np.column_stack(cols)
        ok = ~np.isnan(y) & ~np.isnan(xl).any(axis=1)
        n = int(ok.sum())
        m = xl.shape[1]
        if n < max(min_periods, m + 3):
            continue
        xs, yy = xl[ok], y[ok]
        scale_x = np.abs(xs).max()
        if not (np.isfinite(scale_x) and np.isfinite(yy).all()) or scale_x > 1e150:
            continue  # values this large overflow the normal equations; nothing to estimate
        if np.std(yy) == 0 or (np.std(xs[:, :len(names_l)], axis=0) == 0).any():
            continue
        try:
            _, _, gain, se_gain, _ = serial.standardised_gains(yy, xs)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            continue
        g[i, lcols] = gain[:len(names_l)]
        se[i, lcols] = se_gain[:len(names_l)]
        n_used[i] = n
        lags[k.name] = dict(zip(names_l, kl))
        controls[k.name] = [n for n, _ in dist]
    return g, se, n_used, lags, controls


def assignment(cost) -> list[int]:
    """The columns assigned to each row minimising the total cost (rows <= columns).

    The Hungarian method with potentials (Kuhn 1955, Munkres 1957), O(rows^2 x columns); the scan
    over the columns is one NumPy step, so 400 x 400 takes a fraction of a second, not 15 s.
    """
    import numpy as np

    cost = np.asarray(cost, dtype=float)
    if not np.isfinite(cost).all():
        raise ValueError("the costs must be finite")
    n, m = cost.shape
    inf = float("inf")
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=int)  # owner[j]: the row (1-based) holding column j
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = np.full(m + 1, inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            cur = np.empty(m + 1)
            cur[0] = inf
            cur[1:] = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used & (cur < minv)
            minv[better] = cur[better]
            way[better] = j0
            open_ = np.where(used, inf, minv)
            j1 = int(np.argmin(open_))  # the first smallest, as a scan with `<` finds it
            delta = open_[j1]
            if not np.isfinite(delta):  # NOTE: only a NaN or infinite cost gets here; never loop on it
                raise ValueError("the costs must be finite")
            u[owner[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    rows = [-1] * n
    for j in range(1, m + 1):
        if owner[j]:
            rows[owner[j] - 1] = j - 1
    return rows


def best_pairing(rga) -> tuple[list[int], float]:
    """The KPI -> lever pairing (distinct levers) with the smallest RGA number sum |L - P|, on positive elements.

    sum |L - P| = sum |L| + sum over the pairs of (|l - 1| - |l|), so the best pairing is a
    linear assignment on that cost. A pairing on a negative (or zero) relative gain reverses the
    loop's sign once the other loops close (Skogestad & Postlethwaite, 2nd ed., 3.4): those
    elements cost more than any positive pairing can save, and a KPI the assignment still puts on
    one is left unpaired (-1). With more KPIs than levers, each lever gets one KPI and the other
    KPIs stay unpaired.
    """
    import numpy as np

    rga = np.asarray(rga, dtype=float)
    k, m = rga.shape
    cost = np.abs(rga - 1) - np.abs(rga)
    penalty = 4.0 * (np.abs(cost).sum() + 1.0)  # more than any sum of positive-pairing costs
    cost_pos = np.where(rga > 0, cost, cost + penalty)
    if k <= m:
        pairing = assignment(cost_pos)
    else:
        by_lever = assignment(cost_pos.T)
        pairing = [-1] * k
        for j, i in enumerate(by_lever):
            pairing[i] = j
    pairing = [j if j >= 0 and rga[i, j] > 0 else -1 for i, j in enumerate(pairing)]
    picked = [(i, j) for i, j in enumerate(pairing) if j >= 0]
    score = float(np.abs(rga).sum() + sum(cost[i, j] for i, j in picked))
    return pairing, score


def niederlinski(g, pairing) -> float | None:
    """Niederlinski's index det(G) / prod g_ii of a square G with the pairing on the diagonal.

    Negative: closing the paired loops with integral action cannot be stable (Niederlinski 1971;
    Grosdidier, Morari & Holt 1985), whatever the tuning. None unless G is square and every KPI
    is paired.
    """
    import numpy as np

    g = np.asarray(g, dtype=float)
    if g.shape[0] != g.shape[1] or any(j < 0 for j in pairing) or len(set(pairing)) != len(pairing):
        return None
    gp = g[:, list(pairing)]
    diag = np.prod(np.diag(gp))
    if diag == 0 or not np.isfinite(gp).all():
        return None
    return float(np.linalg.det(gp) / diag)


def conditioning_bootstrap(data, kpis, levers, lag: int = 0, threshold: float = 10.0, b: int = 199,
                           min_periods: int = 12) -> dict | None:
    """How sure the data is about the conditioning and rank of gains estimated from it.

    The standardised gains of all KPIs on all levers are re-estimated on B moving-block bootstrap
    samples of the periods (Kunsch 1989; blocks of n^(1/3) periods keep the autocorrelation)
    where every series has a change. Returns the percentile interval of the scaled condition
    number, ``p_ill_conditioned`` = the bootstrap share at or below ``threshold`` (H0: the
    condition number is at most the threshold), and a Kleibergen-Paap-style rank test of
    H0: rank <= min(KPIs, levers) - 1 with the bootstrap covariance of the gains
    (metricsense.evaluators.serial.rank_test). None with too few complete periods.
    """
    import numpy as np

    from metricsense import kernels
    from metricsense.evaluators import serial

    names_l = [lv.name for lv in levers]
    names_k = [k.name for k in kpis]
    d = data.changes([*names_l, *names_k])
    x = np.column_stack([_shift(d[:, j], lag) for j in range(len(names_l))])
    y = d[:, len(names_l):]
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y).any(axis=1)
    x, y = x[ok], y[ok]
    n, m = x.shape
    k = y.shape[1]
    if n < max(min_periods, m + 3) or min(k, m) < 2:
        return None

    def gains(xs, ys):
        sx, sy = xs.std(axis=0, ddof=1), ys.std(axis=0, ddof=1)
        if (sx == 0).any() or (sy == 0).any():
            return None
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(xs)), xs]), ys, rcond=None)
        return (coef[1:] * sx[:, None] / sy[None, :]).T  # KPIs x levers

    g0 = gains(x, y)
    if g0 is None or not np.isfinite(g0).all():
        return None
    rng = np.random.default_rng(serial.SEED)
    reps = [gains(x[i], y[i]) for i in serial.block_indices(n, b, rng)]
    reps = np.array([r for r in reps if r is not None and np.isfinite(r).all()])
    if len(reps) < b // 2:
        return None
    conds = np.array([float(kernels.equilibrated_condition_number(r)) for r in reps])
    conds = np.where(np.isfinite(conds), conds, np.inf)
    cov = np.cov(np.stack([r.reshape(-1, order="F") for r in reps]).T)  # of vec(G), column-major
    stat, df, p_rank = serial.rank_test(g0, np.atleast_2d(cov), min(k, m) - 1)
    return {"bootstrap": int(len(reps)), "periods": int(n), "threshold": threshold,
            "condition_interval": [finite(float(np.quantile(conds, 0.025))), finite(float(np.quantile(conds, 0.975)))],
            "condition_q05": finite(float(np.quantile(conds, 0.05))),
            "p_ill_conditioned": (1 + int((conds <= threshold).sum())) / (len(conds) + 1),
            "rank_test": {"rank": min(k, m) - 1, "statistic": stat, "df": df, "p_value": p_rank}}


#: The largest square gain matrix whose minimized condition number is searched (MS201 evidence).
MINIMIZED_MAX = 100


def gain_analysis(spec, data, lag: int = 0) -> GainAnalysis | None:
    import numpy as np

    from metricsense import kernels

    kpis, levers, g = declared_gains(spec)
    source = "declared"
    estimated = None
    if data is not None:
        est_kpis = [k for k in spec.kpis if k.name in data] if not kpis else kpis
        est_levers = [lv for lv in spec.levers if lv.name in data] if not levers else levers
        if est_kpis and est_levers:
            eg, ese, en, elags, econtrols = estimate_gains(spec, data, est_kpis, est_levers, lag=lag)
            if np.isfinite(eg).any():
                estimated = EstimatedGains(kpis=tuple(k.name for k in est_kpis),
                                           levers=tuple(lv.name for lv in est_levers),
                                           matrix=_clean(eg), se=_clean(ese), n=en, lag=lag,
                                           lags=elags, controls=econtrols)
                if not kpis:
                    rows = [i for i in range(len(est_kpis)) if np.isfinite(eg[i]).all()]
                    kpis, levers, g = [est_kpis[i] for i in rows], est_levers, eg[rows]
                    source = "estimated"
                    if kpis:
                        cond = conditioning_bootstrap(data, kpis, levers, lag=lag)
                        if cond is not None:
                            estimated = replace(estimated, conditioning=cond)
    if g.size == 0 or not usable_scale(g):
        return None  # a gain of 1e999 or 1e-320 says nothing a matrix can use (MS002-MS021 still run)
    sv = np.linalg.svd(g, compute_uv=False)
    tol = max(g.shape) * np.finfo(float).eps * (sv[0] if len(sv) else 0)
    rank = int((sv > tol).sum())
    rga = kernels.rga(kernels.equilibrate(g)[0] if g.shape[0] != g.shape[1] else g)
    if np.isfinite(rga).all():
        pairing, rga_number = best_pairing(rga)
        ni = niederlinski(g, pairing)
        if ni is not None and ni <= 0:
            pairing = [-1] * len(kpis)  # no pairing of these levers is safe to suggest
    else:  # NOTE: not expected for a usable scale; a pairing over NaN would mean nothing
        pairing, rga_number = [-1] * len(kpis), None
    return GainAnalysis(
        kpis=tuple(k.name for k in kpis),
        levers=tuple(lv.name for lv in levers),
        matrix=_clean(g),
        source=source,
        condition_number=finite(float(kernels.condition_number(g))),
        scaled_condition_number=finite(float(kernels.equilibrated_condition_number(g))),
        # NOTE: the minimisation is skipped for matrices singular to working precision, where
        # the scalings it searches run off to infinity, and beyond MINIMIZED_MAX KPIs, where each
        # of its steps (a full SVD, k^3) costs too much: 600 x 600 took 17 s.
        minimized_condition_number=(finite(float(kernels.minimized_condition_number(g)))
                                    if g.shape[0] == g.shape[1] <= MINIMIZED_MAX and rank == g.shape[0]
                                    and sv[-1] > 1e-12 * sv[0] else None),
        rank=rank,
        singular_values=_clean(sv),
        rga=_clean(rga),
        suggested_pairing={kpis[i].name: levers[j].name for i, j in enumerate(pairing) if j >= 0},
        rga_number=rga_number,
        estimated=estimated,
    )


def _clean(a) -> list:
    """An array as (nested) lists of floats, None where it is not finite."""
    import numpy as np

    return finite(np.asarray(a, dtype=float))


@hookimpl
def metricsense_register_analyses(register):
    register(GainAnalysis.name, GainAnalysis)


@hookimpl
def metricsense_analyze(spec, data, analysis):
    if not any(k.responds for k in spec.kpis) and data is None:
        return
    result = gain_analysis(spec, data)
    if result is not None:
        analysis[GainAnalysis.name] = result


def _gain(ctx) -> GainAnalysis | None:
    return GainAnalysis.of(ctx.analysis)


@rule(code="MS201", name="ill-conditioned-gains", severity=Severity.WARNING,
      options={"threshold": Option(10.0, "the scaled condition number above which the gains are ill-conditioned")})
def ill_conditioned_gains(ctx) -> Iterator[Diagnostic]:
    """The gain matrix is ill-conditioned: some KPI combinations barely respond to any lever.

    ## Why is this bad?
    Seed 002: decouple the input-output structure. The condition number of the gain matrix G
    (KPIs x levers), its largest over its smallest singular value, says how unequally the
    levers reach the KPIs: at 50, some combination of KPI targets needs fifty times the effort of
    another, so teams push the easy direction and the hard KPIs drift, and every review argues
    about effort. Because the raw number depends on units, the verdict uses G scaled so every row
    and column has unit size (Ruiz equilibration); the raw and, for square G, the minimized
    condition number over all diagonal scalings (Skogestad & Postlethwaite, App. A.4) are in the
    evidence (the minimized one up to 100 KPIs). Option `threshold` (10).

    ## Example
    ```msense
    kpi lead_time   "Lead time"           { responds deploys -0.5, tests -0.45 }
    kpi change_fail "Change failure rate" { responds deploys -0.5, tests -0.5 }
    ```
    Both KPIs respond almost identically to both levers.

    ## What to do instead
    Find a lever that moves one KPI and not the other, or merge the two KPIs into one.
    """
    gain = _gain(ctx)
    if not gain or gain.rank < min(len(gain.kpis), len(gain.levers)) or len(gain.kpis) < 2:
        return
    scaled, raw = gain.scaled_condition_number, gain.condition_number
    threshold = ctx.option("threshold")
    evidence = {k: getattr(gain, k) for k in ("condition_number", "scaled_condition_number",
                                             "minimized_condition_number", "singular_values", "source")}
    shown = [f"`{k}`" for k in gain.kpis[:6]]
    names = (", ".join(shown[:-1]) + " and " + shown[-1]) if len(gain.kpis) <= 6 else ", ".join(shown) + " and others"
    test = ""
    if gain.source == "estimated":
        cond = _conditioning(gain)
        if cond is None:
            return  # too few complete periods to say how sure the estimate is
        getattr(ctx, "tests", lambda n: None)(1)
        p = _p_ill(cond, threshold)
        if p > 0.05 or cond["rank_test"]["p_value"] > 0.05:
            return  # not shown to be ill-conditioned, or not shown to have full rank (MS202 speaks)
        lo, hi = cond["condition_interval"]
        evidence.update(p_value=p, condition_interval=cond["condition_interval"], rank_test=cond["rank_test"],
                        bootstrap=cond["bootstrap"])
        test = (f"; test: moving-block bootstrap ({cond['bootstrap']} samples of {cond['periods']} periods), "
                f"95% interval of the scaled condition number {lo:.1f} to {hi:.1f}, p = {p:.3f} for at most "
                f"{threshold:g}; rank test p = {cond['rank_test']['p_value']:.3g}")
    if scaled is not None and raw is not None and scaled > threshold:
        kpi = ctx.spec.lookup(gain.kpis[0])
        yield ctx.report(
            kpi,
            f"the levers barely reach some combinations of {names}: by the {gain.source} gains of these "
            f"{len(gain.kpis)} KPIs on {len(gain.levers)} levers, one combination needs about "
            f"{scaled:.0f} times the effort of another (condition number {scaled:.1f} after scaling, {raw:.1f} raw)",
            help="find a lever that moves one KPI without the others, or merge KPIs that respond alike" + test,
            evidence=evidence,
        )


def _conditioning(gain):
    return gain.estimated.conditioning if gain.estimated is not None else None


def _p_ill(cond, threshold: float) -> float:
    """The bootstrap p-value of H0: condition number <= threshold (the stored one, else from the 5% quantile)."""
    if threshold == cond["threshold"]:
        return cond["p_ill_conditioned"]
    q05 = cond["condition_q05"]
    return 0.05 if q05 is not None and q05 > threshold else 1.0


@rule(code="MS202", name="gain-rank-deficient", severity=Severity.WARNING)
def gain_rank_deficient(ctx) -> Iterator[Diagnostic]:
    """The gain matrix has lower rank than the number of KPIs: some KPI combination no lever moves.

    ## Why is this bad?
    Tinbergen's rule from economic policy (n independent targets need n independent
    instruments) is the same law as seed 002's "do not select more KPIs than you have inputs":
    when rank(G) is below the number of KPIs, there is a weighted combination of KPIs that no
    setting of the levers can change, so targets on all of them cannot be met together. The
    combinations are the left null space of G; each is named with its weights.

    ## Example
    ```msense
    kpi visits  "Visits"  { responds ads +1.0, seo +0.5 }
    kpi signups "Signups" { responds ads +0.2, seo +0.1 }   # proportional to visits
    ```

    ## What to do instead
    Add a lever that moves the named combination, or keep one KPI of each dependent group as a
    target and watch the others.
    """
    import numpy as np

    gain = _gain(ctx)
    if not gain:
        return
    rank, evidence, test = gain.rank, {}, ""
    if rank >= len(gain.kpis):
        cond = _conditioning(gain) if gain.source == "estimated" else None
        if cond is None or cond["rank_test"]["rank"] != len(gain.kpis) - 1:
            return
        if cond["rank_test"]["p_value"] <= 0.05:
            return  # the data shows full rank
        # NOTE: not a discovery with a p-value: the finding is that the data cannot show the
        # levers reach every combination (the rank test does not reject rank k - 1). It carries
        # the rank test's p-value under `rank_test`, not `p_value`, so the spec's false-discovery
        # control does not treat a large p as evidence.
        rank = cond["rank_test"]["rank"]
        evidence = {"rank_test": cond["rank_test"], "condition_interval": cond["condition_interval"],
                    "bootstrap": cond["bootstrap"]}
        test = (f"; test: the estimated gains cannot be told from rank {rank} (Kleibergen-Paap-style rank "
                f"test with a moving-block bootstrap covariance, p = {cond['rank_test']['p_value']:.3g}; "
                f"95% interval of the scaled condition number {cond['condition_interval'][0]:.1f} to "
                f"{cond['condition_interval'][1]:.1f})")
    g = np.array([[np.nan if v is None else v for v in row] for row in gain.matrix])
    names_k = gain.kpis
    combos = []
    for w in dependent_combinations(g, rank, limit=COMBINATIONS_SHOWN):
        used = np.flatnonzero(w)
        terms = [f"{w[i]:+.2g}×{names_k[i]}" for i in used]
        text = " ".join(terms[:TERMS_SHOWN]) + (f" (and {len(terms) - TERMS_SHOWN} more)" if len(terms) > TERMS_SHOWN else "")
        combos.append({"weights": {names_k[i]: float(w[i]) for i in used}, "text": text})
    first = list(combos[0]["weights"])
    kpi = ctx.spec.lookup(first[0])
    seen = "the data shows" if test else f"the {gain.source} gains say"
    yield ctx.report(
        kpi,
        f"no lever moves {combos[0]['text']}: {seen} the levers reach only {rank} independent "
        f"combination{'s' if rank != 1 else ''} of these {len(names_k)} KPIs (rank {rank})",
        related=[(ctx.spec.lookup(n), "in the combination") for n in first[1:]],
        help="add a lever that moves this combination, or keep fewer of these KPIs as targets" + test,
        evidence={"rank": rank, "kpis": len(names_k), "independent_combinations": len(names_k) - rank,
                  "combinations": combos, **evidence},
    )


#: MS202 names at most this many combinations (the fewest KPIs first), each in at most this many terms.
COMBINATIONS_SHOWN = 5
TERMS_SHOWN = 8


def dependent_combinations(g, rank: int, limit: int | None = None, tol: float = 1e-9) -> list:
    """Weight vectors w with w @ G = 0 (the left null space of G), as sparse as this finds, fewest KPIs first.

    The rows of G (KPIs) are picked greedily, each time the one farthest from the span of those
    already picked (Gram-Schmidt with pivoting, as QR with column pivoting of G^T: Businger &
    Golub 1965), until ``rank`` are picked. Every other row f is then a combination of the picked
    rows B: g_f = c @ G_B, by least squares, and w = e_f - c (on B) is in the left null space;
    these k - rank vectors are a basis of it, each using at most rank + 1 KPIs (an SVD basis mixes
    them all, and listing it costs k^2). Each w is scaled to a largest weight of 1, its first
    weight positive, weights below ``tol`` set to 0.
    """
    import numpy as np

    g = np.asarray(g, dtype=float)
    k = g.shape[0]
    resid = g.copy()
    picked: list[int] = []
    for _ in range(min(rank, k)):
        norms = np.einsum("ij,ij->i", resid, resid)
        norms[picked] = -1.0
        p = int(np.argmax(norms))
        if not norms[p] > 0:
            break
        picked.append(p)
        q = resid[p] / np.sqrt(norms[p])
        resid -= np.outer(resid @ q, q)
    free = np.setdiff1d(np.arange(k), picked)
    if picked:
        coef = np.linalg.lstsq(g[picked].T, g[free].T, rcond=None)[0]  # rank x free
    else:
        coef = np.zeros((0, len(free)))
    # Sizes first, from the coefficients alone: building every vector would cost k^2 again. The
    # scaling below makes the largest weight 1, so a coefficient counts when >= tol * max(1, |c|).
    top = np.maximum(1.0, np.abs(coef).max(axis=0, initial=0.0))
    used = np.abs(coef) >= tol * top
    sizes = 1 + used.sum(axis=0)
    first = np.minimum(free, np.where(used, np.array(picked, dtype=int)[:, None], k).min(axis=0, initial=k))
    order = np.lexsort((first, sizes))
    out = []
    for col in order[:limit] if limit is not None else order:
        w = np.zeros(k)
        w[free[col]] = 1.0
        w[picked] = -coef[:, col]
        w /= np.max(np.abs(w))
        w[np.abs(w) < tol] = 0.0
        if w[np.flatnonzero(w)[0]] < 0:
            w = -w
        out.append(w)
    return out


@rule(code="MS203", name="rga-pairing-risk", severity=Severity.WARNING,
      options={"large": Option(5.0, "an RGA element on the pairing at or above this is a risk")})
def rga_pairing_risk(ctx) -> Iterator[Diagnostic]:
    """The lever each KPI relies on most sits on a negative or very large relative gain.

    ## Why is this bad?
    Seed 002: decouple the input-output structure, so each KPI has a lever of its own. The
    relative gain array (Bristol 1966) L = G ∘ (G⁻¹)ᵀ (the pseudo-inverse after scaling for
    non-square G) says how much a lever's effect on a KPI changes once the other KPIs are held
    to their targets: 1 is independent, a negative element means the effect reverses (the owner
    pushes and the KPI goes the wrong way), 5 to 10 and up means the system is hard to steer.
    The intended pairing is each KPI with the lever it declares the largest gain for; the rule
    suggests the pairing with the smallest RGA number, sum |L - P| (Skogestad & Postlethwaite).

    ## Example
    ```msense
    kpi throughput "Throughput" { responds staff +1.0, overtime +0.9 }
    kpi quality    "Quality"    { responds staff +0.9, overtime +1.0 }
    ```

    ## What to do instead
    Pair each KPI with the suggested lever (give its owner that lever), or change what is
    measured so each KPI has a lever that moves it alone.
    """
    import numpy as np

    gain = _gain(ctx)
    if not gain or gain.rank < len(gain.kpis) or len(gain.kpis) < 2 or gain.rga_number is None:
        return
    rga = gain.rga
    g = gain.matrix
    large = ctx.option("large")
    intended = [max(range(len(row)), key=lambda j: abs(row[j] or 0)) for row in g]
    if len(set(intended)) < len(intended):
        return  # no one-lever-per-KPI pairing is intended; MS013 covers competing KPIs
    gm = np.array([[np.nan if v is None else v for v in row] for row in g])
    ni = niederlinski(gm, intended)
    risky = [(i, j, rga[i][j]) for i, j in enumerate(intended) if rga[i][j] is not None
             and (rga[i][j] < 0 or rga[i][j] >= large)]
    if not risky and not (ni is not None and ni < 0):
        return
    suggestion = gain.suggested_pairing
    ni_text = f"; Niederlinski index of this pairing {ni:.2f}" if ni is not None else ""
    if risky:
        i, j, value = risky[0]
        what = ("negative: once the other KPIs are held to their targets, the lever moves it the "
                "other way" if value < 0 else "very large: the other KPIs' levers undo most of its effect")
        message = (f"`{gain.kpis[i]}` relies on `{gain.levers[j]}`, whose relative gain is {what} "
                   f"({value:.2f})")
    else:
        i, j = 0, intended[0]
        message = (f"the intended pairing ({', '.join(f'`{gain.kpis[a]}` ← `{gain.levers[b]}`' for a, b in enumerate(intended))}) "
                   f"cannot work together: its Niederlinski index is negative ({ni:.2f}), so closing all the loops "
                   f"drives the KPIs apart")
    kpi = ctx.spec.lookup(gain.kpis[i])
    if suggestion and all(k in suggestion for k in gain.kpis):
        ni_best = niederlinski(gm, [gain.levers.index(suggestion[k]) for k in gain.kpis])
        help_text = (f"pair the KPIs with the levers as {', '.join(f'{k} ← {lv}' for k, lv in suggestion.items())} "
                     f"(relative gains all positive, RGA number {gain.rga_number:.2f}"
                     f"{f', Niederlinski index {ni_best:.2f}' if ni_best is not None else ''})")
    else:
        help_text = ("no pairing of these levers with these KPIs has positive relative gains and a positive "
                     "Niederlinski index: change what is measured so each KPI has a lever that moves it alone")
    yield ctx.report(
        kpi,
        message + ni_text,
        related=[(ctx.spec.lookup(gain.kpis[a]), f"relies on `{gain.levers[b]}` (RGA {v:.2f})")
                 for a, b, v in risky[1:]],
        help=help_text,
        evidence={"rga": rga, "intended": {gain.kpis[a]: gain.levers[b] for a, b in enumerate(intended)},
                  "suggested": suggestion, "rga_number": gain.rga_number, "niederlinski": ni},
    )


@rule(code="MS204", name="conflicting-lever", severity=Severity.WARNING)
def conflicting_lever(ctx) -> Iterator[Diagnostic]:
    """A lever pushes two KPIs in opposite desired directions.

    ## Why is this bad?
    Turning this knob improves one KPI and worsens another (seed 002: decouple the input-output
    structure), so every review becomes a tug of war between the KPIs' owners, and the lever's
    owner is blamed whichever way it turns. The desired direction is the KPI's `better` (or its
    target's comparison); the effect is the declared gain (or, without declarations, the
    estimated one).

    ## Example
    ```msense
    lever deploys "Deploys per week"
    kpi lead_time   "Lead time"           { better lower  responds deploys -0.5 }   # helped
    kpi change_fail "Change failure rate" { better lower  responds deploys +0.3 }   # hurt
    ```

    ## What to do instead
    Make the conflict explicit: a guard KPI with a limit rather than a target, or a second lever
    (test automation) that removes the side effect.
    """
    gain = _gain(ctx)
    if not gain:
        return
    kpis = [ctx.spec.lookup(n) for n in gain.kpis]
    for j, lever_name in enumerate(gain.levers):
        helped, hurt = [], []
        for i, kpi in enumerate(kpis):
            value = gain.matrix[i][j]
            d = direction(kpi)
            if value is None or value == 0 or d == 0:
                continue
            (helped if value * d > 0 else hurt).append((kpi, value))
        if helped and hurt:
            lever = ctx.spec.lookup(lever_name)
            names_h = ", ".join(f"`{k.name}`" for k, _ in helped)
            names_w = ", ".join(f"`{k.name}`" for k, _ in hurt)
            yield ctx.report(
                lever,
                f"`{lever_name}` improves {names_h} but worsens {names_w}",
                related=[(k, f"moved the wrong way (gain {v:+.2g})") for k, v in hurt],
                help="make one of them a guard with a limit, or add a lever that removes the side effect",
                evidence={"helped": {k.name: v for k, v in helped}, "hurt": {k.name: v for k, v in hurt},
                          "source": gain.source},
            )


@rule(code="MS205", name="declared-gain-unsupported", severity=Severity.WARNING,
      options={"z": Option(1.96, "how many standard errors the estimate may be from the declared gain")})
def declared_gain_unsupported(ctx) -> Iterator[Diagnostic]:
    """A declared gain is far outside what the data estimates.

    ## Why is this bad?
    The `responds` gains are the team's theory of how its levers move its KPIs (seed 004,
    practice #4: clarify the theory linking target and mission). When the data says otherwise,
    the theory steers the wrong lever, and people are held to effects that do not happen. Gains
    are read as standardised effects (a typical move of the lever, in typical moves of the KPI);
    the estimate regresses KPI changes on lever changes. The rule fires when the declared gain
    lies more than `z` standard errors (1.96) from the estimate.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" { responds support_hours +0.6 }   # data: -0.05 ± 0.08
    ```

    ## What to do instead
    Talk about it: is the lag longer than the data shows, is another lever doing the work, or
    is the theory wrong? Then correct the declared gain or the lever.
    """
    gain = _gain(ctx)
    if not gain or gain.source != "declared" or gain.estimated is None:
        return
    est = gain.estimated
    z = ctx.option("z")
    tested = 0
    for i, kpi_name in enumerate(gain.kpis):
        kpi = ctx.spec.lookup(kpi_name)
        for gain_decl in kpi.responds:
            if gain_decl.name not in est.levers:
                continue
            j = est.levers.index(gain_decl.name)
            value, se = est.matrix[i][j], est.se[i][j]
            if value is None or se is None or se <= 0:
                continue
            tested += 1
            distance = abs(gain_decl.value - value) / se
            p = 2 * (1 - phi(distance))
            if distance > z:
                lag = (est.lags or {}).get(kpi_name, {}).get(gain_decl.name, est.lag)
                held = (est.controls or {}).get(kpi_name, [])
                when = f" {lag} period{'s' if lag != 1 else ''} later" if lag else " in the same period"
                also = f", allowing for {', '.join(f'`{h}`' for h in held)}" if held else ""
                yield ctx.report(
                    gain_decl,
                    f"the data does not back the theory that `{gain_decl.name}` moves `{kpi_name}` by "
                    f"{gain_decl.value:+g}: over {est.n[i]} periods a typical move of `{gain_decl.name}` came "
                    f"with {value:+.2f} typical moves of `{kpi_name}`{when}{also} "
                    f"(95% interval {value - 1.96 * se:+.2f} to {value + 1.96 * se:+.2f})",
                    help="check the lag, the other levers and the disturbances, then correct the declared gain; "
                         f"test: least squares of the changes with Newey-West errors, delta-method SE "
                         f"{se:.3f} of the standardised gain, z = {distance:.2f}, p = {p:.3g}",
                    evidence={"declared": gain_decl.value, "estimate": value, "se": se, "n": est.n[i],
                              "lag": lag, "controls": held, "z": distance, "p_value": p},
                )
    if tested:
        getattr(ctx, "tests", lambda n: None)(tested)


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
