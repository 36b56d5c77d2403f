"""The NumPy reference kernels: readable, and the specification the Cython kernel must match.

Every function here has the same name and signature in ``metricsense._kernel`` when that module
has a compiled double (see ``metricsense.kernels.COMPILED``); the others are shared by both
backends. Arrays are float64; NaN marks a missing value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EPS = np.finfo(np.float64).eps


# --------------------------------------------------------------------------- correlation


def _pair_pearson(a: np.ndarray, b: np.ndarray, minp: int) -> float:
    """Pearson r of two equally long vectors over the periods where both are present."""
    both = ~(np.isnan(a) | np.isnan(b))
    n = int(both.sum())
    if n < minp or n == 0:
        return np.nan
    a, b = a[both], b[both]
    # NOTE: test constancy exactly; the centred sum of squares of a constant column need not be
    # exactly 0 (mean = sum / n is rounded), and pandas (Welford) gives NaN there.
    if a.min() == a.max() or b.min() == b.max():
        return np.nan
    da, db = a - a.mean(), b - b.mean()
    return float(np.clip((da @ db) / np.sqrt((da @ da) * (db @ db)), -1.0, 1.0))


def average_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array without NaN, ties getting the average of their ranks."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    s = v[order]
    first = np.r_[True, s[1:] != s[:-1]]  # start of each group of tied values
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], v.size]
    ranks = np.empty(v.size)
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(first) - 1]
    return ranks


def pairwise_corr(x: np.ndarray, method: str = "pearson", min_periods: int = 1) -> np.ndarray:
    """Correlation matrix of the columns of ``x`` (T periods x n series) over pairwise-complete periods.

    Pearson: r_ij = sum (x_i - m_i)(x_j - m_j) / sqrt(sum (x_i - m_i)^2 sum (x_j - m_j)^2), where
    the sums and the means m_i, m_j run over P_ij, the periods where both series are present.
    Spearman: the same formula applied to the ranks of x_i and x_j *within P_ij* (ties get their
    average rank), so each pair is re-ranked on its own overlap, as pandas does.

    NaN policy (pandas ``DataFrame.corr``): r_ij is NaN when |P_ij| < max(min_periods, 1), or when
    either series is constant on P_ij. The diagonal is 1 unless the series itself is NaN by
    those rules. Results are clipped to [-1, 1].
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("x must be 2-D (periods x series)")
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
    minp = max(int(min_periods), 1)
    n = x.shape[1]
    if method == "spearman" and not np.isnan(x).any():
        # Complete data: every pair's overlap is all periods, so rank each column once.
        x = np.column_stack([average_ranks(x[:, i]) for i in range(n)]) if n else x
        method = "pearson"
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i, n):
            a, b = x[:, i], x[:, j]
            if method == "spearman":
                both = ~(np.isnan(a) | np.isnan(b))
                a, b = np.full_like(a, np.nan), np.full_like(b, np.nan)
                a[both], b[both] = average_ranks(x[both, i]), average_ranks(x[both, j])
            r = _pair_pearson(a, b, minp)
            out[i, j] = out[j, i] = 1.0 if i == j and not np.isnan(r) else r
    return out


def _check_window(t: int, window: int, min_periods: int | None) -> tuple[int, int]:
    """Validate a window length and return (window, minp) with pandas' default minp = window."""
    window = int(window)
    if window < 1:
        raise ValueError("window must be a positive number of periods")
    minp = window if min_periods is None else int(min_periods)
    if minp < 0 or minp > window:
        raise ValueError("min_periods must be between 0 and window")
    return window, max(minp, 1)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def rolling_corr(x: np.ndarray, y: np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """Rolling Pearson correlation of column pairs: out[t, k] = r(x[:, k], y[:, k]) over a window.

    The window ending at period t holds periods max(0, t - window + 1) .. t; within it r is the
    pairwise-complete Pearson r of ``pairwise_corr``. ``x`` and ``y`` are T x k (or both 1-D).
    NaN policy: NaN where fewer than ``min_periods`` (default ``window``, as in pandas) periods of
    the window have both values, or where either series is constant on them.
    """
    x2, y2 = _as_2d(x), _as_2d(y)
    if x2.shape != y2.shape or x2.ndim != 2:
        raise ValueError("x and y must have the same shape (T x k, or T)")
    window, minp = _check_window(x2.shape[0], window, min_periods)
    out = np.full(x2.shape, np.nan)
    for t in range(x2.shape[0]):
        lo = max(0, t - window + 1)
        for k in range(x2.shape[1]):
            out[t, k] = _pair_pearson(x2[lo : t + 1, k], y2[lo : t + 1, k], minp)
    return out if np.ndim(x) == 2 else out[:, 0]


def rolling_corr_matrix(x: np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """Rolling pairwise correlation matrices: out[t] = pairwise_corr(window ending at t), T x n x n.

    Same window and NaN policy as ``rolling_corr``; the diagonal follows ``pairwise_corr``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("x must be 2-D (periods x series)")
    window, minp = _check_window(x.shape[0], window, min_periods)
    out = np.empty((x.shape[0], x.shape[1], x.shape[1]))
    for t in range(x.shape[0]):
        out[t] = pairwise_corr(x[max(0, t - window + 1) : t + 1], min_periods=minp)
    return out


# --------------------------------------------------------------------------- gain matrices


def _stack(g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim < 2:
        raise ValueError("g must be a matrix or a stack of matrices (... x k x m)")
    return g


def _singular_cutoff(k: int, m: int) -> float:
    # The same relative cutoff as numpy.linalg.matrix_rank and pinv: max(k, m) * eps * sigma_max.
    return max(k, m) * _EPS


def condition_number(g: np.ndarray) -> np.ndarray | float:
    """2-norm condition number gamma(G) = sigma_max / sigma_min of G or of each matrix of a stack.

    G is k x m (KPIs x levers) and may be non-square: sigma_min is then the smallest of the
    min(k, m) singular values. NaN policy: NaN if G holds a NaN or inf. A G that is rank-deficient
    at working precision (sigma_min <= max(k, m) * eps * sigma_max, the ``matrix_rank`` cutoff;
    this includes the zero matrix) has condition number inf. An empty G (no KPIs or no levers)
    has none: NaN.
    """
    g = _stack(g)
    k, m = g.shape[-2:]
    if min(k, m) == 0:
        out = np.full(g.shape[:-2], np.nan)
        return float(out) if out.ndim == 0 else out
    finite = np.isfinite(g).all(axis=(-2, -1))
    s = np.linalg.svd(g if finite.all() else np.where(finite[..., None, None], g, 0.0), compute_uv=False)
    smax, smin = s[..., 0], s[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(smin <= _singular_cutoff(k, m) * smax, np.inf, smax / smin)
    out = np.where(finite, out, np.nan)
    return float(out) if out.ndim == 0 else out


def _checked_inverse(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G^-1 of each square matrix, and a mask of those singular at working precision.

    Singular: LU meets an exact zero pivot, or kappa_1 = ||G||_1 ||G^-1||_1 > 1 / (k eps), where
    the computed inverse has no correct digit left. It costs O(k^2) once G^-1 is known.
    """
    k = g.shape[-1]
    try:
        inv = np.linalg.inv(g)
        exact = np.zeros(g.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:  # an exact zero pivot somewhere in the stack: one by one
        flat = g.reshape(-1, k, k)
        inv = np.full(flat.shape, np.nan)
        exact = np.zeros(flat.shape[0], dtype=bool)
        for q, gq in enumerate(flat):
            try:
                inv[q] = np.linalg.inv(gq)
            except np.linalg.LinAlgError:
                exact[q] = True
        inv, exact = inv.reshape(g.shape), exact.reshape(g.shape[:-2])
    with np.errstate(all="ignore"):
        kappa1 = np.abs(g).sum(axis=-2).max(axis=-1) * np.abs(inv).sum(axis=-2).max(axis=-1)
    return inv, exact | ~(kappa1 <= 1.0 / (k * _EPS))


def rga(g: np.ndarray) -> np.ndarray:
    """Relative gain array L = G o (G^-1)^T (Bristol 1966) of G or of each matrix of a stack.

    ``o`` is the elementwise product and ^T the plain transpose. For non-square G, and for
    square G that is singular at working precision (LU meets a zero pivot, or the 1-norm
    condition number ||G||_1 ||G^-1||_1 exceeds 1 / (k eps)), G^-1 is replaced by the
    pseudo-inverse G^+ (cutoff max(k, m) * eps * sigma_max); the elements then sum to rank(G)
    instead of 1 per row and column, and L is no longer scale invariant (scale first).
    NaN policy: all NaN for a matrix holding a NaN or inf.
    """
    g = _stack(g)
    k, m = g.shape[-2:]
    finite = np.isfinite(g).all(axis=(-2, -1))
    safe = g if finite.all() else np.where(finite[..., None, None], g, 0.0)
    if k == m:
        inv, singular = _checked_inverse(safe)
        if singular.any():
            inv[singular] = np.linalg.pinv(safe[singular], rcond=_singular_cutoff(k, m))
    else:
        inv = np.linalg.pinv(safe, rcond=_singular_cutoff(k, m))
    out = safe * np.swapaxes(inv, -1, -2)
    return out if finite.all() else np.where(finite[..., None, None], out, np.nan)


def rga_number(rga: np.ndarray, pairing: np.ndarray | Sequence[int]) -> float:
    """RGA number of a pairing: sum |L - P| (Skogestad & Postlethwaite); smaller is better.

    ``pairing`` is either a 0/1 matrix P shaped like L, or a sequence whose i-th entry is the
    column (lever) paired with row (KPI) i. NaN if L holds NaN.
    """
    rga = np.asarray(rga, dtype=np.float64)
    p = np.asarray(pairing)
    if p.shape != rga.shape:
        idx = p.astype(int)
        if p.ndim != 1 or idx.size != rga.shape[0]:
            raise ValueError("pairing must be a matrix shaped like rga or one column per row")
        p = np.zeros(rga.shape)
        p[np.arange(idx.size), idx] = 1.0
    return float(np.abs(rga - p).sum())


def equilibrate(g: np.ndarray, max_iter: int = 100, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale rows and columns to unit 2-norm: returns (D1 G D2, d1, d2) with D = diag(d).

    Ruiz (2001) iterative equilibration in the 2-norm: repeat G <- diag(1/sqrt(row norms)) G
    diag(1/sqrt(column norms)) until every row and column norm is within ``tol`` of the others
    (at most ``max_iter`` sweeps). For square G with total support the norms converge to 1; for
    non-square G rows and columns converge to equal norms per side. Zero rows and columns are
    left unscaled. Works on stacks. A single large matrix that is mostly zeros (at least
    SPARSE_SIZE entries, at most SPARSE_SHARE of them nonzero) is scaled on its nonzero entries
    (``equilibrate_nonzeros``): the same products, and the same sums wherever each row has at
    most two nonzeros or fewer than eight entries (otherwise they differ in rounding only).
    """
    g = _stack(g)
    if g.ndim == 2 and g.size >= SPARSE_SIZE:
        rows, cols = np.nonzero(g)
        if len(rows) <= SPARSE_SHARE * g.size:
            vals, d1, d2 = equilibrate_nonzeros(rows, cols, g[rows, cols], g.shape, max_iter, tol)
            a = np.zeros(g.shape)
            a[rows, cols] = vals
            return a, d1, d2
    d1 = np.ones(g.shape[:-1])
    d2 = np.ones(g.shape[:-2] + g.shape[-1:])
    a = g.copy()
    for _ in range(max_iter):
        r = np.sqrt(np.sqrt((a * a).sum(axis=-1)))
        c = np.sqrt(np.sqrt((a * a).sum(axis=-2)))
        r = np.where(r > 0, r, 1.0)
        c = np.where(c > 0, c, 1.0)
        d1 /= r
        d2 /= c
        a = g * d1[..., :, None] * d2[..., None, :]
        if max(np.ptp(r, axis=-1).max(initial=0.0), np.ptp(c, axis=-1).max(initial=0.0)) < tol:
            break
    return a, d1, d2


#: ``equilibrate`` works on the nonzero entries of a matrix of at least this many entries ...
SPARSE_SIZE = 100_000
#: ... when at most this share of them is nonzero (10,000 KPIs x 1,000 levers, two gains a KPI: 0.002).
SPARSE_SHARE = 0.05


def equilibrate_nonzeros(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int],
                         max_iter: int = 100, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``equilibrate`` of the k x m matrix with ``vals`` at (``rows``, ``cols``), in row-major order.

    Returns (the scaled entries, d1, d2). Each sweep costs O(nonzeros), not O(k m): the squared
    norms are sums over each row's and each column's entries (in row order, as a dense column sum
    adds them), so ``equilibrate`` of the dense matrix gives the same numbers up to the order of a
    row's sum (the same when a row has at most two nonzeros).
    """
    k, m = shape
    d1, d2 = np.ones(k), np.ones(m)
    a = np.array(vals, dtype=np.float64)
    for _ in range(max_iter):
        sq = a * a
        r = np.sqrt(np.sqrt(np.bincount(rows, weights=sq, minlength=k)))
        c = np.sqrt(np.sqrt(np.bincount(cols, weights=sq, minlength=m)))
        r = np.where(r > 0, r, 1.0)
        c = np.where(c > 0, c, 1.0)
        d1 /= r
        d2 /= c
        a = vals * d1[rows] * d2[cols]
        if max(np.ptp(r) if k else 0.0, np.ptp(c) if m else 0.0) < tol:
            break
    return a, d1, d2


def equilibrated_condition_number(g: np.ndarray) -> np.ndarray | float:
    """Condition number after scaling rows and columns to unit 2-norm (``equilibrate``, Ruiz 2001).

    A units-free version of gamma(G) for k x m gain matrices. Same NaN and singular policy as
    ``condition_number``.
    """
    g = _stack(g)
    finite = np.isfinite(g).all(axis=(-2, -1))
    a, _, _ = equilibrate(np.where(finite[..., None, None], g, 1.0))
    out = np.where(finite, condition_number(a), np.nan)
    return float(out) if out.ndim == 0 else out


def _log_gamma(g: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    """log gamma(D1 G D2) with D1 = diag(e^a), D2 = diag(e^b), s = (a, b), and its gradient."""
    k = g.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.exp(s[:k])[:, None] * g * np.exp(s[k:])[None, :]
    # NOTE: with structural zeros the infimum lies at infinite scalings (a triangular G tends to
    # gamma = 1): a step that overflows is refused, so the line search backs off.
    if not np.isfinite(scaled).all():
        return np.inf, np.zeros_like(s)
    try:
        u, sv, vt = np.linalg.svd(scaled)
    except np.linalg.LinAlgError:
        return np.inf, np.zeros_like(s)
    if not sv[-1] > 0:
        return np.inf, np.zeros_like(s)
    # d log sigma / d a_i = u_i^2 and / d b_j = v_j^2 (for a simple singular value).
    grad = np.concatenate([u[:, 0] ** 2 - u[:, -1] ** 2, vt[0] ** 2 - vt[-1] ** 2])
    return float(np.log(sv[0]) - np.log(sv[-1])), grad


def _minimized_gamma_numeric(g: np.ndarray, max_iter: int = 500) -> float:
    """min over positive diagonal D1, D2 of gamma(D1 G D2) by BFGS on the log scalings."""
    k = g.shape[0]
    _, d1, d2 = equilibrate(g)
    s = np.concatenate([np.log(d1), np.log(d2)])
    f, grad = _log_gamma(g, s)
    h = np.eye(2 * k)
    for _ in range(max_iter):
        p = -h @ grad
        slope = float(grad @ p)
        if slope >= 0:  # lost descent (nonsmooth point): restart from steepest descent
            h = np.eye(2 * k)
            p, slope = -grad, -float(grad @ grad)
        if slope > -1e-30:
            break
        step = 1.0
        while step > 1e-12:
            f_new, grad_new = _log_gamma(g, s + step * p)
            if f_new <= f + 1e-4 * step * slope:
                break
            step /= 2
        else:
            break
        ds, dg = step * p, grad_new - grad
        done = f - f_new <= 1e-15 * max(f, 1.0)
        s, f, grad = s + ds, f_new, grad_new
        sy = float(ds @ dg)
        if sy > 1e-300:  # BFGS update of the inverse Hessian (Nocedal & Wright eq. 6.17)
            rho = 1.0 / sy
            v = np.eye(2 * k) - rho * np.outer(ds, dg)
            h = v @ h @ v.T + rho * np.outer(ds, ds)
        if done:
            break
    return float(np.exp(f))


def minimized_condition_number(g: np.ndarray) -> np.ndarray | float:
    """Minimized condition number gamma*(G) = min over positive diagonal D1, D2 of gamma(D1 G D2).

    Square G only (Skogestad & Postlethwaite, Multivariable Feedback Control, App. A.4). For 2 x 2
    the closed form of Grosdidier, Morari & Holt (1985): gamma* = ||L||_i1 + sqrt(||L||_i1^2 - 1)
    with ||L||_i1 the largest absolute column sum of the RGA. For larger G a numerical
    minimisation: log gamma(D1 G D2) is convex in (log D1, log D2) (Sezginer & Overton 1990), and
    is minimised by BFGS from the ``equilibrate`` scaling; BFGS copes with the kinks of this
    nonsmooth convex function (Lewis & Overton 2013). The value returned is gamma of the scaling
    found, so it is an upper bound on gamma*: within about 1e-10 relative when the extreme
    singular values stay apart at the optimum, about sqrt(eps) = 1e-8 when they coalesce
    (gamma* near 1).
    NaN policy as ``condition_number``; singular G gives inf. Works on stacks.
    """
    g = _stack(g)
    k, m = g.shape[-2:]
    if k != m:
        raise ValueError("the minimized condition number needs square matrices")
    flat = g.reshape(-1, k, k)
    out = np.empty(flat.shape[0])
    cond = np.atleast_1d(condition_number(flat))
    for idx, gi in enumerate(flat):
        if not np.isfinite(cond[idx]) or k == 1:
            out[idx] = cond[idx]
        elif k == 2:
            l1 = np.abs(rga(gi)).sum(axis=0).max()
            out[idx] = l1 + np.sqrt(max(l1 * l1 - 1.0, 0.0))
        else:
            out[idx] = min(_minimized_gamma_numeric(gi), cond[idx])
    out = out.reshape(g.shape[:-2])
    return float(out) if out.ndim == 0 else out


def participation_ratio(r: np.ndarray) -> np.ndarray | float:
    """Effective number of independent series: PR = (sum lambda)^2 / sum lambda^2 = p^2 / ||R||_F^2.

    R is a p x p correlation matrix (or a stack); lambda its eigenvalues, so no decomposition is
    needed. PR lies in [1, p]; for equal correlation r it is p / (1 + (p - 1) r^2).
    NaN policy: a series whose diagonal entry is NaN (constant or too short) is dropped and p
    counts the rest; a remaining off-diagonal NaN (too little overlap) counts as 0, i.e. as no
    evidence of redundancy. NaN when no series is left.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim < 2 or r.shape[-1] != r.shape[-2]:
        raise ValueError("r must be a square matrix or a stack of them")
    keep = ~np.isnan(np.diagonal(r, axis1=-2, axis2=-1))
    both = keep[..., :, None] & keep[..., None, :]
    p = keep.sum(axis=-1).astype(np.float64)
    fro2 = np.where(both & ~np.isnan(r), r * r, 0.0).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(p > 0, p * p / fro2, np.nan)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- pairs of rows


def pair_dots(v: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Inner products of listed pairs of rows, in every slice: out[m, p] = sum_t v[m, i[p], t] *
    v[m, j[p], t] for v of shape (M, K, T) and P pairs of row indices i, j (0 <= i, j < K);
    (M, P). MS402's batched step tests: each KPI whitened under M error models (rows), a pair's
    products of its two whitened rows. No NaN policy: NaN in, NaN out."""
    v = np.asarray(v, dtype=np.float64)
    i, j = np.asarray(i, dtype=np.intp), np.asarray(j, dtype=np.intp)
    if v.ndim != 3 or i.shape != j.shape or i.ndim != 1:
        raise ValueError("v must be (M, K, T) and i, j two index vectors of one length")
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= v.shape[1]):
        raise ValueError("a pair's row index is outside v")
    return np.einsum("mpt,mpt->mp", v[:, i], v[:, j]) if len(i) else np.zeros((v.shape[0], 0))


# --------------------------------------------------------------------------- simulated runs


def path_run_rates(last: np.ndarray, mean: np.ndarray, phi: np.ndarray, sigma: np.ndarray, drift: np.ndarray,
                   z: np.ndarray, threshold: float, op: str, n: int) -> np.ndarray:
    """The share of simulated periods at which `value OP threshold` held for the last ``n``
    periods, per model b and unit u: (B, U).

    AR(1) paths from each unit's last value ``last`` (U,): x_t = (mean + phi (x_{t-1} - mean) +
    drift) + sigma z[m, t], in that order of operations (metricsense.evaluators.serial's
    simulate_paths), for B models (``phi``, ``sigma``, ``drift`` (B,), ``mean`` (B, U), NaN
    read as 0) and the M x H draws ``z``. A period t >= n - 1 holds when the comparison held at
    t, t - 1, ..., t - n + 1; the share is over M paths x (H - n + 1) periods (0 when H < n).
    """
    last, mean, phi, sigma, drift, z = run_rate_arrays(last, mean, phi, sigma, drift, z, op, n)
    phi_, sigma_, drift_ = phi[:, None, None], sigma[:, None, None], drift[:, None, None]
    mean_ = mean[..., None]
    x = np.asarray(last, dtype=float)[:, None] + np.zeros_like(mean_) + np.zeros_like(phi_)
    x = np.repeat(x, z.shape[0], axis=-1)
    horizon = z.shape[1]
    past = np.empty(x.shape + (horizon,), dtype=bool)
    compare = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[op]
    for t in range(horizon):
        x = mean_ + phi_ * (x - mean_) + drift_ + sigma_ * z[:, t]
        past[..., t] = compare(x, threshold)
    held = past[..., n - 1:]
    for j in range(1, n):
        held = held & past[..., n - 1 - j: past.shape[-1] - j]
    return held.mean(axis=(-2, -1)) if held.shape[-1] else np.zeros(held.shape[:-2])


def run_rate_arrays(last, mean, phi, sigma, drift, z, op: str, n: int):
    """``path_run_rates``' arguments as both backends read them, or a ValueError: ``phi``,
    ``sigma`` and ``drift`` broadcast to (B,), ``mean`` to (B, U) (NaN read as 0), ``last``
    (U,) and ``z`` (M, H), all float64 and C-ordered; ``op`` one of < <= > >=, ``n`` at least 1."""
    if op not in ("<", "<=", ">", ">="):
        raise ValueError(f"op must be one of <, <=, >, >= (got {op!r})")
    if n < 1:
        raise ValueError(f"a run is at least 1 period (got n = {n})")
    last = np.ascontiguousarray(last, dtype=np.float64)
    z = np.ascontiguousarray(z, dtype=np.float64)
    if last.ndim != 1 or z.ndim != 2:
        raise ValueError("last must be (U,) and z (M, H)")
    try:
        phi, sigma, drift = (np.ascontiguousarray(a) for a in np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (phi, sigma, drift))))
        if phi.ndim != 1:
            raise ValueError("phi, sigma and drift must be (B,)")
        mean = np.asarray(mean, dtype=np.float64)
        if mean.ndim > 2:
            raise ValueError("mean must be (B, U)")
        mean = np.ascontiguousarray(np.broadcast_to(mean, (len(phi), len(last))))
    except ValueError as exc:
        raise ValueError(f"path_run_rates: inconsistent model arrays ({exc})") from None
    return last, np.where(np.isnan(mean), 0.0, mean), phi, sigma, drift, z


def path_run_rates_rows(last: np.ndarray, mean: np.ndarray, phi: np.ndarray, sigma: np.ndarray,
                        drift: np.ndarray, threshold: np.ndarray, op: np.ndarray, n: np.ndarray,
                        z: np.ndarray) -> np.ndarray:
    """``path_run_rates`` for R independent rows (many models of many series in one call): row r
    is one model of one unit, its paths from ``last[r]`` with ``mean[r]`` (NaN read as 0),
    ``phi[r]``, ``sigma[r]``, ``drift[r]``, compared with ``threshold[r]`` by ``RUN_OPS[op[r]]``
    over runs of ``n[r]`` periods; every row shares the M x H draws ``z``. Row r's rate is
    ``path_run_rates(last[r:r+1], mean[r:r+1, None], phi[r:r+1], ..., z, threshold[r], op, n)``
    exactly (the same operations in the same order): (R,)."""
    last, mean, phi, sigma, drift, threshold, op, n, z = run_rows_arrays(last, mean, phi, sigma, drift, threshold,
                                                                         op, n, z)
    out = np.zeros(len(last))
    for code, name in enumerate(RUN_OPS):
        for runs in np.unique(n[(op == code) & (n <= z.shape[1])]).tolist():  # longer runs: 0
            rows = np.flatnonzero((op == code) & (n == runs))
            mean_ = mean[rows, None]
            x = np.repeat(last[rows, None], z.shape[0], axis=-1)
            past = np.empty(x.shape + (z.shape[1],), dtype=bool)
            compare = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}[name]
            for t in range(z.shape[1]):
                x = mean_ + phi[rows, None] * (x - mean_) + drift[rows, None] + sigma[rows, None] * z[:, t]
                past[..., t] = compare(x, threshold[rows, None])
            held = past[..., runs - 1:]
            for j in range(1, runs):
                held = held & past[..., runs - 1 - j: past.shape[-1] - j]
            out[rows] = held.mean(axis=(-2, -1)) if held.shape[-1] else 0.0
    return out


#: The comparisons of ``path_run_rates_rows``, by their code in ``op``.
RUN_OPS = ("<", "<=", ">", ">=")


def run_rows_arrays(last, mean, phi, sigma, drift, threshold, op, n, z):
    """``path_run_rates_rows``' arguments as both backends read them, or a ValueError: eight (R,)
    arrays (float64; ``op`` int8 codes into RUN_OPS, ``n`` int64 at least 1; ``mean``'s NaN read
    as 0) and ``z`` (M, H), C-ordered."""
    try:
        rows = np.broadcast_arrays(last, mean, phi, sigma, drift, threshold)
        last, mean, phi, sigma, drift, threshold = (np.ascontiguousarray(a, dtype=np.float64) for a in rows)
        op, n = (np.ascontiguousarray(np.broadcast_to(a, last.shape), dtype=t)
                 for a, t in ((op, np.int8), (n, np.int64)))
    except ValueError as exc:
        raise ValueError(f"path_run_rates_rows: inconsistent row arrays ({exc})") from None
    z = np.ascontiguousarray(z, dtype=np.float64)
    if last.ndim != 1 or z.ndim != 2:
        raise ValueError("the rows must be (R,) arrays and z (M, H)")
    if len(op) and (op.min() < 0 or op.max() >= len(RUN_OPS)):
        raise ValueError(f"op codes must be 0..{len(RUN_OPS) - 1} (< <= > >=)")
    if len(n) and n.min() < 1:
        raise ValueError("a run is at least 1 period")
    return last, np.where(np.isnan(mean), 0.0, mean), phi, sigma, drift, threshold, op, n, z


def ar1_fill_many(x: np.ndarray, mean: np.ndarray, phi: np.ndarray, drift: np.ndarray, sigma: np.ndarray,
                  e: np.ndarray) -> np.ndarray:
    """``ar1_fill`` of K models at once: x (K, B, T, U) with model k's ``mean[k]`` (U,), ``phi[k]``,
    ``drift[k]``, ``sigma[k]``, all on the same draws ``e`` (B, T, U); x[k] is exactly
    ``ar1_fill(x[k], mean[k], phi[k], drift[k], sigma[k], e)``. Returns x (filled in place)."""
    m = np.asarray(mean, dtype=float)[:, None, :]
    p, d, s = (np.asarray(a, dtype=float)[:, None, None] for a in (phi, drift, sigma))
    for i in range(1, x.shape[2]):
        x[:, :, i] = m + p * (x[:, :, i - 1] - m) + d + s * e[None, :, i]
    return x


def ar1_fill(x: np.ndarray, mean: np.ndarray, phi: float, drift: float, sigma: float, e: np.ndarray) -> np.ndarray:
    """Fill x (B, T, U) from its first period on: x[:, i] = (mean + phi (x[:, i - 1] - mean) +
    drift) + sigma e[:, i] for i >= 1, in that order of operations (serial.bootstrap's series);
    ``mean`` (U,), ``e`` (B, T, U). Returns x (filled in place)."""
    for i in range(1, x.shape[1]):
        x[:, i] = mean + phi * (x[:, i - 1] - mean) + drift + sigma * e[:, i]
    return x


def ar1_fit_complete(x: np.ndarray, walk_phi: float):
    """The AR(1) fit of serial._fit_arrays on complete series x (B, T, U) (no NaN): pooled over
    units, mean per unit; Kendall's correction phi + (1 + 3 phi) / (pairs per unit), clipped to
    [-0.95, 1]; at ``walk_phi`` or more a random walk (phi 1, a drift when the changes' mean is
    over 2 standard errors from 0). Returns phi, sigma, drift (B,) and mean (B, U); NumPy's
    sums (pairwise), which the compiled double repeats to the bit."""
    prev, cur = x[..., :-1, :], x[..., 1:, :]
    lead, (t, u) = x.shape[:-2], x.shape[-2:]
    mean = x.sum(axis=-2) / np.maximum(np.full(lead + (u,), t), 1)
    n = np.full(lead, (t - 1) * u)
    a = prev - mean[..., None, :]
    b = cur - mean[..., None, :]
    sxx = (a * a).sum(axis=(-2, -1))
    phi = np.where(sxx > 0, (a * b).sum(axis=(-2, -1)) / np.where(sxx > 0, sxx, 1), 0.0)
    per_unit = np.maximum(n / np.full(lead, max(u if t > 1 else 0, 1)), 1)
    phi = np.clip(phi + (1 + 3 * phi) / per_unit, -0.95, 1.0)
    d = cur - prev
    dm = d.sum(axis=(-2, -1)) / np.maximum(n, 1)
    dsd = np.sqrt(((d - dm[..., None, None]) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 1, 1))
    walk = phi >= walk_phi
    drift = np.where(walk & (np.abs(dm) > 2 * dsd / np.sqrt(np.maximum(n, 1))), dm, 0.0)
    rsd = np.sqrt(((b - phi[..., None, None] * a) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 2, 1))
    sigma = np.where(walk, np.sqrt(((d - drift[..., None, None]) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 1, 1)), rsd)
    return np.where(walk, 1.0, phi), sigma, drift, mean
