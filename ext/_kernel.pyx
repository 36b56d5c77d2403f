# Compiled double of metricsense/kernels/reference.py: same names, same signatures, same NaN policy.
# NumPy (BLAS) does the O(n^2 T) products; the cdef ... noexcept nogil cores fuse the O(n^2) rest.
# Directives (boundscheck, wraparound, cdivision) live in ext/meson.build.
import numpy as np
from cython.parallel cimport prange, parallel, threadid
from libc.math cimport sqrt, isnan, isfinite, fabs, NAN, INFINITY
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

cdef double _EPS = 2.220446049250313e-16
# Masked Pearson: a pair whose pairwise sum of squares exceeds _CANCEL times its centred sum of
# squares loses digits in SS - S^2/n (see _masked_fuse) and is recomputed exactly in two passes.
cdef double _CANCEL = 16.0
# A run of missing periods at least this long is summed from prefix sums, not period by period.
cdef Py_ssize_t _LONG_RUN = 16
# Matrices up to MAXSMALL take the compiled Jacobi SVD, up to MAXLU the compiled LU for the RGA
# (up to MAXTINY with column-by-column solves, which loop less for tiny matrices);
# larger ones NumPy's LAPACK. The cut-offs are where LAPACK's per-call overhead stops dominating
# (measured on 2-core Haswell, OpenBLAS 0.3.31: the LU, whose solves run along rows, was 2.5x
# NumPy's inverse at 20 x 20, 1.6x at 44 x 44, 1.35x at 60 x 60, and 1.4x the column-by-column
# solves at 8 x 8, which won up to 5 x 5). The Jacobi, 16 matrices at once in vector lanes, was
# 4.8x NumPy's SVD at 8 x 8, 2.7x at 12 x 12, 2.0x at 16 x 16, 1.5x at 20 x 20 and 0.8x at
# 28 x 28 (AVX-512, AMD EPYC, one thread): 16 keeps a margin for slower-converging matrices.
cdef enum:
    MAXSMALL = 16  # at most MS_JACOBI_COLS (ms_jacobi_block's arrays)
    MAXTINY = 5
    MAXLU = 64


# Below this much work (pairs x periods, roughly) an OpenMP team costs more than it saves: a
# 30-KPI correlation took 4x longer on two threads than on one here, and far longer when the
# other core was busy (a team waits for its slowest thread). Small problems run on one thread.
cdef double _PARALLEL_WORK = 1 << 20
cdef int _THREADS = 1


def _omp_threads():
    """The threads an OpenMP team may use: OMP_NUM_THREADS when set, else the usable CPUs."""
    import os

    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        get = getattr(os, "sched_getaffinity", None)
        return len(get(0)) if get is not None else (os.cpu_count() or 1)


_THREADS = _omp_threads()


cdef inline int _nt(double work) noexcept nogil:
    return 1 if work < _PARALLEL_WORK else _THREADS


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
    # Two-pass centred Pearson over the periods where both are present (see _window_exact).
    return _window_exact(x, x, i, j, 0, x.shape[0], minp, False)


def _exact_pairs(const double[:, ::1] x, const Py_ssize_t[::1] ii, const Py_ssize_t[::1] jj,
                 Py_ssize_t minp, double[:, ::1] out):
    """Fill out[i, j] = out[j, i] with the exact two-pass r for the listed pairs."""
    cdef Py_ssize_t q
    cdef double r
    for q in prange(ii.shape[0], nogil=True, schedule="dynamic",
                    num_threads=_nt(<double> ii.shape[0] * x.shape[0])):
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
    for i in prange(n, schedule="dynamic", num_threads=_nt(<double> n * n)):
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
                       const Py_ssize_t[::1] gptr, const Py_ssize_t[::1] gcol,
                       const Py_ssize_t[::1] ev_t, const Py_ssize_t[::1] ev_j, const double[::1] ev_sign,
                       double[:, ::1] a, double[:, ::1] b, double[:, ::1] sp) noexcept nogil:
    # For every pattern g of missing periods (the series gcol[gptr[g]:gptr[g + 1]] miss exactly
    # those periods; ptr/rs/re and the events are its runs), sums over the periods it misses:
    #   a[g, i] = sum x0_ti, b[g, i] = sum x0_ti^2, k[j, i] = #periods with i present,
    # so the pairwise-complete sums are S_i - a[g(j), i] etc. k[j, i] (i < j) goes in the strictly
    # lower triangle of sp, whose upper triangle holds the cross-products.
    # mptr/mcol list the missing series of each period (sparse), for the counts.
    # NOTE: a and b have a row per pattern, not per series: series that miss the same periods (a
    # whole system's first change) share one, and at 10,000 KPIs a and b were 800 MB each.
    cdef Py_ssize_t T = x0.shape[0], n = x0.shape[1], G = a.shape[0], j, g, i, q, t, e, cnt, m
    cdef double v, sg
    cdef double* kc
    cdef Py_ssize_t* ts
    cdef double* p1
    cdef double* p2
    cdef double* pc
    # Short runs: add the rows of the missing periods, one pattern per thread.
    with parallel(num_threads=_nt(<double> G * n * (T / 8 + 1))):
        kc = <double*> malloc(n * sizeof(double))
        ts = <Py_ssize_t*> malloc((T + 1) * sizeof(Py_ssize_t))
        for g in prange(G, schedule="dynamic"):
            cnt = 0
            for q in range(ptr[g], ptr[g + 1]):
                for t in range(rs[q], re[q]):
                    ts[cnt] = t
                    cnt = cnt + 1
            memset(&a[g, 0], 0, n * sizeof(double))
            memset(&b[g, 0], 0, n * sizeof(double))
            _add_rows(&a[g, 0], &b[g, 0], &x0[0, 0], n, ts, cnt)
            # k[j, i] = cnt - (periods where both j and i are missing), from the sparse lists.
            memset(kc, 0, n * sizeof(double))
            for q in range(cnt):
                t = ts[q]
                for e in range(mptr[t], mptr[t + 1]):
                    kc[mcol[e]] += 1.0
            for m in range(gptr[g], gptr[g + 1]):
                j = gcol[m]
                for i in range(j):
                    sp[j, i] = cnt - kc[i]
        free(kc)
        free(ts)
    # Long runs: one sweep over time keeps prefix sums P(t) = sum_{u<t} row u; a run [s, e)
    # of pattern g adds P(e) - P(s), recorded as events (s, g, -1) and (e, g, +1).
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
            g = ev_j[e]
            sg = ev_sign[e]
            for i in range(n):
                a[g, i] += sg * p1[i]
                b[g, i] += sg * p2[i]
            for m in range(gptr[g], gptr[g + 1]):
                j = gcol[m]
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
                       const Py_ssize_t[::1] pat, const double[::1] s, const double[::1] ss,
                       const Py_ssize_t[::1] p, const unsigned char[::1] const_col, Py_ssize_t minp) noexcept nogil:
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
    for bi in prange(nb, schedule="dynamic", num_threads=_nt(<double> n * n)):
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
                    si = s[i] - a[pat[j], i]
                    sj = s[j] - a[pat[i], j]
                    qi = ss[i] - b[pat[j], i]
                    qj = ss[j] - b[pat[i], j]
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
    # The series' patterns of missing periods: the corrections are computed once per pattern.
    _, first, pat = np.unique(np.ascontiguousarray(pres.T), axis=0, return_index=True, return_inverse=True)
    pat = np.ascontiguousarray(pat.reshape(-1), dtype=np.intp)
    G = len(first)
    gcol = np.ascontiguousarray(np.argsort(pat, kind="stable"), dtype=np.intp)
    gptr = np.zeros(G + 1, dtype=np.intp)
    np.cumsum(np.bincount(pat, minlength=G), out=gptr[1:])
    ptr, rs, re = _missing_runs(np.ascontiguousarray(pres.T[first]))
    mptr, mcol = _missing_by_period(pres)
    # Short runs are added period by period; long ones (ragged starts) from prefix sums.
    long_run = (re - rs) >= _LONG_RUN
    short = ~long_run
    rj = np.repeat(np.arange(G, dtype=np.intp), np.diff(ptr))
    sptr = np.zeros(G + 1, dtype=np.intp)
    np.cumsum(np.bincount(rj[short], minlength=G), out=sptr[1:])
    ev_t = np.concatenate([rs[long_run], re[long_run]])
    order = np.argsort(ev_t, kind="stable")
    ev_t = np.ascontiguousarray(ev_t[order], dtype=np.intp)
    ev_j = np.ascontiguousarray(np.concatenate([rj[long_run], rj[long_run]])[order], dtype=np.intp)
    nlong = int(long_run.sum())
    ev_sign = np.concatenate([-np.ones(nlong), np.ones(nlong)])[order]
    a = np.empty((G, n))
    b = np.empty((G, n))
    _corrections(x0, pres, sptr, np.ascontiguousarray(rs[short]), np.ascontiguousarray(re[short]),
                 mptr, mcol, gptr, gcol, ev_t, ev_j, ev_sign, a, b, sp)
    del x0, pres
    _masked_fuse(sp, a, b, pat, s, ss, p, const_col, minp)
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
    for i in prange(n, nogil=True, schedule="dynamic", num_threads=_nt(<double> n * T)):
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
    with nogil, parallel(num_threads=_nt(<double> n * n * T)):
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
    if T == 0:
        return np.full((n, n), np.nan)  # no pair has a period
    gaps = np.isnan(x)
    missing = gaps.any()
    if missing:
        # A period no series has (the first of period-to-period changes) is in no pair's
        # overlap: without it, data missing nowhere else takes the complete path (one syrk).
        empty = gaps.all(axis=1)
        if empty.any():
            x = np.ascontiguousarray(x[~empty])
            T = x.shape[0]
            missing = bool(gaps[~empty].any())
            if T == 0:
                return np.full((n, n), np.nan)  # no pair has a period
    del gaps
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


cdef extern from *:
    """
    #ifdef __SSE2__
    #include <emmintrin.h>
    #endif
    /* num[k] = clip(num[k] / sqrt(den[k]), -1, 1): two at a time where SSE2 is there. */
    static inline void ms_ratio_sqrt_clip(double *num, const double *den, Py_ssize_t m) {
        Py_ssize_t k = 0;
        double v;
    #ifdef __SSE2__
        const __m128d lo = _mm_set1_pd(-1.0), hi = _mm_set1_pd(1.0);
        for (; k + 2 <= m; k += 2) {
            __m128d r = _mm_div_pd(_mm_loadu_pd(num + k), _mm_sqrt_pd(_mm_loadu_pd(den + k)));
            _mm_storeu_pd(num + k, _mm_max_pd(_mm_min_pd(r, hi), lo));
        }
    #endif
        for (; k < m; k++) {
            v = num[k] / sqrt(den[k]);
            num[k] = v > 1.0 ? 1.0 : (v < -1.0 ? -1.0 : v);
        }
    }
    """
    void ms_ratio_sqrt_clip(double* num, const double* den, Py_ssize_t m) nogil


cdef extern from *:
    """
    #ifdef __SSE2__
    #include <emmintrin.h>
    #define MS_PAIRS2 1
    /* The sums of _roll_pair for two pairs with no gap at once, pair 0 in the low lane and pair 1
       in the high one (the same operations in the same order, so the same results): for each
       window ending at start + k, the numerator Sxy - Sx Sy / n into num0/num1[k], the
       denominator Vx Vy (1 where special) into den0/den1[k], the state (0 ordinary, 1 too few
       periods, 2 two passes) into st0/st1[k]. suf: (w + 1) x 10 doubles, the suffix sums. */
    static void ms_roll2_sums(const double *x, Py_ssize_t xs, const double *y, Py_ssize_t ys,
                              Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1,
                              double kx0, double kx1, double ky0, double ky1, Py_ssize_t w,
                              Py_ssize_t start, Py_ssize_t end, int prev, Py_ssize_t minp,
                              double cancel, double *suf, const double *rtab, double *num0,
                              double *num1, double *den0, double *den1, double *st0, double *st1) {
        const __m128d kx = _mm_set_pd(kx1, kx0), ky = _mm_set_pd(ky1, ky0);
        const __m128d one = _mm_set1_pd(1.0), two = _mm_set1_pd(2.0), cv = _mm_set1_pd(cancel);
        const __m128d zero = _mm_setzero_pd();
        __m128d sx = zero, sy = zero, sxx = zero, syy = zero, sxy = zero, a, b;
        Py_ssize_t k, t, q;
        for (q = 0; q < 10; q += 2)
            _mm_storeu_pd(suf + w * 10 + q, zero);
        if (prev) {
            for (k = w - 1; k >= 0; k--) {
                t = start - w + k;
                a = _mm_sub_pd(_mm_loadh_pd(_mm_load_sd(x + t * xs + i0), x + t * xs + i1), kx);
                b = _mm_sub_pd(_mm_loadh_pd(_mm_load_sd(y + t * ys + j0), y + t * ys + j1), ky);
                sx = _mm_add_pd(sx, a);
                sy = _mm_add_pd(sy, b);
                sxx = _mm_add_pd(sxx, _mm_mul_pd(a, a));
                syy = _mm_add_pd(syy, _mm_mul_pd(b, b));
                sxy = _mm_add_pd(sxy, _mm_mul_pd(a, b));
                _mm_storeu_pd(suf + k * 10, sx);
                _mm_storeu_pd(suf + k * 10 + 2, sy);
                _mm_storeu_pd(suf + k * 10 + 4, sxx);
                _mm_storeu_pd(suf + k * 10 + 6, syy);
                _mm_storeu_pd(suf + k * 10 + 8, sxy);
            }
        }
        sx = sy = sxx = syy = sxy = zero;
        for (t = start; t < end; t++) {
            const double *s;
            double m;
            __m128d inv, mx, my, mxx, myy, vx, vy, num, good, den;
            k = t - start;
            a = _mm_sub_pd(_mm_loadh_pd(_mm_load_sd(x + t * xs + i0), x + t * xs + i1), kx);
            b = _mm_sub_pd(_mm_loadh_pd(_mm_load_sd(y + t * ys + j0), y + t * ys + j1), ky);
            sx = _mm_add_pd(sx, a);
            sy = _mm_add_pd(sy, b);
            sxx = _mm_add_pd(sxx, _mm_mul_pd(a, a));
            syy = _mm_add_pd(syy, _mm_mul_pd(b, b));
            sxy = _mm_add_pd(sxy, _mm_mul_pd(a, b));
            s = suf + (prev ? k + 1 : w) * 10;
            m = (double) (prev ? w : k + 1);  /* no gaps: the window's length */
            inv = _mm_set1_pd(rtab[(Py_ssize_t) m]);
            mx = _mm_add_pd(sx, _mm_loadu_pd(s));
            my = _mm_add_pd(sy, _mm_loadu_pd(s + 2));
            mxx = _mm_add_pd(sxx, _mm_loadu_pd(s + 4));
            myy = _mm_add_pd(syy, _mm_loadu_pd(s + 6));
            vx = _mm_sub_pd(mxx, _mm_mul_pd(_mm_mul_pd(mx, mx), inv));
            vy = _mm_sub_pd(myy, _mm_mul_pd(_mm_mul_pd(my, my), inv));
            num = _mm_sub_pd(_mm_add_pd(sxy, _mm_loadu_pd(s + 8)), _mm_mul_pd(_mm_mul_pd(mx, my), inv));
            _mm_storel_pd(num0 + k, num);
            _mm_storeh_pd(num1 + k, num);
            if (m < minp || m < 2.0) {
                den0[k] = den1[k] = 1.0;
                st0[k] = st1[k] = 1.0;
                continue;
            }
            good = _mm_and_pd(_mm_cmpgt_pd(_mm_mul_pd(vx, cv), mxx), _mm_cmpgt_pd(_mm_mul_pd(vy, cv), myy));
            den = _mm_or_pd(_mm_and_pd(good, _mm_mul_pd(vx, vy)), _mm_andnot_pd(good, one));
            _mm_storel_pd(den0 + k, den);
            _mm_storeh_pd(den1 + k, den);
            den = _mm_andnot_pd(good, two);
            _mm_storel_pd(st0 + k, den);
            _mm_storeh_pd(st1 + k, den);
        }
    }
    #else
    #define MS_PAIRS2 0
    static void ms_roll2_sums(const double *x, Py_ssize_t xs, const double *y, Py_ssize_t ys,
                              Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1,
                              double kx0, double kx1, double ky0, double ky1, Py_ssize_t w,
                              Py_ssize_t start, Py_ssize_t end, int prev, Py_ssize_t minp,
                              double cancel, double *suf, const double *rtab, double *num0,
                              double *num1, double *den0, double *den1, double *st0, double *st1) {}
    #endif
    """
    bint MS_PAIRS2
    void ms_roll2_sums(const double* x, Py_ssize_t xs, const double* y, Py_ssize_t ys,
                       Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1,
                       double kx0, double kx1, double ky0, double ky1, Py_ssize_t w,
                       Py_ssize_t start, Py_ssize_t end, bint prev, Py_ssize_t minp,
                       double cancel, double* suf, const double* rtab, double* num0,
                       double* num1, double* den0, double* den1, double* st0, double* st1) nogil


cdef double _window_exact(const double[:, ::1] x, const double[:, ::1] y, Py_ssize_t i,
                          Py_ssize_t j, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t minp,
                          bint diag) noexcept nogil:
    # Two-pass centred r of (x[lo:hi, i], y[lo:hi, j]) over the periods where both are present,
    # constancy tested exactly (the reference's _pair_pearson): the centred sum of squares of a
    # constant need not round to 0.
    cdef Py_ssize_t t, n = 0
    cdef double a, b, a0 = NAN, b0 = NAN, ma = 0.0, mb = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
    cdef bint vary_a = False, vary_b = False
    for t in range(lo, hi):
        a = x[t, i]
        b = y[t, j]
        if not isnan(a) and not isnan(b):
            if n == 0:
                a0 = a
                b0 = b
            vary_a = vary_a or a != a0
            vary_b = vary_b or b != b0
            n += 1
            ma += a
            mb += b
    if n < minp or n < 2 or not vary_a or not vary_b:
        return NAN
    if diag:
        return 1.0
    ma /= n
    mb /= n
    for t in range(lo, hi):
        a = x[t, i]
        b = y[t, j]
        if not isnan(a) and not isnan(b):
            sxx += (a - ma) * (a - ma)
            syy += (b - mb) * (b - mb)
            sxy += (a - ma) * (b - mb)
    return _clip(sxy / sqrt(sxx * syy))


cdef inline void _roll_pair(const double[:, ::1] x, const double[:, ::1] y, Py_ssize_t i,
                            Py_ssize_t j, double kxi, double kyj, bint diag, Py_ssize_t w,
                            Py_ssize_t c, Py_ssize_t minp, double* suf, double* res,
                            const double* rtab, bint gaps) noexcept nogil:
    # suf: (w + 1) x 6 sums, then two rows of w (denominators and states).
    # The windows ending in block c of one pair, into res[0 : end - start]. gaps=False: both
    # columns are complete on blocks c - 1 and c, so no test for NaN and no count (the
    # compiler makes one copy of this function for each value of the flag).
    cdef Py_ssize_t T = x.shape[0], start = c * w, end = min(c * w + w, T), t, k
    cdef double a, b, n = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
    cdef double m, mx, my, mxx, myy, inv, vx, vy
    cdef const double* s
    cdef double* den = suf + (w + 1) * 6
    cdef double* state = den + w
    memset(&suf[w * 6], 0, 6 * sizeof(double))  # the empty suffix (two pairs at once lay suf out anew)
    if c > 0:
        for k in range(w - 1, -1, -1):
            t = start - w + k
            a = x[t, i]
            b = y[t, j]
            if not gaps or (not isnan(a) and not isnan(b)):
                a = a - kxi
                b = b - kyj
                n += 1.0
                sx += a
                sy += b
                sxx += a * a
                syy += b * b
                sxy += a * b
            suf[k * 6] = n
            suf[k * 6 + 1] = sx
            suf[k * 6 + 2] = sy
            suf[k * 6 + 3] = sxx
            suf[k * 6 + 4] = syy
            suf[k * 6 + 5] = sxy
    n = sx = sy = sxx = syy = sxy = 0.0
    # The sums first, then every division and square root in one loop without a branch (they
    # share one unit, and two-wide vector instructions halve its work), then the special cases.
    for t in range(start, end):
        a = x[t, i]
        b = y[t, j]
        if not gaps or (not isnan(a) and not isnan(b)):
            a = a - kxi
            b = b - kyj
            n += 1.0
            sx += a
            sy += b
            sxx += a * a
            syy += b * b
            sxy += a * b
        k = t - start
        s = &suf[(k + 1 if c > 0 else w) * 6]
        m = n + s[0]
        inv = rtab[<Py_ssize_t> m]
        mx = sx + s[1]
        my = sy + s[2]
        mxx = sxx + s[3]
        myy = syy + s[4]
        vx = mxx - mx * mx * inv
        vy = myy - my * my * inv
        res[k] = (sxy + s[5]) - mx * my * inv
        if m < minp or m < 2.0:
            state[k] = 1.0  # too few periods: NaN
            den[k] = 1.0
        elif vx * _CANCEL > mxx and vy * _CANCEL > myy:
            state[k] = 0.0
            den[k] = vx * vy
        else:
            state[k] = 2.0  # cancellation, or a constant window: two passes
            den[k] = 1.0
    _roll_finish(x, y, i, j, diag, w, c, minp, res, den, state)


cdef inline void _roll_finish(const double[:, ::1] x, const double[:, ::1] y, Py_ssize_t i,
                              Py_ssize_t j, bint diag, Py_ssize_t w, Py_ssize_t c, Py_ssize_t minp,
                              double* res, const double* den, const double* state) noexcept nogil:
    # r = num / sqrt(den) for every window of block c, then the special cases by their state.
    cdef Py_ssize_t start = c * w, end = min(c * w + w, x.shape[0]), k
    ms_ratio_sqrt_clip(res, den, end - start)
    for k in range(end - start):
        if state[k] == 0.0:
            if diag:
                res[k] = 1.0
        elif state[k] == 1.0:
            res[k] = NAN
        else:
            res[k] = _window_exact(x, y, i, j, max(start + k - w + 1, 0), start + k + 1, minp, diag)


cdef void _roll_block(const double[:, ::1] x, const double[:, ::1] y, const double[:, ::1] kx,
                      const double[:, ::1] ky, const double[:, ::1] nx, const double[:, ::1] ny,
                      const Py_ssize_t* pi, const Py_ssize_t* pj, const Py_ssize_t* o1,
                      const Py_ssize_t* o2, bint pairs, Py_ssize_t npair, Py_ssize_t w,
                      Py_ssize_t c, Py_ssize_t minp, double* out, Py_ssize_t ostride, double* suf,
                      double* buf, const double* rtab, Py_ssize_t* state,
                      Py_ssize_t* done) noexcept nogil:
    # Sliding windows without subtraction (a two-stacks scheme): cut time into blocks of w
    # periods. A window ending at t in block c is the suffix of block c - 1 starting at
    # t - w + 1 plus the prefix of block c up to t. This builds the suffix sums of block c - 1
    # backwards, then walks block c forwards adding one of each per window: O(1) per window,
    # and no point is ever subtracted, so a large value leaves no rounding error behind in the
    # windows after it. Blocks are independent.
    # The sums are raw moments [n, Sx, Sy, Sxx, Syy, Sxy] of x - kx[c], y - ky[c], shifts near
    # the level of blocks c - 1 and c, so V = Sxx - Sx^2 / n cancels only when the window's mean
    # is far from the shift relative to its spread: where Sxx > _CANCEL * V (or V is rounding
    # noise from a window that is constant) the window is recomputed exactly in two passes.
    # That costs O(w), and happens only around jumps, outliers and constant stretches.
    # One pair at a time, so the running sums stay in registers.
    # nx, ny: periods present per block (row c + 1 is block c), to find complete pairs.
    # suf: (w + 1) x 6 sums (x 10 for two pairs at once), then four rows of w; row w of the sums
    # is the empty suffix (all of block 0's windows use it). buf: npair x w results.
    # pairs: the column pairs of rolling_corr (write out[o1] only; never the diagonal rule).
    cdef Py_ssize_t T = x.shape[0], start = c * w, end = min(c * w + w, T), t, q = 0, i, j, i1, j1
    cdef double full = <double> (end - start), r
    cdef double* den2 = suf + (w + 1) * 10
    cdef bint gaps
    while q < npair:
        i = pi[q]
        j = pj[q]
        gaps = not (nx[c + 1, i] == full and ny[c + 1, j] == full
                    and (c == 0 or (nx[c, i] == w and ny[c, j] == w)))
        if not gaps and MS_PAIRS2 and q + 1 < npair:
            i1 = pi[q + 1]
            j1 = pj[q + 1]
            if (nx[c + 1, i1] == full and ny[c + 1, j1] == full
                    and (c == 0 or (nx[c, i1] == w and ny[c, j1] == w))):
                # Two gap-free pairs at once, in the two lanes of SSE2 registers.
                ms_roll2_sums(&x[0, 0], x.shape[1], &y[0, 0], y.shape[1], i, i1, j, j1,
                              kx[c, i], kx[c, i1], ky[c, j], ky[c, j1], w, start, end, c > 0, minp,
                              _CANCEL, suf, rtab, &buf[q * w], &buf[(q + 1) * w], den2, den2 + w,
                              den2 + 2 * w, den2 + 3 * w)
                _roll_finish(x, y, i, j, not pairs and o1[q] == o2[q], w, c, minp, &buf[q * w],
                             den2, den2 + 2 * w)
                _roll_finish(x, y, i1, j1, not pairs and o1[q + 1] == o2[q + 1], w, c, minp,
                             &buf[(q + 1) * w], den2 + w, den2 + 3 * w)
                q += 2
                continue
        if gaps:
            _roll_pair(x, y, i, j, kx[c, i], ky[c, j], not pairs and o1[q] == o2[q], w, c, minp,
                       suf, &buf[q * w], rtab, True)
        else:
            _roll_pair(x, y, i, j, kx[c, i], ky[c, j], not pairs and o1[q] == o2[q], w, c, minp,
                       suf, &buf[q * w], rtab, False)
        q += 1
    # Publish: the first thread to finish block c writes it (see _rolling). Row by row: matrix
    # rows are wide, so not one pair's column at a time.
    if not ms_claim_once(&state[c]):
        return
    for t in range(start, end):
        for q in range(npair):
            r = buf[q * w + t - start]
            out[t * ostride + o1[q]] = r
            if not pairs:
                out[t * ostride + o2[q]] = r
    ms_fetch_add(done, 1)


def _block_levels(const double[:, ::1] x, Py_ssize_t w):
    """Per block c of w periods and per series, the mean over blocks c - 1 and c (0 if none),
    and the count of present values per block (row c + 1 for block c, row 0 is 0)."""
    cdef Py_ssize_t T = x.shape[0], k = x.shape[1], nb = (T + w - 1) // w, c, t, i
    cdef double v
    tot_a = np.zeros((nb + 1, k))
    cnt_a = np.zeros((nb + 1, k))
    lev_a = np.zeros((nb, k))
    cdef double[:, ::1] tot = tot_a
    cdef double[:, ::1] cnt = cnt_a
    cdef double[:, ::1] lev = lev_a
    cdef const double* row
    cdef double* tr
    cdef double* cr
    with nogil:
        for t in range(T):
            c = t // w + 1  # row 0 stands for the block before the first
            row = &x[t, 0]
            tr = &tot[c, 0]
            cr = &cnt[c, 0]
            for i in range(k):  # no branch: the compiler vectorizes it
                v = row[i]
                tr[i] += 0.0 if isnan(v) else v
                cr[i] += 0.0 if isnan(v) else 1.0
        for c in range(nb):
            for i in range(k):
                v = cnt[c, i] + cnt[c + 1, i]
                if v > 0:
                    lev[c, i] = (tot[c, i] + tot[c + 1, i]) / v
    return lev_a, cnt_a


def _cpus():
    """The CPUs this process may run on."""
    import os

    get = getattr(os, "sched_getaffinity", None)
    return len(get(0)) if get is not None else (os.cpu_count() or 1)


cdef extern from *:
    """
    static inline Py_ssize_t ms_fetch_add(Py_ssize_t *p, Py_ssize_t v) {
        return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
    }
    static inline Py_ssize_t ms_load(const Py_ssize_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    /* 1 for the one caller that turns *p from 0 to 1, 0 for every other. */
    static inline int ms_claim_once(Py_ssize_t *p) {
        Py_ssize_t expected = 0;
        return __atomic_compare_exchange_n(p, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    """
    Py_ssize_t ms_fetch_add(Py_ssize_t* p, Py_ssize_t v) nogil
    Py_ssize_t ms_load(const Py_ssize_t* p) nogil
    bint ms_claim_once(Py_ssize_t* p) nogil

cdef extern from "<sched.h>":
    int sched_yield() nogil


# Rolling work (pairs x periods) below which no helper thread is started.
cdef Py_ssize_t _HELPED_WORK = 1 << 15


def _roll_claim(const double[:, ::1] x, const double[:, ::1] y, const double[:, ::1] kx,
                const double[:, ::1] ky, const double[:, ::1] nx, const double[:, ::1] ny,
                const Py_ssize_t[::1] pi, const Py_ssize_t[::1] pj,
                const Py_ssize_t[::1] o1, const Py_ssize_t[::1] o2, bint pairs, Py_ssize_t w,
                Py_ssize_t minp, double[::1] out, Py_ssize_t ostride, const double[::1] rtab,
                Py_ssize_t[::1] ctl, bint finish):
    """Compute the blocks of time claimed one by one from ctl[0], publishing each through its
    flag ctl[2 + c] and counting it in ctl[1]; with ``finish``, then also every block claimed
    elsewhere and not yet published."""
    cdef Py_ssize_t npair = pi.shape[0], nblock = (x.shape[0] + w - 1) // w, c
    cdef double* suf
    cdef double* buf
    with nogil:
        suf = <double*> malloc(((w + 1) * 10 + 4 * w) * sizeof(double))
        buf = <double*> malloc(npair * w * sizeof(double))
        while True:
            c = ms_fetch_add(&ctl[0], 1)
            if c >= nblock:
                break
            _roll_block(x, y, kx, ky, nx, ny, &pi[0], &pj[0], &o1[0], &o2[0], pairs, npair, w, c,
                        minp, &out[0], ostride, suf, buf, &rtab[0], &ctl[2], &ctl[1])
        if finish:
            for c in range(nblock):
                if ms_load(&ctl[2 + c]) == 0:
                    _roll_block(x, y, kx, ky, nx, ny, &pi[0], &pj[0], &o1[0], &o2[0], pairs, npair,
                                w, c, minp, &out[0], ostride, suf, buf, &rtab[0], &ctl[2], &ctl[1])
        free(suf)
        free(buf)


def _rolling(const double[:, ::1] x, const double[:, ::1] y, const Py_ssize_t[::1] pi,
             const Py_ssize_t[::1] pj, const Py_ssize_t[::1] o1, const Py_ssize_t[::1] o2,
             bint pairs, Py_ssize_t w, Py_ssize_t minp, double[::1] out, Py_ssize_t ostride):
    """Rolling r of the column pairs (x[:, pi[q]], y[:, pj[q]]) into out[t * ostride + o1/o2[q]]."""
    import _thread

    cdef Py_ssize_t npair = pi.shape[0], nblock = (x.shape[0] + w - 1) // w, h
    cdef Py_ssize_t[::1] ctl
    if npair == 0 or x.shape[0] == 0:
        return
    kx, nx = _block_levels(x, w)
    ky, ny = (kx, nx) if (&x[0, 0] == &y[0, 0]) else _block_levels(y, w)
    rtab = 1.0 / np.maximum(np.arange(w + 2, dtype=np.float64), 1.0)
    # Threads take blocks of time, so each writes its own rows of out (splitting the pairs
    # instead made threads share cache lines of every row). NOTE: not an OpenMP team: its end
    # waits for every thread, and on a loaded machine a thread that is not scheduled in time
    # held the caller for milliseconds. Here helpers claim blocks from a counter and this
    # thread works too; when none is left, it also computes each block that a helper claimed
    # but has not published (a helper may be waiting for a core). Each thread computes into
    # its own buffer, and the first to finish a block writes it to out (a compare-and-swap on
    # the block's flag), so this thread waits only for writes in progress. A helper that
    # starts or resumes late finds nothing to claim or publish; it holds its own references
    # to the arrays.
    ctl_a = np.zeros(2 + nblock, dtype=np.intp)
    ctl = ctl_a
    args = (x, y, kx, ky, nx, ny, pi, pj, o1, o2, pairs, w, minp, out, ostride, rtab, ctl_a)
    if npair * x.shape[0] >= _HELPED_WORK and nblock > 1:
        for h in range(min(_cpus(), nblock, 8) - 1):
            _thread.start_new_thread(_roll_claim, args + (False,))
    _roll_claim(*args, True)
    with nogil:
        while ms_load(&ctl[1]) < nblock:
            sched_yield()


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
    idx = np.arange(k, dtype=np.intp)
    _rolling(x2, y2, idx, idx, idx, idx, True, w, minp, out.reshape(-1), k)
    return out if np.ndim(x) == 2 else out[:, 0]


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
    _rolling(x, x, pi, pj, pi * n + pj, pj * n + pi, False, w, minp, out.reshape(-1), n * n)
    return out


# --------------------------------------------------------------------------- gain matrices


cdef double _jacobi_cond(const double* g, Py_ssize_t k, Py_ssize_t m) noexcept nogil:
    # sigma_max / sigma_min by one-sided Jacobi (Hestenes 1958): rotate column pairs of A
    # (rows >= columns) until orthogonal; the column norms are then the singular values, to high
    # relative accuracy. g is row-major k x m. Squared column norms are carried through the
    # rotations (alpha' = alpha - t gamma, beta' = beta + t gamma; Demmel & Veselic 1992), so a
    # rotation costs one dot product; they are recomputed each sweep to stop drift.
    # NOTE: ms_jacobi_block runs these operations, in this order, on 16 matrices at once and
    # must give the same bits (tests/kernels/test_kernels_gain.py): change both or neither.
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


cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    /* The one-sided Jacobi of _jacobi_cond on MS_LANES matrices at once, structure of arrays:
       element (row i, column p) of lane l's A sits at a[(p * rows + i) * MS_LANES + l], so every
       inner loop runs over the lanes and vectorizes. A lane whose pair needs no rotation gets
       t = 0 (c = 1, s = 0: the rotation leaves it exactly as it was), and the block sweeps until
       no lane rotates: each lane sees the operations of the scalar routine, in the same order,
       so the same results (-ffp-contract=off: no multiply-add is fused into an FMA). A pair that
       no lane rotates is skipped, as in the scalar routine. Sixteen lanes, not four or eight:
       a rotation's divisions and square roots form a chain of about 100 cycles, and sixteen
       independent chains hide it (eight lanes took twice as long per matrix; the sweeps of a
       block are its slowest lane's, which more lanes would raise). */
    #define MS_LANES 16
    #define MS_JACOBI_COLS 16  /* at least MAXSMALL */
    #if defined(__GNUC__) && defined(__x86_64__)
    #define MS_ALWAYS_INLINE __attribute__((always_inline)) inline
    #else
    #define MS_ALWAYS_INLINE inline
    #endif
    static MS_ALWAYS_INLINE void ms_jacobi_block(const double *g, Py_ssize_t nl, Py_ssize_t k,
                                                 Py_ssize_t m, double *out, double eps,
                                                 double *a, const Py_ssize_t *dst) {
        enum { L = MS_LANES };
        Py_ssize_t rows = k >= m ? k : m, cols = k >= m ? m : k, size = k * m, e, i, l, p, q, sweep;
        double nrm[MS_JACOBI_COLS * L], gam[L], t[L], c[L], s[L], smax[L], smin[L], div[L], v;
        int bad[L], rot, any;
        /* Load: lane l is matrix l of g (a lane past nl is the zero matrix, done at once). */
        for (l = 0; l < L; l++) {
            smax[l] = 0.0;
            bad[l] = 0;
        }
        for (l = 0; l < nl; l++) {
            const double *gl = g + l * size;
            for (e = 0; e < size; e++) {
                v = gl[e];
                bad[l] |= !isfinite(v);
                a[dst[e] * L + l] = v;
                v = fabs(v);
                smax[l] = smax[l] > v ? smax[l] : v;
            }
        }
        for (; l < L; l++)
            for (e = 0; e < size; e++)
                a[dst[e] * L + l] = 0.0;
        /* NOTE: scaled to a largest element of 1, as in _jacobi_cond (the convergence test
           squares products of column norms); a lane holding a NaN or inf becomes zeros. */
        for (l = 0; l < L; l++)
            div[l] = bad[l] || !(smax[l] > 0.0) ? 1.0 : smax[l];
        for (e = 0; e < size; e++)
            for (l = 0; l < L; l++)
                a[e * L + l] = bad[l] ? 0.0 : a[e * L + l] / div[l];
        for (sweep = 0; sweep < 60; sweep++) {
            for (p = 0; p < cols; p++) {
                const double *cp = a + p * rows * L;
                double *np = nrm + p * L;
                for (l = 0; l < L; l++)
                    np[l] = 0.0;
                for (i = 0; i < rows; i++)
                    for (l = 0; l < L; l++)
                        np[l] += cp[i * L + l] * cp[i * L + l];
            }
            any = 0;
            for (p = 0; p < cols - 1; p++) {
                double *cp = a + p * rows * L, *np = nrm + p * L;
                for (q = p + 1; q < cols; q++) {
                    double *cq = a + q * rows * L, *nq = nrm + q * L;
                    for (l = 0; l < L; l++)
                        gam[l] = 0.0;
                    for (i = 0; i < rows; i++)
                        for (l = 0; l < L; l++)
                            gam[l] += cp[i * L + l] * cq[i * L + l];
                    rot = 0;
                    for (l = 0; l < L; l++) {
                        /* |cos angle| <= eps: no rotation (no sqrt); the zeta of such a lane,
                           perhaps 0 / 0, is dropped by the select. */
                        int r = !(gam[l] * gam[l] <= eps * eps * np[l] * nq[l]);
                        double zeta = (nq[l] - np[l]) / (2.0 * gam[l]);
                        double tt = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                        t[l] = r ? tt : 0.0;
                        rot |= r;
                    }
                    if (!rot)
                        continue;
                    any = 1;
                    for (l = 0; l < L; l++) {
                        c[l] = 1.0 / sqrt(1.0 + t[l] * t[l]);
                        s[l] = c[l] * t[l];
                    }
                    for (i = 0; i < rows; i++)
                        for (l = 0; l < L; l++) {
                            double ap = cp[i * L + l], aq = cq[i * L + l];
                            cp[i * L + l] = c[l] * ap - s[l] * aq;
                            cq[i * L + l] = s[l] * ap + c[l] * aq;
                        }
                    for (l = 0; l < L; l++) {
                        np[l] -= t[l] * gam[l];
                        nq[l] += t[l] * gam[l];
                    }
                }
            }
            if (!any)
                break;
        }
        for (l = 0; l < L; l++) {
            smax[l] = 0.0;
            smin[l] = INFINITY;
        }
        for (p = 0; p < cols; p++) {
            const double *cp = a + p * rows * L;
            for (l = 0; l < L; l++)
                gam[l] = 0.0;
            for (i = 0; i < rows; i++)
                for (l = 0; l < L; l++)
                    gam[l] += cp[i * L + l] * cp[i * L + l];
            for (l = 0; l < L; l++) {
                v = sqrt(gam[l]);
                smax[l] = smax[l] > v ? smax[l] : v;
                smin[l] = smin[l] < v ? smin[l] : v;
            }
        }
        for (l = 0; l < nl; l++)
            out[l] = bad[l] ? NAN : smin[l] <= rows * eps * smax[l] ? INFINITY : smax[l] / smin[l];
    }
    /* Condition numbers of n row-major k x m matrices (k, m <= MS_JACOBI_COLS), MS_LANES at a
       time. work: k x m x MS_LANES doubles; dst: k x m. */
    static MS_ALWAYS_INLINE void ms_jacobi_body(const double *g, Py_ssize_t n, Py_ssize_t k,
                                                Py_ssize_t m, double *out, double eps,
                                                double *work, Py_ssize_t *dst) {
        Py_ssize_t i, p, q;
        /* A is G (rows >= columns) or G^T, column-major: where element e of G goes in A. */
        for (i = 0; i < k; i++)
            for (p = 0; p < m; p++)
                dst[i * m + p] = k >= m ? p * k + i : i * m + p;
        for (q = 0; q < n; q += MS_LANES)
            ms_jacobi_block(g + q * k * m, n - q < MS_LANES ? n - q : MS_LANES, k, m, out + q,
                            eps, work, dst);
    }
    static void ms_jacobi_generic(const double *g, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m,
                                  double *out, double eps, double *work, Py_ssize_t *dst) {
        ms_jacobi_body(g, n, k, m, out, eps, work, dst);
    }
    /* Built for AVX2 and AVX-512 too where the compiler can, and picked at run time by what
       the CPU (and the OS) supports: the wheels stay portable, with no -march. The guard is the
       LU's: GCC on x86-64 glibc. Apple's clang lowers __builtin_cpu_supports to a symbol its
       runtime lacks (the module would not import), and MinGW cannot align AVX spills. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
    #define MS_JACOBI_ISAS 3
    __attribute__((target("avx2")))
    static void ms_jacobi_avx2(const double *g, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m,
                               double *out, double eps, double *work, Py_ssize_t *dst) {
        ms_jacobi_body(g, n, k, m, out, eps, work, dst);
    }
    __attribute__((target("avx512f")))
    static void ms_jacobi_avx512(const double *g, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m,
                                 double *out, double eps, double *work, Py_ssize_t *dst) {
        ms_jacobi_body(g, n, k, m, out, eps, work, dst);
    }
    static int ms_jacobi_isa(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") ? 3 : __builtin_cpu_supports("avx2") ? 2 : 1;
    }
    #else
    #define MS_JACOBI_ISAS 1
    static int ms_jacobi_isa(void) { return 1; }
    #endif
    /* isa: 1 generic, 2 AVX2, 3 AVX-512 (at most what ms_jacobi_isa() says). */
    static void ms_jacobi_cond(const double *g, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m,
                               double *out, double eps, int isa, double *work, Py_ssize_t *dst) {
    #if MS_JACOBI_ISAS > 1
        if (isa >= 3) {
            ms_jacobi_avx512(g, n, k, m, out, eps, work, dst);
            return;
        }
        if (isa == 2) {
            ms_jacobi_avx2(g, n, k, m, out, eps, work, dst);
            return;
        }
    #endif
        ms_jacobi_generic(g, n, k, m, out, eps, work, dst);
    }
    """
    enum: MS_LANES
    enum: MS_JACOBI_COLS
    int ms_jacobi_isa() nogil
    void ms_jacobi_cond(const double* g, Py_ssize_t n, Py_ssize_t k, Py_ssize_t m, double* out,
                        double eps, int isa, double* work, Py_ssize_t* dst) nogil


# The widest instruction set the CPU offers the batched Jacobi: 1 generic, 2 AVX2, 3 AVX-512.
_JACOBI_ISA = ms_jacobi_isa()
# A last block of fewer matrices than this goes one by one: a block costs about as much as
# MS_LANES / 4 matrices by the scalar routine (measured at 3 x 3 to 6 x 6 with AVX2).
cdef Py_ssize_t _SCALAR_TAIL = 4


def _cond_small(const double[:, :, ::1] g, int isa=-1):
    """Condition numbers of a stack of small matrices (at most MAXSMALL x MAXSMALL).

    isa: -1 the best batched build (the scalar routine for a short last block), 0 the scalar
    routine throughout, 1-3 one batched build for every matrix (the tests compare them: they
    must agree to the last bit).
    """
    cdef Py_ssize_t q, n = g.shape[0], k = g.shape[1], m = g.shape[2], nb = n
    cdef char* buf
    cdef double* work
    cdef Py_ssize_t* dst
    out_a = np.empty(n)
    cdef double[::1] out = out_a
    if n == 0:
        return out_a
    if k * m == 0:  # condition_number sends these to the reference; so does this
        return np.asarray(_ref().condition_number(np.asarray(g)), dtype=np.float64).reshape(n)
    if max(k, m) > MAXSMALL or max(k, m) > MS_JACOBI_COLS:  # ms_jacobi_block's arrays hold 16 columns
        raise ValueError(f"matrices up to {MAXSMALL} x {MAXSMALL} only")
    if isa < 0:
        isa = _JACOBI_ISA
        if n % MS_LANES < _SCALAR_TAIL:
            nb = n - n % MS_LANES
    elif isa == 0:
        nb = 0
    elif isa > _JACOBI_ISA:
        raise ValueError(f"this CPU runs the batched Jacobi up to isa={_JACOBI_ISA}")
    # 64 bytes of slack: the lanes of each element start on a cache line (a whole AVX-512 load).
    buf = <char*> malloc(k * m * MS_LANES * sizeof(double) + 64)
    dst = <Py_ssize_t*> malloc(k * m * sizeof(Py_ssize_t))
    if buf == NULL or dst == NULL:
        free(buf)
        free(dst)
        raise MemoryError()
    work = <double*> (buf + (64 - <size_t> buf % 64))
    with nogil:
        if nb > 0:
            ms_jacobi_cond(&g[0, 0, 0], nb, k, m, &out[0], _EPS, isa, work, dst)
        for q in range(nb, n):
            out[q] = _jacobi_cond(&g[q, 0, 0], k, m)
    free(buf)
    free(dst)
    return out_a


def _finite_matrices(const double[:, :, ::1] g):
    """1 for each matrix of the stack that holds only finite values, else 0 (one pass)."""
    cdef Py_ssize_t q, e, size = g.shape[1] * g.shape[2]
    cdef const double* a
    cdef unsigned char ok
    out_a = np.ones(g.shape[0], dtype=np.uint8)
    cdef unsigned char[::1] out = out_a
    if size == 0:
        return out_a
    with nogil:
        for q in range(g.shape[0]):
            a = &g[q, 0, 0]
            ok = 1
            for e in range(size):  # x - x is 0 for a finite x, NaN for NaN and inf: no branch
                ok = ok & ((a[e] - a[e]) == 0.0)
            out[q] = ok
    return out_a


def _in_chunks(fn, Py_ssize_t n, Py_ssize_t cost):
    """[fn(lo, hi) for each chunk of range(n)], on this thread and helper threads.

    cost: the work of one item, in flops. Chunks are claimed from a shared counter, and the
    first result delivered for a chunk is kept. When none is left to claim, this thread waits
    for a chunk a helper claimed for at most the time a chunk took it (a helper that is running
    needs no more), then computes the chunk itself: on a loaded machine a helper may be waiting
    for a core, and the caller never waits long for it. NumPy's linear algebra releases the GIL, so the helpers run in parallel.
    """
    import _thread
    import itertools
    import threading
    import time

    cdef Py_ssize_t nthreads = min(_cpus(), 8)
    # About 2e7 flops (a few milliseconds) before a second thread pays for itself, then
    # eight chunks per thread, so a late helper costs at most a small part of the work.
    if nthreads < 2 or n * cost < 20_000_000:
        return [fn(0, n)]
    nchunk = min(n, 8 * nthreads)
    bounds = [(n * c // nchunk, n * (c + 1) // nchunk) for c in range(nchunk)]
    results = [None] * nchunk
    delivered = [threading.Event() for _ in range(nchunk)]
    claims = itertools.count()  # next() on it is atomic under the GIL

    def work():
        spent, done = 0.0, 0
        c = next(claims)
        while c < nchunk:
            t0 = time.perf_counter()
            r = fn(*bounds[c])
            spent += time.perf_counter() - t0
            done += 1
            if results[c] is None:
                results[c] = r
                delivered[c].set()
            c = next(claims)
        return spent / max(done, 1)

    for _ in range(nthreads - 1):
        _thread.start_new_thread(work, ())
    per_chunk = work()
    for c in range(nchunk):
        if results[c] is None and not delivered[c].wait(per_chunk):
            results[c] = fn(*bounds[c])
    return list(results)


def _cond_lapack(flat):
    """Condition numbers of a stack of larger matrices: NumPy's SVD (values only), in chunks."""
    ref = _ref()
    n, k, m = flat.shape
    cut = ref._singular_cutoff(k, m)

    def chunk(lo, hi):
        g = flat[lo:hi]
        finite = _finite_matrices(g).view(bool)
        if not finite.all():  # rare: LAPACK is never handed a NaN or inf
            g = np.where(finite[:, None, None], g, 0.0)
        # G^T has G's singular values, and its matrices' columns are contiguous rows of G:
        # NumPy copies each matrix to column-major order for LAPACK, now without a stride.
        sv = np.linalg.svd(np.swapaxes(g, -1, -2), compute_uv=False)
        smax, smin = sv[:, 0], sv[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(smin <= cut * smax, np.inf, smax / smin)
        out[~finite] = np.nan
        return out

    # NOTE: from about 32 x 32 OpenBLAS threads the products inside the SVD itself, and helper
    # threads calling it at once were slower than one caller (measured at 60 x 60).
    if max(k, m) >= 32:
        return chunk(0, n)
    parts = _in_chunks(chunk, n, 9 * k * m * min(k, m))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


cdef void _rga_finish(const double[:, :, ::1] g, const double[:, :, ::1] inv,
                      const unsigned char[::1] finite, double[:, :, ::1] out,
                      unsigned char[::1] singular, Py_ssize_t off) noexcept nogil:
    # out[q] = g[q] o inv[q]^T and the reference's singularity rule, kappa_1 = ||G||_1 ||G^-1||_1
    # > 1 / (k eps), in one pass; a matrix with a NaN or inf gets NaN (its inverse was not
    # computed from it). Column sums are accumulated row by row, along contiguous memory.
    cdef Py_ssize_t q, i, j, k = g.shape[1]
    cdef double ng, ni
    cdef const double* gq
    cdef const double* iq
    cdef double* oq
    cdef double* cs = <double*> malloc(2 * k * sizeof(double))
    for q in range(inv.shape[0]):
        gq = &g[off + q, 0, 0]
        iq = &inv[q, 0, 0]
        oq = &out[off + q, 0, 0]
        if not finite[off + q]:
            for i in range(k * k):
                oq[i] = NAN
            continue
        memset(cs, 0, 2 * k * sizeof(double))
        for i in range(k):
            for j in range(k):
                cs[j] += fabs(gq[i * k + j])
                cs[k + j] += fabs(iq[i * k + j])
        ng = 0.0
        ni = 0.0
        for j in range(k):
            ng = max(ng, cs[j])
            ni = max(ni, cs[k + j])
        singular[off + q] = not (ng * ni <= 1.0 / (k * _EPS))
        for i in range(k):
            for j in range(k):
                oq[i * k + j] = gq[i * k + j] * iq[j * k + i]
    free(cs)


def _rga_lapack(flat):
    """RGA of a stack of larger square matrices: NumPy's inverse, in chunks, and one fused pass."""
    n, k, _ = flat.shape
    eye = np.eye(k)
    finite = _finite_matrices(flat)
    fine = bool(finite.all())

    def chunk(lo, hi):
        g = flat[lo:hi]
        if not fine:  # rare: LAPACK is never handed a NaN or inf
            g = np.where(finite[lo:hi, None, None].view(bool), g, eye)
        try:
            return np.linalg.inv(g), np.zeros(hi - lo, dtype=bool)
        except np.linalg.LinAlgError:  # an exact zero pivot somewhere: one by one
            inv = np.full(g.shape, np.nan)
            exact = np.zeros(hi - lo, dtype=bool)
            for q in range(hi - lo):
                try:
                    inv[q] = np.linalg.inv(g[q])
                except np.linalg.LinAlgError:
                    exact[q] = True
            return inv, exact

    parts = _in_chunks(chunk, n, 3 * k * k * k)
    out = np.empty_like(flat)
    singular = np.zeros(n, dtype=np.uint8)
    cdef Py_ssize_t off = 0
    for inv, exact in parts:
        _rga_finish(flat, inv, finite, out, singular, off)
        singular[off:off + len(inv)] |= exact
        off += len(inv)
    bad = singular.view(bool) & finite.view(bool)
    if bad.any():  # rare: the reference's pseudo-inverse
        out[bad] = _ref().rga(flat[bad])
    return out


def condition_number(g):
    """2-norm condition number of G or of a stack (see reference)."""
    ga = np.asarray(g, dtype=np.float64)
    if ga.ndim < 2:
        raise ValueError("g must be a matrix or a stack of matrices (... x k x m)")
    k, m = ga.shape[-2:]
    if min(k, m) == 0:
        return _ref().condition_number(ga)
    flat = np.ascontiguousarray(ga.reshape(-1, k, m))
    if max(k, m) > MAXSMALL:
        out = _cond_lapack(flat)
    else:
        # Helper threads (see _in_chunks), not an OpenMP team: a team's statically split half
        # on a thread that waits for a core held the whole call on a loaded machine.
        parts = _in_chunks(lambda lo, hi: _cond_small(flat[lo:hi]), flat.shape[0], 20 * k * m * min(k, m))
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    out = out.reshape(ga.shape[:-2])
    return float(out) if out.ndim == 0 else out


cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    /* Built twice where the compiler can (GCC on x86-64 with glibc, whose ifuncs pick one when
       the module loads): for Haswell and later (AVX2: four doubles per instruction in the row
       loops) and for any x86-64. The same operations in the same order either way (no FMA:
       ISO C mode contracts nothing). */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
    #define MS_CLONES __attribute__((target_clones("arch=haswell", "default")))
    #else
    #define MS_CLONES
    #endif
    /* L = G o (G^-1)^T via LU with partial pivoting, G row-major k x k; 0 when G is singular
       at working precision by the reference's rule (a zero pivot, or ||G||_1 ||G^-1||_1 >
       1 / (k eps)), the caller then uses the reference's pseudo-inverse; all NaN (and 1) when G
       holds a NaN or inf. scratch: 2 k^2 + 4 k doubles. */
    MS_CLONES
    static int ms_lu_rga(const double *g, Py_ssize_t k, double *out, double *scratch, double eps) {
        double *lu = scratch, *inv = lu + k * k, *csum = inv + k * k;
        Py_ssize_t *perm = (Py_ssize_t *) (csum + 2 * k), *ip = perm + k;
        Py_ssize_t i, j, c, piv, tmp;
        double v, f, ng = 0.0, ni = 0.0;
        for (i = 0; i < k * k; i++) {
            if (!isfinite(g[i])) {
                for (j = 0; j < k * k; j++)
                    out[j] = NAN;
                return 1;
            }
            lu[i] = g[i];
        }
        for (i = 0; i < k; i++)
            perm[i] = i;
        for (c = 0; c < k; c++) {
            piv = c;
            for (i = c + 1; i < k; i++)
                if (fabs(lu[i * k + c]) > fabs(lu[piv * k + c]))
                    piv = i;
            if (lu[piv * k + c] == 0.0)
                return 0;
            if (piv != c) {
                for (j = 0; j < k; j++) {
                    v = lu[c * k + j];
                    lu[c * k + j] = lu[piv * k + j];
                    lu[piv * k + j] = v;
                }
                tmp = perm[c];
                perm[c] = perm[piv];
                perm[piv] = tmp;
            }
            for (i = c + 1; i < k; i++) {
                double *row = lu + i * k;
                const double *top = lu + c * k;
                f = row[c] / top[c];
                row[c] = f;
                for (j = c + 1; j < k; j++)
                    row[j] -= f * top[j];
            }
        }
        /* With P G = L U (row c of P G is row perm[c] of G): G^-1 = U^-1 L^-1 P, so
           Z = U^-1 L^-1 holds G^-1 with its columns permuted, G^-1[r, perm[c]] = Z[r, c].
           L^-1 is unit lower triangular, so its rows stop at the diagonal (a sixth of k^3
           multiply-adds, not half); U^-1 then goes a row at a time from the bottom. Every inner
           loop runs along a row. */
        /* Four source rows per pass over a row: a load and a store of it for four updates. */
        for (i = 0; i < k; i++) {
            double *row = inv + i * k;
            const double *l = lu + i * k;
            memset(row, 0, k * sizeof(double));
            row[i] = 1.0;
            for (c = 0; c + 4 <= i; c += 4) {
                /* rows c .. c + 3 of L^-1 are 0 past their diagonal, so all four end at c + 3 */
                const double *s0 = inv + c * k, *s1 = s0 + k, *s2 = s1 + k, *s3 = s2 + k;
                double f0 = l[c], f1 = l[c + 1], f2 = l[c + 2], f3 = l[c + 3];
                for (j = 0; j <= c + 3; j++)
                    row[j] -= (f0 * s0[j] + f1 * s1[j]) + (f2 * s2[j] + f3 * s3[j]);
            }
            for (; c < i; c++) {
                const double *src = inv + c * k;
                f = l[c];
                for (j = 0; j <= c; j++)
                    row[j] -= f * src[j];
            }
        }
        for (i = k - 1; i >= 0; i--) {
            double *row = inv + i * k;
            const double *u = lu + i * k;
            for (c = i + 1; c + 4 <= k; c += 4) {
                const double *s0 = inv + c * k, *s1 = s0 + k, *s2 = s1 + k, *s3 = s2 + k;
                double f0 = u[c], f1 = u[c + 1], f2 = u[c + 2], f3 = u[c + 3];
                for (j = 0; j < k; j++)
                    row[j] -= (f0 * s0[j] + f1 * s1[j]) + (f2 * s2[j] + f3 * s3[j]);
            }
            for (; c < k; c++) {
                const double *src = inv + c * k;
                f = u[c];
                for (j = 0; j < k; j++)
                    row[j] -= f * src[j];
            }
            f = lu[i * k + i];
            for (j = 0; j < k; j++)
                row[j] /= f;
        }
        /* 1-norms, the largest absolute column sums (Z's columns are G^-1's, permuted). */
        for (j = 0; j < 2 * k; j++)
            csum[j] = 0.0;
        for (i = 0; i < k; i++)
            for (j = 0; j < k; j++) {
                csum[j] += fabs(g[i * k + j]);
                csum[k + j] += fabs(inv[i * k + j]);
            }
        for (j = 0; j < k; j++) {
            ng = csum[j] > ng ? csum[j] : ng;
            ni = csum[k + j] > ni ? csum[k + j] : ni;
        }
        if (!(ng * ni <= 1.0 / (k * eps)))
            return 0;
        for (c = 0; c < k; c++)
            ip[perm[c]] = c;
        for (i = 0; i < k; i++)  /* out[i, j] = g[i, j] G^-1[j, i] = g[i, j] Z[j, ip[i]] */
            for (j = 0; j < k; j++)
                out[i * k + j] = g[i * k + j] * inv[j * k + ip[i]];
        return 1;
    }
    """
    bint ms_lu_rga(const double* g, Py_ssize_t k, double* out, double* scratch, double eps) nogil


cdef inline bint _lu_rga(const double* g, Py_ssize_t k, double* out, double* scratch) noexcept nogil:
    # See ms_lu_rga. NOTE: scratch, not arrays on the stack sized for the largest k: such a
    # frame is probed page by page on every call, which cost 3 x 3 matrices 40%.
    return ms_lu_rga(g, k, out, scratch, _EPS)


cdef bint _lu_rga_tiny(const double* g, Py_ssize_t k, double* out) noexcept nogil:
    # _lu_rga for k <= MAXTINY, on small arrays on the stack, solving a column at a time:
    # L = G o (G^-1)^T via LU with partial pivoting; False when G is singular at working
    # precision by the reference's rule (a zero pivot, or ||G||_1 ||G^-1||_1 > 1 / (k eps));
    # the caller then uses the reference's pseudo-inverse.
    cdef double lu[MAXTINY * MAXTINY]
    cdef double inv[MAXTINY * MAXTINY]
    cdef Py_ssize_t perm[MAXTINY]
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


def _rga_small(const double[:, :, ::1] g):
    """RGA of a stack of square matrices up to MAXLU, and a flag for each numerically singular one."""
    cdef Py_ssize_t q, k = g.shape[1]
    cdef double* scratch
    out_a = np.empty((g.shape[0], k, k))
    singular_a = np.zeros(g.shape[0], dtype=np.uint8)
    cdef double[:, :, ::1] out = out_a
    cdef unsigned char[::1] singular = singular_a
    with nogil:
        scratch = <double*> malloc((2 * k * k + 4 * k) * sizeof(double))
        for q in range(g.shape[0]):
            if k <= MAXTINY:
                singular[q] = not _lu_rga_tiny(&g[q, 0, 0], k, &out[q, 0, 0])
            else:
                singular[q] = not _lu_rga(&g[q, 0, 0], k, &out[q, 0, 0], scratch)
        free(scratch)
    return out_a, singular_a


def rga(g):
    """Relative gain array G o (G^-1)^T of G or of a stack (see reference)."""
    ga = np.asarray(g, dtype=np.float64)
    if ga.ndim < 2:
        raise ValueError("g must be a matrix or a stack of matrices (... x k x m)")
    k, m = ga.shape[-2:]
    if k != m or k == 0:
        return _ref().rga(ga)
    flat = np.ascontiguousarray(ga.reshape(-1, k, k))
    if k > MAXLU:
        return _rga_lapack(flat).reshape(ga.shape)
    # NOTE: one thread from 32 x 32: helpers there met OpenBLAS's threads, still spinning on the
    # other core after NumPy's last product, and were slower than one thread (measured at 60 x 60).
    parts = _in_chunks(lambda lo, hi: _rga_small(flat[lo:hi]), flat.shape[0],
                       3 * k * k * k + 20 * k * k if k < 32 else 0)
    if len(parts) == 1:
        out, singular = parts[0]
    else:
        out = np.concatenate([p[0] for p in parts])
        singular = np.concatenate([p[1] for p in parts])
    bad = singular.view(bool)
    if bad.any():  # rare: the reference's pseudo-inverse
        out[bad] = _ref().rga(flat[bad])
    return out.reshape(ga.shape)


# --------------------------------------------------------------------------- pairs of rows


cdef inline double _dot(const double* a, const double* b, Py_ssize_t T) noexcept nogil:
    # four running sums: the loop is load-bound, and one sum's dependency chain would serialize it
    cdef Py_ssize_t t = 0
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    while t + 4 <= T:
        s0 += a[t] * b[t]
        s1 += a[t + 1] * b[t + 1]
        s2 += a[t + 2] * b[t + 2]
        s3 += a[t + 3] * b[t + 3]
        t += 4
    while t < T:
        s0 += a[t] * b[t]
        t += 1
    return (s0 + s1) + (s2 + s3)


def pair_dots(v, i, j):
    """out[m, p] = sum_t v[m, i[p], t] * v[m, j[p], t] (see reference)."""
    cdef const double[:, :, ::1] v_ = np.ascontiguousarray(v, dtype=np.float64)
    cdef const Py_ssize_t[::1] i_ = np.ascontiguousarray(i, dtype=np.intp)
    cdef const Py_ssize_t[::1] j_ = np.ascontiguousarray(j, dtype=np.intp)
    if v_.ndim != 3 or i_.shape[0] != j_.shape[0] or np.ndim(i) != 1 or np.ndim(j) != 1:
        raise ValueError("v must be (M, K, T) and i, j two index vectors of one length")
    cdef Py_ssize_t M = v_.shape[0], K = v_.shape[1], T = v_.shape[2], P = i_.shape[0], m, p
    if P and (min(np.min(i), np.min(j)) < 0 or max(np.max(i), np.max(j)) >= K):
        raise ValueError("a pair's row index is outside v")
    out = np.zeros((M, P))
    if M == 0 or P == 0 or T == 0:
        return out
    cdef double[:, ::1] o = out
    for m in prange(M, nogil=True, schedule="static", num_threads=_nt(<double> M * P * T)):
        for p in range(P):
            o[m, p] = _dot(&v_[m, i_[p], 0], &v_[m, j_[p], 0], T)
    return out


# --------------------------------------------------------------------------- simulated runs
# reference.path_run_rates without the paths: each (model, unit) walks its M paths period by
# period, keeping each path's run of periods past the threshold; x is updated with the
# reference's operations in its order (no FMA: ext/meson.build), so every comparison, and so
# every count, is the reference's.

cdef extern from *:
    """
    /* One (model, unit): its M paths walked period by period. run[m] counts the periods in a row
       past the threshold up to t (at t < n - 1 it is below n, so counting run >= n counts exactly
       the periods t >= n - 1 that held), as doubles so the loop over paths vectorises (every
       value a small whole number, exact): run = (run + 1) * held, 0 exactly when not held.
       Built for AVX-512, AVX2 and any x86-64 where the compiler can (GCC on x86-64 glibc, whose
       ifuncs pick one when the module loads): the same operations in the same order each way
       (-ffp-contract=off: no multiply-add fused), so the same values and comparisons. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
    #define MS_RUNS_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
    #else
    #define MS_RUNS_CLONES
    #endif
    /* Paths in blocks of L lanes, each block's state kept in registers over the H periods (a
       period's update is a chain of five operations: many independent lanes hide its latency);
       blocks of 32, then of 8, then the last paths one by one. */
    #define MS_RUNS_BLOCK(L, CMP, DRIFT)                                                   \
        for (; m0 + (L) <= M; m0 += (L)) {                                                 \
            double xb[L], rb[L], cb[L];                                                    \
            for (l = 0; l < (L); l++) {                                                    \
                xb[l] = last;                                                              \
                rb[l] = 0.0;                                                               \
                cb[l] = 0.0;                                                               \
            }                                                                              \
            for (t = 0; t < H; t++) {                                                      \
                const double *z = zt + t * M + m0;                                         \
                for (l = 0; l < (L); l++) {                                                \
                    double v = mean + phi * (xb[l] - mean) DRIFT + sigma * z[l];           \
                    xb[l] = v;                                                             \
                    rb[l] = (rb[l] + 1.0) * ((v CMP threshold) ? 1.0 : 0.0);               \
                    cb[l] += (rb[l] >= n) ? 1.0 : 0.0;                                     \
                }                                                                          \
            }                                                                              \
            for (l = 0; l < (L); l++)                                                      \
                total += cb[l];                                                            \
        }
    #define MS_RUNS_STEP(CMP, DRIFT)  \
        MS_RUNS_BLOCK(32, CMP, DRIFT) \
        MS_RUNS_BLOCK(8, CMP, DRIFT)  \
        MS_RUNS_BLOCK(1, CMP, DRIFT)
    /* Without a drift (most models) its addition is left out: x + 0.0 is x but for the sign of
       a zero, which no comparison sees and which every later value carries at most as the sign
       of a zero again, so every comparison, and every count, is the one with the addition. */
    #define MS_RUNS_OPS(DRIFT)         \
        if (op == 0) {                 \
            MS_RUNS_STEP(<, DRIFT)     \
        } else if (op == 1) {          \
            MS_RUNS_STEP(<=, DRIFT)    \
        } else if (op == 2) {          \
            MS_RUNS_STEP(>, DRIFT)     \
        } else {                       \
            MS_RUNS_STEP(>=, DRIFT)    \
        }
    MS_RUNS_CLONES
    static double ms_runs_one(double last, double mean, double phi, double sigma, double drift,
                              const double *zt, Py_ssize_t M, Py_ssize_t H, double threshold, int op,
                              double n) {
        Py_ssize_t m0 = 0, t, l;
        double total = 0.0;  /* a sum of whole numbers: exact in any order */
        if (drift == 0.0) {
            MS_RUNS_OPS()
        } else {
            MS_RUNS_OPS(+ drift)
        }
        return total / (double) (M * (H - (Py_ssize_t) n + 1));
    }
    """
    double ms_runs_one(double last, double mean, double phi, double sigma, double drift, const double* zt,
                       Py_ssize_t M, Py_ssize_t H, double threshold, int op, double n) noexcept nogil


_RUN_OPS = ("<", "<=", ">", ">=")


def path_run_rates(last, mean, phi, sigma, drift, z, double threshold, str op, Py_ssize_t n):
    # shapes checked and broadcast as the reference has them (a short array was read past its end);
    # arrays already of their shapes skip the reference's checks (a bootstrap calls this often)
    phi, sigma, drift, mean = (np.asarray(a) for a in (phi, sigma, drift, mean))
    if not (n >= 1 and op in _RUN_OPS and phi.ndim == 1 and sigma.shape == phi.shape and drift.shape == phi.shape
            and np.ndim(last) == 1 and mean.shape == (phi.shape[0], np.shape(last)[0]) and np.ndim(z) == 2):
        last, mean, phi, sigma, drift, z = _ref().run_rate_arrays(last, mean, phi, sigma, drift, z, op, n)
    last = np.ascontiguousarray(last, dtype=np.float64)
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    mean = np.where(np.isnan(mean), 0.0, mean)
    phi, sigma, drift = (np.ascontiguousarray(a, dtype=np.float64) for a in (phi, sigma, drift))
    z = np.asarray(z, dtype=np.float64)
    cdef const double[::1] last_ = last
    cdef const double[:, ::1] mean_ = mean
    cdef const double[::1] phi_ = phi
    cdef const double[::1] sigma_ = sigma
    cdef const double[::1] drift_ = drift
    cdef const double[:, ::1] zt = np.ascontiguousarray(z.T)
    cdef Py_ssize_t B = phi_.shape[0], U = last_.shape[0], M = zt.shape[1], H = zt.shape[0]
    cdef int code = {"<": 0, "<=": 1, ">": 2, ">=": 3}[op]
    out = np.zeros((B, U))
    if H < n or M == 0 or B == 0 or U == 0:
        return out
    cdef double[:, ::1] out_ = out
    cdef Py_ssize_t b, u, nt = _nt(<double>B * U * M * H)
    cdef const double* zp = &zt[0, 0]
    with nogil, parallel(num_threads=nt):
        for b in prange(B, schedule="static"):
            for u in range(U):
                out_[b, u] = ms_runs_one(last_[u], mean_[b, u], phi_[b], sigma_[b], drift_[b], zp, M, H, threshold,
                                         code, <double>n)
    return out


def path_run_rates_rows(last, mean, phi, sigma, drift, threshold, op, n, z):
    # each row one (model, unit) of any series: ms_runs_one per row, as path_run_rates has it
    last, mean, phi, sigma, drift, threshold, op, n, z = _ref().run_rows_arrays(last, mean, phi, sigma, drift,
                                                                                threshold, op, n, z)
    cdef const double[::1] last_ = last
    cdef const double[::1] mean_ = mean
    cdef const double[::1] phi_ = phi
    cdef const double[::1] sigma_ = sigma
    cdef const double[::1] drift_ = drift
    cdef const double[::1] thr_ = threshold
    cdef const signed char[::1] op_ = op
    cdef const long long[::1] n_ = n
    cdef const double[:, ::1] zt = np.ascontiguousarray(z.T)
    cdef Py_ssize_t R = last_.shape[0], M = zt.shape[1], H = zt.shape[0], r
    out = np.zeros(R)
    if M == 0 or R == 0:
        return out
    cdef double[::1] out_ = out
    cdef const double* zp = &zt[0, 0]
    cdef Py_ssize_t nt = _nt(<double>R * M * H)
    # dynamic: when the other core is busy, the free thread takes the rows the stalled one would
    # have waited for (a row's rate is its own, whichever thread makes it)
    with nogil, parallel(num_threads=nt):
        for r in prange(R, schedule="dynamic", chunksize=64):
            if H >= n_[r]:
                out_[r] = ms_runs_one(last_[r], mean_[r], phi_[r], sigma_[r], drift_[r], zp, M, H, thr_[r],
                                      op_[r], <double>n_[r])
    return out


def ar1_fill_many(double[:, :, :, ::1] x, mean, phi, drift, sigma, e):
    cdef const double[:, ::1] mean_ = np.ascontiguousarray(mean, dtype=np.float64)
    cdef const double[::1] phi_ = np.ascontiguousarray(phi, dtype=np.float64)
    cdef const double[::1] drift_ = np.ascontiguousarray(drift, dtype=np.float64)
    cdef const double[::1] sigma_ = np.ascontiguousarray(sigma, dtype=np.float64)
    cdef const double[:, :, ::1] e_ = np.ascontiguousarray(e, dtype=np.float64)
    cdef Py_ssize_t k, b, i, u, K = x.shape[0], B = x.shape[1], T = x.shape[2], U = x.shape[3]
    if (mean_.shape[0] != K or mean_.shape[1] != U or phi_.shape[0] != K or drift_.shape[0] != K
            or sigma_.shape[0] != K or e_.shape[0] != B or e_.shape[1] != T or e_.shape[2] != U):
        raise ValueError("ar1_fill_many: x (K, B, T, U), mean (K, U), phi, drift, sigma (K,) and e (B, T, U)")
    cdef double p, d, s
    # period by period, the replicates side by side: each is its own chain of dependent
    # updates, and many chains at once keep the core busy (ar1_fill's order waits on each);
    # the models on the OpenMP team's threads (each writes its own x[k] only)
    with nogil, parallel(num_threads=_nt(<double>K * B * T * U)):
        for k in prange(K, schedule="dynamic"):
            p = phi_[k]
            d = drift_[k]
            s = sigma_[k]
            for i in range(1, T):
                for b in range(B):
                    for u in range(U):
                        x[k, b, i, u] = mean_[k, u] + p * (x[k, b, i - 1, u] - mean_[k, u]) + d + s * e_[b, i, u]
    return np.asarray(x)


def ar1_fill(double[:, :, ::1] x, mean, double phi, double drift, double sigma, e):
    cdef const double[::1] mean_ = np.ascontiguousarray(mean, dtype=np.float64)
    cdef const double[:, :, ::1] e_ = np.ascontiguousarray(e, dtype=np.float64)
    cdef Py_ssize_t b, i, u, B = x.shape[0], T = x.shape[1], U = x.shape[2]
    with nogil:
        for b in range(B):
            for i in range(1, T):
                for u in range(U):
                    x[b, i, u] = mean_[u] + phi * (x[b, i - 1, u] - mean_[u]) + drift + sigma * e_[b, i, u]
    return np.asarray(x)


cdef extern from *:
    """
    /* NumPy's pairwise sum of n contiguous doubles (add.reduce's order: eight partial sums in
       blocks of at most 128, halves above that), so a sum here has the bits of NumPy's. */
    static double ms_pairwise(const double *a, Py_ssize_t n) {
        Py_ssize_t i, n2;
        double r[8], res;
        if (n < 8) {
            res = 0.0;
            for (i = 0; i < n; i++)
                res += a[i];
            return res;
        }
        if (n <= 128) {
            for (i = 0; i < 8; i++)
                r[i] = a[i];
            for (i = 8; i < n - (n % 8); i += 8) {
                r[0] += a[i + 0]; r[1] += a[i + 1]; r[2] += a[i + 2]; r[3] += a[i + 3];
                r[4] += a[i + 4]; r[5] += a[i + 5]; r[6] += a[i + 6]; r[7] += a[i + 7];
            }
            res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++)
                res += a[i];
            return res;
        }
        n2 = n / 2;
        n2 -= n2 % 8;
        return ms_pairwise(a, n2) + ms_pairwise(a + n2, n - n2);
    }
    """
    double ms_pairwise(const double* a, Py_ssize_t n) noexcept nogil


cdef void _fit_one(const double* x, Py_ssize_t T, double walk_phi, double* w, double* out) noexcept nogil:
    # serial._fit_arrays on one complete series (one unit), its NumPy operations in their order:
    # out = phi, sigma, drift, mean; w: scratch of 3 (T - 1) doubles
    cdef Py_ssize_t i, m = T - 1
    cdef double* a = w
    cdef double* b = w + m
    cdef double* s = w + 2 * m
    cdef double mean, sxx, phi, per_unit, dm, dsd, drift, sigma
    cdef double n = <double>m
    cdef double n1 = <double>(m if m > 1 else 1)
    cdef double nm1 = <double>(m - 1 if m - 1 > 1 else 1)
    cdef double nm2 = <double>(m - 2 if m - 2 > 1 else 1)
    mean = ms_pairwise(x, T) / <double>(T if T > 1 else 1)
    for i in range(m):
        a[i] = x[i] - mean
        b[i] = x[i + 1] - mean
    for i in range(m):
        s[i] = a[i] * a[i]
    sxx = ms_pairwise(s, m)
    for i in range(m):
        s[i] = a[i] * b[i]
    phi = ms_pairwise(s, m) / sxx if sxx > 0 else 0.0
    per_unit = n if n > 1 else 1.0  # n / units, units = 1
    phi = phi + (1 + 3 * phi) / per_unit
    phi = -0.95 if phi < -0.95 else (1.0 if phi > 1.0 else phi)
    for i in range(m):
        s[i] = x[i + 1] - x[i]
    dm = ms_pairwise(s, m) / n1
    for i in range(m):
        s[i] = (x[i + 1] - x[i] - dm) * (x[i + 1] - x[i] - dm)
    dsd = sqrt(ms_pairwise(s, m) / nm1)
    drift = dm if (phi >= walk_phi and fabs(dm) > 2 * dsd / sqrt(n1)) else 0.0
    if phi >= walk_phi:
        for i in range(m):
            s[i] = (x[i + 1] - x[i] - drift) * (x[i + 1] - x[i] - drift)
        sigma = sqrt(ms_pairwise(s, m) / nm1)
    else:
        for i in range(m):
            s[i] = (b[i] - phi * a[i]) * (b[i] - phi * a[i])
        sigma = sqrt(ms_pairwise(s, m) / nm2)
    out[0] = 1.0 if phi >= walk_phi else phi
    out[1] = sigma
    out[2] = drift
    out[3] = mean


def ar1_fit_complete(const double[:, :, ::1] x, double walk_phi):
    cdef Py_ssize_t B = x.shape[0], T = x.shape[1], U = x.shape[2], k
    if U != 1 or T < 2:
        return _ref().ar1_fit_complete(np.asarray(x), walk_phi)
    res = np.empty((4, B))
    cdef double[:, ::1] r = res
    # each series on its own (the OpenMP team's threads take series apart), each thread its own
    # scratch: 3 (T - 1) doubles and the 4 results
    cdef Py_ssize_t nt = _nt(<double>B * T), size = 3 * (T - 1) + 4
    cdef double* w = <double*>malloc(nt * size * sizeof(double))
    cdef double* o
    if w == NULL:
        raise MemoryError()
    with nogil, parallel(num_threads=nt):
        o = w + threadid() * size
        for k in prange(B, schedule="dynamic", chunksize=256):
            _fit_one(&x[k, 0, 0], T, walk_phi, o, o + size - 4)
            r[0, k] = o[size - 4]
            r[1, k] = o[size - 3]
            r[2, k] = o[size - 2]
            r[3, k] = o[size - 1]
    free(w)
    return res[0], res[1], res[2], res[3][:, None]
