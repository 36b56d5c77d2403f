"""The KPI correlation matrix read by blocks of rows, and what the rules and the report need of it
found in one pass over those blocks (issue 25).

At 10,000 KPIs the matrix has 10^8 entries (800 MB), but what is reported of it is linear in the
KPIs: the pairs above a floor (MS101's redundant pairs, MS102's groups, the compact report's
strongest pairs), how many pairs have a correlation, and two sums over every entry (the
participation ratio and MS102's corrected one). ``Blocks`` gives the matrix a block of rows at a
time; for complete data and Pearson (the usual case) each block is computed when it is read, from
the centred columns (one BLAS product per tile: the kernel's numbers to rounding, not to the bit,
4e-16 apart at 2,100 KPIs; tests/evaluators/test_correlation_blocks.py holds them to 1e-13), so
the whole matrix is held only when a reader asks for it (``Blocks.array``: ``--analysis full``,
the HTML report, the explorer).
``Blocks.scan`` walks the blocks once and keeps the pairs at or above a floor and the two sums,
each summed leaf by leaf as NumPy sums the whole flat matrix (``matrices.pairwise_sums``): the
same bits as the sums over the matrix held whole.

NumPy is imported inside the functions: a spec without data never loads it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from metricsense.evaluators.matrices import Matrix, pairwise_sums

#: The most values ``pairwise_sums`` sums at once (its leaves; ``pairwise_sum``'s limit).
LEAF = 1 << 20
#: Rows and columns of a tile of computed pairs (a band of TILE rows is made at once).
TILE = 256
#: Up to this many KPIs the matrix is made whole by the kernel (32 MB) and read by blocks of it:
#: the numbers of every report before issue 25, to the bit. Beyond, it is computed by tiles.
WHOLE_UP_TO = 2048


class Scan(NamedTuple):
    """What one pass over the blocks found: the pairs i < j with |r| >= ``floor`` in row-major
    order (``i``, ``j``, ``r``), how many pairs i < j have a correlation (``judged``), whether
    every entry is finite, and the two sums over every entry (None unless every entry is finite):
    of r^2 (``squares``) and of Ezekiel's corrected r^2 off the diagonal (``adjusted``)."""

    floor: float
    i: Any
    j: Any
    r: Any
    judged: int
    finite: bool
    squares: Any
    adjusted: Any

    def above(self, at: float) -> tuple[Any, Any, Any]:
        """The pairs with |r| >= ``at`` (at least the floor), in row-major order."""
        import numpy as np

        if at < self.floor:
            raise ValueError(f"pairs below {self.floor} were not kept")
        keep = np.abs(self.r) >= at
        return self.i[keep], self.j[keep], self.r[keep]


class Blocks:
    """A K x K correlation matrix (NaN where a pair has none) read by blocks of rows: the rows of
    the matrix itself (``Blocks(array)``), or rows computed when read (``Blocks.complete``).

    Computed rows come from square tiles of TILE x TILE pairs, each one BLAS product of two blocks
    of TILE columns, the tile below the diagonal the transpose of the one above it (the same
    product, made again): the matrix is symmetric and every entry the same bits however it is
    read. (A BLAS product of a block of rows with every column need not give the bits of another
    block's, nor of the product of the whole: OpenBLAS picks its kernels by the shapes.)"""

    def __init__(self, array: Any = None, *, xc: Any = None, scale: Any = None, dead: Any = None) -> None:
        self._array = array
        self._xc, self._scale, self._dead = xc, scale, dead
        self.k = len(array) if array is not None else xc.shape[1]
        self.n: Any = None  # the pairs' shared periods (MS102's corrected sum), set by the analysis
        self._scan: Scan | None = None
        self._bands: dict[int, Any] = {}  # the last bands of TILE rows made (at most two)
        self._den: Any = None  # scratch for a band's denominators

    @classmethod
    def complete(cls, x: Any, min_periods: int) -> Blocks | None:
        """The Pearson matrix of the columns of ``x`` (T periods x K series) when every period that
        any series has, every series has (``kernels.pairwise_corr``'s complete path: a period no
        series has, such as the first of period-to-period changes, is in no pair's overlap); None
        otherwise. A series that is constant, or shorter than ``min_periods``, has NaN for a row
        and a column (the kernel's rule); r is clipped to [-1, 1] and the diagonal is 1."""
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] == 0:
            return None
        gaps = np.isnan(x)
        if gaps.any():
            empty = gaps.all(axis=1)
            if not empty.any() or gaps[~empty].any():
                return None
            x = x[~empty]
        if len(x) == 0:
            return None
        xc = np.ascontiguousarray(x - x.mean(axis=0))
        dead = (x.max(axis=0) == x.min(axis=0)) | (len(x) < max(int(min_periods), 1))
        blocks = cls(xc=xc, scale=np.empty(xc.shape[1]), dead=dead)
        for lo in range(0, blocks.k, TILE):
            # each column's sum of squares: the diagonal of its diagonal tile, as the rows read it
            blocks._scale[lo:lo + TILE] = np.sqrt(np.diagonal(blocks._tile(lo, lo)))
        return blocks

    def _tile(self, a: int, b: int) -> Any:
        """The cross-products of the columns [a, a + TILE) with [b, b + TILE), for a <= b (one BLAS
        product; the diagonal tile made symmetric from its upper triangle)."""
        import numpy as np

        xc = self._xc
        t = xc[:, a:a + TILE].T @ xc[:, b:b + TILE]
        if a == b:
            lower = np.tril_indices(len(t), -1)
            t[lower] = t.T[lower]
        return t

    def _band(self, lo: int) -> Any:
        """Rows [lo, lo + TILE) of the matrix (lo a multiple of TILE), finished as the kernel
        finishes its product: r_ij = C_ij / (sqrt(C_ii) sqrt(C_jj)) clipped to [-1, 1], 1 on the
        diagonal, NaN in the rows and columns of dead series."""
        import numpy as np

        if lo in self._bands:
            return self._bands[lo]
        k, d, dead = self.k, self._scale, self._dead
        h = min(TILE, k - lo)
        # NOTE: the memory of the band dropped (and of the denominators) is used again: a new
        # 20 MB array per band at 10,000 KPIs cost more in page faults than its arithmetic
        spare = self._bands.pop(next(iter(self._bands))) if len(self._bands) >= 2 else None
        if spare is None or spare.base is None or spare.base.size < h * k:
            spare = np.empty(TILE * k)
        else:
            spare = spare.base
        band = spare[:h * k].reshape(h, k)
        for b in range(0, k, TILE):
            band[:, b:b + TILE] = self._tile(lo, b) if b >= lo else self._tile(b, lo).T
        if self._den is None:
            self._den = np.empty(TILE * k)
        den = np.multiply(d[lo:lo + h, None], d[None, :], out=self._den[:h * k].reshape(h, k))
        with np.errstate(all="ignore"):
            np.divide(band, den, out=band)
        np.clip(band, -1.0, 1.0, out=band)
        at = np.arange(h)
        band[at, at + lo] = np.where(dead[lo:lo + h], np.nan, 1.0)
        if dead.any():
            band[:, dead] = np.nan
            band[dead[lo:lo + h]] = np.nan
        self._bands[lo] = band
        return band

    def flat(self, lo: int, hi: int, out: Any = None) -> Any:
        """The entries [lo, hi) of the flat (row-major) matrix: a view when they lie in one block
        held (a band's is good until the next band is made), else copied into ``out`` (at least
        hi - lo values) or a new array."""
        import numpy as np

        k = self.k
        if self._array is not None:
            return self._array.reshape(-1)[lo:hi]
        first, last = lo // k // TILE * TILE, (hi - 1) // k // TILE * TILE
        if first == last:
            return self._band(first).reshape(-1)[lo - first * k:hi - first * k]
        out = np.empty(hi - lo) if out is None else out[:hi - lo]
        at = lo
        for b in range(first, last + 1, TILE):
            end = min(hi, (b + TILE) * k)
            out[at - lo:end - lo] = self._band(b).reshape(-1)[at - b * k:end - b * k]
            at = end
        return out

    def rows(self, lo: int, hi: int) -> Any:
        """Rows [lo, hi) of the matrix (a view of it when it is held, else a new array)."""
        import numpy as np

        if self._array is not None:
            return self._array[lo:hi]
        return np.array(self.flat(lo * self.k, hi * self.k)).reshape(hi - lo, self.k)

    def array(self) -> Any:
        """The whole matrix, read-only (computed by blocks the first time, then kept)."""
        import numpy as np

        if self._array is None:
            out = np.empty((self.k, self.k))
            for lo in range(0, self.k, TILE):
                out[lo:lo + TILE] = self._band(lo)
            out.flags.writeable = False
            self._array = out
            self._bands.clear()
            self._den = None
        return self._array

    @property
    def held(self) -> bool:
        """Whether the whole matrix is held (given, or asked for)."""
        return self._array is not None

    @property
    def computed(self) -> bool:
        """Whether its entries are computed here (``complete``), not given whole."""
        return self._xc is not None

    def scan(self, floor: float) -> Scan:
        """One pass over the blocks: the pairs at or above ``floor``, and the sums over every entry
        (the corrected one with the pairs' shared periods ``n``, when set: an array, or one count
        for all). The last scan is kept and serves any floor at or above its own."""
        import numpy as np

        if self._scan is not None and self._scan.floor <= floor:
            return self._scan
        k = self.k
        counts = None if self.n is None else np.asarray(self.n)
        same = counts is not None and (counts.size == 1 or 0 in counts.strides)
        one = np.float64(counts.flat[0]) if same else None
        flat_n = counts.reshape(-1) if counts is not None and not same else None
        got_i, got_j, got_r = [], [], []
        # NOTE: scratch arrays for a leaf's entries and their squares (a leaf holds at most LEAF)
        v_of, r2_of, adj_of = np.empty(LEAF), np.empty(LEAF), np.empty(LEAF)
        near = floor * floor * (1.0 - 1e-9)  # |r| >= floor implies r^2 >= near

        def values(lo: int, hi: int) -> list:
            v = self.flat(lo, hi, v_of)
            r2 = np.multiply(v, v, out=r2_of[:hi - lo])  # a NaN makes the sum NaN: then no sum is used
            at = np.flatnonzero(r2 >= near)
            at = at[np.abs(v[at]) >= floor]
            ii, jj = np.divmod(at + lo, k)
            upper = jj > ii
            got_i.append(ii[upper])
            got_j.append(jj[upper])
            got_r.append(v[at[upper]])
            if counts is None:
                return [r2]
            if one is None or not one > 2:
                return [r2, corrected_squares(v, r2, lo, hi, k, one, flat_n)]
            # corrected_squares where every entry is finite and every pair has n > 2 periods (when
            # one is not, the sums are not used), made in place
            adj = np.subtract(1.0, r2, out=adj_of[:hi - lo])
            np.divide(adj, one - 2, out=adj)
            np.subtract(r2, adj, out=adj)
            np.maximum(adj, 0.0, out=adj)
            adj[np.arange(-(-lo // (k + 1)) * (k + 1), hi, k + 1) - lo] = 0.0  # the diagonal
            return [r2, adj]

        total = pairwise_sums(k * k, values, LEAF)
        finite = bool(np.isfinite(total[0]))
        self._scan = Scan(floor, np.concatenate(got_i), np.concatenate(got_j), np.concatenate(got_r),
                          k * (k - 1) // 2 if finite else self._judged(), finite,
                          total[0] if finite else None, total[1] if finite and counts is not None else None)
        return self._scan

    def _judged(self) -> int:
        """The pairs i < j whose correlation is finite, by blocks of rows."""
        import numpy as np

        from metricsense.evaluators.matrices import row_blocks

        judged = 0
        for lo, hi in row_blocks(self.k, self.k):
            block = self.rows(lo, hi)
            above = np.arange(block.shape[1])[None, :] > np.arange(lo, hi)[:, None]
            judged += int((np.isfinite(block) & above).sum())
        return judged

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_bands"], state["_den"] = {}, None
        if state["_xc"] is not None:
            state["_array"] = None  # computed again when asked: the centred columns are small
        return state


def corrected_squares(v: Any, r2: Any, lo: int, hi: int, k: int, one: Any, flat_n: Any) -> Any:
    """Ezekiel's corrected r^2 of the flat entries [lo, hi) as MS102 sums them
    (``correlation.corrected_effective_number``): max(0, r^2 - (1 - r^2) / (n - 2)) off the
    diagonal where n > 2, r^2 where n <= 2, 0 on the diagonal and where r is not finite."""
    import numpy as np

    m = one if one is not None else flat_n[lo:hi].astype(float)
    off = (np.arange(lo, hi) % (k + 1) != 0) & np.isfinite(v)
    r2 = np.where(off, r2, 0.0)
    return np.where(off & (m > 2), np.maximum(r2 - (1 - r2) / np.maximum(m - 2, 1), 0.0), r2)


class LazyMatrix(Matrix):
    """The correlation record's matrix when it is read by blocks: a Matrix whose array is made only
    when a reader asks for it (``blocks.array()``); the compact report and the rules read the
    blocks' scans instead."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: Blocks) -> None:
        object.__setattr__(self, "blocks", blocks)

    @property
    def array(self) -> Any:  # type: ignore[override]
        return self.blocks.array()

    @property
    def dtype(self) -> Any:
        import numpy as np

        return np.dtype(np.float64)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.blocks.k, self.blocks.k)

    def __len__(self) -> int:
        return self.blocks.k

    def __reduce__(self) -> tuple:
        return (LazyMatrix, (self.blocks,))

    def __repr__(self) -> str:
        return f"LazyMatrix({self.blocks.k} x {self.blocks.k}, float64)"
