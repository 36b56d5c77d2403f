"""Linear algebra of gain matrices on their nonzero entries: MS202's dependent combinations, and the
singular values and relative gains of large, sparse matrices (10,000 KPIs x 1,000 levers with two
declared gains per KPI hold 20,000 nonzeros in 10 million entries).

Only metricsense.evaluators.gains and metricsense.evaluators.decoupling use it; NumPy loads inside
the functions only.
"""

from __future__ import annotations

#: Pivot norms within this relative distance of the largest are tied, and the first row (KPI in spec
#: order) of the tie is picked: see ``pivot_rows``.
TIE = 1e-9

#: A row whose downdated squared norm fell below this share of the last one computed exactly has
#: lost most of its digits to cancellation: it is computed again before it is trusted as the largest.
LOST = 1e-2

#: A matrix of at least this many entries, more than a quarter of them nonzero, is multiplied by
#: BLAS in ``Nonzeros.times`` (the sums in another order: rounding only).
DENSE_PRODUCT = 100_000

#: Coefficients by one least-squares call (as before) while it costs at most this many multiply-adds;
#: beyond, through the triangular factor the pivoting built (see ``dependent_combinations``).
LSTSQ_WORK = 1e8


class Nonzeros:
    """The nonzero entries of a k x m matrix in row-major order (CSR-like): ``rows``, ``cols``,
    ``vals``, and ``indptr`` (row i's entries are ``indptr[i]:indptr[i + 1]``)."""

    __slots__ = ("shape", "rows", "cols", "vals", "indptr", "matrix")

    def __init__(self, g) -> None:
        import numpy as np

        g = np.asarray(g, dtype=float)
        self.shape = g.shape
        self.rows, self.cols = np.nonzero(g)
        self.vals = g[self.rows, self.cols]
        self.indptr = np.searchsorted(self.rows, np.arange(g.shape[0] + 1))
        # a large matrix that is mostly nonzero (gains estimated from data) is multiplied as it is
        self.matrix = g if g.size >= DENSE_PRODUCT and len(self.vals) > 0.25 * g.size else None

    @property
    def nnz(self) -> int:
        return len(self.vals)

    def dense(self, vals=None):
        """The k x m matrix with ``vals`` (default: the entries) at the nonzero positions."""
        import numpy as np

        out = np.zeros(self.shape)
        out[self.rows, self.cols] = self.vals if vals is None else vals
        return out

    def times(self, x):
        """G @ x for a vector x of length m: per row, the sum of its entries times x, in row order
        (a large, mostly nonzero matrix: BLAS's product)."""
        import numpy as np

        if self.matrix is not None:
            return self.matrix @ x
        return sums(self.rows, self.vals * x[self.cols], self.shape[0])


def sums(index, weights, n: int):
    """Per index 0..n-1, the sum of its weights in their order (floats even with no weight)."""
    import numpy as np

    return np.bincount(index, weights=weights, minlength=n).astype(float, copy=False)


def pivot_rows(nz: Nonzeros, rank: int):
    """Rows picked greedily, each the farthest from the span of those already picked (Gram-Schmidt
    with pivoting, as QR with column pivoting of G^T: Businger & Golub 1965), until ``rank`` are
    picked or none is left outside the span. Returns (picked, Q, L) with G[picked] = L Q, Q with
    orthonormal rows and L lower triangular with a positive diagonal.

    Left-looking: the squared distances of all rows are kept and downdated by c = G q after each
    pick (O(nonzeros) a step), and only the picked row's residual is built, against the rows of Q
    (classical Gram-Schmidt, again when the first pass removed more than half of the row: "twice is
    enough", Giraud, Langou & Rozloznik 2005). A downdated distance that has lost most of its size
    (below LOST of the value last computed exactly) has lost digits to cancellation: as LAPACK's
    dgeqp3 does (Drmac & Bujanovic 2008), it is computed again before it is trusted as the largest,
    and with it every other stale distance that may be the largest (one left at 0 by its downdate
    may truly be the farthest row).

    Ties: the distances within a relative TIE (1e-9) of the largest are tied, and the first row of
    the tie (the first KPI in spec order) is picked. Rows with equal gains, as a generated spec's,
    start with exactly equal norms; the rule makes the pick independent of the rounding of the
    update order, so another summation order picks the same rows unless two distances differ by
    less than TIE and not only by rounding.
    """
    import numpy as np

    k, m = nz.shape
    n = max(0, min(rank, k, m))
    rows, cols, vals, ptr = nz.rows, nz.cols, nz.vals, nz.indptr
    size = sums(rows, vals * vals, k)
    norms = size.copy()  # squared distances from the span of the picked rows, downdated
    exact = size.copy()  # each row's squared distance when last computed exactly
    q = np.zeros((n, m))
    low = np.zeros((n, n))
    picked: list[int] = []

    def residual(p: int, t: int):
        """Row p's residual against the first t rows of Q, its coefficients there, and its squared norm."""
        cp, vp = cols[ptr[p]:ptr[p + 1]], vals[ptr[p]:ptr[p + 1]]
        h = q[:t, cp] @ vp
        r = np.zeros(m)
        r[cp] = vp
        r -= h @ q[:t]
        e = float(r @ r)
        if e < 0.5 * size[p]:  # the first pass removed more than half of the row: once more
            h2 = q[:t] @ r
            r -= h2 @ q[:t]
            h += h2
            e = float(r @ r)
        return r, h, e

    for t in range(n):
        while True:
            top = norms.max(initial=-np.inf)
            p = int(np.argmax(norms >= top * (1.0 - TIE))) if top > 0 else -1
            if p < 0 or norms[p] < LOST * exact[p]:
                # the top is stale (or none is left): every stale distance that may be the largest
                # (its last exact value, an upper bound, reaches the top) is computed again, the
                # ones below the top too (a downdate may leave a distance of 1e-6 at 0)
                stale = np.flatnonzero((norms < LOST * exact) & (exact > 0) & (exact >= max(top, 0.0) * (1.0 - TIE)))
                if len(stale):
                    for j in stale.tolist():
                        norms[j] = exact[j] = residual(j, t)[2]
                    continue
                if p < 0:
                    return picked, q[:t], low[:t, :t]
            r, h, e = residual(p, t)
            break
        if not e > 0:
            return picked, q[:t], low[:t, :t]
        s = np.sqrt(e)
        q[t] = r / s
        low[t, :t] = h
        low[t, t] = s
        c = nz.times(q[t])
        norms -= c * c
        norms[p] = exact[p] = -np.inf  # picked
        picked.append(p)
    return picked, q, low


def _coefficients(g, nz: Nonzeros, picked: list[int], free, q, low, order):
    """The least-squares coefficients (free x rank) of each free row on the picked rows, the
    picked rows in ``order``."""
    import numpy as np

    t = len(picked)
    if not t:
        return np.zeros((len(free), 0))
    if t * t * len(free) <= LSTSQ_WORK:
        return np.linalg.lstsq(g[picked].T, g[free].T, rcond=None)[0].T[:, order]
    # G_B = L Q, so G_B^+ = Q^T L^-1 and coef_f = g_f Q^T L^-1: one m x t matrix P, then each free
    # row's few nonzeros times the rows of P (a sparse product, by blocks of rows that stay in cache).
    p = np.ascontiguousarray(np.linalg.solve(low.T, q).T[:, order])  # (m, t): L^T P^T = Q
    start, end = nz.indptr[free], nz.indptr[free + 1]
    if (end - start).max(initial=0) > 8:  # dense rows: one product
        return g[free] @ p
    out = np.zeros((len(free), t))
    step = 256
    for a in range(0, len(free), step):
        s, e, block = start[a:a + step], end[a:a + step], out[a:a + step]
        for j in range(int((e - s).max(initial=0))):
            has = np.flatnonzero(e - s > j)
            at = s[has] + j
            part = p[nz.cols[at]]
            part *= nz.vals[at, None]
            if len(has) == len(block):
                block += part
            else:
                block[has] += part
    return out


def dependent_combinations(g, rank: int, limit: int | None = None, tol: float = 1e-9) -> list:
    """Weight vectors w with w @ G = 0 (the left null space of G), as sparse as this finds, fewest KPIs first.

    The rows of G (KPIs) are picked by ``pivot_rows`` (the farthest from the span of those already
    picked; ties to the first KPI) until ``rank`` are picked. Every other row f is then a
    combination of the picked rows B: g_f = c @ G_B by least squares, and w = e_f - c (on B) is in
    the left null space; these k - rank vectors are a basis of it, each using at most rank + 1 KPIs
    (an SVD basis mixes them all, and listing it costs k^2). The coefficients come from one
    least-squares call while that is cheap (up to LSTSQ_WORK multiply-adds), else from the
    pivoting's own factors, G_B^+ = Q^T L^-1 (the same solution: they differ by rounding). Each w
    is scaled to a largest weight of 1, its first weight positive, weights below ``tol`` set to 0.
    """
    import numpy as np

    g = np.asarray(g, dtype=float)
    k = g.shape[0]
    nz = Nonzeros(g)
    picked, q, low = pivot_rows(nz, rank)
    free = np.setdiff1d(np.arange(k), picked)
    by = np.argsort(picked, kind="stable")  # the picked rows in spec order
    picked_sorted = np.asarray(picked, dtype=int)[by]
    coef = _coefficients(g, nz, picked, free, q, low, by)  # free x rank
    # Sizes first, from the coefficients alone: building every vector would cost k^2 again. The
    # scaling below makes the largest weight 1, so a coefficient counts when >= tol * max(1, |c|)
    # (|c| from the largest and the smallest: no |coef| array, 72 MB at 10,000 KPIs).
    top = np.maximum(1.0, np.maximum(coef.max(axis=1, initial=0.0), -coef.min(axis=1, initial=0.0)))
    bar = (tol * top)[:, None]
    used = coef >= bar
    used |= coef <= -bar
    sizes = 1 + used.sum(axis=1)
    first = np.minimum(free, np.where(used.any(axis=1), picked_sorted[used.argmax(axis=1)], k) if len(picked) else k)
    order = np.lexsort((first, sizes))
    out = []
    for col in order[:limit] if limit is not None else order:
        w = np.zeros(k)
        w[free[col]] = 1.0
        w[picked_sorted] = -coef[col]
        w /= np.max(np.abs(w))
        w[np.abs(w) < tol] = 0.0
        if w[np.flatnonzero(w)[0]] < 0:
            w = -w
        out.append(w)
    return out


#: The singular values of a gain matrix come from its Gram matrix (below) only where a dense SVD
#: would cost at least this many multiply-adds (k m min(k, m): 10,000 x 1,000 is 1e10) ...
DENSE_WORK = 1e9
#: ... the matrix is sparse (at most this share of its entries nonzero) ...
SPARSE_SHARE = 0.05
#: ... and the Gram matrix's worst-case rounding, n eps kappa^2 relative for n = min(k, m), is at
#: most this: each singular value then matches the SVD's to 1e-10 relative (measured: 1e-14).
GRAM_ROUNDING = 1e-11


class SparseGains:
    """A large, sparse gain matrix (KPIs x levers) and what ``gain_analysis`` asks of it, computed
    on its nonzero entries and its Gram matrix instead of a dense SVD of k x m (10,000 x 1,000:
    3.5 s each, and three were made). ``of`` says whether this applies; each method returns None
    where the Gram matrix cannot promise the SVD's numbers to 1e-10 (the caller then takes the
    dense route)."""

    def __init__(self, g, nz: Nonzeros) -> None:
        self.g, self.nz = g, nz
        self.shape = g.shape

    @classmethod
    def of(cls, g) -> SparseGains | None:
        import numpy as np

        k, m = g.shape
        if min(k, m) == 0 or k * m * min(k, m) < DENSE_WORK or not np.isfinite(g).all():
            return None
        nz = Nonzeros(g)
        if nz.nnz > SPARSE_SHARE * k * m:
            return None
        return cls(g, nz)

    @staticmethod
    def _gram(nz: Nonzeros, vals):
        """(C, pairs) for the smaller side: C = A^T A (k >= m) or A A^T, A = ``vals`` at the
        nonzeros; pairs = the (entry, entry) index pairs sharing a row (k >= m) or a column."""
        import numpy as np

        k, m = nz.shape
        rows, cols = (nz.rows, nz.cols) if k >= m else (nz.cols, nz.rows)
        n = min(k, m)
        order = np.lexsort((cols, rows))  # grouped by the long side's index
        count = np.bincount(rows, minlength=max(k, m))
        if int((count.astype(np.int64) ** 2).sum()) > 20 * len(vals) + 1_000_000:
            return None, None
        start = np.cumsum(count) - count
        grp = rows[order]
        reps = count[grp]
        p1 = np.repeat(order, reps)  # each entry, once per entry of its group
        offs = np.arange(len(p1)) - np.repeat(np.cumsum(reps) - reps, reps)
        p2 = order[start[np.repeat(grp, reps)] + offs]
        c = sums(cols[p1] * n + cols[p2], vals[p1] * vals[p2], n * n).reshape(n, n)
        return c, (p1, p2, cols)

    def _spectrum(self, vals):
        """(singular values, largest first, or None; the Gram pieces) of ``vals`` at the nonzeros."""
        import numpy as np

        c, pairs = self._gram(self.nz, vals)
        if c is None:
            return None, None, None
        lam = np.linalg.eigvalsh(c)
        n = len(lam)
        if not (lam[0] > 0 and n * np.finfo(float).eps * lam[-1] / lam[0] <= GRAM_ROUNDING):
            return None, c, pairs
        return np.sqrt(lam[::-1]), c, pairs

    def singular_values(self):
        return self._spectrum(self.nz.vals)[0]

    def equilibrated(self, max_iter: int = 100, tol: float = 1e-10):
        """The entries of ``kernels.equilibrate``'s D1 G D2 at the nonzeros (the same numbers)."""
        from metricsense.kernels.reference import equilibrate_nonzeros

        return equilibrate_nonzeros(self.nz.rows, self.nz.cols, self.nz.vals, self.shape, max_iter, tol)[0]

    def scaled(self):
        """(singular values of the equilibrated matrix or None, its RGA or None): ``gain_analysis``'s
        scaled condition number and, for non-square G, ``pairing_of``'s relative gain array.

        The RGA of a non-square A with full rank on its smaller side is A o (A^+)^T with A^+ =
        (A^T A)^-1 A^T (k > m) or A^T (A A^T)^-1 (k < m): at a nonzero (i, j) of A, with
        M = (A^T A)^-1, a_ij sum over the row's nonzeros l of a_il M_lj (and likewise by columns),
        zero elsewhere."""
        import numpy as np

        vals = self.equilibrated()
        sv, c, pairs = self._spectrum(vals)
        if sv is None or self.shape[0] == self.shape[1]:
            return sv, None
        p1, p2, side = pairs
        inv = np.linalg.inv(c)
        x = sums(p1, vals[p2] * inv[side[p2], side[p1]], len(vals))
        return sv, self.nz.dense(vals * x)


def condition_of(sv, shape) -> float:
    """``kernels.condition_number`` of a k x m matrix from its singular values (largest first): inf
    at or below the ``matrix_rank`` cutoff max(k, m) eps sigma_max, NaN when there are none."""
    import numpy as np

    if not len(sv):
        return float("nan")
    if sv[-1] <= max(shape) * np.finfo(float).eps * sv[0]:
        return float("inf")
    return float(sv[0] / sv[-1])
