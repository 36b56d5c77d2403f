"""pairwise_corr: both backends against an exact oracle, pandas, SciPy and numpy.corrcoef.

Tolerances: 1e-12 relative for float64 r, with an absolute floor of 1e-13 (r is bounded by 1,
so relative error near r = 0 is meaningless). pandas' Welford update rounds its running mean
to 1e-10 at an offset of 1e6 and is itself off by ~1e-10 there, so with that offset pandas is
held to 1e-8 and the exact rational oracle to 1e-12.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from kernel_support import exact_pearson, panels
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

RTOL, ATOL = 1e-12, 1e-13
FAST = settings(max_examples=60, deadline=None)


def same(actual, expected, rtol=RTOL, atol=ATOL):
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


@FAST
@given(x=panels(), minp=st.integers(0, 5))
def test_pearson_matches_exact_oracle_and_pandas(backend, x, minp):
    got = backend.pairwise_corr(x, "pearson", min_periods=minp)
    same(got, exact_pearson(x, minp))
    loose = 1e-8 if np.nanmax(np.abs(x), initial=0.0) > 1e5 else ATOL
    same(got, pd.DataFrame(x).corr(min_periods=max(minp, 1)).to_numpy(), atol=loose)


@FAST
@given(x=panels(), minp=st.integers(0, 5))
def test_spearman_matches_pandas(backend, x, minp):
    got = backend.pairwise_corr(x, "spearman", min_periods=minp)
    same(got, pd.DataFrame(x).corr("spearman", min_periods=max(minp, 1)).to_numpy())


@FAST
@given(x=panels(max_t=30, max_n=6))
def test_backends_agree(x):
    from kernel_support import compiled_kernel

    from metricsense.kernels import reference

    kernel = compiled_kernel()
    if kernel is None:
        pytest.skip("metricsense._kernel is not built")
    for method in ("pearson", "spearman"):
        same(kernel.pairwise_corr(x, method), reference.pairwise_corr(x, method))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_complete_data_matches_corrcoef_and_spearmanr(backend, seed, offset):
    rng = np.random.default_rng(seed)
    x = offset + rng.standard_normal((50, 8)) @ rng.standard_normal((8, 8))
    same(backend.pairwise_corr(x), np.corrcoef(x.T), atol=1e-12 if offset else ATOL)
    same(backend.pairwise_corr(x, "spearman"), scipy.stats.spearmanr(x).statistic)


def test_larger_panel_with_ragged_starts_and_gaps(backend):
    # Larger than the Hypothesis panels: exercises the long-run (prefix-sum) path and tiling.
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal((400, 90)), axis=0) + 1e6
    for i, s in enumerate(rng.integers(0, 300, size=90)):
        x[:s, i] = np.nan
    x[rng.random(x.shape) < 0.05] = np.nan
    x[100:160, 3] = np.nan
    x[:, 5] = 1e6 + 0.5  # constant
    same(backend.pairwise_corr(x)[:12, :12], exact_pearson(x[:, :12]))


def test_series_sharing_their_missing_periods(backend):
    # The compiled kernel computes its gap corrections once per pattern of missing periods: many
    # series missing the same periods (a first change; a long and a short run) beside series
    # with patterns of their own; each group's pairs, within and across, against the exact r.
    rng = np.random.default_rng(11)
    x = np.cumsum(rng.standard_normal((80, 30)), axis=0) + 1e3
    x[0] = np.nan
    x[10:30, 8:18] = np.nan  # one long run shared by 10 series
    x[50:53, 14:22] = np.nan  # a short one, shared by 8 (4 of them with the long run too)
    x[rng.random(x.shape) < 0.03] = np.nan  # and patterns of their own
    x[:, 25:28] = x[:, 25:26]  # identical series, identical gaps
    exact = exact_pearson(x)
    same(backend.pairwise_corr(x), exact)
    few = backend.pairwise_corr(x, min_periods=60)  # the pairs sharing fewer periods are NaN
    counts = (~np.isnan(x)).astype(int)
    same(few, np.where(counts.T @ counts >= 60, exact, np.nan))


def test_trending_ragged_series_fall_back_exactly(backend):
    # A trend seen on a short overlap: S^2 / n nearly cancels SS, the masked formula's weak spot.
    t = np.arange(200.0)
    x = np.column_stack([1e3 * t + np.sin(t), 1e3 * t + np.cos(3 * t), np.sin(t / 7)])
    x[:190, 0] = np.nan
    same(backend.pairwise_corr(x), exact_pearson(x))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_named_edge_cases(backend, method):
    nan = np.nan
    corr = backend.pairwise_corr
    # Constant column, also after rounding: 0.1 * 3 / 3 != 0.1, so test exact equality.
    x = np.array([[0.1, 1.0], [0.1, 2.0], [0.1, 4.0]])
    assert_array_equal(np.isnan(corr(x, method)), [[True, True], [True, False]])
    # Constant on the overlap only.
    x = np.array([[1.0, 1.0], [2.0, 5.0], [2.0, 6.0], [nan, 7.0]])
    x[0, 1] = nan
    assert np.isnan(corr(x, method)[0, 1])
    # No overlap.
    x = np.array([[1.0, nan], [2.0, nan], [nan, 3.0], [nan, 4.0]])
    assert np.isnan(corr(x, method)[0, 1])
    # Tiny values: scale invariance down to 1e-20.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3))
    same(corr(x * 1e-20, method), corr(x, method))
    # min_periods (pandas GH 37448/37452): exactly min_periods overlapping periods is enough.
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [nan, 1.0]])
    assert not np.isnan(corr(x, method, min_periods=3)[0, 1])
    assert np.isnan(corr(x, method, min_periods=4)[0, 1])
    assert np.isnan(corr(x, method, min_periods=4)[0, 0])
    assert corr(x, method, min_periods=4)[1, 1] == 1.0


@pytest.mark.parametrize("t", [1, 2, 3])
def test_short_panels(backend, t):
    x = np.arange(3.0 * t).reshape(t, 3) ** 2
    got = backend.pairwise_corr(x)
    if t < 2:
        assert np.isnan(got).all()
    else:
        same(got, exact_pearson(x))
    same(backend.pairwise_corr(x, "spearman"), pd.DataFrame(x).corr("spearman").to_numpy())


def test_empty_and_bad_input(backend):
    assert backend.pairwise_corr(np.empty((5, 0))).shape == (0, 0)
    with pytest.raises(ValueError):
        backend.pairwise_corr(np.zeros(3))
    with pytest.raises(ValueError):
        backend.pairwise_corr(np.zeros((3, 2)), "kendall")


def test_public_dispatch():
    import metricsense.kernels as k

    x = np.random.default_rng(1).standard_normal((30, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same(k.pairwise_corr(x, method="pearson", min_periods=2), np.corrcoef(x.T))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_periods_no_series_has_are_in_no_pair(backend, method):  # noqa: F811
    """Period-to-period changes begin with a period no KPI has: the compiled kernel drops such
    periods and takes the complete path (one product) when nothing else is missing; pandas on
    the same data, the empty periods dropped or not, and a panel with no period at all."""
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, (40, 6))
    x[:, 5] = x[:, 4] * 0.9 + rng.normal(0, 0.1, 40)
    x[[0, 17, 18]] = np.nan
    got = backend.pairwise_corr(x, method=method, min_periods=8)
    same(got, pd.DataFrame(x).corr(method=method, min_periods=8).to_numpy())
    same(got, pd.DataFrame(x[~np.isnan(x).all(axis=1)]).corr(method=method, min_periods=8).to_numpy())
    assert np.isnan(backend.pairwise_corr(x, method=method, min_periods=38)).all()  # 37 periods
    x[5, 2] = np.nan  # one more gap: the pairwise path
    same(backend.pairwise_corr(x, method=method, min_periods=8),
         pd.DataFrame(x).corr(method=method, min_periods=8).to_numpy())
    assert np.isnan(backend.pairwise_corr(np.full((4, 3), np.nan), method=method)).all()


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_no_period_at_all_is_no_pair(backend, method):  # noqa: F811
    """Series with no period (0 x n) have no pair: every r NaN, as with every period empty (the
    compiled kernel raised NumPy's "zero-size array to reduction operation")."""
    got = backend.pairwise_corr(np.empty((0, 3)), method=method)
    assert got.shape == (3, 3) and np.isnan(got).all()
    same(got, pd.DataFrame(np.empty((0, 3))).corr(method=method).to_numpy())
