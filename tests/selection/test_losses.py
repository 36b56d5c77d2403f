"""The exact local method against an independent NumPy computation of the formulas, and against
published worked examples (cited in each test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import metricsense
from metricsense.selection import losses
from metricsense.selection.search import branch_and_bound, criterion

HERE = Path(__file__).parent


def _sqrtm(a):
    # the symmetric square root, independently of losses.sqrt_spd: through the SVD
    u, s, vt = np.linalg.svd(a)
    return u @ np.diag(np.sqrt(s)) @ vt


def _direct(gy, gyd, juu, jud, wd, wn, h):
    """Worst-case and average loss straight from the formulas of the issue (Halvorsen et al. 2003;
    Kariwala, Cao & Janardhanan 2008), for an H over all the KPIs (zero columns: KPIs not used)."""
    f = -(gy @ np.linalg.inv(juu) @ jud - gyd)
    m = _sqrtm(juu) @ np.linalg.inv(h @ gy) @ h @ np.hstack([f @ np.diag(wd), np.diag(wn)])
    used = int((np.abs(h).sum(axis=0) > 0).sum())
    return np.linalg.svd(m, compute_uv=False)[0] ** 2 / 2, np.sum(m ** 2) / (6 * (used + len(wd)))


def _alstad_h(gy, gyd, juu, jud, wd, wn):
    """H^T = (F~ F~^T)^-1 G_y (G_y^T (F~ F~^T)^-1 G_y)^-1 Juu^1/2 (Alstad, Skogestad & Hori 2009, eq. 31)."""
    f = -(gy @ np.linalg.inv(juu) @ jud - gyd)
    ft = np.hstack([f @ np.diag(wd), np.diag(wn)])
    q = np.linalg.inv(ft @ ft.T)
    return (q @ gy @ np.linalg.inv(gy.T @ q @ gy) @ _sqrtm(juu)).T


def _system(rng, ny, nu, nd):
    gy, gyd = rng.normal(size=(ny, nu)), rng.normal(size=(ny, nd))
    a = rng.normal(size=(nu, nu))
    juu = a @ a.T + nu * np.eye(nu)
    return gy, gyd, juu, rng.normal(size=(nu, nd)), rng.uniform(0.5, 2, nd), rng.uniform(0.05, 1, ny)


def test_losses_equal_the_formulas_computed_directly():
    rng = np.random.default_rng(7)
    for _ in range(200):
        ny, nu, nd = int(rng.integers(2, 8)), 0, int(rng.integers(1, 4))
        nu = int(rng.integers(1, ny + 1))
        system = _system(rng, ny, nu, nd)
        prep = losses.prepare(*system)
        n = int(rng.integers(nu, ny + 1))
        rows = sorted(rng.choice(ny, size=n, replace=False).tolist())
        # the subset's best H (the selection itself when n = n_u), placed in an H over all KPIs
        gy, gyd, juu, jud, wd, wn = system
        h_sub = np.eye(n) if n == nu else _alstad_h(gy[rows], gyd[rows], juu, jud, wd, wn[rows])
        h = np.zeros((nu, ny))
        h[:, rows] = h_sub
        worst, average = _direct(gy, gyd, juu, jud, wd, wn, h)
        got_worst, got_average = losses.set_losses(prep, rows)
        assert got_worst == pytest.approx(worst, rel=1e-8)
        assert got_average == pytest.approx(average, rel=1e-8)
        assert 0.5 / criterion(prep, rows) == pytest.approx(worst, rel=1e-8)


def test_the_combination_is_alstads_and_no_random_h_beats_it():
    rng = np.random.default_rng(8)
    for _ in range(50):
        system = _system(rng, 7, 2, 2)
        prep = losses.prepare(*system)
        h = losses.combination(prep)
        expected = _alstad_h(*system)
        # the same H up to an invertible D on the left (both give H G~ = I only after scaling):
        # compare the losses and the row spaces
        best = _direct(*system, h)[0]
        assert best == pytest.approx(_direct(*system, expected)[0], rel=1e-8)
        assert np.linalg.matrix_rank(np.vstack([h, expected]), tol=1e-8) == 2
        for _ in range(20):
            other = h + rng.normal(scale=0.3, size=h.shape) * np.abs(h).max()
            assert _direct(*system, other)[0] >= best * (1 - 1e-9)


def test_null_space_cancels_the_disturbances():
    rng = np.random.default_rng(9)
    gy, gyd, juu, jud, wd, wn = _system(rng, 6, 2, 3)
    prep = losses.prepare(gy, gyd, juu, jud, wd, wn)
    h = losses.null_space(prep, prep.y[:, :3])
    f = -(gy @ np.linalg.inv(juu) @ jud - gyd)
    assert np.abs(h @ f).max() < 1e-10 * np.abs(h).max() * np.abs(f).max()
    assert losses.null_space(prep.__class__(prep.gt[:4], prep.y[:4], prep.y2[:4, :4], 3), prep.y[:4, :3]) is None


# ---- published example 1: the toy example ----------------------------------------------------
# Halvorsen, Skogestad, Morud & Alstad (2003), Ind. Eng. Chem. Res. 42:3273, and Alstad,
# Skogestad & Hori (2009), J. Process Control 19:138 ("toy example"): J = (u - d)^2, y1 = 0.1 (u - d),
# y2 = 20 u, y3 = 10 u - 5 d, y4 = u, Wd = 1, noise 1 on each. Published worst-case losses: a single
# measurement y1 100, y2 1.0025, y3 0.26, y4 2; the best pair (y2, y3) 0.0406; all four combined 0.0405.
TOY = {"y1": 100, "y2": 1.0025, "y3": 0.26, "y4": 2.0}


def test_toy_example_published_losses_from_the_spec_language():
    result = metricsense.select(str(HERE / "toy.msense"), size=1, top=4)
    got = {c.kpis[0]: c.worst_case_loss for c in result.candidates}
    assert got == pytest.approx(TOY, rel=1e-9)
    assert [c.kpis[0] for c in result.candidates] == ["y3", "y2", "y4", "y1"]
    assert result.current.kpis == ("y3",) and result.current.worst_case_loss == pytest.approx(0.26)
    assert round(result.combination["worst_case_loss"], 4) == 0.0405
    pair = metricsense.select(str(HERE / "toy.msense"), size=2, top=1).candidates[0]
    assert pair.kpis == ("y2", "y3") and round(pair.worst_case_loss, 4) == 0.0406
    # n_y = 4 >= n_u + n_d = 2: an index cancels d (Alstad & Skogestad 2007)
    assert result.combination["null_space"]["possible"]


def test_toy_example_matrices_as_published():
    inputs = metricsense.select(str(HERE / "toy.msense"), size=1).inputs
    assert inputs.gy.ravel().tolist() == [0.1, 20, 10, 1]
    assert inputs.gyd.ravel().tolist() == [-0.1, 0, -5, 0]
    assert inputs.juu.tolist() == [[2.0]] and inputs.jud.tolist() == [[-2.0]]
    assert inputs.wn.tolist() == [1, 1, 1, 1] and inputs.wd.tolist() == [1]


# ---- published example 2: Cao's own branch and bound on randcase(40, 15, 5) ---------------------
# Yi Cao's MATLAB pb3wc (the partial bidirectional branch and bound of Kariwala & Cao 2009,
# Comput. Chem. Eng. 33:1402) run on a random system of 40 measurements, 15 inputs and 5
# disturbances; its input and its five best sets with their worst-case losses are published in the
# pySOC repository (github.com/feslima/pySOC, Apache-2.0), converted in data/.
CAO = json.loads((HERE / "data" / "cao_pb3wc_ny40_nu15_nd5.json").read_text())


def _cao():
    return losses.prepare(np.array(CAO["G"]), np.array(CAO["Gd"]), np.array(CAO["Juu"]), np.array(CAO["Jud"]),
                          CAO["Wd"], CAO["Wn"])


@pytest.mark.parametrize("n", ["15", "20", "25"])
def test_cao_published_losses_of_the_published_sets(n):
    prep = _cao()
    for rows, loss in zip(CAO["results"][n]["sets"], CAO["results"][n]["worst_case_loss"]):
        assert losses.set_losses(prep, [r - 1 for r in rows])[0] == pytest.approx(loss, rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("n", ["15", "20", "25"])
def test_cao_published_best_sets_found_by_branch_and_bound(n):
    found = branch_and_bound(_cao(), int(n), 5)
    assert [[r + 1 for r in rows] for _, rows in found] == [sorted(s) for s in CAO["results"][n]["sets"]]
    assert [0.5 / lam for lam, _ in found] == pytest.approx(CAO["results"][n]["worst_case_loss"], rel=1e-10)
