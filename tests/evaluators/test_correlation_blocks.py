"""The correlation matrix read by blocks (correlation_blocks) against the matrix made whole by the
kernel, on random inputs: complete data, a constant series, duplicates (r = 1 by rounding), series
shorter than min_periods, the first period missing everywhere (changes), gaps (the whole path).

Exact comparisons (==, NaN where NaN): the blocks are the kernel's product computed a block of
rows at a time, and every sum is made leaf by leaf as NumPy sums the whole; the JSON report must
not move by a bit (issue 25)."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pytest

import metricsense
from metricsense import kernels
from metricsense.evaluators import correlation, correlation_blocks
from metricsense.evaluators.compact import CORRELATION_FLOOR, correlation as compact_correlation
from metricsense.evaluators.correlation import corrected_effective_number, participation, upper_pairs
from metricsense.evaluators.correlation_blocks import Blocks, LazyMatrix
from metricsense.evaluators.matrices import counts
from metricsense.evaluators.records import CorrelationAnalysis


def _data(rng, t: int, k: int, *, constant=(), duplicate=(), first_missing=True, factors=2):
    """T x K changes-like values: common factors (so pairs above 0.5 and 0.9 exist), a constant
    series, exact and rounded duplicates, the first row missing everywhere."""
    x = rng.standard_normal((t, factors)) @ rng.standard_normal((factors, k)) + 0.6 * rng.standard_normal((t, k))
    for c in constant:
        x[:, c] = 3.25
    for a, b in duplicate:
        x[:, b] = x[:, a] * 1.7 + 0.1  # r = 1 up to rounding
    if first_missing:
        x[0] = np.nan
    return x


CASES = [
    dict(t=40, k=30),
    dict(t=40, k=57, constant=(3,), duplicate=((1, 2), (5, 40))),
    dict(t=25, k=33, first_missing=False, duplicate=((0, 32),)),
    dict(t=6, k=12),                       # shorter than min_periods: every series is dead
    dict(t=60, k=90, factors=1),           # one common factor: many pairs above the floors
]


def _same_scan(scan, r, n) -> None:
    """The scan of a matrix equals what the rules computed on it held whole, to the bit."""
    k = len(r)
    judged, pairs = upper_pairs(r, scan.floor)
    assert scan.judged == judged
    assert list(zip(scan.i.tolist(), scan.j.tolist())) == pairs
    assert scan.r.tolist() == [r[i, j] for i, j in pairs]
    assert scan.finite == bool(np.isfinite(r).all())
    if scan.finite:
        assert k * k / scan.squares == participation(r)
        assert float(k * k / (k + scan.adjusted)) == corrected_effective_number(r, n)
    else:
        assert scan.squares is None and scan.adjusted is None


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("leaf, tile", [(1 << 20, 256), (128, 7), (300, 4)])
def test_blocks_are_the_kernels_matrix_and_their_scan_the_sums_over_it(case, leaf, tile, monkeypatch):
    # many leaves, each splitting rows and bands of tiles
    monkeypatch.setattr(correlation_blocks, "LEAF", leaf)
    monkeypatch.setattr(correlation_blocks, "TILE", tile)
    rng = np.random.default_rng(case["k"] + case["t"])
    x = _data(rng, **case)
    minp = 8
    whole = kernels.pairwise_corr(np.ascontiguousarray(x), method="pearson", min_periods=minp)
    k = whole.shape[0]
    n = counts(np.full((k, k), int((~np.isnan(x)).all(axis=1).sum())))
    blocks = Blocks.complete(x, minp)
    assert blocks is not None and not blocks.held
    blocks.n = n
    scans = {floor: blocks.scan(floor) for floor in (0.9, 0.5, 0.0)}  # each lower floor a new pass
    assert not blocks.held
    computed = blocks.array()
    # the tiles' products are BLAS's, as the kernel's one product of the whole, summed in another
    # grouping: the same numbers to rounding; symmetric and NaN where the kernel has NaN exactly
    assert np.array_equal(np.isnan(computed), np.isnan(whole))
    np.testing.assert_allclose(computed, whole, rtol=1e-13, atol=1e-15)
    assert np.array_equal(computed, computed.T, equal_nan=True) and not computed.flags.writeable
    assert np.array_equal(blocks.rows(3, 9), computed[3:9], equal_nan=True)
    for floor, scan in scans.items():
        _same_scan(scan, computed, n)  # read by blocks, the matrix made whole of the same blocks
    held = Blocks(whole)
    held.n = n
    for floor in (0.9, 0.5, 0.0):
        _same_scan(held.scan(floor), whole, n)  # the kernel's matrix read by blocks


def test_the_tiles_of_a_large_system_are_its_products_to_the_bit():
    """Beyond WHOLE_UP_TO KPIs the matrix is made of tiles: on this BLAS the tiles of a wide,
    long system give the kernel's numbers exactly (they did at 10,000 KPIs: the same report)."""
    rng = np.random.default_rng(11)
    x = _data(rng, 104, correlation_blocks.WHOLE_UP_TO + 60)
    whole = kernels.pairwise_corr(np.ascontiguousarray(x), method="pearson", min_periods=8)
    blocks = Blocks.complete(x, 8)
    computed = blocks.array()
    np.testing.assert_allclose(computed, whole, rtol=1e-13, atol=1e-15)
    assert np.array_equal(computed, computed.T)


def test_a_scan_serves_higher_floors_and_scans_again_for_lower_ones():
    rng = np.random.default_rng(7)
    x = _data(rng, 40, 30)
    blocks = Blocks.complete(x, 8)
    high = blocks.scan(0.9)
    assert blocks.scan(0.95) is high
    low = blocks.scan(0.3)
    assert low is not high and low.floor == 0.3 and blocks.scan(0.5) is low
    i, j, r = low.above(0.9)
    assert (i.tolist(), j.tolist(), r.tolist()) == (high.i.tolist(), high.j.tolist(), high.r.tolist())
    with pytest.raises(ValueError):
        low.above(0.1)


def test_gaps_leave_the_whole_path():
    rng = np.random.default_rng(2)
    x = _data(rng, 30, 10)
    x[5, 3] = np.nan
    assert Blocks.complete(x, 8) is None
    assert Blocks.complete(np.full((4, 3), np.nan), 2) is None


def _spec(tmp_path, values, gaps: bool = False):
    t, k = values.shape
    lines = ["period," + ",".join(f"k{i}" for i in range(k))]
    for w in range(t):
        day = dt.date(2024, 1, 1) + dt.timedelta(weeks=w)
        lines.append(day.isoformat() + "," + ",".join("" if np.isnan(v) else f"{v:.4f}" for v in values[w]))
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    kinds = ("outcome", "output", "process", "input")
    spec = ['data "data.csv"'] + [f'kpi k{i} "KPI {i}" {{ kind {kinds[i % 4]} }}' for i in range(k)]
    (tmp_path / "spec.msense").write_text("\n".join(spec) + "\n")
    return tmp_path / "spec.msense"


def _check(spec):
    report = metricsense.check(spec, config={"time-budget": 1e9, "select": ["MS101", "MS102"]})
    (analysis,) = report.analysis.values()
    found = [(d.code, d.message, d.evidence) for d in report.diagnostics]
    return CorrelationAnalysis.of(analysis), found


def _close(a, b) -> None:
    """The same structure, the same strings and whole numbers, floats to rounding."""
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _close(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _close(u, v)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-14)
    else:
        assert a == b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_check_reads_by_blocks_what_it_read_whole(tmp_path, seed, monkeypatch):
    """MS101, MS102 and the record (compact and full) on levels with duplicates and a constant
    series, computed by tiles and read by blocks, and (Blocks.complete off) whole by the kernel:
    the same findings and records (to rounding: the tiles sum the products in their grouping)."""
    rng = np.random.default_rng(seed)
    levels = 50 + np.cumsum(_data(rng, 36, 24, first_missing=False, factors=1 + seed % 2), axis=0)
    if seed == 3:
        levels[:, 7] = 12.5
    levels[:, 9] = levels[:, 4] * 2 + 1
    spec = _spec(tmp_path, levels)
    for name, value in (("LEAF", 136), ("TILE", 5), ("WHOLE_UP_TO", 0)):
        monkeypatch.setattr(correlation_blocks, name, value)
    monkeypatch.setattr(correlation, "WHOLE_UP_TO", 0)
    blocked, found = _check(spec)
    # a constant series has no correlation: the effective number leaves it out, on the whole matrix
    assert isinstance(blocked.matrix, LazyMatrix) and blocked.matrix.blocks.held == (seed == 3)
    compact = blocked.compact()
    assert blocked.matrix.blocks.held == (seed == 3)  # the compact report reads the scan's pairs
    monkeypatch.setattr(correlation, "WHOLE_UP_TO", 10**9)
    whole, found_whole = _check(spec)
    assert not isinstance(whole.matrix, LazyMatrix)
    assert any(code == "MS101" for code, _, _ in found) and any(code == "MS102" for code, _, _ in found)
    _close(found, found_whole)
    _close(compact, compact_correlation(whole))
    assert compact["pairs_above_floor"] > 0 and compact["effective_kpis"] == list(whole.effective_kpis)
    _close(blocked.to_json(), whole.to_json())
    assert blocked.matrix.blocks.held  # asked for whole by to_json
    again = pickle.loads(pickle.dumps(blocked))
    assert isinstance(again.matrix, LazyMatrix) and not again.matrix.blocks.held  # made again when read
    assert again == blocked


def test_the_lazy_matrix_reads_as_the_matrix_without_making_it(tmp_path, monkeypatch):
    monkeypatch.setattr(correlation, "WHOLE_UP_TO", 0)
    rng = np.random.default_rng(4)
    spec = _spec(tmp_path, 50 + np.cumsum(_data(rng, 30, 12, first_missing=False), axis=0))
    record, _ = _check(spec)
    m = record.matrix
    assert isinstance(m, LazyMatrix) and m.shape == (12, 12) and len(m) == 12 and m.dtype == np.float64
    assert not m.blocks.held
    out = compact_correlation(record)
    assert not m.blocks.held and all(abs(p["r"]) >= CORRELATION_FLOOR for p in out["pairs"])
    assert m[2][2] == 1.0 and m.blocks.held and np.asarray(m) is m.blocks.array()


def test_a_record_without_blocks_gets_the_strongest_pairs_by_brute_force():
    # a record built by hand (a plugin's, or rows of lists): compact.correlation scans its rows;
    # the pairs i < j at |r| >= the floor, strongest first (ties in row-major order), at most
    # PAIRS_PER_KPI per KPI, against a plain loop
    from types import SimpleNamespace

    from metricsense.evaluators.compact import PAIRS_PER_KPI

    rng = np.random.default_rng(11)
    for trial in range(60):
        k = int(rng.integers(2, 30))
        a = np.round(rng.uniform(-1, 1, (k, k)), 1 if trial % 2 else 3)
        a = (a + a.T) / 2
        hole = rng.random((k, k)) < 0.15
        a[hole | hole.T] = np.nan
        np.fill_diagonal(a, 1.0)
        n = rng.integers(3, 60, (k, k))
        record = SimpleNamespace(basis="changes", method="pearson", kpis=[f"k{i}" for i in range(k)],
                                 matrix=[[None if np.isnan(v) else float(v) for v in row] for row in a],
                                 n=np.minimum(n, n.T).tolist(), effective_number=None, effective_of=None,
                                 effective_kpis=[])
        want = [(abs(a[i, j]), i * k + j) for i in range(k) for j in range(i + 1, k)
                if not np.isnan(a[i, j]) and abs(a[i, j]) >= CORRELATION_FLOOR]
        picked = sorted(want, key=lambda t: (-t[0], t[1]))[:PAIRS_PER_KPI * k]
        out = compact_correlation(record)
        assert out["pairs_above_floor"] == len(want)
        assert [(p["kpis"], p["r"], p["n"]) for p in out["pairs"]] == [
            ([f"k{at // k}", f"k{at % k}"], a[at // k, at % k], min(n[at // k, at % k], n[at % k, at // k]))
            for _, at in picked]
