"""The NumPy reference kernels: readable, and the specification the Cython kernel must match."""

from __future__ import annotations

import numpy as np


def pairwise_corr(x: np.ndarray, min_periods: int = 1) -> np.ndarray:
    """Pearson correlation of every pair of columns of ``x`` (T periods x n series).

    r_ij = sum (x_i - m_i)(x_j - m_j) / sqrt(sum (x_i - m_i)^2 sum (x_j - m_j)^2), with the means
    and sums over the periods where both series are present (not NaN). NaN where fewer than
    ``min_periods`` periods overlap or a series is constant on the overlap (pandas semantics).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    out = np.full((n, n), np.nan)
    present = ~np.isnan(x)
    minp = max(int(min_periods), 1)
    for i in range(n):
        for j in range(i, n):
            both = present[:, i] & present[:, j]
            if both.sum() < minp:
                continue
            a = x[both, i] - x[both, i].mean()
            b = x[both, j] - x[both, j].mean()
            sxx, syy = a @ a, b @ b
            if sxx == 0.0 or syy == 0.0:
                continue
            r = 1.0 if i == j else (a @ b) / np.sqrt(sxx * syy)
            out[i, j] = out[j, i] = r
    return out
