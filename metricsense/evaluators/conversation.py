"""Conversation rules (MS6xx): triggers evaluated over the data, and when they fire.

Seed 003: the value of a KPI is the conversation a variance sparks. The analysis
(``analysis["triggers"]``) holds every KPI's series with its target, and per trigger the periods
where it fired and one event per run of firing (values, target, variance, question); the agenda
(``metricsense.agenda``) is built from those events.
"""

from __future__ import annotations

from collections.abc import Iterator

from metricsense import expressions as ex
from metricsense.collector import paused
from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite, finite_lists
from metricsense.evaluators.records import KpiSeries, TriggerEvaluation, TriggerEvent, TriggersAnalysis, Variance
from metricsense.hookspecs import hookimpl
from metricsense.names import listed
from metricsense.model import Document, Trigger

#: Audiences that keep a conversation private: only there may an event name a segment of a
#: `scope individual` KPI (seed 000: double-check each other, don't inspect).
PRIVATE_AUDIENCES = ("one-to-one", "manager")


def _num(value) -> float | None:
    """A plain float, or None for a missing, NaN or infinite value (``encoding.finite``)."""
    return None if value is None else finite(float(value))


_LABELS: list = [None]  # (a weak reference to the last dataset labelled, its labels)


def _labeller(data):
    """``data.label`` as a function of the period's position, from ``data.labels()`` taken once
    per dataset (``label`` looks at every series each time it is called: a trigger's history
    names hundreds of periods). The pair is replaced whole: a thread never reads another's."""
    import weakref

    kept = _LABELS[0]
    if kept is not None and kept[0]() is data:
        return kept[1].__getitem__
    try:
        ref = weakref.ref(data)
    except TypeError:  # not weakly referable: label one at a time
        return data.label
    labels = data.labels()
    _LABELS[0] = (ref, labels)
    return labels.__getitem__


def names_withheld(trigger: Trigger, spec: Document) -> bool:
    """True when events must not name segments: one person's numbers, a public audience."""
    personal = any(k.scope == "individual" for k in ex.kpis_read(trigger, spec))
    return personal and trigger.audience not in PRIVATE_AUDIENCES


def evaluate_trigger(trigger: Trigger, spec: Document, data) -> TriggerEvaluation:
    """Everything known about one trigger on the data: where it fired, and why."""
    import numpy as np

    read = ex.kpis_read(trigger, spec)
    refs = list(ex.read_refs(trigger.condition))
    kpi = read[0].name if read else (refs[0].name if refs else None)
    base = {"kpi": kpi, "audience": trigger.audience, "ask": trigger.ask, "periods": ()}
    grid = ex.prepared(trigger, spec, data)  # the noise analysis starts from the same
    if grid.problems:
        return TriggerEvaluation(**base, status="not evaluated: the condition has errors")
    if grid.inputs is None:
        return TriggerEvaluation(**base, status="not evaluated: no data for " + listed(list(grid.missing), last=", "))
    inputs, rows, n, t = grid.inputs, grid.rows, grid.n, len(grid.rows)
    if grid.error is not None:
        return TriggerEvaluation(**base, status=f"not evaluated: {grid.error}")
    fired, known = grid.fired, grid.known
    segmented = inputs.units != ("",)
    events = []
    found = ex.runs(fired)
    label = _labeller(data)
    at = rows.tolist() if found else []
    cmp = ex.first_comparison(trigger.condition) if found else None  # what the events say
    if cmp is not None:
        left = ex.evaluate(cmp.left, inputs, t)
        right = ex.evaluate(cmp.right, inputs, t)
    target = inputs.default_target
    kpi_node = ex.default_target(trigger, spec)[0] if found else None
    withheld = segmented and names_withheld(trigger, spec)
    for unit, first, last in found:  # an event reads a handful of single values (as plain floats)
        values = {name: _num(arr.item(last, unit if arr.shape[1] > 1 else 0)) for name, arr in inputs.arrays.items()}
        variance = None
        if cmp is not None:
            lv, rv = left.item(last, unit), right.item(last, unit)
            variance = Variance(_num(lv), cmp.op, _num(rv), _num(lv - rv))
        events.append(TriggerEvent(
            start=label(at[first]),
            end=label(at[last]),
            periods=last - first + 1,
            segment=None if (withheld or not segmented) else inputs.units[unit],
            values=values,
            target=_num(target),
            target_of=kpi_node.name if kpi_node is not None and target is not None else None,
            variance=variance,
            held=tuple(label(at[i]) for i in range(max(first - n + 1, 0), last + 1)) if n > 1 else (),
        ))
    if withheld:
        events = _aggregate(events)
    events.sort(key=lambda e: (e.end, e.start, e.segment or ""))
    fired_rows = np.flatnonzero(fired.any(axis=1))
    evaluable = int(known.sum())
    n_fired = int(fired.sum())
    return TriggerEvaluation(
        **{**base, "periods": tuple(label(i) for i in rows[fired_rows].tolist())},
        status="evaluated",
        for_periods=n,
        units=len(inputs.units) if segmented else None,
        evaluable=evaluable,
        fired=n_fired,
        share=(n_fired / evaluable) if evaluable else None,
        events=tuple(events),
    )


def _aggregate(events: list[TriggerEvent]) -> list[TriggerEvent]:
    """Events of a public trigger on one person's numbers: per period, how many units, no names."""
    by_end: dict[str, list[TriggerEvent]] = {}
    for e in events:
        by_end.setdefault(e.end, []).append(e)
    out = []
    for end, group in sorted(by_end.items()):
        out.append(TriggerEvent(start=min(e.start for e in group), end=end, periods=max(e.periods for e in group),
                                segment=None, units=len(group), values={}, target=group[0].target,
                                target_of=group[0].target_of, held=max((e.held for e in group), key=len)))
    return out


@paused()  # its many small objects (events, labels, entries) live on and form no cycles
def triggers_of(spec: Document, data) -> TriggersAnalysis:
    """The `triggers` analysis: each KPI's series and target, and each trigger's firing."""
    import numpy as np

    series = {}
    labels = tuple(data.labels())  # one tuple for every KPI's series
    for k in spec.kpis:
        s = data.series(k.name)
        if s is None:
            continue
        series[k.name] = KpiSeries(
            periods=labels,
            values=tuple(finite_lists(np.asarray(s.values, dtype=np.float64))),
            target=_num(k.target.value) if k.target is not None else None,
        )
    fired = {t.name: evaluate_trigger(t, spec, data) for t in spec.triggers}
    return TriggersAnalysis(series, fired)


@hookimpl
def metricsense_register_analyses(register):
    register(TriggersAnalysis.name, TriggersAnalysis)


@hookimpl
def metricsense_analyze(spec, data, analysis):
    if data is None or not spec.triggers or not len(data.periods):
        return
    analysis["triggers"] = triggers_of(spec, data)


def _evaluated(ctx) -> Iterator[tuple[Trigger, TriggerEvaluation]]:
    found = TriggersAnalysis.of(ctx.analysis)
    for trig in ctx.spec.triggers:
        info = found.fired.get(trig.name) if found is not None else None
        if info is not None and info.evaluated:
            yield trig, info


_MIN_PERIODS = Option(8, "the least number of periods (or units x periods) the condition must be known on to judge")


@rule(code="MS601", name="trigger-never-fires", severity=Severity.WARNING, options={"min_periods": _MIN_PERIODS})
def trigger_never_fires(ctx) -> Iterator[Diagnostic]:
    """A trigger never fired over its data's history, and its condition lies beyond what the series does.

    ## Why is this bad?
    Seed 003: a KPI is worth its conversations, and a trigger that never fires never starts
    one. Either the threshold sits beyond anything the series has done (so it will not spark a
    conversation until a crisis), or the condition cannot hold at all (`x > 5 and x < 3`, a
    duration longer than any run). The spec then promises a conversation nobody will have.

    How it is judged: from the share of (unit-)periods in which the condition held, without
    `for N periods`, the rule reckons how many runs of N would come over a history this long if
    the periods were independent. It speaks when the condition never held at all; when it held
    so rarely that fewer than 0.1 runs would be expected (it would fire less than once in ten
    such histories: a conversation that starts only in a crisis); or when at least 3 runs would
    be expected and none came (the run is too long for this series). In between, the trigger
    has simply not fired *so far* and the rule stays quiet: a trigger at the 10th percentile of
    a wandering series, `for 2 periods`, does not fire in 60-100 weeks in about 1 draw in 70 by
    chance. This is a statement about the history, not a test: no p-value.

    ## Example
    ```msense
    trigger outage_week when uptime < 90 for 1 period {   # uptime has stayed above 99
      ask "What did customers meet this week?"
      with leadership
    }
    ```

    ## What to do instead
    Set the threshold where a variance is worth talking about: look at the series (`msense check
    --format html` draws it with its target), and ask what size of change the team would want
    to hear about. Option `min_periods`: the history needed to judge (default 8).
    """
    least = ctx.option("min_periods")
    for trig, info in _evaluated(ctx):
        if info.fired != 0 or info.evaluable < least:
            continue
        where = "unit-periods" if info.units else "periods"
        held = _held(trig, ctx.spec, ctx.data) if info.for_periods > 1 else 0
        if held is None:
            continue
        expected = held * (held / info.evaluable) ** (info.for_periods - 1) if held else 0.0
        if held and RARE_RUNS <= expected < EXPECTED_RUNS:
            continue  # it held now and then: a run of the required length may simply not have come yet
        if held and expected >= EXPECTED_RUNS:
            message = (f"trigger `{trig.name}` never fired over {info.evaluable} {where} of data: its condition held "
                       f"in {held} of them, but never {info.for_periods} in a row, where about {expected:.0f} such "
                       f"runs would be expected if it held at random")
            what = f"this condition never held for {info.for_periods} periods in a row"
            help_text = "ask for a shorter run, or fire on a change or a distance from the usual level"
        elif held:
            message = (f"trigger `{trig.name}` never fired over {info.evaluable} {where} of data: its condition held "
                       f"in only {held} of them and never {info.for_periods} in a row; at that rate it would fire "
                       f"about once in {info.evaluable / expected:,.0f} {where}, so the conversation it promises "
                       f"would start only in a crisis")
            what = f"this condition held in {held} {where}, never for {info.for_periods} in a row"
            help_text = "move the threshold to a variance worth a conversation, or ask for a shorter run"
        else:
            message = (f"trigger `{trig.name}` never fired over {info.evaluable} {where} of data: its condition "
                       f"did not hold even once, so the threshold is beyond anything the data has done")
            what = "this condition never held"
            help_text = "move the threshold to a variance worth a conversation, or drop the trigger"
        yield ctx.report(
            trig, message,
            related=[(trig.condition, what)],
            help=help_text,
            evidence={"evaluable": info.evaluable, "fired": 0, "for_periods": info.for_periods, "held": held,
                      "expected_runs": expected},
        )


#: MS601 speaks about a condition that held but never long enough when this many runs were expected
#: (independent periods: the chance of none is about exp(-3) = 5%), or when fewer than RARE_RUNS
#: were (it would fire less than once in ten histories as long as this one).
EXPECTED_RUNS = 3.0
RARE_RUNS = 0.1


def _held(trigger: Trigger, spec: Document, data) -> int | None:
    """In how many known (unit-)periods the trigger's condition held, without its `for N periods`."""
    import numpy as np

    grid = ex.prepared(trigger, spec, data)
    if grid.inputs is None or grid.cond is None:
        return None
    return int(((grid.cond == 1.0) & (grid.rows >= 0)[:, None]).sum())


@rule(code="MS602", name="trigger-always-fires", severity=Severity.WARNING,
      options={"share": Option(0.5, "the share of periods (units x periods when segmented) above which a trigger fires 'most of the time'"),
               "min_periods": _MIN_PERIODS})
def trigger_always_fires(ctx) -> Iterator[Diagnostic]:
    """A trigger fires in most periods: an alarm people learn to ignore, or to fear.

    ## Why is this bad?
    Seed 003: the conversation is worth having because a variance is unusual. A trigger that
    fires most weeks turns the conversation into a ritual, and seed 000 warns what comes next:
    a number that is always "red" feels like an inspection, people stop listening to it or start
    hiding from it. For segmented series (one unit per task or class) the share is of the units
    and periods where the condition could be evaluated.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" { target >= 4.5 by 2027-06-30 }
    trigger csat_low when csat < target for 1 period {    # csat has been below 4.5 all year
      ask "Why is satisfaction low?"
      with team
    }
    ```

    ## What to do instead
    Fire on a change (`change(csat, 4) < -0.2`) or on a distance from the usual level
    (`csat < mean(csat, 8) - 0.3`), or ask for a longer run (`for 3 periods`). Option `share`
    (default 0.5) sets what "most" means.
    """
    share = ctx.option("share")
    least = ctx.option("min_periods")
    for trig, info in _evaluated(ctx):
        if info.evaluable >= least and info.share is not None and info.share > share:
            yield ctx.report(
                trig, f"trigger `{trig.name}` fires in {info.share:.0%} of the "
                      f"{'unit-periods' if info.units else 'periods'} it can be evaluated on "
                      f"({info.fired} of {info.evaluable})",
                related=[(trig.condition, "this condition holds most of the time")],
                help="fire on a change or a distance from the usual level, or ask for a longer run",
                evidence={"evaluable": info.evaluable, "fired": info.fired, "share": info.share},
            )


@rule(code="MS603", name="ambiguous-target", severity=Severity.ERROR, exit_code=2)
def ambiguous_target(ctx) -> Iterator[Diagnostic]:
    """A bare `target` (or a bare percentage) could mean several KPIs' targets, or none.

    ## Why is this bad?
    `target` alone is the target of the KPI the condition reads, and `25%` is 25% of it. When the
    condition reads two KPIs with targets, nobody can tell which one the threshold is about, and
    the conversation it sparks (seed 003) starts from a number that may not be the one meant.
    When no KPI it reads has a numeric target, there is nothing to compare with at all (seed 004,
    practice #3: specific targets).

    ## Example
    ```msense
    trigger slow when lead_time > target and cycle_time > target for 2 periods { ask "?" }
    ```

    ## What to do instead
    ```msense
    trigger slow when lead_time > target(lead_time) and cycle_time > target(cycle_time) for 2 periods { ask "?" }
    ```
    """
    for trig in ctx.spec.triggers:
        for p in ex.default_target(trig, ctx.spec)[1]:
            yield ctx.report(p.span, p.message, related=[(trig, "in this trigger")], help=p.help)


@rule(code="MS604", name="expression-type-error", severity=Severity.ERROR, exit_code=2)
def expression_type_error(ctx) -> Iterator[Diagnostic]:
    """A trigger condition mixes numbers and conditions, or gives a function the wrong argument.

    ## Why is this bad?
    A condition must say when a conversation starts (seed 003: the variance is the spark). A
    comparison used as a number (`(x > 3) + 1`), a number used as a condition (`when x - 3`,
    `x and y`) or a window that is not a whole number of periods (`mean(x, 2.5)`) has no
    meaning; guessing one (Python would add `True + 1`) would fire conversations nobody asked
    for. The trigger is not evaluated until it is fixed.

    ## Example
    ```msense
    trigger gap when abs(estimate.self > estimate.manager) for 1 period { ask "?" }
    trigger dip when mean(csat, 0.5) for 2 periods { ask "?" }
    ```

    ## What to do instead
    ```msense
    trigger gap when abs(estimate.self - estimate.manager) > 25% of estimate.manager for 1 period { ask "?" }
    trigger dip when mean(csat, 4) < target - 0.2 for 2 periods { ask "?" }
    ```
    """
    for trig in ctx.spec.triggers:
        for p in ex.type_problems(trig, ctx.spec):
            yield ctx.report(p.span, p.message, related=[(trig, "in this trigger")], help=p.help)




@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)


__all__ = ["evaluate_trigger", "names_withheld", "triggers_of"]
