"""The best sets of n KPIs by worst-case loss: bidirectional branch and bound, and plain enumeration.

A set s (n >= n_u KPIs) is worth lambda(s) = lambda_min(A(s)), A(s) = G~_s^T (Y_s Y_s^T)^-1 G~_s
(metricsense.selection.losses); its worst-case loss is 1 / (2 lambda). The search keeps the `top`
sets of largest lambda, ties broken by the KPIs' indices (smaller first), so that it returns exactly
what enumerating every set returns.

Branch and bound after Cao & Kariwala (2008, Comput. Chem. Eng. 32, Part I) and Kariwala & Cao (2009,
Comput. Chem. Eng. 33, Part II, the exact local method). A node fixes the KPIs F that every set below
it holds and leaves candidates C to choose the remaining r = n - |F| from. Two monotone bounds prune
it from both ends:

- downwards (from the superset S = F + C): adding a KPI never raises the loss of the best
  combination, so lambda(s) <= lambda(S) for every s inside S. A node with lambda(S) below the
  bar is dropped, and a candidate i with lambda(S - i) below the bar is in every set worth having:
  it is fixed. lambda(S - i) for all i at once: A(S - i) = A(S) - u_i u_i^T / Q_ii, Q = (Y_S Y_S^T)^-1,
  u_i = G~_S^T Q e_i (a rank-one downdate).
- upwards (from the subset F): each KPI added to F is a rank-one update of A (a Schur complement),
  so by eigenvalue interlacing lambda(s) <= lambda_(k+1)(A(F)) for every s = F + k more KPIs, the
  (k+1)-th smallest eigenvalue, when k < n_u. A node whose bound is below the bar is dropped, and a
  candidate i whose F + i bound is below it can be in no set worth having: it is removed.

The bar is the `top`-th best lambda found so far (at first the floor below which a set cannot hold
the levers at all). A bound is compared with the bar less a relative 1e-7, so a set that ties the
bar, or misses it by rounding, is never pruned but evaluated, and its lambda is always computed by
`criterion` on the sorted set, the same numbers enumeration computes.
"""

from __future__ import annotations

import importlib
import itertools
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from metricsense.selection.losses import Prepared, criterion, information

#: Bounds are compared with the bar less this share of it: rounding never prunes a tie.
RTOL = 1e-7
#: A set whose lambda is below this share of the combination of all KPIs' cannot hold the levers
#: (its H G_y is singular to working precision): its loss would be a billion times the best one's.
FEASIBLE = 1e-9
#: The downward bounds need (Y_S Y_S^T)^-1 of the whole superset: used only when S is at most this
#: many KPIs, or when at most DOWN_SLACK candidates are to be dropped (Cao & Kariwala do likewise).
DOWN_ROWS = 60
DOWN_SLACK = 8


def _compiled():
    """metricsense._select (the bounds in Cython) unless METRICSENSE_PUREPYTHON=1 or it is not built."""
    if os.environ.get("METRICSENSE_PUREPYTHON", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("metricsense._select")
    except ImportError:
        return None


_FAST = _compiled()
#: "cython" when the square-case bounds run compiled, else "reference" (NumPy, below).
BACKEND = "cython" if _FAST is not None else "reference"


@dataclass
class Found:
    """The best sets so far, best first: (lambda, indices)."""

    top: int
    floor: float
    sets: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)
    evaluated: int = 0

    def bar(self) -> float:
        """What a bound must beat: the top-th lambda, or the floor while fewer are known."""
        if len(self.sets) < self.top:
            return self.floor
        return self.sets[-1][0]

    def offer(self, lam: float, rows: tuple[int, ...]) -> None:
        self.evaluated += 1
        if not lam > self.floor:
            return
        key = (-lam, rows)
        if len(self.sets) == self.top and key >= (-self.sets[-1][0], self.sets[-1][1]):
            return
        self.sets.append((lam, rows))
        self.sets.sort(key=lambda e: (-e[0], e[1]))
        del self.sets[self.top:]


@dataclass
class Stats:
    nodes: int = 0
    evaluated: int = 0
    #: False when a time limit stopped the search: the sets found are then the best *so far*
    complete: bool = True


def floor_of(prep: Prepared) -> float:
    """The lambda below which a set counts as unable to hold the levers."""
    w = np.linalg.eigvalsh(information(prep, range(prep.ny)))
    # NOTE: when even all the KPIs together cannot tell the levers apart (G_y of rank < n_u), lambda
    # of every set is rounding noise, which enumeration and the bounds compute differently: no set
    # can hold the levers.
    if not w[0] > 1e-10 * w[-1]:
        return math.inf
    return FEASIBLE * float(w[0])


def enumerate_best(prep: Prepared, size: int, top: int) -> list[tuple[float, tuple[int, ...]]]:
    """Every set of ``size`` KPIs, evaluated: the reference the branch and bound must equal."""
    found = Found(top, floor_of(prep))
    if found.floor == math.inf:
        return []
    for rows in itertools.combinations(range(prep.ny), size):
        found.offer(criterion(prep, rows), rows)
    return found.sets


def branch_and_bound(prep: Prepared, size: int, top: int, stats: Stats | None = None,
                     seconds: float | None = None) -> list[tuple[float, tuple[int, ...]]]:
    """The ``top`` sets of ``size`` KPIs with the largest lambda (smallest worst-case loss), best first.

    ``seconds``: stop after this long (``stats.complete`` is then False); by default, never."""
    ny, nu = prep.ny, prep.nu
    if not nu <= size <= ny:
        raise ValueError(f"a set must have between n_u = {nu} and n_y = {ny} KPIs, not {size}")
    found = Found(top, floor_of(prep))
    stats = stats if stats is not None else Stats()
    if found.floor == math.inf:
        return []
    stack: list[tuple[tuple[int, ...], np.ndarray]] = [((), np.arange(ny))]
    end = None if seconds is None else time.perf_counter() + seconds
    while stack:
        if end is not None and stats.nodes % 64 == 0 and time.perf_counter() > end:
            stats.complete = False
            break
        fixed, cand = stack.pop()
        stats.nodes += 1
        child = _bound(prep, size, fixed, cand, found)
        if child is None:
            continue
        fixed, cand, up, down = child
        r = size - len(fixed)
        if r == 0:
            rows = tuple(sorted(fixed))
            found.offer(criterion(prep, rows), rows)
            continue
        if len(cand) == r:
            rows = tuple(sorted(fixed + tuple(cand.tolist())))
            found.offer(criterion(prep, rows), rows)
            continue
        if r == 1 and up is not None:
            # one more to choose: the candidates that passed the upward bound are the sets left
            for j in np.argsort(-up, kind="stable").tolist():
                rows = tuple(sorted(fixed + (int(cand[j]),)))
                found.offer(criterion(prep, rows), rows)
            continue
        if len(cand) == r + 1 and down is not None:
            # one more to drop: the candidates that passed the downward bound are the sets left
            everything = fixed + tuple(cand.tolist())
            for j in np.argsort(-down, kind="stable").tolist():
                rows = tuple(sorted(x for x in everything if x != int(cand[j])))
                found.offer(criterion(prep, rows), rows)
            continue
        # Branch on one candidate: with it (upwards) or without it (downwards), the likelier first.
        if r < len(cand) / 2 or down is None:
            # the candidate the superset needs most (Cao & Kariwala), else the most promising one
            pick = int(np.argmin(down)) if down is not None else int(np.argmax(up)) if up is not None else 0
            with_first = True
        else:
            pick = int(np.argmax(down))  # the candidate the superset misses least
            with_first = False
        i = int(cand[pick])
        rest = np.delete(cand, pick)
        take = (fixed + (i,), rest)
        leave = (fixed, rest)
        # the stack pops the last pushed first
        stack.extend([leave, take] if with_first else [take, leave])
    stats.evaluated += found.evaluated
    return found.sets


def _bound(prep: Prepared, size: int, fixed: tuple[int, ...], cand: np.ndarray, found: Found):
    """Prune a node from both ends until nothing changes: (fixed, candidates, up, down) or None.

    ``up`` scores each candidate for the upward branch (larger: likelier in the best sets), ``down``
    for the downward one (larger: the superset misses it least); either is None when not computed.
    """
    nu = prep.nu
    while True:
        r = size - len(fixed)
        if r < 0 or len(cand) < r:
            return None
        if r == 0 or len(cand) == r:
            return fixed, cand, None, None
        bar = found.bar()
        cut = bar * (1 - RTOL) if len(found.sets) >= found.top else bar
        down = None
        if len(fixed) + len(cand) <= DOWN_ROWS or len(cand) - r <= DOWN_SLACK:
            down = downward(prep, list(fixed) + cand.tolist(), len(fixed), cut)
            if down is None:
                return None
            must = down <= 0
            if must.any():
                fixed = fixed + tuple(cand[must].tolist())
                cand = cand[~must]
                continue
        up = None
        if size == nu:
            up = upward_square(prep, fixed, cand, cut)
            if up is None:
                return None
        elif r - 1 < nu:  # a bound on F + i exists: lambda_r of A(F + i)
            if r < nu and fixed and not _upward_node(prep, fixed, r) > cut:
                return None
            up = _upward(prep, fixed, cand, r) - cut
        if up is not None:
            bad = up <= 0
            if bad.any():
                cand = cand[~bad]
                up = up[~bad]
                if down is not None:
                    down = down[~bad]
                continue
        return fixed, cand, up, down


def upward_square(prep: Prepared, fixed: tuple[int, ...], cand: np.ndarray, cut: float) -> np.ndarray | None:
    """`_upward_square`, compiled when metricsense._select is built."""
    if _FAST is None:
        return _upward_square(prep, fixed, cand, cut)
    out = np.empty(len(cand))
    ok = _FAST.upward_square(prep.gt, prep.y2, np.asarray(fixed, dtype=np.intp), np.asarray(cand, dtype=np.intp),
                             float(cut), out)
    return out if ok else None


def downward(prep: Prepared, rows: list[int], nfixed: int, cut: float) -> np.ndarray | None:
    """`_downward`, compiled when metricsense._select is built."""
    if _FAST is None:
        return _downward(prep, rows, nfixed, cut)
    out = np.empty(len(rows) - nfixed)
    ok = _FAST.downward(prep.gt, prep.y2, np.asarray(rows, dtype=np.intp), nfixed, float(cut), out)
    return out if ok else None


def _upward_node(prep: Prepared, fixed: tuple[int, ...], k: int) -> float:
    """lambda_(k+1)(A(F)): no set of F and k more KPIs does better."""
    w = np.linalg.eigvalsh(information(prep, sorted(fixed)))
    return float(w[k])


def _upward(prep: Prepared, fixed: tuple[int, ...], cand: np.ndarray, k: int) -> np.ndarray:
    """For each candidate i: lambda_k(A(F + i)), a bound on every set of F, i and k - 1 more KPIs."""
    gt, y2 = prep.gt, prep.y2
    gc = gt[cand]
    diag = y2[cand, cand]
    if fixed:
        f = list(fixed)
        lower = np.linalg.cholesky(y2[np.ix_(f, f)])
        x = np.linalg.solve(lower, gt[f])  # f x nu
        z = np.linalg.solve(lower, y2[np.ix_(f, cand.tolist())])  # f x m
        base = x.T @ x
        w = gc - z.T @ x  # m x nu
        delta = diag - np.einsum("ij,ij->j", z, z)
    else:
        base = np.zeros((prep.nu, prep.nu))
        w = gc
        delta = diag
    delta = np.maximum(delta, np.finfo(float).tiny)
    stackd = base[None, :, :] + np.einsum("mi,mj->mij", w, w) / delta[:, None, None]
    return np.linalg.eigvalsh(stackd)[:, k - 1]


def _upward_square(prep: Prepared, fixed: tuple[int, ...], cand: np.ndarray, cut: float) -> np.ndarray | None:
    """Sets of exactly n_u KPIs: None when no set holding F beats ``cut``, else a score per candidate,
    positive when a set holding F and i may (Cao & Kariwala's determinant test, no eigenvalues).

    For |s| = n_u, lambda(s) is the smallest eigenvalue of the pencil (G~_s G~_s^T, Y_s Y_s^T), which
    only falls as rows are added (interlacing); lambda(F + i) > cut exactly when
    P = G~ G~^T - cut Y Y^T over F + i is positive definite: P(F) is, and its Schur complement in i is positive.
    """
    gt, y2 = prep.gt, prep.y2
    gc = gt[cand]
    d = np.einsum("ij,ij->i", gc, gc) - cut * y2[cand, cand]
    if fixed:
        f = list(fixed)
        gf = gt[f]
        pf = gf @ gf.T - cut * y2[np.ix_(f, f)]
        try:
            lower = np.linalg.cholesky(pf)
        except np.linalg.LinAlgError:
            return None
        c = gf @ gc.T - cut * y2[np.ix_(f, cand.tolist())]  # f x m
        z = np.linalg.solve(lower, c)
        d = d - np.einsum("ij,ij->j", z, z)
    return d / y2[cand, cand]


def _downward(prep: Prepared, rows: list[int], nfixed: int, cut: float) -> np.ndarray | None:
    """None when lambda(S) <= cut (S = ``rows``, the fixed first); else, for each candidate i of S,
    a score positive exactly when lambda(S - i) > cut (zero or less: every set worth having holds i).

    A(S - i) - cut I = (A(S) - cut I) - u_i u_i^T / Q_ii is positive definite exactly when
    Q_ii - u_i^T (A(S) - cut I)^-1 u_i > 0; the score is that over Q_ii.
    """
    gt = prep.gt[rows]
    lower_y = np.linalg.cholesky(prep.y2[np.ix_(rows, rows)])
    x = np.linalg.solve(lower_y, gt)
    a = x.T @ x
    try:
        lower = np.linalg.cholesky((a + a.T) / 2 - cut * np.eye(prep.nu))
    except np.linalg.LinAlgError:
        return None
    # u_i = G~_S^T Q e_i, Q = (Y_S Y_S^T)^-1 = L^-T L^-1: the columns of X^T L^-1 for the candidates
    linv = np.linalg.solve(lower_y, np.eye(len(rows))[:, nfixed:])  # L^-1 e_i, |S| x m
    u = x.T @ linv  # nu x m
    qd = np.einsum("ij,ij->j", linv, linv)  # Q_ii
    v = np.linalg.solve(lower, u)
    return 1.0 - np.einsum("ij,ij->j", v, v) / qd
