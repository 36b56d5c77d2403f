"""Correlation rules (MS1xx): KPIs that say the same thing twice, and how many KPIs there really are.

NumPy and the kernels are imported inside the functions: a spec without data never loads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.encoding import finite
from metricsense.evaluators.common import phi, spec_anchor
from metricsense.evaluators.records import CorrelationAnalysis
from metricsense.hookspecs import hookimpl

#: How close to the mission each kind of KPI is: the one to keep in a redundant cluster.
KIND_RANK = {"outcome": 0, "output": 1, "process": 2, "input": 3, None: 4}

COMMON = {
    "basis": Option("changes", "`changes` (period-to-period, the default) or `levels`", choices=("changes", "levels")),
    "method": Option("pearson", "`pearson` or `spearman`", choices=("pearson", "spearman")),
    "min_periods": Option(8, "the fewest shared periods a correlation needs", minimum=3),
}
REDUNDANT_OPTIONS = {**COMMON, "threshold": Option(0.9, "|r| at or above which two KPIs are redundant",
                                                     minimum=0.0, maximum=1.0)}
EFFECTIVE_OPTIONS = {**COMMON, "ratio": Option(0.6, "fire when the effective number is below this share of the KPIs",
                                                 minimum=0.0, maximum=1.0)}
#: The options the analysis is computed with (the JSON `analysis.correlation` uses the defaults).
OPTIONS = {**REDUNDANT_OPTIONS, **EFFECTIVE_OPTIONS}


def fisher(r: float, n: int) -> dict[str, Any]:
    """Two-sided p-value and 95% interval for a correlation, by Fisher's z (n > 3)."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        return {"p_value": 0.0 if abs(r) >= 1 and n > 3 else None, "ci": None}
    z, se = math.atanh(r), 1.0 / math.sqrt(n - 3)
    return {
        "p_value": 2.0 * (1.0 - phi(abs(z) / se)),
        "ci": [math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)],
    }


class Correlation(NamedTuple):
    """The record, and what the rules need beside it: the raw matrix and the KPIs it is over."""

    record: CorrelationAnalysis
    r: Any       # the K x K matrix (NumPy), NaN where a pair has too few shared periods
    kpis: list   # the KPI nodes, in the matrix's order


def correlation_analysis(spec, data, options) -> Correlation | None:
    """The KPI correlation matrix on the chosen basis, with overlaps and the effective number."""
    import numpy as np

    from metricsense import kernels

    kpis = [k for k in spec.kpis if k.name in data]
    if len(kpis) < 2:
        return None
    basis = options["basis"]
    method = options["method"]
    minp = max(int(options["min_periods"]), 2)
    names = [k.name for k in kpis]
    # KPIs of one frequency are compared on their own calendar; a pair of different frequencies
    # on the coarser one, the finer KPI as its mean per period (said by MS038), never silently.
    groups: dict = {}
    for i, name in enumerate(names):
        groups.setdefault(data.unit_of(name), []).append(i)
    r = np.full((len(names), len(names)), np.nan)
    n = np.zeros((len(names), len(names)))
    keys = list(groups)
    for a_i, a in enumerate(keys):
        for b in keys[a_i:]:
            idx = groups[a] if a == b else groups[a] + groups[b]
            chosen = [names[i] for i in idx]
            x = data.changes(chosen) if basis == "changes" else data.aligned(chosen)[0]
            sub = kernels.pairwise_corr(np.ascontiguousarray(x), method=method, min_periods=minp)
            present = (~np.isnan(x)).astype(np.float64)
            r[np.ix_(idx, idx)] = np.where(np.isnan(r[np.ix_(idx, idx)]), sub, r[np.ix_(idx, idx)])
            counts = present.T @ present
            n[np.ix_(idx, idx)] = np.maximum(n[np.ix_(idx, idx)], counts)
    usable = [i for i in range(len(kpis)) if np.isfinite(r[i, i])]
    # KPIs that share too few periods with the others (a monthly KPI among weekly ones) are left
    # out, the one missing most pairs first, until every remaining pair has a correlation.
    while usable and not np.isfinite(r[np.ix_(usable, usable)]).all():
        missing = (~np.isfinite(r[np.ix_(usable, usable)])).sum(axis=1)
        usable.pop(int(np.argmax(missing)))
    effective = None
    if len(usable) >= 2:
        effective = float(kernels.participation_ratio(r[np.ix_(usable, usable)]))
    record = CorrelationAnalysis(
        basis=basis,
        method=method,
        kpis=tuple(k.name for k in kpis),
        matrix=finite(np.asarray(r, dtype=float)),
        n=n.astype(int).tolist(),
        effective_number=effective,
        effective_of=len(usable),
        effective_kpis=tuple(kpis[i].name for i in usable),
    )
    return Correlation(record, r, kpis)


@hookimpl
def metricsense_register_analyses(register):
    register(CorrelationAnalysis.name, CorrelationAnalysis)


@hookimpl
def metricsense_analyze(spec, data, analysis):
    if data is None:
        return
    options = {k: o.default for k, o in OPTIONS.items()}
    result = correlation_analysis(spec, data, options)
    data.__dict__.setdefault("_correlation_cache", {})[tuple(sorted(options.items()))] = result
    if result is not None:
        analysis[CorrelationAnalysis.name] = result.record


def _analysis(ctx) -> Correlation | None:
    """The correlation analysis for this rule's options, computed once per data set and options."""
    if ctx.data is None:
        return None
    mine = {k: ctx.options.get(k, o.default) for k, o in OPTIONS.items()}
    key = tuple(sorted(mine.items()))
    cache = ctx.data.__dict__.setdefault("_correlation_cache", {})
    if key not in cache:
        cache[key] = correlation_analysis(ctx.spec, ctx.data, mine)
    return cache[key]


def _keep_order(kpi) -> tuple:
    return (KIND_RANK.get(kpi.kind, 4), kpi.target is None, not kpi.link)


@rule(code="MS101", name="redundant-kpis", severity=Severity.WARNING, options=REDUNDANT_OPTIONS)
def redundant_kpis(ctx) -> Iterator[Diagnostic]:
    """Two or more KPIs move together so closely that they say the same thing.

    ## Why is this bad?
    Seed 002: KPIs should not be strongly correlated. Two KPIs that move as one double the
    weight of one aspect of the work in every review, double the effort of reporting, and crowd
    out a KPI that would tell a different story. Redundancy is judged on period-to-period
    changes by default (option `basis`): two trending series correlate near 1 in levels while
    telling different stories. Pearson by default (`method = "spearman"` for ranks), over the
    periods both have (at least `min_periods`), against `threshold` (0.9). The KPI suggested to
    keep is the one closest to the mission: an outcome over an output over a process over an
    input, then one with a target and a link. The evidence holds r, the shared periods n, a
    two-sided p-value and a 95% interval (Fisher's z).

    ## Example
    ```msense
    kpi lead_time  "Lead time for changes" { kind output }
    kpi cycle_time "Cycle time"            { kind process }   # weekly changes: r = 0.92
    ```

    ## What to do instead
    Keep one of them as the KPI and drop the other, or replace it with a KPI that measures
    something the first does not (the quality of what was delivered, not its speed twice).
    """
    result = _analysis(ctx)
    if result is None:
        return
    import numpy as np

    r, kpis, n = result.r, result.kpis, np.asarray(result.record.n)
    threshold = ctx.option("threshold")
    parent = list(range(len(kpis)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = []
    for i in range(len(kpis)):
        for j in range(i + 1, len(kpis)):
            if np.isfinite(r[i, j]) and abs(r[i, j]) >= threshold:
                pairs.append((i, j))
                parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i, j in pairs:
        for k in (i, j):
            members = clusters.setdefault(find(k), [])
            if k not in members:
                members.append(k)
    for members in clusters.values():
        members.sort()
        keep = min(members, key=lambda k: (_keep_order(kpis[k]), k))
        drop = [k for k in members if k != keep]
        evidence_pairs = []
        for i, j in pairs:
            if i in members:
                stats = fisher(float(r[i, j]), int(n[i, j]))
                evidence_pairs.append({"kpis": [kpis[i].name, kpis[j].name], "r": float(r[i, j]),
                                       "n": int(n[i, j]), **stats})
        strongest = max(evidence_pairs, key=lambda p: abs(p["r"]))
        basis = "period-to-period changes" if result.record.basis == "changes" else "levels"
        names = " and ".join(f"`{kpis[k].name}`" for k in drop)
        yield ctx.report(
            kpis[drop[0]],
            f"{names} move{'s' if len(drop) == 1 else ''} with `{kpis[keep].name}` "
            f"(r = {strongest['r']:.2f} on {basis}, n = {strongest['n']}): "
            f"{'it says' if len(drop) == 1 else 'they say'} the same thing",
            related=[(kpis[keep], "the one to keep: closest to the mission")]
            + [(kpis[k], "redundant with it too") for k in drop[1:]],
            help=f"keep `{kpis[keep].name}` and drop or replace "
                 f"{'it' if len(drop) == 1 else 'the others'}",
            evidence={"keep": kpis[keep].name, "drop": [kpis[k].name for k in drop], "pairs": evidence_pairs,
                      "threshold": threshold, "basis": result.record.basis, "method": result.record.method},
        )


@rule(code="MS102", name="low-effective-kpi-count", severity=Severity.WARNING, options=EFFECTIVE_OPTIONS)
def low_effective_kpi_count(ctx) -> Iterator[Diagnostic]:
    """The KPIs carry far fewer independent signals than their number suggests.

    ## Why is this bad?
    Seed 002 warns against KPIs that are strongly correlated and against more KPIs than inputs:
    a dashboard of twelve KPIs that move as three is three KPIs and nine distractions. The
    effective number of independent KPIs is the participation ratio of their correlation matrix,
    (sum of eigenvalues)^2 / (sum of squared eigenvalues) = p^2 / ||R||_F^2, between 1 and p; for
    p KPIs all correlated at r it is p / (1 + (p - 1) r^2). The rule fires when it is below
    `ratio` (0.6) times the number of KPIs with data, for three KPIs or more.

    ## Example
    Six delivery KPIs (lead time, cycle time, deploy frequency, batch size, queue length, WIP)
    whose weekly changes correlate at 0.8: an effective number of 1.5.

    ## What to do instead
    Keep one KPI per independent signal (MS101 names the redundant pairs), and spend the freed
    attention on what is not measured yet: relationships, development, outcomes.
    """
    found = _analysis(ctx)
    result = found.record if found is not None else None
    if result is None or result.effective_number is None:
        return
    p, eff, ratio = result.effective_of, result.effective_number, ctx.option("ratio")
    if p >= 3 and eff < ratio * p:
        yield ctx.report(
            spec_anchor(ctx.spec),
            f"{p} KPIs with data carry about {eff:.1f} independent signals (participation ratio)",
            help="drop or replace KPIs that move together (see MS101)",
            evidence={"effective_number": eff, "kpis": p, "ratio": ratio, "basis": result.basis},
        )


@rule(code="MS103", name="constant-series", severity=Severity.WARNING)
def constant_series(ctx) -> Iterator[Diagnostic]:
    """A KPI's data never changes, or holds no values at all.

    ## Why is this bad?
    A KPI that never moves cannot spark a conversation (seed 003) and cannot be correlated,
    steered or gamed-checked: it is either saturated (99.99% every week), measured wrongly
    (a default value written by a pipeline), or not measured (an empty column). All three make
    the system look more complete than it is (seed 004, practice #10: many and varied indicators
    that actually vary).

    ## Example
    A `data/kpis.csv` whose `uptime` column is 100.0 in every week.

    ## What to do instead
    Check the pipeline; measure at a finer grain (minutes of downtime instead of uptime
    percentage); or drop the KPI.
    """
    if ctx.data is None:
        return
    import numpy as np

    for kpi in ctx.spec.kpis:
        series = ctx.data.series(kpi.name)
        if series is None:
            continue
        values = series.values[~np.isnan(series.values)]
        if len(values) == 0:
            yield ctx.report(kpi, f"the data of `{kpi.name}` holds no values", evidence={"observed": 0})
        elif len(values) >= 2 and np.ptp(values) == 0:
            yield ctx.report(kpi, f"`{kpi.name}` is {values[0]:g} in all {len(values)} periods with data",
                             evidence={"observed": int(len(values)), "value": float(values[0])})




@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
