"""Decoupling rules (MS2xx): can the levers move the KPIs independently, and which lever for which KPI?

The gain matrix G is KPIs x levers: declared by `responds`, or estimated from data by least
squares of KPI changes on lever changes. NumPy and the kernels load inside the functions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite, finite_lists
from metricsense.evaluators.common import phi, usable_scale
from metricsense.evaluators.gain_algebra import SparseGains, condition_of
from metricsense.evaluators.gains import (  # noqa: F401 - the decoupling family's statistics, named here too
    assignment,
    best_pairing,
    can_estimate,
    conditioning_bootstrap,
    dependent_combinations,
    estimate_gains,
    ewc_df,
    lag_periods,
    niederlinski,
    t_quantile,
    t_two_sided,
)
from metricsense.evaluators.records import EstimatedGains, GainAnalysis
from metricsense.hookspecs import hookimpl
from metricsense.names import first as first_few
from metricsense.names import listed


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
        if est_kpis and est_levers and can_estimate(data, est_levers):
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
    # NOTE: a large, sparse G (10,000 KPIs x 1,000 levers, two gains a KPI) is read on its nonzero
    # entries and Gram matrix where that gives the SVD's numbers to 1e-10 (gain_algebra.SparseGains):
    # three dense SVDs, a pseudo-inverse and 100 dense Ruiz sweeps of it took 22 s
    sparse = SparseGains.of(g)
    sv = sparse.singular_values() if sparse is not None else None
    if sv is None:
        sv = np.linalg.svd(g, compute_uv=False)
    tol = max(g.shape) * np.finfo(float).eps * (sv[0] if len(sv) else 0)
    rank = int((sv > tol).sum())
    scaled_sv, scaled_rga = sparse.scaled() if sparse is not None else (None, None)
    rga, pairing, rga_number = pairing_of(g, scaled_rga)
    if sparse is None:
        cond, scaled = kernels.condition_number(g), kernels.equilibrated_condition_number(g)
    else:  # the singular values at hand, not one more SVD each
        cond = condition_of(sv, g.shape)
        scaled = (condition_of(scaled_sv, g.shape) if scaled_sv is not None
                  else kernels.equilibrated_condition_number(g))
    return GainAnalysis(
        kpis=tuple(k.name for k in kpis),
        levers=tuple(lv.name for lv in levers),
        matrix=g,
        source=source,
        condition_number=finite(float(cond)),
        scaled_condition_number=finite(float(scaled)),
        # NOTE: the minimisation is skipped for matrices singular to working precision, where
        # the scalings it searches run off to infinity, and beyond MINIMIZED_MAX KPIs, where each
        # of its steps (a full SVD, k^3) costs too much: 600 x 600 took 17 s.
        minimized_condition_number=(finite(float(kernels.minimized_condition_number(g)))
                                    if g.shape[0] == g.shape[1] <= MINIMIZED_MAX and rank == g.shape[0]
                                    and sv[-1] > 1e-12 * sv[0] else None),
        rank=rank,
        singular_values=_clean(sv),
        rga=rga,
        suggested_pairing={kpis[i].name: levers[j].name for i, j in enumerate(pairing) if j >= 0},
        rga_number=rga_number,
        estimated=estimated,
    )


def pairing_of(g, rga=None):
    """(RGA, pairing, RGA number) of a usable gain matrix: the RGA (of the equilibrated matrix when
    it is not square; ``rga`` when the caller has it), the pairing with the smallest RGA number
    (per KPI, its lever's column or -1), none when Niederlinski's index says no pairing of these
    levers is safe. The explorer's what-if asks only this of a changed spec (the rest of
    ``gain_analysis`` is not shown there)."""
    import numpy as np

    from metricsense import kernels

    if rga is None:
        rga = kernels.rga(kernels.equilibrate(g)[0] if g.shape[0] != g.shape[1] else g)
    if np.isfinite(rga).all():
        pairing, rga_number = best_pairing(rga)
        ni = niederlinski(g, pairing)
        if ni is not None and ni <= 0:
            pairing = [-1] * g.shape[0]  # no pairing of these levers is safe to suggest
    else:  # NOTE: not expected for a usable scale; a pairing over NaN would mean nothing
        pairing, rga_number = [-1] * g.shape[0], None
    return rga, pairing, rga_number


def _clean(a) -> list:
    """An array as (nested) lists of floats, None where it is not finite."""
    return finite_lists(a)


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

    Gains estimated from data (no `responds` declared) are uncertain, and noise makes a
    rank-deficient matrix look merely ill-conditioned. So for them the rule re-estimates the
    gains on 199 moving-block bootstrap samples of the periods (Kunsch 1989) and speaks only
    when the scaled condition number is above `threshold` with bootstrap p <= 0.05 (the
    interval in `condition_interval`) and a Kleibergen-Paap-style rank test shows full rank
    (p <= 0.05); the finding's `p_value` is the larger of the two (both claims must hold), one
    test for the spec's false-discovery control. A matrix that cannot be told from a lower rank
    is MS202's. Findings on declared gains are design findings, without a p-value.

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
    names = listed(gain.kpis)
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
        # NOTE: two claims, both shown: ill-conditioned (bootstrap) and of full rank (rank test);
        # the finding's p-value is the larger (an intersection-union test is level 5% at max p <= 5%)
        p = max(p, cond["rank_test"]["p_value"])
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
            f"{len(gain.kpis)} KPIs on {len(gain.levers)} levers, moving them one way takes about "
            f"{scaled:.0f} times the effort of another, so the hard ones drift while teams push the easy direction",
            help="find a lever that moves one KPI without the others, or merge KPIs that respond alike; "
                 f"condition number {scaled:.1f} after scaling, {raw:.1f} raw" + test,
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

    For gains estimated from data (no declarations) the estimate always has full rank
    numerically; the rule then reports when the data rules out well-conditioned gains (the
    scaled condition number above 5 with moving-block bootstrap p <= 0.05, `evidence["p_value"]`,
    one test for the spec's false-discovery control) and a Kleibergen-Paap-style rank test
    (statistic chi-square with (k - r)(m - r) degrees of freedom, covariance of the gains from the
    bootstrap) cannot reject rank k - 1 at 5% (its p-value in `evidence["rank_test"]`). Without
    the first condition a short, noisy series would get the finding for want of power alone.
    Measured (benchmarks/calib_decoupling.py's systems, 2 KPIs x 2 levers, 80 weeks, 60
    replications, MC SE in brackets): a true rank-1 system got MS202 in 0.82 [0.05] (with a bar
    of 10 instead of 5: 0.08), a well-conditioned one in 0.00; MS201 0.00 on both.

    ## Example
    ```msense
    kpi visits  "Visits"  { responds ads +1.0, seo +0.5 }
    kpi signups "Signups" { responds ads +0.2, seo +0.1 }   # proportional to visits
    ```

    ## What to do instead
    Add a lever that moves the named combination, or keep one KPI of each dependent group as a
    target and watch the others.
    """
    gain = _gain(ctx)
    if not gain:
        return
    rank, evidence, test = gain.rank, {}, ""
    if rank >= len(gain.kpis):
        cond = _conditioning(gain) if gain.source == "estimated" else None
        if cond is None or cond["rank_test"]["rank"] != len(gain.kpis) - 1:
            return
        getattr(ctx, "tests", lambda n: None)(1)
        if cond["rank_test"]["p_value"] <= 0.05:
            return  # the data shows full rank
        p_ill = cond.get("p_not_well_conditioned", 1.0)
        if p_ill > 0.05:
            return  # noise alone could leave the rank untold: the data does not rule out well-conditioned gains
        # NOTE: the tested claim is that the levers reach some combination of these KPIs five times
        # less than another (the bootstrap p-value, `p_value`, which joins the spec's
        # false-discovery control); that the data cannot tell them from rank k - 1 (the rank
        # test does not reject it: its p-value under `rank_test`) is said, not tested.
        rank = cond["rank_test"]["rank"]
        evidence = {"rank_test": cond["rank_test"], "condition_interval": cond["condition_interval"],
                    "bootstrap": cond["bootstrap"], "p_value": p_ill}
        test = (f"; test: the estimated gains cannot be told from rank {rank} (Kleibergen-Paap-style rank "
                f"test with a moving-block bootstrap covariance, p = {cond['rank_test']['p_value']:.3g}; "
                f"95% interval of the scaled condition number {cond['condition_interval'][0]:.1f} to "
                f"{cond['condition_interval'][1]:.1f})")
    import numpy as np

    g = np.asarray(gain.matrix, dtype=float)  # None (not finite) is NaN; the record's array, not a copy
    names_k = gain.kpis
    combos = []
    for w in dependent_combinations(g, rank, limit=COMBINATIONS_SHOWN):
        used = np.flatnonzero(w)
        terms = [f"{w[i]:+.2g}×{names_k[i]}" for i in used]
        text = " ".join(terms[:TERMS_SHOWN]) + (f" (and {len(terms) - TERMS_SHOWN} more)" if len(terms) > TERMS_SHOWN else "")
        combos.append({"weights": {names_k[i]: float(w[i]) for i in used}, "text": text})
    first = list(combos[0]["weights"])
    kpi = ctx.spec.lookup(first[0])
    if test:
        message = (f"the levers barely move {combos[0]['text']}, and the data cannot show that they move it at "
                   f"all: over {cond['periods']} periods the estimated gains of these {len(names_k)} KPIs cannot be "
                   f"told from {rank} independent combination{'s' if rank != 1 else ''} (rank {rank})")
    else:
        message = (f"no lever moves {combos[0]['text']}: the {gain.source} gains say the levers reach only {rank} "
                   f"independent combination{'s' if rank != 1 else ''} of these {len(names_k)} KPIs (rank {rank})")
    yield ctx.report(
        kpi,
        message,
        related=[(ctx.spec.lookup(n), "in the combination") for n in first_few(first[1:])],
        help="add a lever that moves this combination, or keep fewer of these KPIs as targets" + test,
        evidence={"rank": rank, "kpis": len(names_k), "independent_combinations": len(names_k) - rank,
                  "combinations": combos, **evidence},
    )


#: MS202 names at most this many combinations (the fewest KPIs first), each in at most this many terms.
COMBINATIONS_SHOWN = 5
TERMS_SHOWN = 8


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
    The intended pairing is each KPI with the lever it declares the largest gain for; it is
    also reported when its Niederlinski index det(G) / prod g_ii is negative (closing all the
    loops cannot be stable, Niederlinski 1971). The rule suggests the pairing with the smallest
    RGA number, sum |L - P| (Skogestad & Postlethwaite), among pairings on positive relative
    gains only, and only when that pairing's Niederlinski index is positive; otherwise it says
    that no pairing is safe. On gains estimated from data (no `responds`), the matrix must be
    shown to have full rank (MS202's rank test) and each risk it names must hold on the
    moving-block bootstrap of the gains (percentile p <= 0.05); the finding's `p_value` is the
    smallest of those times the risks looked at (one test for the spec's false-discovery
    control). Risks of declared gains are design findings, without a p-value.

    ## Example
    ```msense
    kpi throughput "Throughput" { responds staff +1.0, overtime +0.9 }
    kpi quality    "Quality"    { responds staff +0.9, overtime +1.0 }
    ```

    ## What to do instead
    Pair each KPI with the suggested lever (give its owner that lever), or change what is
    measured so each KPI has a lever that moves it alone.
    """
    gain = _gain(ctx)
    if not gain or gain.rank < len(gain.kpis) or len(gain.kpis) < 2 or gain.rga_number is None:
        return
    rga = gain.rga
    g = gain.matrix
    large = ctx.option("large")
    intended = [max(range(len(row)), key=lambda j: abs(row[j] or 0)) for row in g]
    if len(set(intended)) < len(intended):
        return  # no one-lever-per-KPI pairing is intended; MS013 covers competing KPIs
    import numpy as np

    gm = np.array([[np.nan if v is None else v for v in row] for row in g])
    ni = niederlinski(gm, intended)
    risky = [(i, j, rga[i][j]) for i, j in enumerate(intended) if rga[i][j] is not None
             and (rga[i][j] < 0 or rga[i][j] >= large)]
    ni_negative = ni is not None and ni < 0
    test, p = {}, None
    if gain.source == "estimated":
        # Gains estimated from data: each claim must hold on the bootstrap (percentile p <= 0.05);
        # the finding's p-value is the smallest claim's, times the claims made (Bonferroni).
        cond = _conditioning(gain)
        getattr(ctx, "tests", lambda n: None)(1)
        if cond is None or "rga_p_negative" not in cond or cond["rank_test"]["p_value"] > 0.05:
            return  # not shown to have full rank: no relative gains to speak of (MS202)
        claims = len(risky) + (1 if ni_negative else 0)

        def p_of(i, j, value):
            return cond["rga_p_negative"][i][j] if value < 0 else (
                cond["rga_p_large"][i][j] if large == cond["rga_large"] else 1.0)

        risky = [(i, j, v) for i, j, v in risky if p_of(i, j, v) <= 0.05]
        p_ni = cond.get("niederlinski_p_negative")
        ni_negative = ni_negative and p_ni is not None and p_ni <= 0.05
        shown = [p_of(i, j, v) for i, j, v in risky] + ([p_ni] if ni_negative else [])
        if not shown:
            return
        p = min(1.0, min(shown) * claims)
        test = {"p_value": p, "bootstrap": cond["bootstrap"], "periods": cond["periods"]}
    if not risky and not ni_negative:
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
        message = (f"the intended pairing ({listed([f'`{gain.kpis[a]}` ← `{gain.levers[b]}`' for a, b in enumerate(intended)], quote=False, last=', ')}) "
                   f"cannot work together: its Niederlinski index is negative ({ni:.2f}), so closing all the loops "
                   f"drives the KPIs apart")
    kpi = ctx.spec.lookup(gain.kpis[i])
    if suggestion and all(k in suggestion for k in gain.kpis):
        ni_best = niederlinski(gm, [gain.levers.index(suggestion[k]) for k in gain.kpis])
        help_text = (f"pair the KPIs with the levers as {listed([f'{k} ← {lv}' for k, lv in suggestion.items()], quote=False, last=', ')} "
                     f"(relative gains all positive, RGA number {gain.rga_number:.2f}"
                     f"{f', Niederlinski index {ni_best:.2f}' if ni_best is not None else ''})")
    else:
        help_text = ("no pairing of these levers with these KPIs has positive relative gains and a positive "
                     "Niederlinski index: change what is measured so each KPI has a lever that moves it alone")
    if p is not None:
        help_text += (f"; test: gains estimated from {test['periods']} periods, moving-block bootstrap of "
                      f"{test['bootstrap']} samples, p = {p:.3g}")
    yield ctx.report(
        kpi,
        message + ni_text,
        related=[(ctx.spec.lookup(gain.kpis[a]), f"relies on `{gain.levers[b]}` (RGA {v:.2f})")
                 for a, b, v in first_few(risky[1:])],
        help=help_text,
        evidence={"rga": rga, "intended": {gain.kpis[a]: gain.levers[b] for a, b in enumerate(intended)},
                  "suggested": suggestion, "rga_number": gain.rga_number, "niederlinski": ni,
                  "source": gain.source, **test},
    )


@rule(code="MS204", name="conflicting-lever", severity=Severity.WARNING)
def conflicting_lever(ctx) -> Iterator[Diagnostic]:
    """A lever pushes two KPIs in opposite desired directions.

    ## Why is this bad?
    Turning this knob improves one KPI and worsens another (seed 002: decouple the input-output
    structure), so every review becomes a tug of war between the KPIs' owners, and the lever's
    owner is blamed whichever way it turns. The desired direction is the KPI's `better` (or its
    target's comparison); the effect is the declared gain (a design finding, no p-value) or,
    without declarations, the gain estimated from data, which counts only when it is shown to
    differ from 0 (MS205's t-test, p <= 0.05); the finding's `p_value` is the larger of the best
    helped and the best hurt KPI's (both sides must be shown), one test per lever.

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
    import numpy as np

    kpis = [ctx.spec.lookup(n) for n in gain.kpis]
    estimated = gain.source == "estimated" and gain.estimated is not None
    if estimated:
        getattr(ctx, "tests", lambda n: None)(len(gain.levers))  # one per lever
    # NOTE: the matrix read once as an array (no gain: NaN), each KPI's direction once, and each
    # lever's column by its nonzero entries: value by value, a 2,000 x 200 matrix was 0.4 s
    g = np.asarray(gain.matrix, dtype=float)
    if g.size == 0:  # no KPI or no lever: an empty (k, m) matrix (never a transposed one)
        g = g.reshape(len(kpis), len(gain.levers))
    dirs = np.array([direction(k) for k in kpis], dtype=float)
    at = _positions(gain.estimated) if estimated else None
    for j, lever_name in enumerate(gain.levers):
        helped, hurt, ps = [], [], {}
        col = g[:, j]
        for i in np.flatnonzero(np.isfinite(col) & (col != 0) & (dirs != 0)).tolist():
            kpi, value, d = kpis[i], float(col[i]), int(dirs[i])
            if estimated:
                p_gain = _p_zero(gain, kpi.name, lever_name, at)
                if p_gain is None or p_gain > 0.05:
                    continue  # the data does not show this KPI moves with the lever at all
                ps[kpi.name] = p_gain
            (helped if value * d > 0 else hurt).append((kpi, value))
        if helped and hurt:
            lever = ctx.spec.lookup(lever_name)
            names_h = _names([k.name for k, _ in helped])
            names_w = _names([k.name for k, _ in hurt])
            evidence = {"helped": {k.name: v for k, v in helped}, "hurt": {k.name: v for k, v in hurt},
                        "source": gain.source}
            test = ""
            if estimated:
                # both sides must be shown: the larger of the best helped and the best hurt p-value
                p = max(min(ps[k.name] for k, _ in helped), min(ps[k.name] for k, _ in hurt))
                evidence.update(p_value=p, p_gains=ps)
                test = (f"; test: gains estimated from the data, each shown to differ from 0 (t on an "
                        f"autocorrelation-robust SE), p = {p:.3g}")
            seen = "by the data, " if estimated else ""
            yield ctx.report(
                lever,
                f"{seen}turning up `{lever_name}` improves {names_h} but worsens {names_w}: whoever owns it is "
                f"blamed whichever way it turns, and reviews become a tug of war between these KPIs' owners",
                related=[(k, f"moved the wrong way (gain {v:+.2g})") for k, v in first_few(hurt)],
                help="make one of them a guard with a limit, or add a lever that removes the side effect" + test,
                evidence=evidence,
            )


def _names(names: list[str]) -> str:
    return listed(names)


def _positions(est: EstimatedGains) -> tuple[dict[str, int], dict[str, int]]:
    """Each KPI's row and each lever's column in the estimated gains (the first, as list.index)."""
    rows: dict[str, int] = {}
    cols: dict[str, int] = {}
    for i, name in enumerate(est.kpis):
        rows.setdefault(name, i)
    for j, name in enumerate(est.levers):
        cols.setdefault(name, j)
    return rows, cols


def _p_zero(gain: GainAnalysis, kpi: str, lever: str,
            at: tuple[dict[str, int], dict[str, int]] | None = None) -> float | None:
    """The two-sided p-value of an estimated gain against 0 (MS205's t on ceil(0.4 n^(2/3)) df);
    ``at`` is ``_positions(gain.estimated)``, made once for many calls."""
    est = gain.estimated
    rows, cols = at if at is not None else _positions(est)
    if kpi not in rows or lever not in cols:
        return None
    i, j = rows[kpi], cols[lever]
    value, se = est.matrix[i][j], est.se[i][j]
    if value is None or se is None or se <= 0:
        return None
    return t_two_sided(value / se, ewc_df(est.n[i]))


@rule(code="MS205", name="declared-gain-unsupported", severity=Severity.WARNING,
      options={"z": Option(1.96, "the two-sided level as a normal quantile: 1.96 tests at 5%")})
def declared_gain_unsupported(ctx) -> Iterator[Diagnostic]:
    """A declared gain is far outside what the data estimates.

    ## Why is this bad?
    The `responds` gains are the team's theory of how its levers move its KPIs (seed 004,
    practice #4: clarify the theory linking target and mission). When the data says otherwise,
    the theory steers the wrong lever, and people are held to effects that do not happen.

    How it is judged: gains are read as standardised effects (a typical move of the lever, in
    typical moves of the KPI). The KPI's period-to-period changes are regressed on the levers'
    changes, each at the lag the KPI declares for it (`responds x +0.3 lag 2 weeks`), and on the
    changes of the disturbances it declares (`disturbed weather +0.2`): leaving a declared
    disturbance out confounds a lever that is planned around it. The standardised gain's
    standard error is by the delta method (the two standard deviations that scale it are
    estimates too) with an autocorrelation-robust long-run variance, the equal-weighted cosine
    estimator with ceil(0.4 n^(2/3)) terms (9 for two years of weekly data), whose t-ratio is
    Student's t with that many degrees of freedom (fixed-b inference; Lazarus, Lewis, Stock &
    Watson 2018). Each declared gain is one test: the p-value (two-sided) is in
    `evidence["p_value"]`, and the rule fires when it is at most the level `z` stands for
    (1.96: 5%). The spec's false-discovery control counts every gain tested.

    What it does not see: a lever whose effect takes longer than the declared lag, or an
    undeclared disturbance that drives both the lever and the KPI. Where the KPI's own changes
    are strongly autocorrelated (each week's change correlated at 0.8 with the last one's, not
    merely a wandering level) it fires on more true gains than 5 in 100: measured 8.5% [1.4] in
    104 weeks, 9.6% [0.7] in 80 weeks when the lever's changes are as persistent, 15% at 0.9
    (tests/evaluators/test_correlation_decoupling.py, plain NumPy simulations).

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
    alpha = 2 * (1 - phi(ctx.option("z")))
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
            df = ewc_df(est.n[i])
            t = (value - gain_decl.value) / se
            p = t_two_sided(t, df)
            if p > alpha:
                continue
            lag = (est.lags or {}).get(kpi_name, {}).get(gain_decl.name, est.lag)
            held = (est.controls or {}).get(kpi_name, [])
            when = f"{lag} period{'s' if lag != 1 else ''} later" if lag else "in the same period"
            also = f", with {listed(held, last=', ')} taken into account" if held else ""
            size = _size_words(value)
            lo, hi = value - t_quantile(df) * se, value + t_quantile(df) * se
            yield ctx.report(
                gain_decl,
                f"the data does not back the theory that `{gain_decl.name}` moves `{kpi_name}` "
                f"({gain_decl.value:+g} declared): over {est.n[i]} periods, when `{gain_decl.name}` moved, "
                f"`{kpi_name}` {size} {when}{also}; its effect is likely between {lo:+.2f} and {hi:+.2f}",
                help="ask whether the effect takes longer, another lever does the work, or the theory is wrong, "
                     f"then correct the declared gain; test: least squares of the changes, standardised gain "
                     f"{value:+.3f} with SE {se:.3f} (delta method, equal-weighted cosine long-run variance), "
                     f"t = {t:.2f} on {df} df, p = {p:.3g}",
                evidence={"declared": gain_decl.value, "estimate": value, "se": se, "n": est.n[i],
                          "lag": lag, "controls": held, "t": t, "df": df, "interval": [lo, hi], "p_value": p},
            )
    if tested:
        getattr(ctx, "tests", lambda n: None)(tested)


def _size_words(value: float) -> str:
    """How a KPI followed its lever, in words, from a standardised gain."""
    if abs(value) < 0.1:
        return "hardly moved with it"
    way = "the same way" if value > 0 else "the other way"
    how = "a little" if abs(value) < 0.3 else ("clearly" if abs(value) < 0.6 else "strongly")
    return f"moved {how} {way} ({value:+.2f} typical moves for a typical move)"


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
