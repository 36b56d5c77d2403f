"""The exact local method of self-optimizing control, in NumPy: the loss of holding c = H y at its targets.

Linear model around the optimum: y = G_y u + G_yd d (+ noise), cost J(u, d) with Hessians Juu, Jud;
disturbances scaled by Wd, noise by Wn (diagonal). The formulas (domain.md, "Choosing the KPIs"):

- optimal sensitivity  F = -(G_y Juu^-1 Jud - G_yd)                     (Alstad et al. 2009, eq. 15)
- loss matrix          M = Juu^1/2 (H G_y)^-1 H [F Wd, Wn]              (Halvorsen et al. 2003)
- worst-case loss      sigma_max(M)^2 / 2 over ||[d'; n']||_2 <= 1
- average loss         ||M||_F^2 / (6 (n + n_d)), n the KPIs H uses     (Kariwala, Cao & Janardhanan 2008)
- best combination     H^T = (F~ F~^T)^-1 G_y (G_y^T (F~ F~^T)^-1 G_y)^-1 Juu^1/2, F~ = [F Wd, Wn]
                       (Alstad, Skogestad & Hori 2009, eq. 31)

With G~ = G_y Juu^-1/2 and Y = [F Wd, Wn], a set s of n >= n_u KPIs combined at their best has
M M^T = A(s)^-1 with A(s) = G~_s^T (Y_s Y_s^T)^-1 G~_s (for n = n_u, H is the selection itself),
so its worst-case loss is 1 / (2 lambda_min(A(s))) and its average loss trace(A(s)^-1) / (6 (n + n_d))
(Kariwala & Cao 2009). `metricsense.selection.search` ranks sets by lambda_min(A(s)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sqrt_spd(a: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive definite matrix."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(w)) @ v.T


def sensitivity(gy: np.ndarray, gyd: np.ndarray, juu: np.ndarray, jud: np.ndarray) -> np.ndarray:
    """F = -(G_y Juu^-1 Jud - G_yd): how the KPIs' optimal values move with each disturbance."""
    return -(gy @ np.linalg.solve(juu, jud) - gyd)


@dataclass(frozen=True)
class Prepared:
    """The matrices every set's loss is read from: G~ = G_y Juu^-1/2, Y = [F Wd, Wn], Y Y^T."""

    gt: np.ndarray  # n_y x n_u
    y: np.ndarray  # n_y x (n_d + n_y)
    y2: np.ndarray  # n_y x n_y
    nd: int

    @property
    def ny(self) -> int:
        return self.gt.shape[0]

    @property
    def nu(self) -> int:
        return self.gt.shape[1]


def prepare(gy, gyd, juu, jud, wd, wn) -> Prepared:
    """G~, Y and Y Y^T of a system; ``wd`` and ``wn`` are the diagonals (or diagonal matrices)."""
    gy = np.asarray(gy, dtype=float)
    gyd = np.asarray(gyd, dtype=float).reshape(gy.shape[0], -1)
    juu = np.atleast_2d(np.asarray(juu, dtype=float))
    jud = np.asarray(jud, dtype=float).reshape(gy.shape[1], gyd.shape[1])
    wd = _diag(wd, gyd.shape[1])
    wn = _diag(wn, gy.shape[0])
    f = sensitivity(gy, gyd, juu, jud)
    y = np.hstack([f @ wd, wn])
    gt = gy @ np.linalg.inv(sqrt_spd(juu))
    return Prepared(gt=gt, y=y, y2=y @ y.T, nd=gyd.shape[1])


def _diag(w, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.ndim == 2:
        return w
    return np.diag(np.broadcast_to(w, (n,)))


def information(prep: Prepared, rows) -> np.ndarray:
    """A(s) = G~_s^T (Y_s Y_s^T)^-1 G~_s for the rows ``s`` (a sorted sequence of KPI indices)."""
    rows = list(rows)
    lower = np.linalg.cholesky(prep.y2[np.ix_(rows, rows)])
    x = np.linalg.solve(lower, prep.gt[rows])
    a = x.T @ x
    return (a + a.T) / 2


def criterion(prep: Prepared, rows) -> float:
    """lambda_min(A(s)): larger is better; the worst-case loss is 1 / (2 lambda)."""
    return float(np.linalg.eigvalsh(information(prep, rows))[0])


def worst_case(lam: float) -> float:
    """The worst-case loss of a set whose criterion is ``lam`` (infinite when it cannot hold the levers)."""
    return 0.5 / lam if lam > 0 else float("inf")


def set_losses(prep: Prepared, rows) -> tuple[float, float]:
    """(worst-case loss, average loss) of the KPIs ``rows`` combined at their best (selected when n = n_u)."""
    a = information(prep, rows)
    w = np.linalg.eigvalsh(a)
    if w[0] <= 0:
        return float("inf"), float("inf")
    return 0.5 / float(w[0]), float(np.sum(1.0 / w)) / (6 * (len(list(rows)) + prep.nd))


def loss_matrix(prep: Prepared, h: np.ndarray, rows=None) -> np.ndarray:
    """M = (H G~_s)^-1 H Y_s (that is Juu^1/2 (H G_y)^-1 H [F Wd, Wn]) for H over the KPIs ``rows``."""
    rows = list(range(prep.ny)) if rows is None else list(rows)
    h = np.atleast_2d(np.asarray(h, dtype=float))
    return np.linalg.solve(h @ prep.gt[rows], h @ prep.y[rows])


def combination(prep: Prepared, rows=None) -> np.ndarray:
    """The best H over the KPIs ``rows`` (all by default), n_u x n, in the units of G_y.

    Alstad, Skogestad & Hori (2009), eq. 31, written for G~ = G_y Juu^-1/2: H^T = (Y Y^T)^-1 G~ A^-1
    with A = G~^T (Y Y^T)^-1 G~; H G~ = I, so M = H Y and M M^T = A^-1. Any invertible D H is as good.
    """
    rows = list(range(prep.ny)) if rows is None else list(rows)
    y2 = prep.y2[np.ix_(rows, rows)]
    gt = prep.gt[rows]
    z = np.linalg.solve(y2, gt)
    return np.linalg.solve(gt.T @ z, z.T)


def null_space(prep: Prepared, f_wd: np.ndarray) -> np.ndarray | None:
    """An H with H F Wd = 0 and H G~ invertible (Alstad & Skogestad 2007), or None when none exists.

    Possible when there are at least n_u + n_d KPIs: H's rows span a part of the left null space of F Wd
    chosen so that H G~ = I (H = (N^T G~)^+ N^T would not do for n_y > n_u + n_d: this takes the
    combination of the null space whose noise loss is least, the exact method restricted to H F = 0).
    """
    ny, nu = prep.gt.shape
    if ny < nu + f_wd.shape[1]:
        return None
    u, s, _ = np.linalg.svd(f_wd, full_matrices=True)
    rank = int((s > max(f_wd.shape) * np.finfo(float).eps * (s[0] if len(s) else 0)).sum()) if s.size else 0
    basis = u[:, rank:]  # n_y x (n_y - rank): every h with h F Wd = 0 is h = x^T basis^T
    g = basis.T @ prep.gt
    # NOTE: relative to G~ itself (the basis is orthonormal): a disturbance that only moves the best
    # lever settings (`best`, no `disturbed`) has F = G_y B, so every h with h F = 0 has h G_y B = 0
    # and H G_y is singular in exact arithmetic, though rounding leaves g of full numerical rank
    sg = np.linalg.svd(g, compute_uv=False)
    if len(sg) < nu or not sg[-1] > 1e-9 * np.linalg.norm(prep.gt, 2):
        return None
    wn = prep.y[:, prep.nd:]
    noise = basis.T @ wn
    # the best x over the null space: the exact local method with noise only, on the reduced system
    q = noise @ noise.T
    z = np.linalg.solve(q, g)
    x = np.linalg.solve(g.T @ z, z.T)  # nu x (n_y - rank)
    return x @ basis.T


def contributions(m: np.ndarray, names: list[str]) -> dict[str, float]:
    """Each source's loss when it alone moves by one unit: ||M[:, j]||^2 / 2, by source name."""
    return {name: float(0.5 * np.sum(m[:, j] ** 2)) for j, name in enumerate(names)}
