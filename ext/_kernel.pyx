# Compiled double of metricsense/kernels/reference.py: same names, same signatures, same NaN policy.
# NumPy (BLAS) does the O(n^2 T) products; the cdef ... noexcept nogil cores fuse the O(n^2) rest.
# Directives (boundscheck, wraparound, cdivision) live in ext/meson.build.
import numpy as np
from cython.parallel cimport prange, parallel
from libc.math cimport sqrt, isnan, isfinite, fabs, NAN, INFINITY
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

cdef double _EPS = 2.220446049250313e-16
# Masked Pearson: a pair whose pairwise sum of squares exceeds _CANCEL times its centred sum of
# squares loses digits in SS - S^2/n (see _masked_fuse) and is recomputed exactly in two passes.
cdef double _CANCEL = 16.0
# A run of missing periods at least this long is summed from prefix sums, not period by period.
cdef Py_ssize_t _LONG_RUN = 16
# Matrices up to MAXSMALL take the compiled Jacobi SVD, up to MAXLU the compiled LU for the RGA;
# larger ones NumPy's LAPACK. The cut-offs are where LAPACK's per-call overhead stops dominating
# (measured on 2-core Haswell, OpenBLAS 0.3.31: Jacobi wins up to 6 x 6, LU ties at 8 x 8).
cdef enum:
    MAXSMALL = 6
    MAXLU = 8


def _ref():
    """The reference module, imported late: metricsense.kernels imports this module."""
    from metricsense.kernels import reference
    return reference


cdef inline double _clip(double r) noexcept nogil:
    if r > 1.0:
        return 1.0
    if r < -1.0:
        return -1.0
    return r


# --------------------------------------------------------------------------- exact pairs


cdef double _pair_exact(const double[:, ::1] x, Py_ssize_t i, Py_ssize_t j,
                        Py_ssize_t minp) noexcept nogil:
    # Two-pass centred Pearson over the periods where both are present; constancy is tested
    # exactly, because the centred sum of squares of a constant need not round to 0.
    cdef Py_ssize_t t, n = 0, T = x.shape[0]
    cdef double a, b, a0 = NAN, b0 = NAN, ma = 0.0, mb = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
    cdef double da, db
    cdef bint vary_a = False, vary_b = False
    for t in range(T):
        a = x[t, i]
        b = x[t, j]
        if not isnan(a) and not isnan(b):
            if n == 0:
                a0 = a
                b0 = b
            vary_a = vary_a or a != a0
            vary_b = vary_b or b != b0
            n += 1
            ma += a
            mb += b
    if n < minp or n == 0 or not vary_a or not vary_b:
        return NAN
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
    return _clip(sxy / sqrt(sxx * syy))


def _exact_pairs(const double[:, ::1] x, const Py_ssize_t[::1] ii, const Py_ssize_t[::1] jj,
                 Py_ssize_t minp, double[:, ::1] out):
    """Fill out[i, j] = out[j, i] with the exact two-pass r for the listed pairs."""
    cdef Py_ssize_t q
    cdef double r
    for q in prange(ii.shape[0], nogil=True, schedule="dynamic"):
        r = _pair_exact(x, ii[q], jj[q], minp)
        out[ii[q], jj[q]] = r
        out[jj[q], ii[q]] = r


# --------------------------------------------------------------------------- Pearson


cdef void _finish_complete(double[:, ::1] sp, const unsigned char[::1] dead) noexcept nogil:
    # r_ij = C_ij / sqrt(C_ii C_jj) on the centred cross-product C = X'X, in place.
    cdef Py_ssize_t n = sp.shape[0], i, j
    cdef double* d = <double*> malloc(n * sizeof(double))
    for i in range(n):
        d[i] = sqrt(sp[i, i])
    for i in prange(n, schedule="dynamic"):
        for j in range(i + 1, n):
            if dead[i] or dead[j]:
                sp[i, j] = NAN
            else:
                sp[i, j] = _clip(sp[i, j] / (d[i] * d[j]))
            sp[j, i] = sp[i, j]
        sp[i, i] = NAN if dead[i] else 1.0
    free(d)


def _pearson_complete(const double[:, ::1] x, Py_ssize_t minp):
    """Pearson matrix of data without NaN: one centred BLAS product X'X (syrk)."""
    xa = np.asarray(x)
    T = xa.shape[0]
    xc = xa - xa.mean(axis=0)
    sp = xc.T @ xc  # NOTE: NumPy uses syrk when the operands are one buffer and its transpose
    del xc
    # A column is "dead" (NaN row and column) when constant (tested exactly) or too short.
    dead = (xa.max(axis=0) == xa.min(axis=0)) | (T < minp)
    _finish_complete(sp, dead.view(np.uint8))
    return sp


cdef void _centre_masked(const double[:, ::1] x, double[:, ::1] x0, unsigned char[:, ::1] pres,
                         double[::1] s, double[::1] ss, Py_ssize_t[::1] p,
                         unsigned char[::1] const_col) noexcept nogil:
    # x0 = x minus each column's mean over its present periods, 0 where missing. Rows are walked
    # in storage order so the per-column accumulators stay in cache.
    cdef Py_ssize_t T = x.shape[0], n = x.shape[1], t, i
    cdef double v
    cdef double* first = <double*> malloc(n * sizeof(double))
    cdef double* mean = <double*> malloc(n * sizeof(double))
    for i in range(n):
        mean[i] = 0.0
        p[i] = 0
        const_col[i] = 1
        s[i] = 0.0
        ss[i] = 0.0
    for t in range(T):
        for i in range(n):
            v = x[t, i]
            if isnan(v):
                pres[t, i] = 0
            else:
                pres[t, i] = 1
                if p[i] == 0:
                    first[i] = v
                elif v != first[i]:
                    const_col[i] = 0
                p[i] += 1
                mean[i] += v
    for i in range(n):
        if p[i] > 0:
            mean[i] /= p[i]
    for t in range(T):
        for i in range(n):
            if pres[t, i]:
                v = x[t, i] - mean[i]
                x0[t, i] = v
                s[i] += v
                ss[i] += v * v
            else:
                x0[t, i] = 0.0
    free(first)
    free(mean)


cdef void _add_rows(double* arow, double* brow, const double* x0, Py_ssize_t n,
                    const Py_ssize_t* ts, Py_ssize_t cnt) noexcept nogil:
    # arow += the rows ts[..] of x0 (n wide), brow += their squares. Four rows per pass: the
    # loop is memory-bound, and this quarters the loads and stores of arow and brow.
    cdef Py_ssize_t q = 0, i
    cdef const double* r0
    cdef const double* r1
    cdef const double* r2
    cdef const double* r3
    cdef double v0, v1, v2, v3
    while q + 4 <= cnt:
        r0 = x0 + ts[q] * n
        r1 = x0 + ts[q + 1] * n
        r2 = x0 + ts[q + 2] * n
        r3 = x0 + ts[q + 3] * n
        for i in range(n):
            v0 = r0[i]
            v1 = r1[i]
            v2 = r2[i]
            v3 = r3[i]
            arow[i] += (v0 + v1) + (v2 + v3)
            brow[i] += (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
        q += 4
    while q < cnt:
        r0 = x0 + ts[q] * n
        for i in range(n):
            v0 = r0[i]
            arow[i] += v0
            brow[i] += v0 * v0
        q += 1


cdef void _corrections(const double[:, ::1] x0, const unsigned char[:, ::1] pres,
                       const Py_ssize_t[::1] ptr, const Py_ssize_t[::1] rs, const Py_ssize_t[::1] re,
                       const Py_ssize_t[::1] mptr, const Py_ssize_t[::1] mcol,
                       const Py_ssize_t[::1] ev_t, const Py_ssize_t[::1] ev_j, const double[::1] ev_sign,
                       double[:, ::1] a, double[:, ::1] b, double[:, ::1] sp) noexcept nogil:
    # For every series j, sums over the periods where j is missing:
    #   a[j, i] = sum x0_ti, b[j, i] = sum x0_ti^2, k[j, i] = #periods with i present,
    # so the pairwise-complete sums are S_i - a[j, i] etc. k[j, i] (i < j) goes in the strictly
    # lower triangle of sp, whose upper triangle holds the cross-products.
    # mptr/mcol list the missing series of each period (sparse), for the counts.
    cdef Py_ssize_t T = x0.shape[0], n = x0.shape[1], j, i, q, t, e, cnt
    cdef double v, sg
    cdef double* kc
    cdef Py_ssize_t* ts
    cdef double* p1
    cdef double* p2
    cdef double* pc
    # Short runs: add the rows of the missing periods, one series per thread.
    with parallel():
        kc = <double*> malloc(n * sizeof(double))
        ts = <Py_ssize_t*> malloc((T + 1) * sizeof(Py_ssize_t))
        for j in prange(n, schedule="dynamic"):
            cnt = 0
            for q in range(ptr[j], ptr[j + 1]):
                for t in range(rs[q], re[q]):
                    ts[cnt] = t
                    cnt = cnt + 1
            memset(&a[j, 0], 0, n * sizeof(double))
            memset(&b[j, 0], 0, n * sizeof(double))
            _add_rows(&a[j, 0], &b[j, 0], &x0[0, 0], n, ts, cnt)
            # k[j, i] = cnt - (periods where both j and i are missing), from the sparse lists.
            memset(kc, 0, n * sizeof(double))
            for q in range(cnt):
                t = ts[q]
                for e in range(mptr[t], mptr[t + 1]):
                    kc[mcol[e]] += 1.0
            for i in range(j):
                sp[j, i] = cnt - kc[i]
        free(kc)
        free(ts)
    # Long runs: one sweep over time keeps prefix sums P(t) = sum_{u<t} row u; a run [s, e)
    # of series j adds P(e) - P(s), recorded as events (s, j, -1) and (e, j, +1).
    if ev_t.shape[0] == 0:
        return
    p1 = <double*> malloc(n * sizeof(double))
    p2 = <double*> malloc(n * sizeof(double))
    pc = <double*> malloc(n * sizeof(double))
    for i in range(n):
        p1[i] = 0.0
        p2[i] = 0.0
        pc[i] = 0.0
    e = 0
    for t in range(T + 1):
        while e < ev_t.shape[0] and ev_t[e] == t:
            j = ev_j[e]
            sg = ev_sign[e]
            for i in range(n):
                a[j, i] += sg * p1[i]
                b[j, i] += sg * p2[i]
            for i in range(j):
                sp[j, i] += sg * pc[i]
            e += 1
        if t < T:
            for i in range(n):
                v = x0[t, i]
                p1[i] += v
                p2[i] += v * v
                pc[i] += pres[t, i]
    free(p1)
    free(p2)
    free(pc)


def _missing_runs(const unsigned char[:, ::1] pres_t):
    """Runs [start, end) of missing periods, series by series: (ptr, start, end)."""
    cdef Py_ssize_t n = pres_t.shape[0], T = pres_t.shape[1], j, t, q
    ptr_a = np.zeros(n + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] ptr = ptr_a
    with nogil:
        for j in range(n):
            q = 0
            for t in range(T):
                if not pres_t[j, t] and (t == 0 or pres_t[j, t - 1]):
                    q += 1
            ptr[j + 1] = ptr[j] + q
    rs_a = np.empty(ptr[n], dtype=np.intp)
    re_a = np.empty(ptr[n], dtype=np.intp)
    cdef Py_ssize_t[::1] rs = rs_a
    cdef Py_ssize_t[::1] re = re_a
    with nogil:
        for j in range(n):
            q = ptr[j]
            for t in range(T):
                if not pres_t[j, t]:
                    if t == 0 or pres_t[j, t - 1]:
                        rs[q] = t
                    if t == T - 1 or pres_t[j, t + 1]:
                        re[q] = t + 1
                        q += 1
    return ptr_a, rs_a, re_a


def _missing_by_period(const unsigned char[:, ::1] pres):
    """The missing series of each period, as CSR (ptr over periods, series indices)."""
    cdef Py_ssize_t T = pres.shape[0], n = pres.shape[1], t, i, q
    ptr_a = np.zeros(T + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] ptr = ptr_a
    with nogil:
        for t in range(T):
            q = 0
            for i in range(n):
                q += 1 - pres[t, i]
            ptr[t + 1] = ptr[t] + q
    col_a = np.empty(ptr[T], dtype=np.intp)
    cdef Py_ssize_t[::1] col = col_a
    with nogil:
        for t in range(T):
            q = ptr[t]
            for i in range(n):
                if not pres[t, i]:
                    col[q] = i
                    q += 1
    return ptr_a, col_a


def _flagged_pairs(const double[:, ::1] sp):
    """The pairs i < j that _masked_fuse marked with 2.0 for the exact fallback."""
    cdef Py_ssize_t n = sp.shape[0], i, j, q = 0
    with nogil:
        for i in range(n):
            for j in range(i + 1, n):
                q += sp[i, j] == 2.0
    ii_a = np.empty(q, dtype=np.intp)
    jj_a = np.empty(q, dtype=np.intp)
    cdef Py_ssize_t[::1] ii = ii_a
    cdef Py_ssize_t[::1] jj = jj_a
    q = 0
    with nogil:
        for i in range(n):
            for j in range(i + 1, n):
                if sp[i, j] == 2.0:
                    ii[q] = i
                    jj[q] = j
                    q += 1
    return ii_a, jj_a


cdef void _masked_fuse(double[:, ::1] sp, const double[:, ::1] a, const double[:, ::1] b,
                       const double[::1] s, const double[::1] ss, const Py_ssize_t[::1] p,
                       const unsigned char[::1] const_col, Py_ssize_t minp) noexcept nogil:
    # With P = periods where i and j are present, sums over P of the column-centred data:
    #   n = p_i - k_ji, S_i = s_i - a_ji, Q_i = ss_i - b_ji, X = sp_ij;
    #   V_i = Q_i - S_i^2 / n, C = X - S_i S_j / n (co-moments about the pair's own means),
    #   r = C / sqrt(V_i V_j).
    # Centring each column first keeps this stable for large offsets; the pair's mean still
    # differs from the column's, and when Q_i > _CANCEL * V_i (or V_i is rounding noise from a
    # series constant on P) the pair is marked with 2.0 for the exact two-pass fallback.
    # Tiles of 64 x 64 keep a[j, i] and a[i, j] in cache together.
    cdef Py_ssize_t n = sp.shape[0], bi, bj, i, j, jlo, ilim, jlim, nb
    cdef double nij, si, sj, qi, qj, vi, vj, c
    nb = (n + 63) // 64
    for bi in prange(nb, schedule="dynamic"):
        ilim = min(bi * 64 + 64, n)
        for bj in range(bi, nb):
            jlim = min(bj * 64 + 64, n)
            for i in range(bi * 64, ilim):
                jlo = max(bj * 64, i + 1)
                for j in range(jlo, jlim):
                    nij = p[i] - sp[j, i]
                    if const_col[i] or const_col[j] or nij < minp or nij < 2:
                        sp[i, j] = NAN
                        sp[j, i] = NAN
                        continue
                    si = s[i] - a[j, i]
                    sj = s[j] - a[i, j]
                    qi = ss[i] - b[j, i]
                    qj = ss[j] - b[i, j]
                    vi = qi - si * si / nij
                    vj = qj - sj * sj / nij
                    if not (vi * _CANCEL > qi and vj * _CANCEL > qj):
                        sp[i, j] = 2.0
                        sp[j, i] = 2.0
                        continue
                    c = sp[i, j] - si * sj / nij
                    sp[i, j] = _clip(c / sqrt(vi * vj))
                    sp[j, i] = sp[i, j]
    for i in range(n):
        sp[i, i] = NAN if (const_col[i] or p[i] < minp) else 1.0


def _pearson_masked(const double[:, ::1] x, Py_ssize_t minp):
    """Pearson matrix over pairwise-complete periods: one syrk plus corrections over the gaps."""
    cdef Py_ssize_t T = x.shape[0], n = x.shape[1]
    x0 = np.empty((T, n))
    pres = np.empty((T, n), dtype=np.uint8)
    s = np.empty(n)
    ss = np.empty(n)
    p = np.empty(n, dtype=np.intp)
    const_col = np.empty(n, dtype=np.uint8)
    _centre_masked(x, x0, pres, s, ss, p, const_col)
    sp = x0.T @ x0  # syrk: the pairwise cross-products, missing entries being 0
    ptr, rs, re = _missing_runs(np.ascontiguousarray(pres.T))
    mptr, mcol = _missing_by_period(pres)
    # Short runs are added period by period; long ones (ragged starts) from prefix sums.
    long_run = (re - rs) >= _LONG_RUN
    short = ~long_run
    rj = np.repeat(np.arange(n, dtype=np.intp), np.diff(ptr))
    sptr = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(rj[short], minlength=n), out=sptr[1:])
    ev_t = np.concatenate([rs[long_run], re[long_run]])
    order = np.argsort(ev_t, kind="stable")
    ev_t = np.ascontiguousarray(ev_t[order], dtype=np.intp)
    ev_j = np.ascontiguousarray(np.concatenate([rj[long_run], rj[long_run]])[order], dtype=np.intp)
    nlong = int(long_run.sum())
    ev_sign = np.concatenate([-np.ones(nlong), np.ones(nlong)])[order]
    a = np.empty((n, n))
    b = np.empty((n, n))
    _corrections(x0, pres, sptr, np.ascontiguousarray(rs[short]), np.ascontiguousarray(re[short]),
                 mptr, mcol, ev_t, ev_j, ev_sign, a, b, sp)
    del x0, pres
    _masked_fuse(sp, a, b, s, ss, p, const_col, minp)
    del a, b
    ii, jj = _flagged_pairs(sp)
    if ii.size:
        _exact_pairs(x, ii, jj, minp, sp)
    return sp


# --------------------------------------------------------------------------- Spearman


def _centred_ranks(const double[:, ::1] xt, const Py_ssize_t[:, ::1] order, double[:, ::1] out):
    """out[i, t] = average rank of xt[i, t] in its row minus the mean rank (T + 1) / 2."""
    cdef Py_ssize_t n = xt.shape[0], T = xt.shape[1], i, k, g, q
    cdef double avg, mid = (T + 1) / 2.0
    for i in prange(n, nogil=True, schedule="dynamic"):
        k = 0
        while k < T:
            g = k + 1
            while g < T and xt[i, order[i, g]] == xt[i, order[i, k]]:
                g = g + 1
            avg = (k + 1 + g) / 2.0 - mid  # ranks k+1 .. g share their average
            for q in range(k, g):
                out[i, order[i, q]] = avg
            k = g


cdef Py_ssize_t _pair_ranks(const double* v, const Py_ssize_t* order, Py_ssize_t m,
                            const unsigned char* other, double* rank, Py_ssize_t* kept) noexcept nogil:
    # Average ranks of v over the periods where `other` is present, from v's sorted order
    # (its m present periods): skipping the other's gaps re-ranks without sorting again.
    cdef Py_ssize_t k, nk = 0, g, q
    cdef double avg
    for k in range(m):
        if other[order[k]]:
            kept[nk] = order[k]
            nk += 1
    k = 0
    while k < nk:
        g = k + 1
        while g < nk and v[kept[g]] == v[kept[k]]:
            g += 1
        avg = (k + 1 + g) / 2.0
        for q in range(k, g):
            rank[kept[q]] = avg
        k = g
    return nk


def _spearman_masked(const double[:, ::1] xt, const Py_ssize_t[:, ::1] order,
                     const unsigned char[:, ::1] pres, const Py_ssize_t[::1] p, Py_ssize_t minp,
                     double[:, ::1] out):
    """Spearman r per pair, each pair re-ranked on its own overlap (pandas semantics)."""
    cdef Py_ssize_t n = xt.shape[0], T = xt.shape[1], i, j, nk, q, t
    cdef double* ra
    cdef double* rb
    cdef Py_ssize_t* kept
    cdef Py_ssize_t* kept2
    cdef double mid, da, db, sxx, syy, sxy, r
    with nogil, parallel():
        ra = <double*> malloc(T * sizeof(double))
        rb = <double*> malloc(T * sizeof(double))
        kept = <Py_ssize_t*> malloc(T * sizeof(Py_ssize_t))
        kept2 = <Py_ssize_t*> malloc(T * sizeof(Py_ssize_t))
        for i in prange(n, schedule="dynamic"):
            for j in range(i, n):
                nk = _pair_ranks(&xt[i, 0], &order[i, 0], p[i], &pres[j, 0], ra, kept)
                if nk < minp or nk < 2:
                    r = NAN
                else:
                    _pair_ranks(&xt[j, 0], &order[j, 0], p[j], &pres[i, 0], rb, kept2)
                    mid = (nk + 1) / 2.0
                    sxx = 0.0
                    syy = 0.0
                    sxy = 0.0
                    for q in range(nk):
                        t = kept[q]
                        da = ra[t] - mid
                        db = rb[t] - mid
                        sxx = sxx + da * da
                        syy = syy + db * db
                        sxy = sxy + da * db
                    # Ranks are half-integers, so these sums are exact and 0 means constant.
                    if sxx == 0.0 or syy == 0.0:
                        r = NAN
                    elif i == j:
                        r = 1.0
                    else:
                        r = _clip(sxy / sqrt(sxx * syy))
                out[i, j] = r
                out[j, i] = r
        free(ra)
        free(rb)
        free(kept)
        free(kept2)


def pairwise_corr(x, method="pearson", min_periods=1):
    """Pearson or Spearman r of every column pair over pairwise-complete periods (see reference)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("x must be 2-D (periods x series)")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
    minp = max(int(min_periods), 1)
    T, n = x.shape
    if n == 0:
        return np.empty((0, 0))
    missing = np.isnan(x).any()
    if method == "pearson":
        return _pearson_masked(x, minp) if missing else _pearson_complete(x, minp)
    xt = np.ascontiguousarray(x.T)
    order = np.argsort(xt, axis=1, kind="stable").astype(np.intp)  # NaN sort last
    if not missing:
        # Complete data: rank once, then one syrk on the centred ranks. The ranks are
        # half-integers, so X'X is exact and a zero diagonal means a constant series.
        ranks = np.empty((n, T))
        _centred_ranks(xt, order, ranks)
        del order
        sp = ranks @ ranks.T
        del ranks
        _finish_complete(sp, ((np.diagonal(sp) == 0.0) | (T < minp)).view(np.uint8))
        return sp
    pres = np.ascontiguousarray(~np.isnan(xt)).view(np.uint8)
    out = np.empty((n, n))
    _spearman_masked(xt, order, pres, pres.sum(axis=1).astype(np.intp), minp, out)
    return out


# --------------------------------------------------------------------------- rolling


cdef inline void _add(double* dst, const double* a, double x, double y, const double* rtab) noexcept nogil:
    # Welford (1962): dst = a = [n, mean_x, mean_y, Sxx, Syy, Sxy] plus one observation.
    # rtab[c] = 1 / c: counts are small integers, and a table load beats a division.
    cdef double n = a[0] + 1.0, inv = rtab[<Py_ssize_t> n], dx = x - a[1], dy = y - a[2]
    cdef double mx = a[1] + dx * inv, my = a[2] + dy * inv
    dst[3] = a[3] + dx * (x - mx)
    dst[4] = a[4] + dy * (y - my)
    dst[5] = a[5] + dx * (y - my)
    dst[0] = n
    dst[1] = mx
    dst[2] = my


cdef inline double _merged_r(const double* a, const double* b, Py_ssize_t minp, bint diag,
                             const double* rtab) noexcept nogil:
    # r of the union of two disjoint samples, merged by Chan, Golub & LeVeque (1979).
    cdef double n = a[0] + b[0], f, dx, dy, sxx, syy, sxy
    if n < minp or n < 2:
        return NAN
    if a[0] == 0:
        sxx = b[3]
        syy = b[4]
        sxy = b[5]
    elif b[0] == 0:
        sxx = a[3]
        syy = a[4]
        sxy = a[5]
    else:
        f = a[0] * b[0] * rtab[<Py_ssize_t> n]
        dx = b[1] - a[1]
        dy = b[2] - a[2]
        sxx = a[3] + b[3] + dx * dx * f
        syy = a[4] + b[4] + dy * dy * f
        sxy = a[5] + b[5] + dx * dy * f
    # Constant samples give exactly 0 here: Welford's mean of equal values is exact.
    if sxx <= 0.0 or syy <= 0.0:
        return NAN
    if diag:
        return 1.0
    return _clip(sxy / sqrt(sxx * syy))


cdef void _roll_block(const double[:, ::1] x, const double[:, ::1] y, const double[:, ::1] kx,
                      const double[:, ::1] ky, const Py_ssize_t* pi, const Py_ssize_t* pj,
                      const Py_ssize_t* o1, const Py_ssize_t* o2, Py_ssize_t npair, Py_ssize_t w,
                      Py_ssize_t c, Py_ssize_t minp, double* out, Py_ssize_t ostride,
                      double* suf, double* pre, const double* rtab) noexcept nogil:
    # Sliding windows without subtraction (a two-stacks scheme): cut time into blocks of w
    # periods. A window ending at t in block c is the suffix of block c - 1 starting at
    # t - w + 1 plus the prefix of block c up to t. This builds the suffix aggregates of block
    # c - 1 backwards, then walks block c forwards merging one of each per window: O(1) per
    # window, no Welford "removal" (whose cancellation drifts), and blocks are independent.
    # suf holds (w + 1) x npair aggregates of 6 doubles, k-major; pre holds npair of them.
    # NOTE: Welford's running mean of values near 1e6 is rounded to 1e-10 at every update, an
    # error that enters Sxy to first order (pandas loses 1e-10 this way); so both halves of
    # block c's windows are accumulated on x - kx[c], y - ky[c], shifts near the local level.
    cdef Py_ssize_t T = x.shape[0], start = c * w, end = min(c * w + w, T), t, k, q
    cdef double xv, yv, r
    cdef double* s
    cdef double empty[6]
    memset(empty, 0, 6 * sizeof(double))
    if c > 0:
        memset(&suf[w * npair * 6], 0, npair * 6 * sizeof(double))
        for k in range(w - 1, -1, -1):
            t = start - w + k
            for q in range(npair):
                s = &suf[(k * npair + q) * 6]
                xv = x[t, pi[q]]
                yv = y[t, pj[q]]
                if isnan(xv) or isnan(yv):
                    memcpy(s, s + npair * 6, 6 * sizeof(double))
                else:
                    _add(s, s + npair * 6, xv - kx[c, pi[q]], yv - ky[c, pj[q]], rtab)
    memset(pre, 0, npair * 6 * sizeof(double))
    for t in range(start, end):
        k = t - start + 1
        for q in range(npair):
            xv = x[t, pi[q]]
            yv = y[t, pj[q]]
            if not isnan(xv) and not isnan(yv):
                _add(&pre[q * 6], &pre[q * 6], xv - kx[c, pi[q]], yv - ky[c, pj[q]], rtab)
            r = _merged_r(&suf[(k * npair + q) * 6] if c > 0 else empty, &pre[q * 6], minp,
                          o1[q] == o2[q], rtab)
            out[t * ostride + o1[q]] = r
            out[t * ostride + o2[q]] = r


def _block_levels(x, Py_ssize_t w):
    """Per block c of w periods and per series, the mean over blocks c - 1 and c (0 if none)."""
    T, k = x.shape
    nb = (T + w - 1) // w
    pad = np.full((nb * w, k), np.nan)
    pad[:T] = x
    pad = pad.reshape(nb, w, k)
    ok = ~np.isnan(pad)
    tot = np.where(ok, pad, 0.0).sum(axis=1)
    cnt = ok.sum(axis=1)
    tot[1:] += tot[:-1].copy()
    cnt[1:] += cnt[:-1].copy()
    return np.ascontiguousarray(np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0))


def _rolling(const double[:, ::1] x, const double[:, ::1] y, const Py_ssize_t[::1] pi,
             const Py_ssize_t[::1] pj, const Py_ssize_t[::1] o1, const Py_ssize_t[::1] o2,
             Py_ssize_t w, Py_ssize_t minp, double[::1] out, Py_ssize_t ostride):
    """Rolling r of the column pairs (x[:, pi[q]], y[:, pj[q]]) into out[t * ostride + o1/o2[q]]."""
    cdef Py_ssize_t npair = pi.shape[0], chunk, c, lo, nblock
    cdef double* suf
    cdef double* pre
    if npair == 0 or x.shape[0] == 0:
        return
    cdef const double[:, ::1] kx = _block_levels(np.asarray(x), w)
    cdef const double[:, ::1] ky = _block_levels(np.asarray(y), w)
    rtab_a = 1.0 / np.maximum(np.arange(2 * w + 2, dtype=np.float64), 1.0)
    cdef const double[::1] rtab = rtab_a
    # Threads take blocks of time, so each writes its own rows of out (splitting the pairs
    # instead made threads share cache lines of every row). Pairs go in chunks that bound the
    # suffix scratch to 8 MB per thread.
    chunk = max(1, min(npair, (1 << 20) // ((w + 1) * 6)))
    nblock = (x.shape[0] + w - 1) // w
    with nogil, parallel():
        suf = <double*> malloc((w + 1) * chunk * 6 * sizeof(double))
        pre = <double*> malloc(chunk * 6 * sizeof(double))
        for c in prange(nblock, schedule="dynamic"):
            lo = 0
            while lo < npair:
                _roll_block(x, y, kx, ky, &pi[lo], &pj[lo], &o1[lo], &o2[lo], min(chunk, npair - lo),
                            w, c, minp, &out[0], ostride, suf, pre, &rtab[0])
                lo = lo + chunk
        free(suf)
        free(pre)


def rolling_corr(x, y, window, min_periods=None):
    """Rolling Pearson r of column pairs over windows of ``window`` periods (see reference)."""
    ref = _ref()
    x2 = np.ascontiguousarray(ref._as_2d(x))
    y2 = np.ascontiguousarray(ref._as_2d(y))
    if x2.shape != y2.shape or x2.ndim != 2:
        raise ValueError("x and y must have the same shape (T x k, or T)")
    w, minp = ref._check_window(x2.shape[0], window, min_periods)
    T, k = x2.shape
    w = min(w, max(T, 1))  # a window longer than the data is the expanding window
    out = np.empty((T, k))
    _rolling_pairs(x2, y2, np.arange(k, dtype=np.intp), w, minp, out)
    return out if np.ndim(x) == 2 else out[:, 0]


def _rolling_pairs(const double[:, ::1] x, const double[:, ::1] y, const Py_ssize_t[::1] idx,
                   Py_ssize_t w, Py_ssize_t minp, double[:, ::1] out):
    """Rolling r of (x[:, q], y[:, q]) into out[:, q]; the diagonal rule never applies."""
    cdef Py_ssize_t k = idx.shape[0]
    # o2 points into a spare last column so that o1 != o2 (the diagonal test) for every pair.
    spare = np.empty((out.shape[0], k + 1))
    _rolling(x, y, idx, idx, idx, np.full(k, k, dtype=np.intp), w, minp, spare.reshape(-1), k + 1)
    np.asarray(out)[:] = spare[:, :k]


def rolling_corr_matrix(x, window, min_periods=None):
    """Rolling pairwise correlation matrices, T x n x n (see reference)."""
    ref = _ref()
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("x must be 2-D (periods x series)")
    w, minp = ref._check_window(x.shape[0], window, min_periods)
    T, n = x.shape
    w = min(w, max(T, 1))
    pi, pj = np.triu_indices(n)
    pi = pi.astype(np.intp)
    pj = pj.astype(np.intp)
    out = np.empty((T, n, n))
    _rolling(x, x, pi, pj, pi * n + pj, pj * n + pi, w, minp, out.reshape(-1), n * n)
    return out


# --------------------------------------------------------------------------- gain matrices


cdef double _jacobi_cond(const double* g, Py_ssize_t k, Py_ssize_t m) noexcept nogil:
    # sigma_max / sigma_min by one-sided Jacobi (Hestenes 1958): rotate column pairs of A
    # (rows >= columns) until orthogonal; the column norms are then the singular values, to high
    # relative accuracy. g is row-major k x m. Squared column norms are carried through the
    # rotations (alpha' = alpha - t gamma, beta' = beta + t gamma; Demmel & Veselic 1992), so a
    # rotation costs one dot product; they are recomputed each sweep to stop drift.
    cdef double a[MAXSMALL * MAXSMALL]
    cdef double nrm[MAXSMALL]
    cdef Py_ssize_t rows, cols, i, p, q, sweep
    cdef double gam, zeta, tt, c, s, ap, aq, smax, smin
    cdef double* colp
    cdef double* colq
    cdef bint rotated
    if k >= m:
        rows = k
        cols = m
        for i in range(k):
            for p in range(m):
                a[p * rows + i] = g[i * m + p]  # column-major: column p at a[p * rows]
    else:
        rows = m
        cols = k
        memcpy(a, g, k * m * sizeof(double))  # A^T, column-major, is g row-major
    smax = 0.0
    for p in range(rows * cols):
        if not isfinite(a[p]):
            return NAN
        smax = max(smax, fabs(a[p]))
    # NOTE: the test below squares products of column norms (g^4): beyond |g| of about 1e77 it
    # overflows, below 1e-77 it underflows, and no pair is ever rotated. Scale to a largest
    # element of 1 first; the condition number does not depend on the scale.
    if smax > 0.0:
        for p in range(rows * cols):
            a[p] = a[p] / smax
    for sweep in range(60):
        for p in range(cols):
            colp = &a[p * rows]
            nrm[p] = 0.0
            for i in range(rows):
                nrm[p] += colp[i] * colp[i]
        rotated = False
        for p in range(cols - 1):
            colp = &a[p * rows]
            for q in range(p + 1, cols):
                colq = &a[q * rows]
                gam = 0.0
                for i in range(rows):
                    gam += colp[i] * colq[i]
                if gam * gam <= _EPS * _EPS * nrm[p] * nrm[q]:  # |cos angle| <= eps, no sqrt
                    continue
                rotated = True
                zeta = (nrm[q] - nrm[p]) / (2.0 * gam)
                tt = (1.0 if zeta >= 0 else -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta))
                c = 1.0 / sqrt(1.0 + tt * tt)
                s = c * tt
                for i in range(rows):
                    ap = colp[i]
                    aq = colq[i]
                    colp[i] = c * ap - s * aq
                    colq[i] = s * ap + c * aq
                nrm[p] -= tt * gam
                nrm[q] += tt * gam
        if not rotated:
            break
    smax = 0.0
    smin = INFINITY
    for p in range(cols):
        ap = 0.0
        for i in range(rows):
            ap += a[p * rows + i] * a[p * rows + i]
        ap = sqrt(ap)
        smax = max(smax, ap)
        smin = min(smin, ap)
    if smin <= max(k, m) * _EPS * smax:
        return INFINITY
    return smax / smin


def _cond_small(const double[:, :, ::1] g, double[::1] out):
    """Condition numbers of a stack of small matrices (at most MAXSMALL x MAXSMALL)."""
    cdef Py_ssize_t q, k = g.shape[1], m = g.shape[2]
    for q in prange(g.shape[0], nogil=True, schedule="static"):
        out[q] = _jacobi_cond(&g[q, 0, 0], k, m)


def condition_number(g):
    """2-norm condition number of G or of a stack (see reference)."""
    ga = np.asarray(g, dtype=np.float64)
    if ga.ndim < 2:
        raise ValueError("g must be a matrix or a stack of matrices (... x k x m)")
    k, m = ga.shape[-2:]
    if max(k, m) > MAXSMALL or min(k, m) == 0:
        return _ref().condition_number(ga)
    flat = np.ascontiguousarray(ga.reshape(-1, k, m))
    out = np.empty(flat.shape[0])
    _cond_small(flat, out)
    out = out.reshape(ga.shape[:-2])
    return float(out) if out.ndim == 0 else out


cdef bint _lu_rga(const double* g, Py_ssize_t k, double* out) noexcept nogil:
    # L = G o (G^-1)^T via LU with partial pivoting; False when G is singular at working
    # precision by the reference's rule (a zero pivot, or ||G||_1 ||G^-1||_1 > 1 / (k eps));
    # the caller then uses the reference's pseudo-inverse.
    cdef double lu[MAXLU * MAXLU]
    cdef double inv[MAXLU * MAXLU]
    cdef Py_ssize_t perm[MAXLU]
    cdef Py_ssize_t i, j, c, piv, tmp
    cdef double v, f, ng = 0.0, ni = 0.0, cg, ci
    for i in range(k * k):
        if not isfinite(g[i]):
            for j in range(k * k):
                out[j] = NAN
            return True
        lu[i] = g[i]
    for i in range(k):
        perm[i] = i
    for c in range(k):
        piv = c
        for i in range(c + 1, k):
            if fabs(lu[i * k + c]) > fabs(lu[piv * k + c]):
                piv = i
        if lu[piv * k + c] == 0.0:
            return False
        if piv != c:
            for j in range(k):
                v = lu[c * k + j]
                lu[c * k + j] = lu[piv * k + j]
                lu[piv * k + j] = v
            tmp = perm[c]
            perm[c] = perm[piv]
            perm[piv] = tmp
        for i in range(c + 1, k):
            f = lu[i * k + c] / lu[c * k + c]
            lu[i * k + c] = f
            for j in range(c + 1, k):
                lu[i * k + j] -= f * lu[c * k + j]
    # Column j of G^-1 solves G x = e_j, i.e. L U x = P e_j.
    for j in range(k):
        for i in range(k):
            v = 1.0 if perm[i] == j else 0.0
            for c in range(i):
                v -= lu[i * k + c] * inv[c * k + j]
            inv[i * k + j] = v
        for i in range(k - 1, -1, -1):
            v = inv[i * k + j]
            for c in range(i + 1, k):
                v -= lu[i * k + c] * inv[c * k + j]
            inv[i * k + j] = v / lu[i * k + i]
    for j in range(k):  # 1-norms: largest absolute column sums
        cg = 0.0
        ci = 0.0
        for i in range(k):
            cg += fabs(g[i * k + j])
            ci += fabs(inv[i * k + j])
        ng = max(ng, cg)
        ni = max(ni, ci)
    if not (ng * ni <= 1.0 / (k * _EPS)):
        return False
    for i in range(k):
        for j in range(k):
            out[i * k + j] = g[i * k + j] * inv[j * k + i]
    return True


def _rga_small(const double[:, :, ::1] g, double[:, :, ::1] out, unsigned char[::1] singular):
    """RGA of a stack of small square matrices; flags the numerically singular ones."""
    cdef Py_ssize_t q, k = g.shape[1]
    for q in prange(g.shape[0], nogil=True, schedule="static"):
        singular[q] = not _lu_rga(&g[q, 0, 0], k, &out[q, 0, 0])


def rga(g):
    """Relative gain array G o (G^-1)^T of G or of a stack (see reference)."""
    ga = np.asarray(g, dtype=np.float64)
    if ga.ndim < 2:
        raise ValueError("g must be a matrix or a stack of matrices (... x k x m)")
    k, m = ga.shape[-2:]
    if k != m or k > MAXLU or k == 0:
        return _ref().rga(ga)
    flat = np.ascontiguousarray(ga.reshape(-1, k, k))
    out = np.empty_like(flat)
    singular = np.zeros(flat.shape[0], dtype=np.uint8)
    _rga_small(flat, out, singular)
    bad = singular.view(bool)
    if bad.any():  # rare: the reference's pseudo-inverse
        out[bad] = _ref().rga(flat[bad])
    return out.reshape(ga.shape)
