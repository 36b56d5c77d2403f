"""MS403's spread comparison for many KPIs at once (distortion_variance.variances) against the
per-KPI ``_variance``: the same result for every KPI (keys in the same order, the same scales
and years, numbers within rel 1e-9: the same medians, the same least squares and HC3 variance by
other arithmetic), whatever the group: gaps in the periods, negative values (no log scale), a
constant series, a collapse, less than a year a side, different splits and a group of one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from metricsense.data.dataset import Series
from metricsense.evaluators.distortion_edges import edges
from metricsense.evaluators.distortion_variance import _variance, variances


def _same(got, ref):
    if ref is None or got is None:
        assert got is None and ref is None
        return
    assert list(got) == list(ref)
    for k, v in ref.items():
        if isinstance(v, dict):
            assert list(got[k]) == list(v)
            for s, p in v.items():
                assert got[k][s] == pytest.approx(p, rel=1e-9, abs=1e-14), (k, s)
        elif isinstance(v, float) and not math.isnan(v):
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-14), k
        else:
            assert got[k] == v, k


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_variances_are_variance_kpi_by_kpi(seed):
    rng = np.random.default_rng(seed)
    n = 130
    per = np.datetime64("2022-01-03", "D") + 7 * np.arange(n)
    data = SimpleNamespace(periods=per, unit_of=lambda name: "week")
    cols = {}
    for i in range(12):
        cols[f"w{i}"] = 50 + np.cumsum(rng.normal(0, 1, n))  # positive: both scales
    cols["neg"] = np.cumsum(rng.normal(0, 1, n)) - 5  # crosses zero: as is only
    cols["flat"] = np.full(n, 7.0)  # no spread before: no ratio
    cols["collapse"] = 100 + rng.normal(0, 5, n) * np.where(np.arange(n) >= n // 2, 0.3, 1.0)
    gap = [f"w{i}" for i in range(6)] + ["neg"]
    for name in gap:  # the same missing weeks: one group of its own (a missing period on the grid)
        cols[name] = cols[name].copy()
        cols[name][[30, 31, 90]] = np.nan
    short = {f"s{i}": 20 + rng.normal(0, 1, n) for i in range(3)}
    for v in short.values():
        v[:70] = np.nan  # 60 weeks: less than a year on each side of its midpoint
    cols.update(short)
    items, refs = [], {}
    for name, v in cols.items():
        rows = np.flatnonzero(~np.isnan(v))
        row = int(rows[len(rows) // 2]) + (7 if name == "w11" else 0)  # w11: a split of its own
        s = Series(name, v, "sim")
        items.append((name, s, row))
        refs[name] = _variance(s, data, row, np.arange(n) >= row, "week", 6)
    got = variances(data, items, 6)
    assert "w11" not in got  # a group of one: left to _variance
    assert set(got) == set(cols) - {"w11"}
    for name, ref in refs.items():
        if name in got:
            _same(got[name], ref)
    assert refs["flat"] is None and refs["s0"]["status"].startswith("less than a whole year")
    assert refs["collapse"]["ratio"] < 0.5 and list(refs["neg"]["p_by_scale"]) == ["as is"]
    assert list(refs["w1"]["p_by_scale"]) == ["as is", "relative to the level"]


def test_edges_are_the_density_test_where_the_target_is_at_the_edge():
    """MS401 for many series at once (distortion_edges.edges) gives, for every series whose target
    is at the edge of its data, exactly the per-KPI test's entry (==, keys in order), and leaves
    out every other: targets inside the data, a discrete support (whole numbers), a constant
    series, a series on other periods (a group of one), a `<=` target."""
    from metricsense.evaluators.distortion import _bunching, support_step

    rng = np.random.default_rng(401)
    n = 104
    data = SimpleNamespace(periods=np.datetime64("2022-01-03", "D") + 7 * np.arange(n))
    items, refs = [], {}
    for i in range(60):
        v = np.round(50 + np.cumsum(rng.normal(0, 1, n)) * rng.choice([0.1, 1.0, 10.0]), 3)
        if i % 10 == 7:
            v = np.rint(v)  # whole numbers: a discrete support, the full test
        if i == 13:
            v = np.full(n, 4.0)
        if i == 21:
            v = v.copy()
            v[3] = np.nan  # other periods: a group of its own
        where = rng.choice(["edge", "low", "inside"])
        after = v[n // 2:]
        cut = {"edge": np.nanmax(after) + 0.01, "low": np.nanmin(after) - 1.0, "inside": np.nanmedian(after)}[where]
        t = SimpleNamespace(value=float(np.round(cut, 2)), comparison=">=" if i % 3 else "<=")
        s = Series(f"k{i}", v, "sim")
        items.append((s.name, s, n // 2, t))
        refs[s.name] = _bunching(s, np.arange(n) >= n // 2, t)
    got = edges(data, items, support_step)
    edge = {name for name, r in refs.items() if r.get("status") == "the target is at the edge of the data"
            and r.get("support_step") is None}
    assert set(got) == edge - {"k21"} and len(got) >= 20
    for name, entry in got.items():
        assert list(entry) == list(refs[name]) and entry == refs[name], name
    assert "k13" not in got and refs["k13"]["status"] == "too few values"
    assert any(refs[f"k{i}"].get("support_step") for i in range(7, 60, 10))  # a discrete support: left out
    assert {r["status"] for r in refs.values()} - {"the target is at the edge of the data"}  # others ran whole
