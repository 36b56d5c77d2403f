"""Noise rules (MS3xx): targets, triggers and reviews judged against a series' normal variation.

The noise of a series is robust: 1.4826 x the median absolute deviation (MAD) of its
period-to-period changes, counted on the series' own periods (a monthly series among weekly
ones, a school year without July and August: a change across a missing period is not a change
of one period, so it is left out, as the trigger interpreter does). 1.4826 makes the MAD a
consistent estimate of the standard deviation of normal changes; a few wild periods (an outage,
a strike) do not inflate it the way a standard deviation would.

A target is judged against the KPI's own moves over one review period from today's level (the
median of the last ``level_periods`` values), with a chi-square test on their spread
(metricsense.evaluators.serial.spread_test); a segmented KPI's target is not judged. A trigger
is judged by its own history (the share of periods it held, with an autocorrelation-robust
standard error) and by an AR(1) model of the values it compares (a random walk when they
wander), per unit for a segmented series: forecasts from the last value, simulated runs of
`for N periods`, a parametric bootstrap; both must say it fires too often.

The ``NoiseAnalysis`` record (``analysis["noise"]``, metricsense.evaluators.records) holds, per
KPI, a ``KpiNoise``: ``noise``, ``changes``, ``level`` (today's level), ``target``,
``target_gap``, ``gap_in_noise`` (|gap| / spread), ``spread``, ``horizon``, ``model`` (how the
spread was measured), ``p_value``; ``triggers`` (per trigger: rates, history, p-values) and
``review`` (review cadence and the lags of its levers, declared or estimated). NumPy is
imported inside functions only: ``msense rules`` must stay light.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from metricsense import expressions as ex
from metricsense.collector import paused
from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite
from metricsense.evaluators import serial
from metricsense.evaluators.common import own_values, phi
from metricsense.evaluators.lags import review_of
from metricsense.evaluators.noise_batch import drive
from metricsense.evaluators.noise_fields import MAD_SCALE, Plain, horizon, plain_of
from metricsense.evaluators.noise_models import _reads, changes_of, comparison_noise, comparison_noise_many, robust_noise
from metricsense.evaluators.records import (
    KpiNoise,
    NoiseAnalysis,
    NoiseOptions,
    TriggerNoise,
)
from metricsense.hookspecs import hookimpl
from metricsense.model import KPI, UNIT_DAYS, Binary, Document, Trigger
from metricsense.names import listed

DEFAULTS = {"level_periods": 3, "min_periods": 8, "max_lag": 6, "max_rate": 0.1, "ratio": 1.0}


def level_of(column, last: int) -> float:
    """Today's level: the median of the last ``last`` observed values."""
    import numpy as np

    x = np.asarray(column, dtype=float)
    x = x[~np.isnan(x)]
    return serial.median(x[-last:]) if len(x) else float("nan")


# ---- per KPI: noise, level, gap ---------------------------------------------------------------


def kpi_fields(kpi: KPI, data, level_periods: int, ratio: float = 1.0, plain: Plain | None = None) -> dict | None:
    """The fields of one KPI's noise entry with data (None without a series).

    ``noise`` is the robust scale of one period's change. The target is judged against the
    KPI's own moves over one review period (``horizon``: the review cadence in periods when
    declared, else 1): ``level`` is today's level (the median of the last ``level_periods``
    observed values), ``spread`` the standard deviation of the moves x[t + h] - level[t] over
    the KPI's history (serial.moves), ``gap_in_noise`` = |target - level| / spread, and
    ``p_value`` the chi-square p-value of H0: |gap| >= ratio x the true spread
    (serial.spread_test). A segmented KPI (one series per unit) is not judged: its target is
    met or missed unit by unit, and where the target sits among the units is a choice, not
    noise (``model`` says so). ``plain``: the KPI's statistics made with many others'
    (noise_fields.plain_many, the same values), else they are made here.
    """
    s = data.series(kpi.name) if data is not None else None
    if s is None or not len(data.periods):
        return None
    if plain is not None:
        noise, changes, series, level, units = plain.noise, plain.changes, plain.series, plain.level, 1
    else:
        block, _ = own_values(data.periods, s.values)
        d = changes_of(block)
        noise, changes, units = robust_noise(d), len(d), block.shape[1]
        series = block[:, 0] if block.shape[1] == 1 else _row_mean(block)
        level = level_of(series, level_periods)
    out = dict(noise=finite(noise), changes=int(changes), level=finite(level), level_periods=level_periods,
               segments=len(s.segments) or None)
    t = kpi.target
    if t is None or t.value is None or t.comparison not in ("<", "<=", ">", ">=", "=="):
        return out
    gap = float(t.value) - level
    met = {"<": level < t.value, "<=": level <= t.value, ">": level > t.value, ">=": level >= t.value,
           "==": level == t.value}[t.comparison] if math.isfinite(level) else None
    out.update(target=float(t.value), comparison=t.comparison, target_gap=finite(gap), met=met,
               gap_in_noise=finite(abs(gap) / noise) if noise and noise > 0 else None)
    if out["segments"] or units > 1:
        return {**out, "model": {"method": "not judged: a segmented KPI meets its target unit by unit"}}
    if not math.isfinite(gap):
        return out
    h = horizon(kpi, data)
    if plain is not None and plain.moves is not None:
        e = plain.moves
    else:
        e = serial.moves(series[-serial.TAIL:], h, level_periods)
    if len(e) < 3:
        return out
    spread, df, p_value = serial.spread_test(e, gap, ratio, h + level_periods)
    if not spread > 0:
        return out
    out.update(spread=finite(spread), horizon=h, gap_in_noise=finite(abs(gap) / spread),
               model={"method": "moves over the review period", "moves": int(len(e)),
                      "mean_move": finite(float(e.sum() / len(e))), "df": finite(df)},
               p_value=finite(p_value))
    return out


def _row_mean(block):
    import numpy as np

    ok = ~np.isnan(block)
    return np.where(ok.any(axis=1), np.nansum(block, axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)


# ---- per trigger: the threshold against the noise ---------------------------------------------

def _comparisons(expr) -> tuple[list[Binary], str] | None:
    """The comparisons of a condition made only of comparisons joined by one of and/or."""
    if isinstance(expr, Binary) and expr.op in ex.COMPARISONS:
        return [expr], "and"
    if isinstance(expr, Binary) and expr.op in ex.LOGIC:
        left, right = _comparisons(expr.left), _comparisons(expr.right)
        if left is None or right is None:
            return None
        joins = {expr.op} | ({left[1]} if len(left[0]) > 1 else set()) | ({right[1]} if len(right[0]) > 1 else set())
        if len(joins) > 1:
            return None
        return left[0] + right[0], expr.op
    return None


def trigger_noise(trigger: Trigger, spec: Document, data, level_periods: int, max_rate: float = 0.1) -> TriggerNoise:
    """Per trigger: its rate per period and per run of N periods (model and history), and the
    p-value of H0: the rate of runs is at most ``max_rate`` (the larger of the two tests').
    ``trigger_steps`` run alone (``noise_of`` runs every trigger's together)."""
    return drive([trigger_steps(trigger, spec, data, level_periods, max_rate)])[0]


def trigger_steps(trigger: Trigger, spec: Document, data, level_periods: int, max_rate: float = 0.1, made=None):
    """``trigger_noise`` as a generator: it yields the simulations it needs (lists of
    noise_batch requests), is sent their answers, and returns the TriggerNoise. ``made``: its
    comparisons' comparison_noise made already (``_models``), else they are made here."""
    import numpy as np

    base: TriggerNoise = {"trigger": trigger.name}
    found = _comparisons(trigger.condition)
    if found is None:
        return {**base, "status": "not a threshold condition"}
    grid = ex.prepared(trigger, spec, data)  # as the conversation analysis has it
    if grid.problems:
        return {**base, "status": "not evaluated: the condition has errors"}
    if grid.inputs is None:
        return {**base, "status": "not evaluated: no data for " + ", ".join(f"`{m}`" for m in grid.missing)}
    inputs, rows, n = grid.inputs, grid.rows, grid.n
    if not len(rows):  # every series it reads is empty: no period at all to judge the threshold on
        names = sorted(ex.series_name(r) for r in ex.read_refs(trigger.condition))
        return {**base, "status": "not evaluated: no values for " + ", ".join(f"`{n}`" for n in dict.fromkeys(names))}
    comparisons, join = found
    parts, jobs = zip(*(made or (comparison_noise(c, inputs, level_periods, max_rate, n) for c in comparisons)))
    parts, jobs = list(parts), [j for j in jobs if j is not None]
    if jobs:  # the model's simulated runs, for the parts that have a model (in order)
        for p, rates in zip([p for p in parts if "bootstrap_cells" in p], (yield [("run", j) for j in jobs])):
            p["rate_run"] = float(rates.sum() / rates.size)  # rates.mean(): the sum over the count
    cells = min((p.pop("bootstrap_cells") for p in parts if "bootstrap_cells" in p), default=1)
    base.update({"for_periods": n, "join": join, "comparisons": parts})
    rates = [p["rate"] for p in parts if p.get("status") == "evaluated"]
    runs = [p["rate_run"] for p in parts if p.get("status") == "evaluated"]
    past = [p for p in parts if p.get("status", "").startswith("already past")]
    # With `and`, a part already past its threshold holds anyway: the other parts decide.
    if len(rates) != len(parts) and not (join == "and" and rates and len(rates) + len(past) == len(parts)):
        base["status"] = next(p["status"] for p in parts if p.get("status") != "evaluated")
        return base
    # Frechet upper bounds, whatever the dependence between the parts: P(A and B) <= min,
    # P(A or B) <= sum; a run of `A or B` is bounded by its last period's rate.
    if join == "and":
        rate, run, merge = min(rates), min(runs), (lambda rs: rs[0] if len(rs) == 1 else np.min(rs, axis=0))
    else:
        rate = min(1.0, sum(rates))
        run = min(1.0, sum(runs)) if n == 1 else rate
        merge = (lambda rs: np.minimum(1.0, np.sum(rs, axis=0)))  # noqa: E731
    # the trigger's own history: how often it held over the data (per unit-period), with its
    # autocorrelation-robust standard error; the finding needs both (an intersection-union test)
    if grid.error is not None:
        return {**base, "status": f"not evaluated: {grid.error}"}
    share, se, p_history = serial.share_test(grid.fired.sum(axis=1), grid.known.sum(axis=1), max_rate, n)
    skipped = None
    if p_history == 1.0:  # max(p_model, 1) = 1 whatever the model says: its bootstrap decides nothing
        p_model, used, p_value = None, 0, 1.0
        skipped = MODEL_NOT_RUN
    else:  # sequential: replicates only until the p-value is clearly above 5% (serial.sequential_rate_p)
        p_model, used = yield from _bootstrap_test(jobs, merge, max_rate, cells)
        p_value = max(p_model, p_history) if math.isfinite(p_history) else p_model
    base.update({"status": "evaluated", "rate": rate, "rate_per_run": run, "p_value": p_value,
                 "p_model": p_model, "history_share": finite(share), "history_se": finite(se),
                 "p_history": finite(p_history), "max_rate": max_rate, "bootstrap": used,
                 "kpis": sorted({k for p in comparisons for k in _reads(p.left) | _reads(p.right)})})
    if skipped:
        base["model_test"] = skipped
    return base


def _models(spec: Document, data, level_periods: int, max_rate: float) -> dict[int, list]:
    """comparison_noise of every comparison trigger_steps judges, made together (comparison_noise_many),
    by the trigger's position: its comparisons' (entry, job) in order."""
    asked, at = [], {}
    for i, trigger in enumerate(spec.triggers):
        found = _comparisons(trigger.condition)
        grid = ex.prepared(trigger, spec, data) if found is not None else None
        if grid is None or grid.problems or grid.inputs is None or not len(grid.rows):
            continue
        at[i] = len(asked), len(found[0])
        asked += [(c, grid.inputs, level_periods, max_rate, grid.n) for c in found[0]]
    done = comparison_noise_many(asked)
    return {i: done[a:a + n] for i, (a, n) in at.items()}


def _bootstrap_test(jobs, merge, bound: float, cells: int):
    """serial.sequential_blocks over the merged bootstrap run rates of the trigger's ``jobs``."""
    steps = serial.sequential_blocks(bound, cells)
    try:
        block = next(steps)
        while True:
            block = steps.send(merge((yield [("boot", j, *block) for j in jobs])))
    except StopIteration as stop:
        return stop.value


#: ``model_test`` of a trigger whose bootstrap was not run (its ``p_model`` is null, ``bootstrap`` 0).
MODEL_NOT_RUN = "not run: p_history is 1, so p_value is 1"


# ---- the analysis -----------------------------------------------------------------------------


def noise_of(spec: Document, data, level_periods: int = 3, max_lag: int = 6, max_rate: float = 0.1,
             ratio: float = 1.0) -> NoiseAnalysis:
    with paused():  # its many small objects live on and form no cycles (a sixth of the analysis at 10,000 KPIs)
        return _noise_of(spec, data, level_periods, max_lag, max_rate, ratio)


def _noise_of(spec: Document, data, level_periods: int, max_lag: int, max_rate: float, ratio: float) -> NoiseAnalysis:
    out: dict[str, dict] = {}  # each KPI's fields, made into a KpiNoise once
    plain = plain_of(spec, data, level_periods) if data is not None and len(data.periods) else {}
    for k in spec.kpis:
        entry = kpi_fields(k, data, level_periods, ratio, plain.get(k.name)) if data is not None else None
        review = review_of(k, data, max_lag)
        if entry is None and review is None:
            continue
        out[k.name] = {**(entry or {}), "review": review}
    triggers: dict[str, dict[str, TriggerNoise]] = {}  # KPI -> trigger -> its noise
    if data is not None and len(data.periods):  # every trigger's simulations side by side (noise_batch)
        made = _models(spec, data, level_periods, max_rate)
        steps = [trigger_steps(t, spec, data, level_periods, max_rate, made.get(i)) for i, t in enumerate(spec.triggers)]
        # NOTE: by position, not by name: two triggers may share a name (MS003), each keeps its own
        for trig, info in zip(spec.triggers, drive(steps)):
            for name in info.get("kpis", ()):
                if name in out:
                    triggers.setdefault(name, {})[trig.name] = info
            if not info.get("kpis"):
                read = ex.kpis_read(trig, spec)
                if read and read[0].name in out:
                    triggers.setdefault(read[0].name, {})[trig.name] = info
    for name, found in triggers.items():
        out[name]["triggers"] = found
    return NoiseAnalysis(kpis={name: KpiNoise(**fields) for name, fields in out.items()})


@hookimpl
def metricsense_register_analyses(register):
    register(NoiseAnalysis.name, NoiseAnalysis)


@hookimpl
def metricsense_analyze(spec, data, analysis):
    if not spec.kpis:
        return
    if data is None and not any(k.review is not None for k in spec.kpis):
        return
    found = noise_of(spec, data, *(DEFAULTS[k] for k in _KEYS))
    if found.kpis:
        analysis[NoiseAnalysis.name] = found


_KEYS = ("level_periods", "max_lag", "max_rate", "ratio")


def _current(ctx) -> NoiseAnalysis:
    """The noise analysis for this rule's options (recomputed, and recorded, when they differ)."""
    values = [ctx.options.get(k, DEFAULTS[k]) for k in _KEYS]
    default = NoiseAnalysis.of(ctx.analysis)
    if values == [DEFAULTS[k] for k in _KEYS] and default is not None:
        return default
    if __name__ in ctx.stopped:
        return NoiseAnalysis(kpis={})  # NOTE: stopped (MS005): not run a second time per rule
    found = noise_of(ctx.spec, ctx.data, *values)
    options: NoiseOptions = ctx.analysis.setdefault("noise_options", {})
    options[ctx.rule.code] = found
    return found


#: Each rule's own test level; the pipeline applies Benjamini-Hochberg over the spec's findings.
ALPHA = 0.05


def _tests(ctx, n: int) -> None:
    """Tell the pipeline how many hypothesis tests this rule ran (the multiple-testing family)."""
    if n:
        getattr(ctx, "tests", lambda n: None)(n)


def _enough(entry: KpiNoise, least: int) -> bool:
    return (entry.changes or 0) >= least and (entry.noise or 0) > 0


_LEVEL = Option(3, "today's level is the median of this many last observed periods")
_MIN = Option(8, "the least number of period-to-period changes needed to estimate the noise")


@rule(code="MS301", name="target-inside-noise", severity=Severity.WARNING,
      options={"ratio": Option(1.0, "report when |target - level| is below this many spreads of the KPI's moves "
                                    "over one review period"),
               "level_periods": _LEVEL, "min_periods": _MIN})
def target_inside_noise(ctx) -> Iterator[Diagnostic]:
    """The target is closer to the KPI's level today than the KPI usually moves between reviews.

    ## Why is this bad?
    Seed 004 (Behn's third practice, set a specific target) asks for a target that the team
    must work to reach. When the KPI's usual movement between two reviews is larger than the
    distance to the target, meeting or missing it at the next review is largely luck: a good
    month will "meet" it and a bad one "miss" it whatever anyone does, and the conversation
    (seed 003) is about luck. A target already met by less than that movement is reported too:
    it can be lost by chance.

    How it is judged (what is measured, nothing more): today's level is the median of the last
    `level_periods` observed values (default 3). The KPI's moves over one review period (the
    review cadence in periods when the KPI declares `review every`, else 1 period) are measured
    on its own history: every value minus the level `h` periods before it (never across a
    missing period). The spread is their standard deviation, the gap is target minus today's
    level. The null hypothesis is the healthy case: the target is at least `ratio` (default 1)
    true spreads from today's level, so a move of the usual size does not decide it. The
    rule reports when a chi-square test on the spread rejects that null at 5% (the spread's
    degrees of freedom are reduced for overlapping and autocorrelated moves and for heavy tails;
    `evidence["p_value"]`): a target exactly `ratio` spreads away is meant to be reported in at
    most 5% of cases, and the calibration suite measures it. A drift in the KPI is not extrapolated toward the target: the
    spread is measured about the average move. A segmented KPI (one series per unit) is not
    judged: its target is met or missed unit by unit, and where it sits among the units is a
    choice, not noise.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {
      target >= 4.30 by 2027-06-30      # csat sits at 4.25 and moves 0.08 a month
      data "kpis.csv"
    }
    ```

    ## What to do instead
    Set the target where reaching it takes the work you intend (several spreads away), or
    judge it on a longer window (a quarter's mean) whose moves are smaller. Options: `ratio`
    (default 1 spread), `level_periods`, `min_periods` (default 8 changes).
    """
    ratio, least = ctx.option("ratio"), ctx.option("min_periods")
    found = _current(ctx)
    tested = 0
    for k in ctx.spec.kpis:
        e = found.kpis.get(k.name) or KpiNoise()
        if k.target is None or e.spread is None or not _enough(e, least) or e.p_value is None:
            continue
        tested += 1
        if e.gap_in_noise < ratio and e.p_value <= ALPHA:
            when = "from one period to the next" if e.horizon == 1 else \
                f"over {e.horizon} periods (its review cadence)"
            chance = phi(-e.gap_in_noise)
            if e.met:
                head = (f"`{k.name}` meets its target {e.target:g} by only {abs(e.target_gap):.3g} (it sits at "
                        f"{e.level:.4g}), while it usually moves by about {e.spread:.3g} {when}: it may lose "
                        f"the target by chance alone (roughly a {chance:.0%} chance)")
            else:
                head = (f"`{k.name}` is {abs(e.target_gap):.3g} short of its target {e.target:g} (it sits at "
                        f"{e.level:.4g}), while it usually moves by about {e.spread:.3g} {when}: meeting it "
                        f"at the next review may be luck, not work (roughly a {chance:.0%} chance)")
            yield ctx.report(
                k.target,
                head + "; check whether the target asks for the change you intend",
                related=[(k, f"today's level {e.level:.4g}: the median of its last {e.level_periods} values")],
                help=f"set the target several spreads from today's level, or judge it on a longer window; "
                     f"test: |gap| / spread = {e.gap_in_noise:.2f} < {ratio:g} (spread: standard deviation of "
                     f"{e.model['moves']} moves over {e.horizon} period{'s' if e.horizon != 1 else ''}), "
                     f"chi-square p = {e.p_value:.2g}",
                evidence={"level": e.level, "target": e.target, "target_gap": e.target_gap,
                          "noise": e.noise, "spread": e.spread, "gap_in_noise": e.gap_in_noise,
                          "changes": e.changes, "horizon": e.horizon, "model": e.model, "p_value": e.p_value},
            )
    _tests(ctx, tested)


@rule(code="MS302", name="trigger-inside-noise", severity=Severity.WARNING,
      options={"max_rate": Option(0.1, "report when the trigger fires on more than this share of periods, "
                                       "in its history and from today's level"),
               "level_periods": _LEVEL, "min_periods": _MIN})
def trigger_inside_noise(ctx) -> Iterator[Diagnostic]:
    """A trigger's threshold is so close to normal variation that it fires on noise.

    ## Why is this bad?
    Seed 003: a trigger starts a conversation about a variance worth understanding. If the
    threshold sits within the series' normal movement, it fires on noise, and people learn to
    explain away (or dread) conversations that were about nothing.

    How it is judged (what is measured, nothing more): two estimates of the share of periods
    in which the trigger fires (for `for N periods`, the share of periods ending a run of N),
    and both must be above `max_rate` (default 0.1), each by a one-sided test at 5% (an
    intersection-union test: `evidence["p_value"]` is the larger of the two p-values):

    - its own history: the share of the periods (unit-periods for a segmented series) in which
      it held, with an autocorrelation-robust standard error (Newey-West, Andrews' bandwidth);
    - from today's level: an AR(1) model of the compared values (`x`, `mean(x, 4)`,
      `change(x, 1)`; a random walk when they wander; a pooled coefficient over units) gives
      the chance of being past the threshold in each of the next periods (as many as the
      history, 13 to 104) from each unit's last value; runs of N periods are simulated from the
      model, never the N-th power of the per-period rate. The p-value comes from a parametric
      bootstrap of the model (refitted on series simulated with the data's gaps), sequential
      (Besag & Clifford 1991): replicates are drawn until 10 of them put the rate at or below
      `max_rate`, and then p = 10 / replicates used (0.05 or more: no finding); if the 199
      replicates hold fewer than 10, p is the logit-normal tail of all 199 (`bootstrap` in the
      analysis: the replicates used). Where the history's p-value is 1 (the trigger held on
      less than `max_rate` of its periods by a wide margin, often never) the test's p-value is
      1 whatever the model says: the bootstrap is not run (`p_model` null, `bootstrap` 0, and
      `model_test` in the analysis says why); the model's rates are still estimated.

    So a trigger is reported only when it did fire often and would keep firing from where the
    KPI is now. Conditions joined by `and` take the smallest rate of their parts, by `or` the
    sum (bounds that hold whatever the dependence). Units already past the threshold are left
    out of the model's estimate (MS602's finding).

    ## Example
    ```msense
    trigger queue_up when queue > 52 for 1 period {   # queue sits at 50 and moves 4 a week
      ask "Why is the queue up?"
    }
    ```

    ## What to do instead
    Move the threshold a few spreads away from the usual level, or ask for a run
    (`for 3 periods`), or compare a smoother quantity (`mean(queue, 4) > 55`). Options:
    `max_rate` (default 0.1: one false alarm in ten periods), `level_periods`, `min_periods`.
    """
    from metricsense.evaluators.records import TriggersAnalysis

    most, least = ctx.option("max_rate"), ctx.option("min_periods")
    found = _current(ctx)
    history = TriggersAnalysis.of(ctx.analysis)
    seen = set()
    tested = 0
    entries = {name: i for e in found.kpis.values() for name, i in (e.triggers or {}).items() if i}  # the last KPI's
    for trig in ctx.spec.triggers:
        info = entries.get(trig.name)
        if not info or info.get("status") != "evaluated" or trig.name in seen:
            continue
        seen.add(trig.name)
        parts = [p for p in info["comparisons"] if p.get("status") == "evaluated"]
        if min((p["observed"] for p in parts), default=0) < least + 1:
            continue
        tested += 1
        rate, p_value, share = info["rate_per_run"], info["p_value"], info.get("history_share")
        if rate > most and share is not None and share > most and p_value <= ALPHA:
            yield _trigger_finding(ctx, trig, info, parts, history, most)
    _tests(ctx, tested)


def _trigger_finding(ctx, trig, info, parts, history, most) -> Diagnostic:
    worst = max(parts, key=lambda p: p["rate_run"])
    n, rate, share = info["for_periods"], info["rate_per_run"], info["history_share"]
    past = history.fired.get(trig.name) if history is not None else None
    kpis = listed(info["kpis"])
    what = "its usual change" if worst["values"] == "changes" else "its usual level"
    when = "" if past is None or not past.evaluable else (
        f" it held in {past.fired} of {past.evaluable} {'unit-periods' if worst['units'] > 1 else 'periods'} of "
        f"the data{f', most recently {past.periods[-1]}' if past.periods else ''},")
    model = worst["model"]
    run = f" (a run of {n} periods)" if n > 1 else ""
    return ctx.report(
        trig,
        f"trigger `{trig.name}` fires too often to mean something:{when} and from where {kpis} is now "
        f"it would fire in about {rate:.0%} of periods{run} with nothing changing; its threshold "
        f"{worst['threshold']:.4g} is {worst['distance']:.3g} from {what}, within its normal movement "
        f"({worst['spread']:.3g}); look at whether those conversations were about real problems",
        related=[(trig.condition, f"normal spread: {worst['spread']:.3g} "
                                  f"({'a random walk' if model['model'] == 'random walk' else 'an AR(1) model'}"
                                  f", phi {model['phi']:.2f})")],
        help=f"move the threshold a few spreads from the usual level, or ask for a longer run; test: history "
             f"{share:.1%} (SE {info['history_se']:.3f}) > {most:g}, p = {info['p_history']:.2g}; model "
             f"{rate:.1%} > {most:g} over {worst['horizon']} periods, bootstrap p = {info['p_model']:.2g}",
        evidence={"false_alarm_rate": info["rate"], "false_alarm_rate_per_run": rate, "history_share": share,
                  **{k: info[k] for k in ("history_se", "p_history", "p_model", "p_value")}, "for_periods": n,
                  **{k: worst[k] for k in ("threshold", "level", "distance", "noise", "spread", "distance_in_noise",
                                           "units", "values", "observed", "model", "horizon")},
                  "history": ({"fired": past.fired, "evaluable": past.evaluable, "share": past.share}
                              if past is not None and past.evaluable else None)},
    )


@rule(code="MS303", name="review-faster-than-response", severity=Severity.WARNING,
      options={"max_lag": Option(6, "the longest lag, in periods, searched when estimating a lever's lag from data")})
def review_faster_than_response(ctx) -> Iterator[Diagnostic]:
    """A KPI is reviewed more often than its levers' effects can show.

    ## Why is this bad?
    Seed 002 (see the future; the system's dynamics) and seed 004 (Behn's eleventh practice,
    act on what you learn): a review judges the last decisions by the KPI. If the lever takes
    two months to move it and the review comes every month, each review sees only the effect
    of decisions made before the previous one, and the next decision reacts to noise: the
    team changes course before the last change could work (a classic cause of oscillation in
    feedback loops with delay). Lags are the ones declared (`responds coaching +0.3 lag 2
    months`): then the finding is a fact of the spec, with no test. Without a declaration, and
    with data, a lag is estimated: for each lag 0 to `max_lag` periods, the correlation of the
    lever's changes with the KPI's changes that many periods later, in the declared gain's
    direction, is a one-sided z-test with Bartlett's variance for two autocorrelated series; the
    best lag's p-value is multiplied by the number of lags searched (Bonferroni, which keeps
    the search at or below 5%; `evidence["p_value"]`). A lag of 0 is no finding. A `review
    every N periods` needs the data's frequency to be compared.

    ## Example
    ```msense
    kpi proficiency "Students proficient" {
      responds tutoring +0.4 lag 3 months
      review every 1 month
    }
    ```

    ## What to do instead
    Review at least as slowly as the slowest lever you are judging (`review every 1 quarter`),
    or review a leading indicator that responds within the cadence.
    """
    found = _current(ctx) if ctx.data is not None or __name__ in ctx.stopped else noise_of(ctx.spec, None)
    tested = 0
    for k in ctx.spec.kpis:
        entry = found.kpis.get(k.name)
        review = entry.review if entry is not None else None
        if not review or review.every_days is None:
            continue
        if ctx.data is not None and ctx.data.frequency in UNIT_DAYS and len(ctx.data.periods) >= 16:
            tested += sum(1 for g in k.responds if g.lag is None and g.name in ctx.data and k.name in ctx.data)
        slow = [(g, review.lags[g.name]) for g in k.responds
                if g.name in review.lags and review.lags[g.name].days is not None
                and review.lags[g.name].days > review.every_days * 1.01]  # 1%: 13 weeks = 1 quarter
        if not slow:
            continue
        every = k.review
        words = listed([f"`{g.name}` after about {info.days / UNIT_DAYS['day']:.0f} days"
                        f"{' (estimated)' if info.source == 'estimated' else ''}" for g, info in slow], quote=False, last=", ")
        estimated = [info for _, info in slow if info.source == "estimated"]
        evidence = {"review_days": review.every_days, "lags": {g.name: info.to_json() for g, info in slow}}
        tests = ""
        if len(estimated) == len(slow):  # only estimated lags: a statistical finding
            evidence["p_value"] = min(info.p_value for info in estimated)
            tests = (f"; test: best lagged correlation of changes, Bartlett-corrected z, Bonferroni over the "
                     f"{ctx.option('max_lag') + 1} lags searched, p = {evidence['p_value']:.2g}")
        yield ctx.report(
            every,
            f"`{k.name}` is reviewed every {every.count} {every.unit}{'s' if every.count != 1 else ''} "
            f"(about {review.every_days:.0f} days), but its levers show their effect later: {words}; "
            f"each review judges decisions whose effect cannot show yet, so look at whether the team "
            f"changes course before the last change could work",
            related=[(g, f"lag {'declared' if info.source == 'declared' else 'estimated from the data'}")
                     for g, info in slow],
            help="review at least as slowly as the slowest lever, or review a leading indicator" + tests,
            evidence=evidence,
        )
    _tests(ctx, tested)


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)


__all__ = ["MAD_SCALE", "changes_of", "comparison_noise", "noise_of", "own_values", "phi", "robust_noise",
           "trigger_noise"]
