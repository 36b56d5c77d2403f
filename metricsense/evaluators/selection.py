"""MS206: a clearly better set of KPIs to hold at their targets exists (self-optimizing control).

The maths lives in metricsense.selection (also `msense select`); NumPy loads inside the rule only.
"""

from __future__ import annotations

from collections.abc import Iterator

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.hookspecs import hookimpl
from metricsense.names import first, listed

#: Beyond this many KPIs with gains the rule stays silent (the search is `msense select`'s to run:
#: a check must stay quick); no real spec in the examples comes near.
MAX_KPIS = 30


@rule(code="MS206", name="better-kpi-set", severity=Severity.WARNING,
      options={"ratio": Option(2.0, "how many times the best set's worst-case loss the targeted KPIs' must reach")})
def better_kpi_set(ctx) -> Iterator[Diagnostic]:
    """Another set of KPIs, as many as the targeted ones, would keep the mission far closer to its best.

    ## Why is this bad?
    Seed 002: "managing an organization is an optimization problem", and the KPIs we manage by
    must be chosen: tightly coupled to the objective, with optima insensitive to noise and
    disturbances, not correlated, and no more of them than the levers. Holding a KPI at its
    target is a decision about what the levers do when a disturbance hits: a KPI that the
    disturbance moves a lot, or that is mostly noise, makes the team turn the levers the wrong
    way, and the mission pays.

    Self-optimizing control measures exactly this (Skogestad 2000; Halvorsen, Skogestad, Morud &
    Alstad 2003, the exact local method). With the declared gains G_y (`responds`) and G_yd
    (`disturbed`), the disturbances' sizes Wd (`size`), the KPIs' noise Wn (`noise`, else from
    the data), how costly it is to be off each lever's best setting Juu (`cost`) and how the best
    settings move with each disturbance (`best`, giving Jud), holding c = H y at its targets
    loses L = sigma_max(M)^2 / 2 in the worst case, with M = Juu^1/2 (H G_y)^-1 H [F Wd, Wn]
    and F = -(G_y Juu^-1 Jud - G_yd). The rule compares the KPIs that have a target with the
    best set of as many KPIs, found by bidirectional branch and bound (Cao & Kariwala 2008;
    Kariwala & Cao 2009), and speaks when the targeted set's worst-case loss is at least `ratio`
    (2) times the best set's. More targets than levers are judged as the best index of them
    (MS013 says they cannot all be met); a spec with more than 30 KPIs with gains is left to
    `msense select`.

    ## Example
    ```msense
    lever staff "Support staff"
    disturbance season "Seasonal demand" { size 2 }
    kpi queue "Queue length"  { target <= 20 by 2027-01-01  responds staff -0.3  disturbed season +0.8 }
    kpi wait  "Time to reply" { better lower  responds staff -0.6  disturbed season +0.1 }
    ```
    Holding the queue at 20 means hiring for the season, not for the customers: the season moves
    the queue far more than the staff do.

    ## What to do instead
    Run `msense select` to see the best sets, the loss of each and why; move the targets to the
    best set (keep the others as watched KPIs, without targets), or declare a lever that moves
    the disturbed KPI.
    """
    spec = ctx.spec
    targeted = [k for k in spec.kpis if k.target is not None and (k.responds or k.disturbed)]
    if not targeted or not any(k.responds for k in spec.kpis):
        return  # no gains: nothing to choose from (and no NumPy for a spec without gains)
    if _with_gains(spec) > MAX_KPIS:
        return  # NOTE: counted as build_inputs counts them, before it builds every matrix (1.4 s at 10,000 KPIs)
    from metricsense.selection import SelectError, build_inputs, evaluate, prepared
    from metricsense.selection.search import branch_and_bound, floor_of

    try:
        inputs = build_inputs(spec, ctx.data)
    except SelectError:
        return  # nothing to choose from (no gains, a cost of 0): `msense select` says why
    if len(inputs.kpis) > MAX_KPIS or len(inputs.current) < len(inputs.levers):
        return
    prep = prepared(inputs)
    floor = floor_of(prep)
    rows = [inputs.kpis.index(k) for k in inputs.current]
    found = branch_and_bound(prep, len(rows), 1)
    if not found or set(found[0][1]) == set(rows):
        return
    best = evaluate(inputs, prep, found[0][1], floor)
    current = evaluate(inputs, prep, rows, floor)
    ratio = ctx.option("ratio")
    if current.worst_case_loss is not None and current.worst_case_loss < ratio * best.worst_case_loss:
        return
    dropped = [k for k in current.kpis if k not in best.kpis]
    added = [k for k in best.kpis if k not in current.kpis]
    times = (f"{current.worst_case_loss / best.worst_case_loss:.1f} times" if current.worst_case_loss is not None
             else "without bound, against")
    worst = (max(current.sources, key=lambda s: current.sources[s] - best.sources.get(s, 0.0))
             if current.sources else None)
    because = f"; most of it is {worst} passed on to the levers" if worst else ""
    cur_text = f"{current.worst_case_loss:.3g}" if current.worst_case_loss is not None else "no bounded loss"
    yield ctx.report(
        spec.lookup(dropped[0]),
        f"holding the {_count(len(rows))} loses {times} what the best set of {len(rows)} loses when "
        f"disturbances and noise hit (worst case {cur_text} against {best.worst_case_loss:.3g}){because}",
        related=[(spec.lookup(k), "the best set targets this instead") for k in first(added)],
        help=(f"target {listed(added, last=', ')} instead of {listed(dropped, last=', ')} "
              f"(the best set: {listed(best.kpis, quote=False, last=', ')}); `msense select` shows the ranking and why"),
        evidence={"current": current.as_dict(), "best": best.as_dict(), "ratio": ratio,
                  "method": "exact local method (Halvorsen et al. 2003), bidirectional branch and bound "
                            "(Kariwala & Cao 2009)"},
    )


@rule(code="MS039", name="weight-not-positive", severity=Severity.WARNING)
def weight_not_positive(ctx) -> Iterator[Diagnostic]:
    """A lever's `cost` or a KPI's `noise` is 0: `msense select` cannot weigh it.

    ## Why is this bad?
    Seed 002 treats managing as an optimization problem, and `msense select` chooses the KPIs by
    what holding them costs the mission. `cost` says how much it costs when the lever is off its best setting (the
    curvature Juu of self-optimizing control), `noise` how much of a KPI's move is measurement
    error (Wn). A cost of 0 says the lever does not matter at all, so no set of KPIs is better than
    another at holding it; a noise of 0 says the KPI is read without error, which no KPI is, and
    makes the loss of the sets that hold it depend on rounding. `msense select` refuses both, and
    MS206 stays silent, so the mistake is reported here.

    ## Example
    ```msense
    lever overtime "Overtime hours" { cost 0 }
    ```

    ## What to do instead
    Give the relative cost (1 is the default, 2 twice as costly), or leave a lever that truly
    does not matter out; give the noise as a share of a typical move (0.05 for a very precise KPI).
    """
    for lever in ctx.spec.levers:
        if lever.cost is not None and not lever.cost.value > 0:
            yield ctx.report(lever.cost.span, f"`cost {lever.cost.value:g}` on lever `{lever.name}`: a cost must be above 0",
                             help="1 is the default; 2 says being off this lever's best setting costs twice as much")
    for kpi in ctx.spec.kpis:
        if kpi.noise is not None and not kpi.noise.value > 0:
            yield ctx.report(kpi.noise.span, f"`noise {kpi.noise.value:g}` on KPI `{kpi.name}`: noise must be above 0",
                             help="give the noise as a share of a typical move, e.g. 0.05 for a very precise KPI")


def _with_gains(spec) -> int:
    """How many KPIs ``selection.build_inputs`` takes (its ``kpis``): those with a gain on a
    declared lever or disturbance, each name once."""
    levers = {lv.name for lv in spec.levers}
    dists = {d.name for d in spec.disturbances}
    return len({k.name for k in spec.kpis
                if any(g.name in levers for g in k.responds) or any(g.name in dists for g in k.disturbed)})


def _count(n: int) -> str:
    return "targeted KPI" if n == 1 else f"{n} targeted KPIs"


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
