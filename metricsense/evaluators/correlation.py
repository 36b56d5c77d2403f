"""Correlation rules (MS1xx): KPIs that say the same thing twice, and how many KPIs there really are.

NumPy and the kernels are imported inside the functions: a spec without data never loads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.evaluators.common import phi, spec_anchor
from metricsense.evaluators.compact import CORRELATION_FLOOR
from metricsense.evaluators.correlation_blocks import WHOLE_UP_TO, Blocks, LazyMatrix, corrected_squares
from metricsense.evaluators.matrices import counts, floats, pairwise_sum, row_blocks
from metricsense.evaluators.records import CorrelationAnalysis
from metricsense.hookspecs import hookimpl
from metricsense.names import first, listed

#: How close to the mission each kind of KPI is: the one to keep in a redundant cluster.
KIND_RANK = {"outcome": 0, "output": 1, "process": 2, "input": 3, None: 4}

COMMON = {
    "basis": Option("changes", "`changes` (period-to-period, the default) or `levels`", choices=("changes", "levels")),
    "method": Option("pearson", "`pearson` or `spearman`", choices=("pearson", "spearman")),
    "min_periods": Option(8, "the fewest shared periods a correlation needs", minimum=3),
}
REDUNDANT_OPTIONS = {**COMMON, "threshold": Option(0.9, "|r| at or above which two KPIs are redundant",
                                                     minimum=0.0, maximum=1.0),
                     "floor": Option(0.8, "the |correlation| the data must show a redundant pair is above (one-sided, 5%)",
                                     minimum=0.0, maximum=0.99)}
EFFECTIVE_OPTIONS = {**COMMON, "ratio": Option(0.6, "fire when the effective number is below this share of the KPIs",
                                                 minimum=0.0, maximum=1.0)}
#: The options the analysis is computed with (the JSON `analysis.correlation` uses the defaults).
OPTIONS = {**REDUNDANT_OPTIONS, **EFFECTIVE_OPTIONS}


def fisher(r: float, n: int) -> dict[str, Any]:
    """Two-sided p-value and 95% interval for a correlation, by Fisher's z (n > 3). An |r| within
    four ulps of 1 is a perfect correlation rounded (a KPI and its copy gave 1.0 or
    0.9999999999999999 by the order of a sum): taken as 1, so both read alike."""
    if math.isfinite(r) and abs(r) >= 1.0 - 4 * 2.0 ** -53:
        r = math.copysign(1.0, r)
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        return {"p_value": 0.0 if abs(r) >= 1 and n > 3 else None, "ci": None}
    z, se = math.atanh(r), 1.0 / math.sqrt(n - 3)
    return {
        "p_value": 2.0 * (1.0 - phi(abs(z) / se)),
        "ci": [math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)],
    }


def effective_n(a, b, n: int | None = None) -> float:
    """The effective number of independent pairs behind a correlation of two autocorrelated series.

    Bartlett's variance of r under autocorrelation, as Pyper & Peterman (1998) use it:
    1/n* = 1/n + (2/n) sum_{j=1}^{n/5} ((n - j)/n) rho_a(j) rho_b(j), with the autocorrelations
    of each series over the periods both have (NaN rows dropped, so a gap is bridged: the sum is
    short a little there). Never more than n: negatively autocorrelated changes would raise it,
    and the rule does not count on that."""
    import numpy as np

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    n = len(a) if n is None else n
    if len(a) < 8 or not (a.any() and b.any()):
        return float(n)
    va, vb = float(a @ a), float(b @ b)
    total = 0.0
    m = len(a)
    for j in range(1, max(1, m // 5) + 1):
        total += (m - j) / m * (float(a[j:] @ a[:-j]) / va) * (float(b[j:] @ b[:-j]) / vb)
    inv = 1.0 / m + 2.0 / m * total
    return float(min(n, max(4.0, 1.0 / inv))) if inv > 0 else float(n)


def above(r: float, n_eff: float, floor: float, method: str = "pearson") -> dict[str, Any]:
    """One-sided test of H0: |rho| <= floor by Fisher's z on n_eff pairs (Spearman's SE x sqrt(1.06),
    Fieller, Hartley & Pearson 1957), and the one-sided 95% lower bound of |rho|."""
    if n_eff <= 3 or not math.isfinite(r):
        return {"p_value": None, "lower": None}
    se = math.sqrt((1.06 if method == "spearman" else 1.0) / (n_eff - 3))
    z = math.atanh(min(abs(r), 1 - 1e-15))
    return {"p_value": 1.0 - phi((z - math.atanh(floor)) / se), "lower": math.tanh(max(z - 1.644854 * se, 0.0))}


#: MS102 names the groups of KPIs linked by correlations of at least this size.
MOVING = 0.5


class Correlation(NamedTuple):
    """The record, and what the rules need beside it: the matrix and the KPIs it is over."""

    record: CorrelationAnalysis
    r: Blocks    # the K x K matrix by blocks of rows (``r.array()`` whole), NaN where a pair has too few periods
    kpis: list   # the KPI nodes, in the matrix's order


def pair_counts(x):
    """The periods each pair of columns of ``x`` shares (both values present): one count when
    every column has the same periods (no memory), else the smallest unsigned type, made by row
    blocks (never a K x K matrix of floats)."""
    import numpy as np

    present = ~np.isnan(x)
    if present.shape[1] == 0 or (present == present[:, :1]).all():
        return counts(np.broadcast_to(int(present[:, 0].sum()) if present.size else 0,
                                      (present.shape[1], present.shape[1])))
    k, ones = present.shape[1], present.astype(np.float32)  # exact for up to 2**24 periods
    out = np.empty((k, k), dtype=np.uint8 if len(x) < 2**8 else np.uint16 if len(x) < 2**16 else np.uint32)
    for lo, hi in row_blocks(k, k):
        out[lo:hi] = ones[:, lo:hi].T @ ones
    return counts(out)


def participation(r) -> float:
    """``kernels.participation_ratio(r)`` of a matrix whose diagonal is finite, by blocks of rows
    (the reference squares the whole matrix: 2 GB of scratch at 10,000 KPIs), the same number."""
    import numpy as np

    p, flat = len(r), r.reshape(-1)

    def squares(lo: int, hi: int):
        v = flat[lo:hi]
        return np.where(~np.isnan(v), v * v, 0.0)

    return float(np.float64(p) * np.float64(p) / pairwise_sum(p * p, squares))


def correlation_analysis(spec, data, options) -> Correlation | None:
    """The KPI correlation matrix on the chosen basis, with overlaps and the effective number.

    For more than WHOLE_UP_TO KPIs with complete data and Pearson (one calendar, every period that
    any KPI has, every KPI has) the matrix is computed by blocks (correlation_blocks.Blocks) and
    held whole only when a reader asks for it; otherwise it is computed whole by the kernel, and
    read by blocks of it."""
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
    keys = list(groups)
    blocks = None
    if len(keys) == 1:
        x = data.changes(names) if basis == "changes" else data.aligned(names)[0]
        blocks = Blocks.complete(x, minp) if method == "pearson" and len(names) > WHOLE_UP_TO else None
        if blocks is not None:
            n = pair_counts(x)
    if blocks is None:
        r, n = _whole(data, names, groups, keys, basis, method, minp)
        r.flags.writeable = False
        blocks = Blocks(r)
    n = counts(n)
    blocks.n = n
    # the pairs MS101, MS102 and the compact report read, and the sums of every entry, in one pass
    scan = blocks.scan(min(CORRELATION_FLOOR, MOVING, float(options.get("threshold", MOVING))))
    usable = list(range(len(names)))
    if scan.finite:
        effective = float(np.float64(len(names)) * np.float64(len(names)) / scan.squares)
    else:
        r = blocks.array()
        usable = np.flatnonzero(np.isfinite(np.diagonal(r))).tolist()
        # KPIs that share too few periods with the others (a monthly KPI among weekly ones) are left
        # out, the one missing most pairs first, until every remaining pair has a correlation.
        while usable and not np.isfinite(r[np.ix_(usable, usable)]).all():
            missing = (~np.isfinite(r[np.ix_(usable, usable)])).sum(axis=1)
            usable.pop(int(np.argmax(missing)))
        effective = float(kernels.participation_ratio(r[np.ix_(usable, usable)])) if len(usable) >= 2 else None
    record = CorrelationAnalysis(
        basis=basis,
        method=method,
        kpis=tuple(k.name for k in kpis),
        matrix=LazyMatrix(blocks) if blocks.computed else floats(blocks.array()),
        n=n,
        effective_number=effective,
        effective_of=len(usable),
        effective_kpis=tuple(kpis[i].name for i in usable),
    )
    return Correlation(record, blocks, kpis)


def _whole(data, names, groups, keys, basis, method, minp):
    """The whole matrix and its pair counts by the kernel, one calendar or a pair of calendars at
    a time."""
    import numpy as np

    from metricsense import kernels

    r = n = None
    for a_i, a in enumerate(keys):
        for b in keys[a_i:]:
            idx = groups[a] if a == b else groups[a] + groups[b]
            chosen = [names[i] for i in idx]
            x = data.changes(chosen) if basis == "changes" else data.aligned(chosen)[0]
            sub = kernels.pairwise_corr(np.ascontiguousarray(x), method=method, min_periods=minp)
            if len(keys) == 1:
                # NOTE: one calendar: the kernel's output is the matrix, never copied (at 10,000 KPIs
                # each copy of r is 800 MB)
                r, n = sub, pair_counts(x)
                break
            if r is None:
                r = np.full((len(names), len(names)), np.nan)
                n = np.zeros((len(names), len(names)), dtype=np.int64)
            r[np.ix_(idx, idx)] = np.where(np.isnan(r[np.ix_(idx, idx)]), sub, r[np.ix_(idx, idx)])
            n[np.ix_(idx, idx)] = np.maximum(n[np.ix_(idx, idx)], np.asarray(pair_counts(x)))
    return r, n


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
    periods both have (at least `min_periods`). A pair is redundant when its correlation is at
    least `threshold` (0.9) and the data shows it is above `floor` (0.8): a one-sided test by
    Fisher's z on an effective number of periods (Bartlett's correction for autocorrelated
    series, never more than the periods themselves), p <= 0.05, so a short or wandering pair
    that reaches 0.9 by sampling error is not called redundant. Each pair with a correlation is
    one test for the spec's false-discovery control; a finding's `p_value` is the largest of
    its pairs'. The KPI suggested to keep is the one closest to the mission: an outcome over an
    output over a process over an input, then one with a target and a link. The evidence holds
    per pair r, the shared periods n, the effective n, the one-sided p-value (`p_value`) and 95%
    lower bound (`lower`), and Fisher's 95% interval (`ci`) and two-sided p-value for r = 0
    (`p_r_zero`) on the n periods.

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

    kpis, n = result.kpis, np.asarray(result.record.n)
    threshold, floor = ctx.option("threshold"), ctx.option("floor")
    basis, method = result.record.basis, result.record.method
    parent = list(range(len(kpis)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    scan = result.r.scan(threshold)
    getattr(ctx, "tests", lambda m: None)(scan.judged)  # every pair with a correlation is judged
    pairs, stats = [], {}
    for i, j, r_ij in zip(*(a.tolist() for a in scan.above(threshold))):
        names = [kpis[i].name, kpis[j].name]
        x = ctx.data.changes(names) if basis == "changes" else ctx.data.aligned(names)[0]
        n_eff = effective_n(x[:, 0], x[:, 1], int(n[i, j]))
        test = above(r_ij, n_eff, floor, method)
        if test["p_value"] is None or test["p_value"] > 0.05:
            continue  # as strong as the threshold here, but not shown to be beyond `floor`: sampling error may do it
        zero = fisher(r_ij, int(n[i, j]))
        stats[(i, j)] = {"kpis": names, "r": r_ij, "n": int(n[i, j]), "effective_n": n_eff,
                         **test, "ci": zero["ci"], "p_r_zero": zero["p_value"]}
        pairs.append((i, j))
        parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i, j in pairs:
        for k in (i, j):
            members = clusters.setdefault(find(k), [])
            if k not in members:
                members.append(k)
    words = "period-to-period changes" if basis == "changes" else "levels"
    counted = {2: "the two", 3: "the three", 4: "the four"}
    for members in clusters.values():
        members.sort()
        keep = min(members, key=lambda k: (_keep_order(kpis[k]), k))
        drop = [k for k in members if k != keep]
        evidence_pairs = [stats[(i, j)] for i, j in pairs if i in members]
        strongest = max(evidence_pairs, key=lambda q: abs(q["r"]))
        p = max(q["p_value"] for q in evidence_pairs)  # every link of the group is claimed
        names = listed([kpis[k].name for k in drop])
        one = len(drop) == 1
        together = (("rises and falls with" if one else "rise and fall with") if strongest["r"] > 0
                    else ("moves as the mirror image of" if one else "move as the mirror image of"))
        yield ctx.report(
            kpis[drop[0]],
            f"{names} {together} `{kpis[keep].name}` (their {words} correlate at {strongest['r']:.2f} over "
            f"{strongest['n']} periods): {counted.get(len(members), f'the {len(members)}')} tell one story, which counts "
            f"it {'twice' if one else f'{len(members)} times'} in every review and leaves less room for a KPI that "
            f"shows something else",
            related=[(kpis[keep], "the one to keep: closest to the mission")]
            + [(kpis[k], "moves with it too") for k in first(drop[1:])],
            help=f"keep `{kpis[keep].name}` and drop {'it' if len(drop) == 1 else 'the others'} or replace "
                 f"{'it' if len(drop) == 1 else 'them'} with a KPI that measures something else; test: Fisher's z on "
                 f"an effective {strongest['effective_n']:.0f} periods (autocorrelation allowed for), |r| above "
                 f"{floor:g} with one-sided p = {p:.3g}, 95% lower bound {strongest['lower']:.2f}",
            evidence={"keep": kpis[keep].name, "drop": [kpis[k].name for k in drop], "pairs": evidence_pairs,
                      "threshold": threshold, "floor": floor, "basis": basis, "method": method, "p_value": p},
        )


@rule(code="MS102", name="low-effective-kpi-count", severity=Severity.WARNING, options=EFFECTIVE_OPTIONS)
def low_effective_kpi_count(ctx) -> Iterator[Diagnostic]:
    """The KPIs carry far fewer independent signals than their number suggests.

    ## Why is this bad?
    Seed 002 warns against KPIs that are strongly correlated and against more KPIs than inputs:
    a dashboard of twelve KPIs that move as three is three KPIs and nine distractions. The
    effective number of independent KPIs is the participation ratio of their correlation matrix,
    (sum of eigenvalues)^2 / (sum of squared eigenvalues) = p^2 / ||R||_F^2, between 1 and p; for
    p KPIs all correlated at r it is p / (1 + (p - 1) r^2). Sampling error alone adds about 1/n
    to each squared correlation and so lowers the ratio on short series; the rule corrects each
    r^2 (Ezekiel's adjustment, r^2 - (1 - r^2)/(n - 2)) before it compares the ratio with `ratio`
    (0.6) times the number of KPIs with data, for three KPIs or more. The finding names the
    groups of KPIs that move together (correlations of 0.5 or more). It is a threshold on an
    estimate, not a test: no p-value; the raw ratio is in the evidence.

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
    import numpy as np

    p, raw, ratio = result.effective_of, result.effective_number, ctx.option("ratio")
    at = {}
    for i, k in enumerate(found.kpis):
        at.setdefault(k.name, i)  # NOTE: a dict: a search per name was quadratic in the KPIs
    idx = [at[name] for name in result.effective_kpis]
    names = [found.kpis[i].name for i in idx]
    if idx == list(range(found.r.k)):
        # every KPI: the sum and the pairs of the analysis's one pass over the blocks
        scan = found.r.scan(MOVING)
        eff = float(p * p / (p + scan.adjusted))
        linked = scan.above(MOVING)[:2]
    else:
        r = found.r.array()[np.ix_(idx, idx)]
        eff = corrected_effective_number(r, np.asarray(result.n)[np.ix_(idx, idx)])
        linked = None
    if p < 3 or not eff < ratio * p:
        return
    if linked is None:
        linked = upper_pairs(r, MOVING)[1]
    else:
        linked = zip(*(a.tolist() for a in linked))
    groups = moving_groups(linked, names)
    if groups:
        shown = "; ".join(listed(g) for g in groups[:3])
        where = f"; these move together: {shown}"
    else:
        where = ""
    yield ctx.report(
        spec_anchor(ctx.spec),
        f"{p} KPIs with data carry only about {eff:.1f} independent signals{where}: much of what they show, "
        f"they show more than once",
        help="keep one KPI for each group that moves together (MS101 names near-duplicates) and spend the "
             f"attention freed on something not yet measured; test: participation ratio of the correlation matrix "
             f"of {result.basis}, {eff:.2f} after the small-sample correction of each r² ({raw:.2f} raw), below "
             f"{ratio:g} x {p}",
        evidence={"effective_number": eff, "effective_number_raw": raw, "kpis": p, "ratio": ratio,
                  "basis": result.basis, "groups": groups},
    )


def corrected_effective_number(r, n) -> float:
    """The participation ratio p^2 / ||R||_F^2 with each off-diagonal r^2 replaced by Ezekiel's
    unbiased-in-the-mean estimate of rho^2, max(0, r^2 - (1 - r^2) / (n - 2)): sampling error
    alone adds about 1 / n to each r^2 and so lowers the raw ratio (by 1 in 6 for 10 KPIs over 50
    periods). Pairs without a correlation count as 0, as in the raw ratio."""
    import numpy as np

    r = np.asarray(r, dtype=float)
    n = np.asarray(n)
    p = r.shape[0]
    flat = r.reshape(-1)
    # NOTE: by blocks of the flat matrix, summed as NumPy sums the whole (pairwise_sum): the same
    # number without five K x K temporaries (4 GB at 10,000 KPIs); n is one count or an array
    same = n.size == 1 or 0 in n.strides
    one, flat_n = (np.float64(n.flat[0]), None) if same else (None, n.reshape(-1))

    def adjusted(lo: int, hi: int):
        v = flat[lo:hi]
        return corrected_squares(v, v * v, lo, hi, p, one, flat_n)

    return float(p * p / (p + pairwise_sum(p * p, adjusted)))


def upper_pairs(r, at: float) -> tuple[int, list[tuple[int, int]]]:
    """The pairs i < j with a correlation (how many), and those with |r| >= ``at`` in row-major
    order; by blocks of rows (no K x K temporaries)."""
    import numpy as np

    judged, found = 0, []
    for lo, hi in row_blocks(len(r), len(r)):
        block = r[lo:hi]
        above = np.arange(block.shape[1])[None, :] > np.arange(lo, hi)[:, None]
        ok = np.isfinite(block) & above
        judged += int(ok.sum())
        rows, cols = np.nonzero(ok & (np.abs(np.where(ok, block, 0)) >= at))
        found += zip((rows + lo).tolist(), cols.tolist())
    return judged, found


def moving_groups(linked, names) -> list[list[str]]:
    """Groups of KPIs linked by correlations of at least MOVING in size (``linked``: those pairs
    (i, j) of rows of ``names``): connected components, largest first, each in the order given;
    none for KPIs that move alone."""
    p = len(names)
    parent = list(range(p))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in linked:
        parent[find(i)] = find(j)
    comps: dict[int, list[str]] = {}
    for i in range(p):
        comps.setdefault(find(i), []).append(names[i])
    return sorted((c for c in comps.values() if len(c) > 1), key=lambda c: -len(c))


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
