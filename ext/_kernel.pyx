# Compiled double of metricsense/kernels/reference.py: same names, same NaN policy.
import numpy as np
from libc.math cimport sqrt, isnan, NAN


cdef void _pair_corr(const double[:, :] x, Py_ssize_t i, Py_ssize_t j, Py_ssize_t minp,
                     double* out) noexcept nogil:
    # Two-pass centred formula over the periods where both series are present
    # (pandas nancorr semantics): stable for large offsets.
    cdef Py_ssize_t t, n = 0, T = x.shape[0]
    cdef double a, b, ma = 0.0, mb = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0, da, db
    for t in range(T):
        a = x[t, i]
        b = x[t, j]
        if not isnan(a) and not isnan(b):
            n += 1
            ma += a
            mb += b
    if n < minp or n == 0:
        out[0] = NAN
        return
    ma /= n
    mb /= n
    for t in range(T):
        a = x[t, i]
        b = x[t, j]
        if not isnan(a) and not isnan(b):
            da = a - ma
            db = b - mb
            sxx += da * da
            syy += db * db
            sxy += da * db
    if sxx == 0.0 or syy == 0.0:
        out[0] = NAN
    else:
        out[0] = sxy / sqrt(sxx * syy)


def pairwise_corr(const double[:, :] x, Py_ssize_t min_periods=1):
    """Pearson r over pairwise-complete periods; NaN below min_periods or on zero variance."""
    cdef Py_ssize_t n = x.shape[1], i, j
    cdef double r
    out = np.empty((n, n), dtype=np.float64)
    cdef double[:, :] o = out
    with nogil:
        for i in range(n):
            for j in range(i, n):
                _pair_corr(x, i, j, min_periods if min_periods > 1 else 1, &r)
                if i == j and not isnan(r):
                    r = 1.0
                o[i, j] = r
                o[j, i] = r
    return out
