"""The gains' changes for many sets of series (gains._Changes, each column placed on its calendar
once) are exactly DataSet.changes of each set: mixed weekly and monthly series (the coarser unit
wins), ragged starts and ends, gaps, a series with no value, whole-number periods."""

from __future__ import annotations

import numpy as np

from metricsense.data.dataset import DataSet, Series
from metricsense.evaluators.gains import _Changes


def _same(a, b):
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)])


def _check(data, names, rng, draws=300):
    changes = _Changes(data)
    for _ in range(draws):
        sub = [str(s) for s in rng.choice(names, size=int(rng.integers(1, min(6, len(names)) + 1)), replace=False)]
        _same(changes(sub), data.changes(sub))
    # a shared head (the levers) with a different tail each time, as estimate_gains asks
    head = [str(s) for s in rng.choice(names, size=min(3, len(names) - 1), replace=False)]
    for _ in range(draws // 3):
        tail = [str(s) for s in rng.choice([n for n in names if n not in head], size=int(rng.integers(1, 3)),
                                           replace=False)]
        _same(changes(head + tail, shared=len(head)), data.changes(head + tail))


def test_changes_on_calendars_are_data_changes():
    rng = np.random.default_rng(21)
    n = 150
    days = np.datetime64("2023-01-02", "D") + 7 * np.arange(n)
    cols, units = {}, {}
    for i in range(10):
        v = np.cumsum(rng.normal(size=n)) + 10
        v[: int(rng.integers(0, 40))] = np.nan
        v[n - int(rng.integers(0, 30)):] = np.nan
        if i % 3 == 0:
            v[rng.random(n) < 0.2] = np.nan
        cols[f"w{i}"], units[f"w{i}"] = v, "week"
    for i in range(3):  # monthly series on the same index: a value in one week of each month
        v = np.full(n, np.nan)
        firsts = np.flatnonzero(np.r_[True, days[1:].astype("datetime64[M]") != days[:-1].astype("datetime64[M]")])
        v[firsts[i:]] = np.cumsum(rng.normal(size=len(firsts) - i))
        cols[f"m{i}"], units[f"m{i}"] = v, "month"
    cols["empty"], units["empty"] = np.full(n, np.nan), "week"
    data = DataSet(periods=days, series_map={k: Series(k, v, "sim") for k, v in cols.items()}, surveys={},
                   frequency="week", units=units)
    _check(data, list(cols), rng)


def test_changes_on_whole_number_periods_are_data_changes():
    rng = np.random.default_rng(22)
    periods = np.array([1, 2, 3, 5, 6, 7, 8, 10, 11, 12], dtype=np.int64)
    cols = {f"k{i}": np.where(rng.random(10) < 0.2, np.nan, rng.normal(size=10)) for i in range(5)}
    data = DataSet(periods=periods, series_map={k: Series(k, v, "sim") for k, v in cols.items()}, surveys={},
                   frequency="period", units={k: "period" for k in cols})
    _check(data, list(cols), rng, 60)


def test_gain_matrices_are_written_as_encoding_finite_writes_them():
    """decoupling._clean (NaN and infinities to None, at once) gives encoding.finite's lists."""
    from metricsense.encoding import finite
    from metricsense.evaluators.decoupling import _clean

    cases = [np.array([[1.0, np.nan], [np.inf, -0.0]]), np.array(3.5), np.array(np.nan), np.zeros((0, 3)),
             np.array([1, 2]), [[1.0, float("-inf")]], np.random.default_rng(1).normal(size=(4, 3, 2))]
    for a in cases:
        want = finite(np.asarray(a, dtype=float))
        got = _clean(a)
        assert repr(got) == repr(want) and type(got) is type(want)


def test_trigger_labels_taken_once_are_data_label():
    """conversation._labeller (labels taken once per dataset) names every period as DataSet.label
    does: weeks, months beside quarters (mixed units), whole numbers; and follows a new dataset."""
    from metricsense.evaluators.conversation import _labeller

    rng = np.random.default_rng(601)
    months = np.arange("2020-01", "2025-01", dtype="datetime64[M]").astype("datetime64[D]")
    cases = [(np.datetime64("2024-01-01", "D") + 7 * np.arange(60), {"a": "week", "b": "week"}, "week"),
             (months, {"a": "month", "b": "quarter"}, "month"),
             (np.arange(1, 40, dtype=np.int64), {"a": "period", "b": "period"}, "period")]
    for periods, units, freq in cases:
        cols = {k: np.where(rng.random(len(periods)) < 0.3, np.nan, rng.normal(size=len(periods))) for k in units}
        data = DataSet(periods=periods, series_map={k: Series(k, v, "sim") for k, v in cols.items()}, surveys={},
                       frequency=freq, units=units)
        assert [_labeller(data)(i) for i in range(len(periods))] == [data.label(i) for i in range(len(periods))]
