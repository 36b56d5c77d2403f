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
``set_from`` (``"target_set"``, ``"since"`` or ``"midpoint"``); ``bunching`` (the density test at
the target, clustered by unit, or on coarse scores the masses at the scores next to it: n, bin,
bandwidth, densities or masses below and above, theta, se, z, df, p); ``divergence`` (per outcome
KPI: the step in the outcome at the split beyond what the output predicts, errors an AR(1)
plus a random walk, its t and p); ``variance``
(before and after variances, their ratio, the break test's t and p). The statistics are in
distortion_stats.py. NumPy only, imported inside functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.evaluators.common import own_values, phi
from metricsense.evaluators.distortion_batch import BASES, EVERY_OUTCOME_UP_TO, outcomes_for
from metricsense.evaluators.distortion_stats import (
    betainc,
    bunching_units,
    clustered_density_test,
    step_test,
    norm_sf,
    t_sf,
)
from metricsense.evaluators.distortion_edges import edges
from metricsense.evaluators.distortion_variance import _variance, variances
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
from metricsense.names import first, listed

DEFAULTS = {"target_set": {}}

# ---- the histogram behind MS401 ------------------------------------------------------------------


def support_step(x) -> float:
    """The spacing of a discrete or heaped support (0.1 for one decimal, 5 for minutes rounded
    to 5, 1 for whole numbers); 0.0 when the values look continuous."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return 0.0
    first = float(x[0])
    if not math.isfinite(first):  # on no grid (round() would raise): the whole array's test says so too
        return 0.0
    for decimals in range(0, 5):
        # the first value alone first: when it is off the grid, so is the whole (a scalar test)
        one = first * 10.0**decimals
        if not abs(one - round(one)) < 1e-6 * max(1.0, abs(one)):
            continue
        scaled = x * 10.0**decimals
        ints = np.rint(scaled)
        if np.all(np.abs(scaled - ints) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            ordered = np.sort(ints)  # NOTE: np.unique's count, without its overhead (10,000 KPIs: 0.1 s)
            if 1 + np.count_nonzero(ordered[1:] != ordered[:-1]) > len(x) / 2:  # too many for a heaped support
                return 0.0
            g = int(np.gcd.reduce((ints - ints.min()).astype(np.int64)))
            return g / 10.0**decimals if g > 0 else 0.0
    return 0.0


def mccrary_bandwidth(mid, y, left, right) -> float | None:
    """McCrary's rule of thumb: a global quartic on each side's bin heights gives
    h = 3.348 [mse * range / sum f''^2]^(1/5); the mean over the sides (None when neither has one)."""
    import numpy as np

    def side_h(mask) -> float | None:
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

    hs = [h for h in (side_h(left), side_h(right)) if h is not None]
    return float(np.mean(hs)) if hs else None


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


def _bunched(t) -> bool:
    """Whether MS401 tests a KPI with this target (a number to meet from one side)."""
    return t is not None and t.value is not None and t.comparison in ("<", "<=", ">", ">=")


def _bunching(s, after, t) -> BunchingTest:
    """MS401's test on the values after the target was set: each unit's values one cluster (a
    plain series: 20 runs of consecutive periods)."""
    import numpy as np

    if s.by_segment is not None:
        block = s.by_segment[after]
        units = np.broadcast_to(np.arange(block.shape[1]), block.shape).ravel()
        values = block.ravel()
    else:
        values = s.values[after]
        units = np.arange(len(values)) * 20 // max(1, len(values))
    keep = ~np.isnan(values)
    values, units = values[keep], units[keep]
    meets = "above" if t.comparison in (">", ">=") else "below"
    res = clustered_density_test(values, units, float(t.value), meets, inclusive=t.comparison in (">=", "<="),
                                 step=support_step(values), bandwidth_of=mccrary_bandwidth)
    res["units"] = len(s.segments) or None
    if res.get("status") == "evaluated" and s.by_segment is not None:
        res["named"] = [list(r) for r in bunching_units(values, units, res["boundary"], res["bandwidth"] / 2,
                                                         meets, s.segments)]
    return res


def kpi_distortion(kpi: KPI, spec: Document, data, chosen: dict, min_periods: int = 6,
                   steps: "_Steps | None" = None, spreads: dict | None = None,
                   at_edge: dict | None = None, split: dict | None = None) -> KpiDistortion | None:
    """One KPI's tests. An output's step tests against its outcomes are handed to ``steps``
    (run for every output at once by ``steps.run()``, which fills in the divergence entries);
    without one they run here. ``spreads`` holds MS403's comparisons made for many KPIs at once
    (``distortion_variance.variances``), by KPI name; ``at_edge`` MS401's entries found at the
    edge of the data for many at once (``distortion_edges.edges``); ``split`` the split rows
    (``set_row``) found already, by KPI name."""
    import numpy as np

    s = data.series(kpi.name)
    if s is None:
        return None
    row, why = split[kpi.name] if split and kpi.name in split else set_row(kpi, data, ~np.isnan(s.values), chosen)
    if row is None:
        return KpiDistortion(status=why)
    at = min(row, len(data.periods) - 1)
    set_at = steps.label(at) if steps is not None else data.label(at)
    bunching: BunchingTest | None = None
    variance: VarianceTest | None = None
    divergence: dict[str, DivergenceTest] | None = None
    after = np.arange(len(data.periods)) >= row
    t = kpi.target
    # -- bunching: unit-level values after the target was set, clustered by unit
    if at_edge is not None and kpi.name in at_edge:
        bunching = dict(at_edge[kpi.name])
    elif _bunched(t):
        bunching = _bunching(s, after, t)
    if spreads is not None and kpi.name in spreads:
        variance = spreads[kpi.name]
    else:
        variance = _variance(s, data, row, after, data.unit_of(kpi.name), min_periods)
    # -- divergence: an output whose outcomes do not follow
    sign = _better(kpi)
    if kpi.kind == "output" and sign is not None:
        mine = steps if steps is not None else _Steps(data)
        outcomes, basis = outcomes_for(kpi, spec, mine.known)
        divergence = mine.plan(kpi, sign, s, after, outcomes, min_periods, basis) or None
        if steps is None:
            mine.run()
    return KpiDistortion(set=set_at, set_from=why, bunching=bunching, variance=variance, divergence=divergence)


class _Steps:
    """MS402's step tests of every output against its outcomes, gathered and run together: pairs
    on the same periods (the same rows before and after the split, the same times on their own
    grid) share one batch (distortion_batch.step_tests, the statistics of step_test)."""

    def __init__(self, data):
        self.data = data
        self.grids: dict[bytes, object] = {}
        self.spans: dict[bytes, dict] = {}
        self.known: dict = {}  # the spec's outcomes (outcomes_for)
        self.labels: list[str] | None = None
        self.usable: dict[tuple, tuple] = {}  # outcome names -> those with data and a direction, observed

    def label(self, i: int) -> str:
        """``data.label(i)``, the labels taken once (``label`` looks at every series each call)."""
        if self.labels is None:
            every = getattr(self.data, "labels", None)
            if every is None:
                return self.data.label(i)
            self.labels = every()
        return self.labels[i]

    def plan(self, kpi: KPI, sign: float, s, after, outcomes: list[KPI], min_periods: int,
             basis: str | None = None) -> dict[str, DivergenceTest]:
        """The output's divergence entries, in its outcomes' order: those with too few periods
        now, the others placeholders filled in by ``run``; each says the ``basis`` of its pair."""
        import numpy as np

        data = self.data
        key = tuple(oc.name for oc in outcomes)
        if key not in self.usable:
            named = [(oc, data.series(oc.name), _better(oc)) for oc in outcomes]
            named = [(oc, o, osign) for oc, o, osign in named if o is not None and osign is not None]
            self.usable[key] = (named, ~np.isnan(np.array([o.values for _, o, _ in named])) if named else None)
        named, obs = self.usable[key]
        div: dict[str, DivergenceTest] = {}
        if not named:
            return div
        seen = ~np.isnan(s.values)
        both = obs & seen
        nb, na = (both & ~after).sum(axis=1), (both & after).sum(axis=1)
        few = (nb < max(min_periods, 4)) | (na < 3)
        union = obs | seen
        if (both == both[0]).all() and (union == union[0]).all():  # the usual case: one span
            first, which = np.zeros(1, dtype=np.intp), np.zeros(len(named), dtype=np.intp)
        else:
            keys = np.hstack([np.packbits(both, axis=1), np.packbits(union, axis=1)])
            _, first, which = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            which = which.ravel()
        for m, (oc, o, osign) in enumerate(named):
            div[oc.name] = {"basis": basis, "n_before": int(nb[m]), "n_after": int(na[m])}
            if few[m]:
                div[oc.name]["status"] = "too few periods"
        for u, m0 in enumerate(first):
            members = [m for m in np.flatnonzero(which == u) if not few[m]]
            if not members:
                continue
            union = obs[m0] | seen
            when = self.grids.get(union.tobytes())
            if when is None:
                # times on the two series' own grid (a missing period is a step, not nothing)
                _, grid_rows = own_values(data.periods, np.where(union, 0.0, np.nan))
                when = np.full(len(data.periods), -1)
                when[grid_rows[grid_rows >= 0]] = np.flatnonzero(grid_rows >= 0)
                self.grids[union.tobytes()] = when
            b_rows, a_rows = np.flatnonzero(both[m0] & ~after), np.flatnonzero(both[m0] & after)
            key = b"|".join(a.astype(np.int64).tobytes() for a in (b_rows, a_rows, when[b_rows], when[a_rows]))
            span = self.spans.setdefault(key, {"rows": (b_rows, a_rows, when[b_rows], when[a_rows]), "outputs": {}})
            span["outputs"].setdefault((kpi.name, id(div)), (s, sign, div, []))[3].extend(
                (named[m][0].name, named[m][1], named[m][2]) for m in members)
        return div

    def run(self) -> None:
        """Every planned step test, one batch per span (a list of output x outcome pairs); the
        entries filled in."""
        import numpy as np

        from metricsense.evaluators.distortion_batch import FIELDS, pair_step_tests, t_sf_many, with_layouts

        for span, layout in with_layouts(list(self.spans.values()), lambda sp: sp["rows"][2:]):
            b_rows, a_rows, t1, t2 = span["rows"]
            outputs = list(span["outputs"].values())
            at: dict[str, int] = {}
            outcomes, pi, pj = [], [], []
            for i, (_, _, _, outs) in enumerate(outputs):
                for name, o, osign in outs:
                    if name not in at:
                        at[name] = len(outcomes)
                        outcomes.append((name, o, osign))
                    pi.append(i)
                    pj.append(at[name])
            pi, pj = np.array(pi, dtype=np.intp), np.array(pj, dtype=np.intp)
            X = np.array([s.values for s, _, _, _ in outputs])
            Y = np.array([o.values for _, o, _ in outcomes])
            xb, xa, yb, ya = X[:, b_rows], X[:, a_rows], Y[:, b_rows], Y[:, a_rows]
            found = pair_step_tests(xb, xa, yb, ya, t1, t2, pi, pj, layout=layout)
            sign = np.array([sg for _, sg, _, _ in outputs])[pi]
            osign = np.array([osg for _, _, osg in outcomes])[pj]
            out_change = sign * (xa.mean(axis=1) - xb.mean(axis=1))[pi]
            oc_change = osign * (ya.mean(axis=1) - yb.mean(axis=1))[pj]
            z, z_iid = -osign * found["t"], -osign * found["t_iid"]
            with np.errstate(all="ignore"):
                p = np.where(np.isfinite(z), t_sf_many(z, found["df"]), np.nan)
                p_iid = np.where(np.isfinite(z_iid), t_sf_many(z_iid, found["n_before"] - 2), np.nan)
            holds = found["slope"] * sign * osign > 0
            head = {"df": found["df"], "n_before": found["n_before"], "n_after": found["n_after"]}
            cols = [found[f].tolist() for f in FIELDS]
            extra = [out_change.tolist(), oc_change.tolist(), np.where(np.isfinite(z), p, None).tolist(),
                     np.where(np.isfinite(z_iid), p_iid, None).tolist(), holds.tolist(), found["valid"].tolist()]
            for q, (i, j) in enumerate(zip(pi.tolist(), pj.tolist())):
                div, name = outputs[i][2], outcomes[j][0]
                if not extra[5][q]:
                    div[name] = {**div[name], "status": "the output did not vary before"}
                    continue
                v = [c[q] for c in cols]
                div[name] = {"basis": div[name].get("basis"), "intercept": v[0], "slope": v[1],
                             "residual_sd": v[2], "mean_residual": v[3],
                             "se": v[4], "t": v[5], **head, "r1": v[6], "rho": v[7], "q": v[8], "t_iid": v[9],
                             "output_change": extra[0][q], "outcome_change": extra[1][q],
                             "p": extra[2][q], "p_iid": extra[3][q], "theory_holds": extra[4][q],
                             "status": "evaluated"}
        self.spans.clear()


def distortion_of(spec: Document, data, chosen: dict | None = None, min_periods: int = 6) -> DistortionAnalysis:
    import numpy as np

    out = {}
    steps = _Steps(data)
    plain, split = [], {}
    for k in spec.kpis:
        s = data.series(k.name)
        if s is not None and s.by_segment is None:
            row, _ = split[k.name] = set_row(k, data, ~np.isnan(s.values), chosen or {})
            if row is not None:
                plain.append((k.name, s, row))
    spreads = variances(data, plain, min_periods)
    targets = {k.name: k.target for k in spec.kpis if _bunched(k.target)}
    at_edge = edges(data, [(name, s, row, targets[name]) for name, s, row in plain if name in targets], support_step)
    for k in spec.kpis:
        got = kpi_distortion(k, spec, data, chosen or {}, min_periods, steps, spreads, at_edge, split)
        if got is not None:
            out[k.name] = got
    steps.run()
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
    if ctx.data is None or not len(ctx.data.periods) or __name__ in ctx.stopped:
        return DistortionAnalysis(kpis={})  # NOTE: stopped (MS005): not run a second time per rule
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

    The test is a density discontinuity at the target, built as McCrary's (2008) (a fine
    histogram, bins aligned to a discrete support with the target inside the meeting bin, his
    bandwidth) with two changes for the data KPIs have: the densities at the target come from
    triangular-weighted local quadratic fits (the robust bias correction Cattaneo, Jansson & Ma's
    rddensity uses), so a target in a tail of a skewed or sloped density is not a jump; and the
    standard error is a delete-one-unit jackknife (each ward's or store's values across periods
    one cluster, Student's t on units - 1 df), so persistent unit levels are not counted as
    independent evidence (at least 10 units; a plain series: 20 runs of periods). It is
    direction-aware (`>=`: the pile-up is just above). Values are unit-level, from the periods
    after the target was set (option `target_set`; by default the later half). On coarse scores
    (one score per histogram bin: scores 1-7 or 0-20) a density is no density: the test compares
    the mass at the first score that meets the target with the two scores short of it and the
    one past it (a smooth distribution has a log mass locally quadratic in the score, so the jump
    against the average slope either side is zero), with the same unit jackknife and Student's t
    on Satterthwaite's degrees of freedom (fewer than units - 1 when a few units carry the
    variance). The finding names the units with more values just past than just short. Its size
    and power are measured by the calibration suite (`python -m calibration`).
    Evidence: n, clusters, bin, bandwidth, densities (masses on scores), theta, se, z, df, p,
    p_value, named units.

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
    tested = [(k, found.kpis.get(k.name) or KpiDistortion()) for k in ctx.spec.kpis]
    tested = [(k, e) for k, e in tested if e.bunching and e.bunching.get("status") == "evaluated"
              and e.bunching["n"] >= least]
    getattr(ctx, "tests", lambda n: None)(len(tested))
    for k, entry in tested:
        res = entry.bunching
        if res["p"] > alpha:
            continue
        where = "just above" if res["meets"] == "above" else "just below"
        other = "just below" if res["meets"] == "above" else "just above"
        ratio = math.exp(res["theta"] if res["meets"] == "above" else -res["theta"])
        set_at = entry.set
        named = res.get("named") or []
        units = ", ".join(f"`{u}` ({a} just past, {m} just short)" for u, a, m in named)
        who = f", most in {units}" if units else ""
        scores = res.get("test") == "mass points"
        seen = (f"the score that first meets it holds {ratio:.1f} times the share its neighbours would lead you to "
                "expect" if scores else f"{ratio:.1f} times as many values per point on the side that meets it")
        yield ctx.report(
            k.target,
            f"`{k.name}` values pile up {where} its target {res['cutoff']:g} and thin out {other} it since "
            f"{set_at}{who} ({seen}); this can mean results near the line were nudged across it (generous "
            f"marking, a re-count, a record adjusted), or a real last push by those just short",
            related=[(k, "a number people are judged by, bent toward its target")],
            help="look at a sample of the values just past the target in those units and ask the people there how "
                 "they were produced; judge the KPI beside an indicator nobody is targeted on; the test: "
                 + ("the mass at the first score that meets the target against its neighbours" if scores else
                    "a density discontinuity at the target (local quadratic fits)")
                 + f", se by a delete-one-unit jackknife, t = {res['z']:.2f} on {res['df']:.3g} df, p = {res['p']:.2g}, "
                 f"{res['n']} values from {res['clusters']} {'units' if res.get('units') else 'runs of periods'}",
            evidence={kk: res.get(kk) for kk in ("n", "cutoff", "meets", "bin", "support_step", "boundary", "bandwidth",
                                                 "f_below", "f_above", "theta", "se", "z", "df", "p", "units",
                                                 "clusters", "named", "test", "masses")}
            | {"set": set_at, "set_from": entry.set_from, "p_value": res["p"]},
        )


@rule(code="MS402", name="output-outcome-divergence", severity=Severity.WARNING,
      options={"target_set": _SET, "alpha": _ALPHA,
               "min_periods": Option(6, "the least number of periods with both KPIs observed before the target")})
def output_outcome_divergence(ctx) -> Iterator[Diagnostic]:
    """An output KPI improves after its target is set while the outcomes it serves do not follow.

    ## Why is this bad?
    Seed 004 (Behn's fourth practice: clarify the theory linking the target and the mission):
    an output target is worth chasing only while the output still moves the outcome. If the
    output keeps improving after its target is set but the outcome KPIs it should move stay
    where they were, the output is being produced for the target (teaching to the interim test while the state test
    stays flat): Campbell's law again. The test: Box and Tiao's intervention analysis, a
    regression of the outcome on the output over all periods with a step at the date the target
    took effect, one-sided toward the outcome falling short. Its errors are an AR(1) part plus a
    random walk, fitted by restricted likelihood (of the periods before the target; the least
    favourable of the models within half a log-likelihood unit of the best): the gap between two KPIs wanders with
    everything that moves one and not the other (other levers, disturbances), and a wander is not
    gaming; where the gap wanders, the test compares the periods just before and just after the
    target date. The t reference has n - 5 degrees of freedom. Reported only when the output
    improved after the split and the fit says a better output goes with a better outcome. Its
    size and power are measured by the calibration suite (`python -m calibration`). Split: option `target_set`,
    else the midpoint. Evidence: slope, step (mean_residual), se, t, r1, rho, q, df, p, p_value, changes,
    basis.

    Which outcomes an output is compared with (evidence `basis`): those guarding a failure it
    guards (`guards`); when none does, those responding to one of its levers (`levers`: the
    same theory, the lever should move both); when it shares neither with any outcome, every
    outcome, but only in a spec with at most 20 outcome KPIs (`every outcome`); in a larger
    spec such an output is not tested (say the link with `guards`). So an output is tested
    against the outcomes the spec gives a reason to follow it, and a spec of thousands of KPIs
    does not compare every output with every outcome.

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
    pairs = []
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name) or KpiDistortion()
        for oc_name, res in (entry.divergence or {}).items():
            if res.get("status") == "evaluated" and res.get("p") is not None:
                pairs.append((k, entry, oc_name, res))
    getattr(ctx, "tests", lambda n: None)(len(pairs))
    for k, entry, oc_name, res in pairs:
        if res["output_change"] <= 0 or not res["theory_holds"] or res["p"] > alpha:
            continue
        oc = ctx.spec.lookup(oc_name)
        yield ctx.report(
            k.target or k,
            f"`{k.name}` improved after its target was set ({entry.set}) but `{oc_name}` did not follow: it "
            f"fell short of what `{k.name}`'s improvement predicted by {abs(res['mean_residual']):.3g} on average "
            f"over the {res['n_after']} periods since (the link between them was read from all "
            f"{res['n_before'] + res['n_after']} periods, allowing for that shortfall); this can mean `{k.name}` is being produced for its target rather "
            f"than for `{oc_name}`, or that the link between them has changed",
            related=[(oc, "the outcome it should move, which did not follow")],
            help="ask what the output's improvement is made of; weigh the outcome at least as much in reviews; "
                 f"compared because of {BASES.get(res.get('basis'), 'the spec')}; the "
                 f"test: a step at the target date in the regression of the outcome on the output (Box-Tiao), errors "
                 f"AR(1) with rho = {res['rho']:.2f} plus a random walk whose steps have {res['q']:.3g} times its variance, "
                 f"t = {res['t']:.2f} on {res['df']:.3g} df, p = {res['p']:.2g}",
            evidence={"outcome": oc_name, "basis": res.get("basis"), **{kk: res[kk] for kk in (
                "slope", "intercept", "mean_residual", "se", "t", "r1", "rho", "q", "t_iid", "df", "p", "p_iid",
                "n_before", "n_after", "output_change", "outcome_change", "residual_sd")},
                "set": entry.set, "set_from": entry.set_from, "p_value": res["p"]},
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
    For a plain series the spread compared is that of its period-to-period changes (so a trend or
    a wander does not count); for a segmented one (a class per unit), each unit's mean absolute
    deviation from each period's median, by a paired t test across units. Seasons and levels
    change spread without anyone gaming: weekly, monthly and quarterly data are compared over the
    same whole number of years on each side of the target (each side holds every season equally
    often; less than a year on either side is not tested: a volatile winter and a target cannot
    be told apart). A genuine improvement shrinks the spread too (defects falling 40 -> 8 a week
    vary less as they fall, gradually): for a plain series the test is for a fall *at* the
    target date beyond any trend the spread already had, a regression of the changes' absolute
    deviations (to the power 2/3, nearly symmetric) on a trend and the step at the target, with
    HC3 standard errors. When every value is
    positive the spread is also compared relative to the level (in logs), and must fall on both
    scales. The variance ratio after / before must also be at most `ratio` (default 0.5). Its
    size and power are measured by the calibration suite (`python -m calibration`): a spread
    that falls gradually is not told from one that falls at the target, so a halving at the
    target is found less often than a plain before/after comparison would (which accused
    improvements). Evidence: variances, ratio, scale, years, t, df, p, p_value.

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
    tested = [(k, found.kpis.get(k.name) or KpiDistortion()) for k in ctx.spec.kpis]
    tested = [(k, e) for k, e in tested if e.variance and e.variance.get("ratio") is not None
              and e.variance.get("p") is not None]
    getattr(ctx, "tests", lambda n: None)(len(tested))
    for k, entry in tested:
        res = entry.variance
        if res["ratio"] > most or res["p"] > alpha:
            continue
        span = f"the {res['years']} year{'s' if res['years'] > 1 else ''} before and after" if res.get("years") \
            else f"the {res['n_before']} values before and {res['n_after']} after"
        share = f"{res['ratio']:.0%}" if res["ratio"] >= 0.01 else "less than 1%"
        yield ctx.report(
            k.target or k,
            f"`{k.name}` moves much less since its target was set ({entry.set}): the variance of its "
            f"{res['of']} fell to {share} of what it was, comparing {span}"
            + ("" if res.get("units") else ", and it fell at that date, beyond any trend it already had")
            + "; this can mean the number is being steered toward the target, or that the way it is counted "
              "changed then",
            related=[(k, "a number that stopped moving when it started to count")],
            help="look at how the number is produced now, beside a related measure nobody is targeted on; the test: "
                 + ("a paired t test across units of the mean absolute deviation" if res.get("units")
                    else "the step at the target in the changes' absolute deviations, beside a trend "
                         "(HC3 standard errors)")
                 + f", as is and relative to the level (both must fall), t = {res['t']:.2f} on {res['df']} df, "
                   f"p = {res['p']:.2g}",
            evidence={kk: res.get(kk) for kk in ("of", "scale", "before", "after", "ratio", "n_before", "n_after",
                                                 "units", "years", "t", "df", "p", "p_by_scale")}
            | {"set": entry.set, "set_from": entry.set_from, "p_value": res["p"]},
        )


@rule(code="MS404", name="output-not-compared", severity=Severity.INFO)
def output_not_compared(ctx) -> Iterator[Diagnostic]:
    """Output KPIs that MS402 compares with no outcome: they share no guarded failure and no lever with one.

    ## Why is this bad?
    Seed 004 (Behn's fourth practice: clarify the theory linking the target and the mission):
    MS402 compares an output with the outcomes the spec says it serves, those guarding a failure
    it guards or responding to one of its levers. In a spec of more than 20 outcome KPIs an output
    linked to none of them is not compared with every outcome (docs/scale.md: thousands of pairs
    nobody stated a reason for); it is not tested at all, and an output produced for its target
    while its outcomes stay flat would go unseen. One finding per spec names those outputs (the
    first five in the message, every one in the evidence `outputs`). Evidence: outputs,
    outcomes (how many outcome KPIs the spec has), every_outcome_up_to.

    ## Example
    ```msense
    kpi calls_handled "Calls handled" { kind output better higher target >= 400 by 2027-06-30 }
    # and 30 outcome KPIs, none guarding a failure calls_handled guards or sharing its levers
    ```

    ## What to do instead
    Say what the output is for: `guards` the failure its outcomes guard, or `responds` to the
    lever that should move both; MS402 then compares them.
    """
    found = DistortionAnalysis.of(ctx.analysis)
    if found is None:
        return
    known: dict = {}
    untested = []
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name)
        if k.kind != "output" or _better(k) is None or entry is None or entry.set is None:
            continue
        if outcomes_for(k, ctx.spec, known)[1] is None and len(known["outcomes"]) > EVERY_OUTCOME_UP_TO:
            untested.append(k)
    if not untested:
        return
    names = [k.name for k in untested]
    one = len(names) == 1
    yield ctx.report(
        untested[0],
        f"{listed(names)} {'is' if one else 'are'} compared with no outcome KPI (MS402): "
        f"{'it shares' if one else 'they share'} no guarded failure and no lever with any of the "
        f"{len(known['outcomes']):,} outcomes, and a spec of more than {EVERY_OUTCOME_UP_TO} outcomes does not "
        "compare an output with every one",
        related=[(k, "not compared with any outcome either") for k in first(untested[1:])],
        help="say what each serves: `guards` the failure its outcomes guard, or `responds` to a lever that "
             "should move both, and MS402 compares them",
        evidence={"outputs": names, "outcomes": len(known["outcomes"]), "every_outcome_up_to": EVERY_OUTCOME_UP_TO},
    )


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)


__all__ = ["betainc", "distortion_of", "mccrary_bandwidth", "norm_sf", "phi", "support_step", "t_sf"]
