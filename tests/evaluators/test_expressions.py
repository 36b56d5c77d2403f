"""The trigger interpreter against independent computations: plain Python loops and pandas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metricsense
from metricsense import expressions as ex


def _trigger(text: str):
    doc = metricsense.load("mission \"M\"\n" + text)
    return doc, doc.triggers[0]


class _S:
    def __init__(self, values, segments=(), by_segment=None):
        self.values, self.segments, self.by_segment = np.asarray(values, float), tuple(segments), by_segment


def _run(text: str, series: dict, periods: int):
    doc, trig = _trigger(text)
    assert not ex.type_problems(trig, doc) and not ex.default_target(trig, doc)[1]
    inputs, missing = ex.gather(trig, doc, lambda n: series.get(n))
    assert not missing
    cond = ex.evaluate(trig.condition, inputs, periods)
    n = ex.periods_for(trig.duration, "week")
    return cond, ex.firing(cond, n)


def _loop_fired(held: list[bool], n: int) -> list[bool]:
    """Plain Python: a period fires when the condition held there and in the n-1 before."""
    out, run = [], 0
    for h in held:
        run = run + 1 if h else 0
        out.append(run >= n)
    return out


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_firing_matches_a_plain_loop(seed, n):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=60)
    y = rng.normal(size=60)
    x[rng.random(60) < 0.1] = np.nan  # missing values: never fire, never filled
    spec = f'kpi x "X" {{ }}\nkpi y "Y" {{ }}\ntrigger t when x > y + 0.2 or not (abs(x) < 1.5) for {n} periods {{ ask "?" }}'
    cond, fired = _run(spec, {"x": _S(x), "y": _S(y)}, 60)
    held = []
    for xi, yi in zip(x, y):
        if math.isnan(xi) or math.isnan(yi):
            # Kleene: `or` is true if either side is known true; abs(x) < 1.5 is unknown with x missing
            held.append(False)
        else:
            held.append(bool(xi > yi + 0.2 or not abs(xi) < 1.5))
    assert fired[:, 0].tolist() == _loop_fired(held, n)


def test_missing_values_never_fire_even_under_not():
    x = np.array([1.0, np.nan, np.nan, 1.0])
    cond, fired = _run('kpi x "X" { }\ntrigger t when not (x > 5) for 1 period { ask "?" }', {"x": _S(x)}, 4)
    assert np.isnan(cond[1, 0]) and np.isnan(cond[2, 0])
    assert fired[:, 0].tolist() == [True, False, False, True]


def test_and_or_three_valued():
    x = np.array([np.nan, np.nan, 1.0, 1.0])
    y = np.array([10.0, -10.0, np.nan, 10.0])
    cond, _ = _run('kpi x "X" { }\nkpi y "Y" { }\ntrigger t when x > 0 and y > 0 for 1 period { ask "?" }',
                   {"x": _S(x), "y": _S(y)}, 4)
    assert np.isnan(cond[0, 0]) and cond[1, 0] == 0.0 and np.isnan(cond[2, 0]) and cond[3, 0] == 1.0
    cond, _ = _run('kpi x "X" { }\nkpi y "Y" { }\ntrigger t when x > 0 or y > 0 for 1 period { ask "?" }',
                   {"x": _S(x), "y": _S(y)}, 4)
    assert cond[0, 0] == 1.0 and np.isnan(cond[1, 0]) and cond[2, 0] == 1.0 and cond[3, 0] == 1.0


@pytest.mark.parametrize("func", ["mean", "min", "max", "change", "lag"])
@pytest.mark.parametrize("k", [1, 3, 4])
def test_windows_match_pandas(func, k):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(k)
    x = rng.normal(size=40)
    x[[5, 17]] = np.nan
    got = ex.window(func, x.reshape(-1, 1), k)[:, 0]
    s = pd.Series(x)
    want = {"mean": s.rolling(k).mean(), "min": s.rolling(k).min(), "max": s.rolling(k).max(),
            "change": s - s.shift(k), "lag": s.shift(k)}[func].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_percent_target_and_target_of():
    spec = ('kpi q "Q" { target <= 10 by 2027-01-01 }\nkpi r "R" { target <= 4 by 2027-01-01 }\n'
            'trigger t when q > 150% and r > 50% of target(r) + target(r) for 1 period { ask "?" }')
    q = np.array([14.0, 16.0, 16.0])
    r = np.array([7.0, 5.0, 6.5])
    doc, trig = _trigger(spec)
    # two KPIs with targets: a bare percentage is ambiguous (MS603)
    assert ex.default_target(trig, doc)[1]
    spec = spec.replace("q > 150%", "q > 150% of target(q)")
    cond, _ = _run(spec, {"q": _S(q), "r": _S(r)}, 3)
    assert cond[:, 0].tolist() == [0.0, 0.0, 1.0]  # q > 15 and r > 6


def test_division_by_zero_is_unknown():
    x = np.array([1.0, 2.0])
    y = np.array([0.0, 1.0])
    cond, _ = _run('kpi x "X" { }\nkpi y "Y" { }\ntrigger t when x / y > 1 for 1 period { ask "?" }',
                   {"x": _S(x), "y": _S(y)}, 2)
    assert np.isnan(cond[0, 0]) and cond[1, 0] == 1.0


def test_segmented_series_are_evaluated_per_unit_and_aligned_by_name():
    a = _S([np.nan, np.nan], ("t1", "t2"), np.array([[10.0, 20.0], [np.nan, 30.0]]))
    b = _S([np.nan, np.nan], ("t2", "t3"), np.array([[12.0, 5.0], [40.0, np.nan]]))
    cond, fired = _run('kpi e "E" { }\ntrigger t when abs(e.self - e.manager) > 25% of e.manager for 1 period '
                       '{ ask "?" with one-to-one }', {"e.self": a, "e.manager": b}, 2)
    # units t1, t2, t3: t2 at period 0 is |20-12| = 8 > 3 (fires); at period 1 |30-40| = 10 > 10? no
    assert fired.tolist() == [[False, True, False], [False, False, False]]
    assert np.isnan(cond[0, 0]) and np.isnan(cond[0, 2])


def test_own_grid_counts_a_monthly_series_in_its_own_periods():
    weekly = np.arange(np.datetime64("2026-01-05"), np.datetime64("2026-05-01"), np.timedelta64(7, "D"))
    monthly = np.array(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"], dtype="datetime64[D]")
    union = np.union1d(weekly, monthly)
    x = np.full(len(union), np.nan)
    x[np.searchsorted(union, monthly)] = [3.3, 3.2, 3.5, 3.3]
    rows = ex.own_grid(union, {"x": x.reshape(-1, 1)})
    assert [str(union[r]) for r in rows] == [str(m) for m in monthly]
    # a missing month is kept as a missing row, so a run cannot jump over it
    x[np.searchsorted(union, monthly[2])] = np.nan
    rows = ex.own_grid(union, {"x": x.reshape(-1, 1)})
    assert rows.tolist()[2] == -1 and len(rows) == 4


def test_never_python_eval(monkeypatch):
    import builtins

    def boom(*a, **k):
        raise AssertionError("eval called")

    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    cond, _ = _run('kpi x "X" { }\ntrigger t when x > 1 for 1 period { ask "?" }', {"x": _S([0.0, 2.0])}, 2)
    assert cond[:, 0].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("count,unit,frequency,periods", [
    (3, "month", "quarter", 1), (6, "month", "quarter", 2), (1, "year", "quarter", 4), (1, "year", "month", 12),
    (1, "quarter", "month", 3), (2, "week", "day", 14),
])
def test_calendar_units_divide_exactly(count, unit, frequency, periods):
    # One UNIT_DAYS (data.table) for triggers and the noise evaluator: a month is a twelfth of a
    # year, so 3 months are exactly a quarter (with 30.44 and 91.31 days they were 2 quarters).
    from metricsense.data.table import UNIT_DAYS
    from metricsense.model import Duration
    from metricsense.span import Span

    assert ex.periods_for(Duration(count, unit, Span.point("<string>")), frequency) == periods
    assert 3 * UNIT_DAYS["month"] == UNIT_DAYS["quarter"] and 4 * UNIT_DAYS["quarter"] == UNIT_DAYS["year"]


def test_own_grid_is_made_once_per_pattern_and_handed_out_as_a_copy(monkeypatch):
    """own_grid keeps the grid of each pattern of present periods (of the last period index):
    the same rows as made afresh, a copy each time, never past MEMO_CELLS values."""
    periods = np.datetime64("2024-01-01", "D") + 7 * np.arange(40)
    rng = np.random.default_rng(4)
    made = []
    real = ex._own_rows
    monkeypatch.setattr(ex, "_own_rows", lambda *a: made.append(1) or real(*a))
    for _ in range(3):
        x = np.where(rng.random(40) < 0.2, np.nan, 1.0).reshape(-1, 1)
        first = ex.own_grid(periods, {"x": x})
        first[:] = -7  # a caller's copy: the kept grid is untouched
        again = ex.own_grid(periods, {"x": x})
        assert again.tolist() == real(periods, ~np.isnan(x[:, 0]), np).tolist()
    assert len(made) == 3  # once per pattern
    monkeypatch.setattr(ex, "MEMO_CELLS", 0)
    ex.own_grid(periods.copy(), {"x": x})
    ex.own_grid(periods, {"x": x})
    assert len(made) == 5  # a new period index, and nothing kept past the limit


def test_prepared_is_shared_by_conversation_and_noise_and_read_only(tmp_path):
    """One preparation per trigger and data set: the conversation and noise analyses read the
    same arrays (read-only), and the memo goes with the data set."""
    import gc

    from support import weekly_trigger_check

    x = 50 + np.random.default_rng(5).standard_normal(60)
    report = weekly_trigger_check(tmp_path, x, "x > 51", rules=("MS302", "MS601"))
    assert report.analysis  # both analyses ran
    spec, data = metricsense.load(str(tmp_path / "s.msense")), None
    from metricsense.data.dataset import DataSet, Series

    periods = np.datetime64("2025-01-06", "D") + 7 * np.arange(60)
    data = DataSet(periods=periods, series_map={"x": Series("x", x, "d.csv")}, surveys={}, frequency="week",
                   units={"x": "week"})
    trig = spec.triggers[0]
    one, two = ex.prepared(trig, spec, data), ex.prepared(trig, spec, data)
    assert one is two and one.cond is not None and one.fired.sum() == (x > 51).sum()
    for arr in (one.cond, one.fired, one.known, *one.inputs.arrays.values()):
        with pytest.raises(ValueError):
            arr[0] = 0
    other = DataSet(periods=periods, series_map={"x": Series("x", x + 1, "d.csv")}, surveys={}, frequency="week",
                    units={"x": "week"})
    shifted = ex.prepared(trig, spec, other)  # another data set (a segment): its own preparation
    assert shifted is not one and shifted.fired.sum() == (x + 1 > 51).sum()
    assert ex.prepared(trig, spec, data).fired.sum() == (x > 51).sum()
    del data, other, one, two, shifted
    gc.collect()
    assert ex._PREPARED[0] is None  # freed with the data set


def test_firing_is_the_running_count_of_held_periods():
    """firing (shifted ands of the held periods) against the running count it was first written as."""
    rng = np.random.default_rng(7)
    for t, u in ((1, 1), (2, 3), (5, 1), (40, 4), (104, 1)):
        cond = rng.choice([0.0, 1.0, np.nan], size=(t, u), p=[0.3, 0.6, 0.1])
        for n in (1, 2, 3, t - 1, t, t + 2):
            if n < 1:
                continue
            held = cond == 1.0
            c = np.cumsum(held, axis=0, dtype=np.int64)
            prev = np.vstack([np.zeros((n, u), dtype=np.int64), c[:-n]])[:t]
            want = held if n <= 1 else (c - prev) >= n
            assert np.array_equal(ex.firing(cond, n), want)


def test_on_grid_of_every_row_copies_the_inputs():
    inputs = ex.Inputs({"a": np.arange(6.0).reshape(3, 2), "b": np.array([[1.0], [np.nan], [-0.0]])}, ("x", "y"), {}, None)
    for rows in (np.arange(3), np.array([0, -1, 1, 2]), np.array([0, 2])):
        got = ex.on_grid(inputs, rows)
        for name, arr in inputs.arrays.items():
            want = np.full((len(rows), arr.shape[1]), np.nan)
            want[rows >= 0] = arr[rows[rows >= 0]]
            assert np.array_equal(got.arrays[name], want, equal_nan=True) and got.arrays[name] is not arr
            assert np.array_equal(np.signbit(got.arrays[name]), np.signbit(want))
