"""Multiple-testing control: Benjamini-Hochberg over the statistical findings of one family.

A statistical rule puts the p-value of each finding in ``evidence["p_value"]`` and reports how many
hypothesis tests it ran with ``ctx.tests(n)``. The pipeline then treats the statistical findings of
one spec (or of a whole ``--by`` rollup: every segment) as one family of size
``m = max(tests reported, p-values seen)``: a finding whose BH-adjusted p-value (its q-value) is
above the threshold ``fdr-q`` (0.05 by default) is dropped; a kept one gets ``q_value`` and
``family`` (m) in its evidence. Findings without a numeric ``p_value`` pass untouched.

NumPy only (the CLI never imports SciPy or statsmodels; the tests compare with statsmodels'
``multipletests(method="fdr_bh")``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

DEFAULT_Q = 0.05


def p_value_of(d: Any) -> float | None:
    """The finding's p-value when it is a statistical finding (a real number in [0, 1]), else None."""
    p = getattr(d, "evidence", {}).get("p_value") if getattr(d, "evidence", None) is not None else None
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        return None
    p = float(p)
    if math.isnan(p):
        return None
    return min(max(p, 0.0), 1.0)


def bh_adjust(p_values: Sequence[float], m: int | None = None) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values) of ``p_values`` in a family of ``m`` tests.

    ``m`` defaults to the number of p-values and is never taken below it (tests not seen as
    findings had p > 0.05 and would not change the ranks of these). q_(i) = min over j >= i of
    p_(j) * m / j, capped at 1; the order of the input is kept."""
    return [float(v) for v in bh_adjust_array(p_values, m)]


def bh_adjust_array(p_values: Any, m: int | None = None) -> Any:
    """``bh_adjust`` as a NumPy array (for the hundreds of thousands of a segmented run)."""
    import numpy as np

    p = np.asarray(p_values, dtype=float)
    n = p.size
    if n == 0:
        return np.empty(0)
    m = max(int(m or n), n)
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * m / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(ranked, 1.0)
    return q


def decide(diagnostics: Iterable[Any], tests: int, q: float = DEFAULT_Q) -> list[Any]:
    """Each finding as kept (with ``q_value`` and ``family`` in its evidence when statistical) or
    None when BH at level ``q`` drops it; one entry per finding, in order.

    ``tests`` is how many tests the rules said they ran (the family is at least the number of
    p-values). Non-statistical findings are kept as they are."""
    out: list[Any] = list(diagnostics)
    at = [(i, p) for i, d in enumerate(out) if (p := p_value_of(d)) is not None]
    if not at:
        return out
    m = max(int(tests or 0), len(at))
    for (i, _), qv in zip(at, bh_adjust([p for _, p in at], m)):
        d = out[i]
        out[i] = None if qv > q else replace(d, evidence={**dict(d.evidence), "q_value": qv, "family": m})
    return out


def control(diagnostics: Iterable[Any], tests: int, q: float = DEFAULT_Q) -> list[Any]:
    """The findings kept by BH at level ``q`` over the family of the statistical ones among them
    (``decide``), in order."""
    return [d for d in decide(diagnostics, tests, q) if d is not None]
