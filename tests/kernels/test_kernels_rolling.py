"""rolling_corr and rolling_corr_matrix: both backends against the reference and pandas.

The compiled kernel merges Welford aggregates (O(1) per window) where the reference recomputes
each window in two passes; they agree to 1e-12. pandas' rolling corr uses raw moments
(E[xy] - E[x]E[y]), so it is compared at 1e-9 on data without an offset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kernel_support import compiled_kernel, panels
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from metricsense.kernels import reference


def same(actual, expected, rtol=1e-12, atol=1e-12):
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(x=panels(max_t=40, max_n=4), window=st.integers(1, 12), minp=st.none() | st.integers(0, 12))
def test_compiled_matches_reference(x, window, minp):
    kernel = compiled_kernel()
    if kernel is None:
        pytest.skip("metricsense._kernel is not built")
    minp = None if minp is None else min(minp, window)
    y = x[::-1].copy()
    same(kernel.rolling_corr(x, y, window, minp), reference.rolling_corr(x, y, window, minp))
    same(kernel.rolling_corr_matrix(x, window, minp), reference.rolling_corr_matrix(x, window, minp))


@pytest.mark.parametrize("seed", range(2))
def test_against_pandas(backend, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((80, 3))
    y = 0.5 * x + rng.standard_normal((80, 3))
    x[rng.random(x.shape) < 0.15] = np.nan
    y[rng.random(y.shape) < 0.15] = np.nan
    got = backend.rolling_corr(x, y, 10, min_periods=4)
    want = np.column_stack(
        [pd.Series(x[:, k]).rolling(10, min_periods=4).corr(pd.Series(y[:, k])).to_numpy() for k in range(3)]
    )
    same(got, want, rtol=1e-9, atol=1e-9)
    got = backend.rolling_corr_matrix(x, 10, min_periods=4)
    want = pd.DataFrame(x).rolling(10, min_periods=4).corr().to_numpy().reshape(80, 3, 3)
    same(got, want, rtol=1e-9, atol=1e-9)


def test_offset_and_long_series(backend):
    # 1e6 offsets over many windows: no drift (the compiled kernel never subtracts a point).
    rng = np.random.default_rng(3)
    x = 1e6 + rng.standard_normal((600, 2))
    y = 1e6 + x + rng.standard_normal((600, 2))
    got = backend.rolling_corr(x, y, 30)
    for t in (29, 300, 599):
        want = np.corrcoef(x[t - 29 : t + 1, 0], y[t - 29 : t + 1, 0])[0, 1]
        assert_allclose(got[t, 0], want, rtol=1e-12)


def test_semantics(backend):
    x = np.array([1.0, 2.0, 3.0, 3.0, 3.0, np.nan, 5.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 0.0, 1.0, 2.0])
    got = backend.rolling_corr(x, y, 3)  # 1-D in, 1-D out; min_periods defaults to window
    assert got.shape == (7,)
    assert np.isnan(got[:2]).all()  # fewer than 3 periods
    assert np.isnan(got[4])  # x constant on the window
    assert np.isnan(got[5]) and np.isnan(got[6])  # NaN leaves 2 complete periods
    assert_allclose(got[2], np.corrcoef(x[:3], y[:3])[0, 1], rtol=1e-12)
    m = backend.rolling_corr_matrix(np.column_stack([x, y]), 3, min_periods=2)
    assert m.shape == (7, 2, 2)
    assert_array_equal(m[1], [[1.0, -1.0], [-1.0, 1.0]])
    with pytest.raises(ValueError):
        backend.rolling_corr(x, y, 0)
    with pytest.raises(ValueError):
        backend.rolling_corr(x, y[:3], 2)


def test_jumps_outliers_and_constant_stretches(backend):
    # The compiled kernel sums raw moments about a level per block of windows and recomputes a
    # window in two passes when they would cancel: around a jump, after an outlier, on a stretch
    # where a series is constant. Each must still agree with the two-pass reference.
    rng = np.random.default_rng(11)
    t = 400
    x = rng.standard_normal((t, 3))
    y = 0.4 * x + rng.standard_normal((t, 3))
    x[200:, 0] += 1e8  # a jump far larger than the spread
    y[150, 1] = 1e12  # one outlier, then ordinary values again
    x[100:180, 2] = 7.25  # constant for longer than a window
    x[rng.random((t, 3)) < 0.05] = np.nan
    for window, minp in ((30, None), (7, 3), (64, 10)):
        same(backend.rolling_corr(x, y, window, minp), reference.rolling_corr(x, y, window, minp))
    got = backend.rolling_corr(x, y, 30, 20)
    assert np.isnan(got[179, 2]) and not np.isnan(got[120, 0]) and not np.isnan(got[210, 0])


def test_matrix_on_threads_matches_pairs():
    # rolling_corr_matrix of many series runs on several threads (blocks of time); each entry
    # must equal the one-thread rolling_corr of that pair, and the reference on a sample.
    kernel = compiled_kernel()
    if kernel is None:
        pytest.skip("metricsense._kernel is not built")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1500, 45)) + np.linspace(0, 30, 45)
    x[rng.random(x.shape) < 0.03] = np.nan
    m = kernel.rolling_corr_matrix(x, 40, min_periods=20)  # 1035 pairs x 1500 periods
    i, j = np.triu_indices(45, 1)
    pairs = kernel.rolling_corr(x[:, i], x[:, j], 40, min_periods=20)
    assert_array_equal(m[:, i, j], pairs)
    assert_array_equal(m[:, j, i], pairs)
    for a, b in ((0, 44), (7, 8)):
        same(m[:, a, b], reference.rolling_corr(x[:, a], x[:, b], 40, min_periods=20))


def test_gap_free_pairs_two_at_a_time(backend):
    # The compiled kernel sums two gap-free pairs at once and the others one by one; a block
    # mixes both, a constant and an offset column among the gap-free ones, an odd pair count.
    rng = np.random.default_rng(21)
    t = 300
    x = rng.standard_normal((t, 7))
    y = 0.5 * x + rng.standard_normal((t, 7))
    x[:, 2] = 3.5  # constant: every window recomputed in two passes
    y[:, 4] += 1e6
    x[40:45, 5] = np.nan  # gaps in a few blocks only
    y[rng.random(t) < 0.2, 6] = np.nan
    for window, minp in ((25, None), (25, 5), (1, None), (300, 2)):
        same(backend.rolling_corr(x, y, window, minp), reference.rolling_corr(x, y, window, minp))
    same(backend.rolling_corr_matrix(x[:80], 9, 3), reference.rolling_corr_matrix(x[:80], 9, 3))
