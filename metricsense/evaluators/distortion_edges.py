"""MS401 for many plain series at once, as far as its most common outcome: a target at the edge
of the data (fewer than six histogram bins on one side of it), which ends the density test before
any fit. Series with the same periods observed and the same split share their values' positions,
units and clusters; their spreads, bins and bin ranges are a few array operations. Every series
whose test goes further (a discrete support, a target inside the data) is left out, and the caller
runs ``clustered_density_test`` on it. What is given is exactly what that test gives (the same
operations element by element: tests/evaluators/test_distortion_many.py compares them with ==).
NumPy only, imported inside functions.
"""

from __future__ import annotations

import math

from metricsense.evaluators.distortion_stats import MIN_CLUSTERS, cluster_codes
from metricsense.evaluators.records import BunchingTest

EDGE = "the target is at the edge of the data"


def edges(data, items, step_of) -> dict[str, BunchingTest]:
    """MS401's entries of the series in ``items`` ((name, series, split row, target)) whose target
    is at the edge of their data, by name (``step_of``: the support's step, ``support_step``)."""
    import numpy as np

    groups: dict[tuple, list] = {}
    for name, s, row, t in items:
        if s.by_segment is None:
            groups.setdefault((int(row), (~np.isnan(s.values)).tobytes()), []).append((name, s, t))
    out: dict[str, BunchingTest] = {}
    for (row, _), members in groups.items():
        if len(members) > 1:
            out.update(_group(data, row, members, step_of))
    return out


def _group(data, row: int, members: list, step_of) -> dict[str, BunchingTest]:
    import numpy as np

    V = np.array([s.values for _, s, _ in members], dtype=float)
    after = np.arange(len(data.periods)) >= row
    values = V[:, after]
    units = np.arange(values.shape[1]) * 20 // max(1, values.shape[1])  # as _bunching: runs of periods
    keep = ~np.isnan(values[0])
    X, cl = np.ascontiguousarray(values[:, keep]), units[keep]
    n = X.shape[1]
    if n < 20:
        return {}
    cid = cluster_codes(cl)
    G = int(cid.max()) + 1
    if G < MIN_CLUSTERS:
        return {}
    # NOTE: a reduction along contiguous rows is each row's own pairwise sum, bit for bit (the
    # tests compare with ==): the spreads and bins the test computes row by row
    spread = X.std(axis=1)
    b = 2.0 * X.std(axis=1, ddof=1) / math.sqrt(n)
    cut = np.array([float(t.value) for _, _, t in members])
    with np.errstate(all="ignore"):
        k = np.floor((X - cut[:, None]) / b[:, None] + 1e-9)
    kmin, kmax = k.min(axis=1), k.max(axis=1)
    # fewer than six bins below the boundary, or from it up (bins kmin..kmax; k < 0 below)
    at_edge = (np.minimum(kmax, -1) - kmin + 1 < 6) | (kmax - np.maximum(kmin, 0) + 1 < 6)
    out: dict[str, BunchingTest] = {}
    asked = np.flatnonzero(at_edge & (spread != 0) & np.isfinite(b))
    steps = dict(zip(asked.tolist(), support_steps(X[asked], step_of).tolist()))
    for i, (name, s, t) in enumerate(members):
        if i not in steps or steps[i] > 0:
            continue
        meets = "above" if t.comparison in (">", ">=") else "below"
        out[name] = {"n": n, "cutoff": float(t.value), "meets": meets, "clusters": G, "bin": b[i],
                     "support_step": None, "boundary": float(t.value), "status": EDGE,
                     "units": len(s.segments) or None}
    return out


def support_steps(x, step_of):
    """``step_of(row)`` (distortion.support_step) of each row of ``x``, rows of two values or more:
    the rows whose values are not on a grid, or on one with many distinct values (0.0), found
    together, by the same tests on the same values; any other row is ``step_of``'s own."""
    import numpy as np

    rows, n = x.shape
    out = np.zeros(rows)
    if n < 2:
        return np.array([step_of(r) for r in x], dtype=float)
    first = x[:, 0]
    todo = np.flatnonzero(np.isfinite(first))  # a first value off every grid: 0.0
    for decimals in range(0, 5):
        one = first[todo] * 10.0**decimals
        odd = ~np.isfinite(one)  # step_of's round() says what it says of an infinity
        for r in todo[odd].tolist():
            out[r] = step_of(x[r])
        todo, one = todo[~odd], one[~odd]
        # the first value alone first (Python's round and np.rint: both to the nearest, ties to even)
        near = todo[np.abs(one - np.rint(one)) < 1e-6 * np.maximum(1.0, np.abs(one))]
        if not len(near):
            continue
        scaled = x[near] * 10.0**decimals
        ints = np.rint(scaled)
        on = np.all(np.abs(scaled - ints) < 1e-6 * np.maximum(1.0, np.abs(scaled)), axis=1)
        ordered = np.sort(ints[on], axis=1)
        many = 1 + np.count_nonzero(ordered[:, 1:] != ordered[:, :-1], axis=1) > n / 2  # a heaped support
        for r in near[on][~many].tolist():  # on a grid of few values: the step itself
            out[r] = step_of(x[r])
        todo = np.setdiff1d(todo, near[on], assume_unique=True)
    return out
