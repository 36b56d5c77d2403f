"""Helpers for the kernel tests (imported as `kernel_support`): both backends, panels of KPI-like data."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import strategies as st

from metricsense.kernels import reference


def compiled_kernel():
    """The compiled module, or None outside CI when it was not built (CI must fail instead)."""
    try:
        from metricsense import _kernel
    except ImportError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"CI: the compiled kernel did not import: {exc}")
        return None
    return _kernel


@pytest.fixture(scope="module", params=["reference", "cython"])
def backend(request):
    """Each backend module called directly, whatever metricsense.kernels.BACKEND says."""
    if request.param == "reference":
        return reference
    mod = compiled_kernel()
    if mod is None:
        pytest.skip("metricsense._kernel is not built")
    return mod


@st.composite
def panels(draw, max_t: int = 12, max_n: int = 5):
    """A T x n float64 panel: values on a grid (ties, constant columns), an offset of 0 or 1e6,
    a scale down to 1e-20, and NaN patterns: none, at random, ragged starts, or long gaps."""
    t = draw(st.integers(1, max_t))
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = draw(st.sampled_from([1, 2, 4, 1000]))
    offset = draw(st.sampled_from([0.0, 1e6]))
    scale = 1.0 if offset else draw(st.sampled_from([1.0, 1e-20, 1e3]))
    x = offset + scale * 0.37 * rng.integers(-levels, levels + 1, size=(t, n))
    pattern = draw(st.sampled_from(["none", "random", "ragged", "gaps"]))
    if pattern == "random":
        x[rng.random((t, n)) < draw(st.sampled_from([0.1, 0.3, 0.7]))] = np.nan
    elif pattern == "ragged":  # KPIs that start reporting at different periods
        for i, start in enumerate(rng.integers(0, t + 1, size=n)):
            x[:start, i] = np.nan
    elif pattern == "gaps":
        for i in range(n):
            lo = rng.integers(0, t)
            x[lo : lo + rng.integers(0, t), i] = np.nan
    return x


def exact_pearson(x: np.ndarray, min_periods: int = 1) -> np.ndarray:
    """Pairwise-complete Pearson in rational arithmetic, rounded once at the end (the oracle)."""
    n = x.shape[1]
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i, n):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            m = int(both.sum())
            if m < max(min_periods, 1) or m == 0:
                continue
            a = [Fraction(v) for v in x[both, i]]
            b = [Fraction(v) for v in x[both, j]]
            ma, mb = sum(a) / m, sum(b) / m
            sxx = sum((u - ma) ** 2 for u in a)
            syy = sum((v - mb) ** 2 for v in b)
            if sxx == 0 or syy == 0:
                continue
            sxy = sum((u - ma) * (v - mb) for u, v in zip(a, b))
            # r^2 exactly, then one square root: the oracle's own error is about 1 ulp.
            r = float(np.sign(sxy)) * float(sxy * sxy / (sxx * syy)) ** 0.5
            out[i, j] = out[j, i] = 1.0 if i == j else r
    return out
