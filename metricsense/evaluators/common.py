"""What more than one evaluator family computes: the families never import each other.

NumPy is imported inside the functions: a spec without data never loads it.
"""

from __future__ import annotations

import math

# ---- structure, correlation, decoupling, noise, distortion ------------------------------------


def spec_anchor(spec):
    """Where a whole-spec finding points: the mission, else the first statement, else line 1."""
    if spec.mission is not None:
        return spec.mission
    if spec.statements:
        return spec.statements[0]
    from metricsense.span import Span

    return Span.point(spec.files[0] if spec.files else spec.root)


def phi(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def own_values(periods, values):
    """A series (T,) or block (T, U) on its own periods: rows where it has no value in a gap longer
    than its usual step are inserted as NaN rows (so a change never jumps a missing period)."""
    import numpy as np

    from metricsense import expressions as ex

    block = np.asarray(values, dtype=float)
    if block.ndim == 1:
        block = block[:, None]
    rows = ex.own_grid(periods, {"x": block})
    out = np.full((len(rows), block.shape[1]), np.nan)
    real = rows >= 0
    out[real] = block[rows[real]]
    return out, rows


def row_medians(a):
    """The median of each row of a 2-D float array, as serial.median takes it of each row alone
    (NumPy's partition, its middle values added to 0.0), NaN for a row with a NaN: np.median(a,
    axis=1)'s values (a zero's sign aside, where NumPy's mean of two zeros may keep it)."""
    import numpy as np

    n = a.shape[1]
    if n == 0:
        return np.full(len(a), np.nan)
    k = n // 2
    if n == 1:
        out = 0.0 + a[:, 0]
    elif n % 2 == 0:
        p = np.partition(a, (k - 1, k), axis=1)
        out = (0.0 + p[:, k - 1] + p[:, k]) / 2
    else:
        out = 0.0 + np.partition(a, k, axis=1)[:, k]
    nan = np.isnan(a).any(axis=1)
    if nan.any():
        out[nan] = np.nan
    return out


#: The largest gain magnitude a matrix analysis can use: beyond about 1e154 the squares that the
#: SVD, the scaling and the inverse form overflow, below about 1e-154 they underflow (and below
#: 2.2e-308 the gains themselves are subnormal, with a few significant bits left).
GAIN_SCALE = (1e-150, 1e150)


def usable_scale(g) -> bool:
    """Whether the gains are finite and their largest magnitude is zero or within GAIN_SCALE."""
    import numpy as np

    g = np.asarray(g, dtype=float)
    if not np.isfinite(g).all():
        return False
    top = max(-float(g.min(initial=0.0)), float(g.max(initial=0.0)))  # max |g| without an |g| array
    return top == 0.0 or GAIN_SCALE[0] <= top <= GAIN_SCALE[1]


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` most likely misspells (difflib, cutoff 0.75), or None."""
    import difflib

    hits = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return hits[0] if hits else None


def meant_levers(spec) -> set[str]:
    """Levers that a KPI's `responds` names misspelt (`responds coachng` for `coaching`): the
    structure rules leave their consequences (an idle lever) to MS002's did-you-mean."""
    from metricsense.names import Suggester

    levers = [lv.name for lv in spec.levers]
    declared = set(levers)
    suggest = Suggester(levers)
    found = set()
    for kpi in spec.kpis:
        for g in kpi.responds:
            if g.name not in declared and spec.lookup(g.name) is None:
                hit = suggest(g.name)
                if hit is not None:
                    found.add(hit)
    return found
