"""noise_fields.plain_many (many KPIs' noise, level and moves at once) against kpi_fields' own
per-KPI statistics: the same entry, to the bit, for every series it takes, and every other
series left to the per-KPI code."""

from __future__ import annotations

import numpy as np
import pytest

import metricsense
from metricsense.data.dataset import Series
from metricsense.evaluators import noise, noise_fields


class _Data:
    """What kpi_fields reads of a data set: periods, frequency and series by name."""

    def __init__(self, periods, columns, frequency="week"):
        self.periods, self.frequency = periods, frequency
        self.series_map = {n: Series(n, v, "test") for n, v in columns.items()}

    def series(self, name):
        return self.series_map.get(name)


def _columns(rng, t: int) -> dict[str, np.ndarray]:
    cols = {}
    for i in range(24):
        kind = i % 4
        if kind == 0:  # AR(1)
            x = np.zeros(t)
            for j in range(1, t):
                x[j] = 0.7 * x[j - 1] + rng.normal()
            x += 50
        elif kind == 1:  # a random walk on a coarse grid: ties among changes and levels
            x = np.round(np.cumsum(rng.normal(0, 1, t)), 1)
        elif kind == 2:  # whole numbers: many equal changes, signed zeros among them
            x = rng.integers(-2, 3, t).astype(float) * rng.choice([-0.0, 0.0, 1.0], t)
        else:
            x = rng.normal(10, 3, t)
        cols[f"k{i}"] = x
    cols["flat"] = np.full(t, 3.0)
    cols["zeros"] = np.where(rng.random(t) < 0.5, -0.0, 0.0)
    gappy = rng.normal(0, 1, t)
    gappy[rng.random(t) < 0.2] = np.nan
    gappy[t // 3] = np.nan
    cols["gappy"] = gappy
    cols["empty"] = np.full(t, np.nan)
    inf = rng.normal(0, 1, t)
    inf[t // 2] = np.inf
    cols["inf"] = inf
    cols["huge"] = np.where(np.arange(t) % 2 == 0, 1.7e308, -1.7e308)  # finite, its changes are not
    return cols


def _spec(tmp_path, names, comparisons):
    kpis = []
    for i, name in enumerate(names):
        review = f"  review every {1 + i % 5} weeks\n" if i % 3 else ""
        kpis.append(f'kpi {name} "{name}" {{\n  better higher\n  target {comparisons[i % len(comparisons)]} 2\n'
                    f'{review}}}\n')
    kpis.append('kpi bare "bare" {\n  better higher\n}\n')
    path = tmp_path / "m.msense"
    path.write_text('mission "m" { why "w" owner "o" }\n' + "".join(kpis))
    return metricsense.load(path)


def _entries(doc, data, level_periods, plain):
    return {k.name: repr(noise.kpi_fields(k, data, level_periods, 1.0, plain.get(k.name))) for k in doc.kpis}


@pytest.mark.parametrize("t", [3, 4, 5, 9, 104, 600])
@pytest.mark.parametrize("level_periods", [1, 2, 3, 4])
def test_plain_many_is_kpi_fields_per_kpi(tmp_path, t, level_periods):
    rng = np.random.default_rng(t * 10 + level_periods)
    cols = _columns(rng, t)
    cols["bare"] = rng.normal(0, 1, t)
    doc = _spec(tmp_path, [n for n in cols if n != "bare"], [">=", "<", "<=", ">", "=="])
    periods = np.datetime64("2024-01-01") + 7 * np.arange(t)
    data = _Data(periods, cols)
    plain = noise_fields.plain_of(doc, data, level_periods)
    assert _entries(doc, data, level_periods, plain) == _entries(doc, data, level_periods, {})
    if t >= 4:  # the plain series take the batched path, the others the per-KPI one
        assert {"k0", "k1", "k2", "flat", "zeros", "bare"} <= set(plain)
        assert not {"gappy", "empty", "inf", "huge"} & set(plain)
        assert plain["bare"].moves is None and plain["k0"].moves is not None
    else:
        assert plain == {}


def test_a_calendar_with_a_missing_period_is_left_to_the_per_kpi_code(tmp_path):
    rng = np.random.default_rng(5)
    cols = _columns(rng, 60)
    doc = _spec(tmp_path, list(cols), [">="])
    periods = np.datetime64("2024-01-01") + 7 * np.r_[np.arange(30), np.arange(31, 61)]  # week 30 missing
    data = _Data(periods, cols)
    assert noise_fields.plain_of(doc, data, 3) == {}
    assert len(noise_fields.plain_of(doc, _Data(np.datetime64("2024-01-01") + 7 * np.arange(60), cols), 3)) > 20


def test_row_medians_are_numpys_medians():
    from metricsense.evaluators.common import row_medians

    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 4, 7, 10, 51):
        a = np.round(rng.normal(0, 1, (40, n)), 1) * rng.choice([-0.0, 0.0, 1.0], (40, n))
        a[3, 0] = np.nan
        a[5, -1] = np.inf
        got, want = row_medians(a), np.median(a, axis=1)
        assert np.array_equal(got, want, equal_nan=True)  # == (a zero's sign aside)
        for i in range(len(a)):  # each row as serial.median takes it alone: its sign of zero too
            one = noise_fields.serial.median(a[i])
            assert repr(float(got[i])) == repr(one)


def test_spread_breaks_with_row_medians_are_those_with_numpys(monkeypatch):
    from metricsense.evaluators import distortion_variance as dv

    rng = np.random.default_rng(4)
    t = 60
    d = np.round(rng.normal(0, 1, (30, t)), 1)
    d[2, 5] = np.nan
    d[4] = 0.0
    times = np.arange(t) / 52.0
    after = np.arange(t) >= 35
    got = dv._breaks(d, times, after, None)
    monkeypatch.setattr(dv, "row_medians", lambda a: np.median(a, axis=1))
    want = dv._breaks(d, times, after, None)
    assert got.keys() == want.keys()
    for k in got:
        assert np.array_equal(got[k], want[k], equal_nan=True)
