# The bounds of `msense select`'s branch and bound for sets of exactly n_u KPIs, compiled: the
# NumPy reference is metricsense/selection/search.py (`_upward_square`, `_downward`), which these
# double. Each node of the search makes a few small Cholesky factorisations and triangular solves;
# in NumPy their call overhead, not their arithmetic, is most of the search's time.
# Determinant-based tests after Kariwala & Cao (2009, Comput. Chem. Eng. 33:1402).

import numpy as np

from libc.math cimport sqrt


cdef int _chol(double[:, ::1] a, Py_ssize_t n) noexcept nogil:
    """In place: the lower Cholesky factor of a (upper part left as it was); 1 when not positive definite."""
    cdef Py_ssize_t i, j, k
    cdef double s, t
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if not s > 0:
            return 1
        s = sqrt(s)
        a[j, j] = s
        for i in range(j + 1, n):
            t = a[i, j]
            for k in range(j):
                t -= a[i, k] * a[j, k]
            a[i, j] = t / s
    return 0


cdef void _forward(double[:, ::1] lower, double* x, Py_ssize_t n, Py_ssize_t start) noexcept nogil:
    """Solve lower z = x in place (x is zero before ``start``)."""
    cdef Py_ssize_t i, k
    cdef double t
    for i in range(start, n):
        t = x[i]
        for k in range(start, i):
            t -= lower[i, k] * x[k]
        x[i] = t / lower[i, i]


def upward_square(const double[:, :] gt, const double[:, :] y2, const long[:] fixed, const long[:] cand,
                  double cut, double[:] out):
    """out[j] = the Schur complement of P = G~ G~^T - cut Y Y^T over F + cand[j], over Y Y^T's: > 0
    exactly when a set of F and cand[j] may beat ``cut``. False when P(F) is not positive definite."""
    cdef Py_ssize_t f = fixed.shape[0], m = cand.shape[0], nu = gt.shape[1]
    cdef Py_ssize_t a, b, k, j, c
    cdef double s, d
    cdef double[:, ::1] p = np.empty((max(f, 1), max(f, 1)))
    cdef double[::1] z = np.empty(max(f, 1))
    cdef int bad = 0
    with nogil:
        for a in range(f):
            for b in range(a + 1):
                s = 0.0
                for k in range(nu):
                    s += gt[fixed[a], k] * gt[fixed[b], k]
                p[a, b] = s - cut * y2[fixed[a], fixed[b]]
        bad = _chol(p, f)
        for j in range(0 if bad else m):
            c = cand[j]
            d = 0.0
            for k in range(nu):
                d += gt[c, k] * gt[c, k]
            d -= cut * y2[c, c]
            for a in range(f):
                s = 0.0
                for k in range(nu):
                    s += gt[fixed[a], k] * gt[c, k]
                z[a] = s - cut * y2[fixed[a], c]
            _forward(p, &z[0], f, 0)
            for a in range(f):
                d -= z[a] * z[a]
            out[j] = d / y2[c, c]
    return not bad


def downward(const double[:, :] gt, const double[:, :] y2, const long[:] rows, Py_ssize_t nfixed, double cut,
             double[:] out):
    """out[j] = 1 - u^T (A(S) - cut I)^-1 u / Q_ii for the candidate rows[nfixed + j] (S = rows): > 0
    exactly when lambda(S - i) > cut. False when lambda(S) <= cut."""
    cdef Py_ssize_t n = rows.shape[0], nu = gt.shape[1], m = n - nfixed
    cdef Py_ssize_t a, b, k, j, i
    cdef double s, q, v2
    cdef double[:, ::1] ly = np.empty((n, n))
    cdef double[:, ::1] x = np.empty((n, nu))
    cdef double[:, ::1] r = np.empty((nu, nu))
    cdef double[::1] z = np.empty(n)
    cdef double[::1] u = np.empty(nu)
    cdef int bad_y = 0, bad = 0
    with nogil:
        for a in range(n):
            for b in range(a + 1):
                ly[a, b] = y2[rows[a], rows[b]]
        bad_y = _chol(ly, n)
        # X = Ly^-1 G~_S, column by column
        for k in range(0 if bad_y else nu):
            for a in range(n):
                s = gt[rows[a], k]
                for b in range(a):
                    s -= ly[a, b] * x[b, k]
                x[a, k] = s / ly[a, a]
        for a in range(nu):
            for b in range(a + 1):
                s = 0.0
                for k in range(n):
                    s += x[k, a] * x[k, b]
                r[a, b] = s - (cut if a == b else 0.0)
        bad = 1 if bad_y else _chol(r, nu)
        for j in range(0 if bad else m):
            i = nfixed + j
            for a in range(n):
                z[a] = 0.0
            z[i] = 1.0
            _forward(ly, &z[0], n, i)  # Ly^-1 e_i
            q = 0.0
            for a in range(i, n):
                q += z[a] * z[a]
            for k in range(nu):
                s = 0.0
                for a in range(i, n):
                    s += x[a, k] * z[a]
                u[k] = s
            _forward(r, &u[0], nu, 0)
            v2 = 0.0
            for k in range(nu):
                v2 += u[k] * u[k]
            out[j] = 1.0 - v2 / q
    if bad_y:
        raise np.linalg.LinAlgError("Y Y^T is not positive definite")
    return not bad
