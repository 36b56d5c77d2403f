"""MS303's analysis: a KPI's review cadence and the lags of its levers, declared or estimated.

Durations in days (``duration_days``; `N periods` needs the data's frequency); a lever's lag
without a declaration is estimated from the data (``estimate_lag``: serial.best_lag on the
changes). Part of the noise analysis (metricsense.evaluators.noise: ``KpiNoise.review``).
"""

from __future__ import annotations

from metricsense.evaluators import serial
from metricsense.evaluators.records import LagNoise, ReviewNoise
from metricsense.model import KPI, UNIT_DAYS, Duration


def duration_days(d: Duration | None, frequency: str | None) -> float | None:
    """A Duration in days; `N periods` needs the data's frequency (None when it is unknown)."""
    if d is None:
        return None

    if d.unit == "period":
        if frequency in UNIT_DAYS:
            return d.count * UNIT_DAYS[frequency]
        return None
    return d.count * UNIT_DAYS.get(d.unit, float("nan"))


def estimate_lag(kpi: KPI, lever: str, sign: float, data, max_lag: int, alpha: float = 0.05) -> dict | None:
    """The lag (in periods) at which the lever's changes best predict the KPI's changes, if any.

    On the changes of one regular calendar (never across a missing period, as pandas' diff());
    the test, corrected for the search over lags 0..max_lag, is serial.best_lag. Kept when its
    corrected p-value is at most ``alpha``.
    """
    if data.series(lever) is None or data.series(kpi.name) is None:
        return None
    d = data.changes([lever, kpi.name])
    best = serial.best_lag(d[1:, 0], d[1:, 1], sign, max_lag)
    return best if best is not None and best["p_value"] <= alpha else None


def review_of(kpi: KPI, data, max_lag: int) -> ReviewNoise | None:
    """The review cadence of a KPI and its levers' lags (declared, else estimated), in days."""
    if kpi.review is None:
        return None

    freq = data.frequency if data is not None else None
    every = duration_days(kpi.review, freq)
    lags = {}
    for g in kpi.responds:
        if g.lag is not None:
            lags[g.name] = LagNoise(days=duration_days(g.lag, freq), source="declared")
        elif data is not None and freq in UNIT_DAYS and len(data.periods) >= 16:
            est = estimate_lag(kpi, g.name, g.value, data, max_lag)
            if est is not None and est["periods"] > 0:
                lags[g.name] = LagNoise(days=est["periods"] * UNIT_DAYS[freq], source="estimated", **est)
    return ReviewNoise(every_days=every, lags=lags)
