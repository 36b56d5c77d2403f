"""The noise analysis's per-KPI statistics for many plain series at once (``kpi_fields``' start).

A KPI's noise entry (metricsense.evaluators.noise.kpi_fields) starts from its series on its own
periods: the period-to-period changes, their robust scale (1.4826 x the MAD), today's level (the
median of the last ``level_periods`` values) and the moves over the review period from the level
path (serial.moves). For series with a value, finite, in every period of a calendar without a
missing period (the common case: a KPI's column of weekly values), these are the same operations
on every row of a (KPIs, T) matrix: ``plain_many`` does each once for all of them. Every value is
the per-KPI one to the bit: elementwise operations are the same IEEE operations, a median is
NumPy's partition of each row (the same order statistics, added to 0.0 as serial.median does),
and nothing is summed here (the spread test, whose sums and dot products are per series, stays
per KPI). Any other series (a gap, a NaN, an infinite change, a short calendar) is left to the
per-KPI code. NumPy is imported inside the function: ``msense rules`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metricsense import expressions as ex
from metricsense.evaluators import serial
from metricsense.evaluators.common import row_medians
from metricsense.evaluators.lags import duration_days
from metricsense.model import KPI, UNIT_DAYS, Document

#: 1 / Phi^-1(3/4) rounded as the literature writes it: MAD -> standard deviation for normal data.
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Plain:
    """One KPI's statistics: ``noise`` (1.4826 x the MAD of its changes), ``changes`` (how many),
    ``level`` (today's level), ``series`` (its values, (T,)) and ``moves`` (serial.moves of its
    last serial.TAIL values over its review horizon, (n,); None when no horizon was asked)."""

    noise: float
    changes: int
    level: float
    series: Any
    moves: Any = None


def _moves(x, h: int, k: int, np):
    """serial.moves of each row of a (n, T) matrix without NaN: (n, m) (m may be 0)."""
    t = x.shape[1]
    k = max(int(k), 1)
    if h < 1 or t <= h or t - h - k + 1 <= 0:
        return np.zeros((len(x), 0))
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=1)  # (n, t - k + 1, k)
    if k % 2:
        level = 0.0 + np.partition(win, [k // 2, -1], axis=2)[:, :, k // 2]
    else:
        level = np.median(win, axis=2)
    # serial.level_path is NaN before its k-th value: the moves start k - 1 periods in
    return x[:, h + k - 1:] - level[:, :t - h - k + 1]


def plain_many(periods, columns: dict[str, Any], level_periods: int, horizons: dict[str, int]) -> dict[str, Plain]:
    """``Plain`` statistics of each series in ``columns`` (name -> (T,) values on ``periods``)
    that takes the batched path; ``horizons`` names the review horizon of each series whose
    moves are wanted. Series left out are left to the per-KPI code."""
    import numpy as np

    t = len(periods)
    names = [n for n, v in columns.items() if getattr(v, "shape", None) == (t,)]
    if t < 4 or not names:
        return {}
    rows = ex.own_grid(periods, {"x": np.zeros((t, 1))})  # every period present: the calendar's own gaps
    if len(rows) != t or rows[0] != 0 or rows[-1] != t - 1:
        return {}
    x = np.array([columns[n] for n in names], dtype=float)
    d = np.diff(x, axis=1)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(d).all(axis=1)
    if not ok.all():
        names = [n for n, good in zip(names, ok.tolist()) if good]
        x, d = x[ok], d[ok]
    if not names:
        return {}
    noise = MAD_SCALE * row_medians(np.abs(d - row_medians(d)[:, None]))
    level = row_medians(x[:, -level_periods:])
    moves: dict[int, Any] = {}
    want = {h for n in names if (h := horizons.get(n)) is not None}
    tail = x[:, -serial.TAIL:]
    for h in want:
        moves[h] = _moves(tail, h, level_periods, np)
    out = {}
    for i, n in enumerate(names):
        h = horizons.get(n)
        out[n] = Plain(float(noise[i]), d.shape[1], float(level[i]), x[i],
                       moves[h][i].copy() if h is not None else None)
    return out


def horizon(kpi: KPI, data) -> int:
    """The KPI's review period in the data's periods (1 without a `review every` or a calendar)."""
    freq = data.frequency
    if kpi.review is not None and freq in UNIT_DAYS:
        days = duration_days(kpi.review, freq)
        return max(1, round(days / UNIT_DAYS[freq])) if days else 1
    return 1


def plain_of(spec: Document, data, level_periods: int) -> dict[str, Plain]:
    """``plain_many`` over the spec's KPIs with an unsegmented series, with the moves of those
    whose numeric target kpi_fields judges (one-sided or equality)."""
    columns, horizons = {}, {}
    for k in spec.kpis:
        s = data.series(k.name)
        if s is None or s.segments:
            continue
        columns[k.name] = s.values
        t = k.target
        if t is not None and t.value is not None and t.comparison in ("<", "<=", ">", ">=", "=="):
            horizons[k.name] = horizon(k, data)
    return plain_many(data.periods, columns, level_periods, horizons)


__all__ = ["MAD_SCALE", "Plain", "horizon", "plain_many", "plain_of"]
