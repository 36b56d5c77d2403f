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
    for i, (name, s, t) in enumerate(members):
        if not at_edge[i] or not spread[i] != 0 or not np.isfinite(b[i]) or step_of(X[i]) > 0:
            continue
        meets = "above" if t.comparison in (">", ">=") else "below"
        out[name] = {"n": n, "cutoff": float(t.value), "meets": meets, "clusters": G, "bin": b[i],
                     "support_step": None, "boundary": float(t.value), "status": EDGE,
                     "units": len(s.segments) or None}
    return out
