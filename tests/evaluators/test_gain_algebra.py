"""MS202's dependent combinations and the large, sparse gain matrices' numbers (gain_algebra)
against NumPy's SVD, pseudo-inverse and the dense implementations they replace."""

from __future__ import annotations

import numpy as np
import pytest

import metricsense
from metricsense import kernels
from metricsense.evaluators import gain_algebra as ga
from metricsense.evaluators.gain_algebra import Nonzeros, SparseGains, dependent_combinations, pivot_rows
from metricsense.evaluators.records import GainAnalysis


def generated(k: int, m: int, seed: int, per_row: int = 2, values=(0.3, 0.2)) -> np.ndarray:
    """A gain matrix shaped as bench_scale.py's: each KPI responds to ``per_row`` random levers."""
    rng = np.random.default_rng(seed)
    g = np.zeros((k, m))
    for i in range(k):
        g[i, rng.choice(m, per_row, replace=False)] = values[:per_row]
    return g


def random_cases():
    """Dense and sparse matrices: rank-deficient, with exact duplicates, with equal row norms."""
    rng = np.random.default_rng(2025)
    for case in range(60):
        k, m = int(rng.integers(2, 40)), int(rng.integers(1, 25))
        kind = case % 4
        if kind == 0:  # dense, rank r
            r = int(rng.integers(1, min(k, m) + 1))
            g = rng.standard_normal((k, r)) @ rng.standard_normal((r, m))
        elif kind == 1:  # sparse, a few equal gains per row: ties everywhere
            g = generated(k, max(m, 3), case, per_row=2)
        elif kind == 2:  # sparse with exact duplicate rows and a zero row
            g = (rng.random((k, m)) < 0.25) * rng.choice([0.1, 0.2, -0.5, 1.0], size=(k, m))
            g[rng.integers(0, k, 4)] = g[rng.integers(0, k, 4)]
            g[rng.integers(0, k)] = 0.0
        else:  # rows whose norms span eight orders of magnitude
            g = rng.standard_normal((k, m)) * 10.0 ** rng.uniform(-4, 4, (k, 1))
            g[rng.integers(0, k, 3)] = 3.0 * g[rng.integers(0, k, 3)]
        yield case, g


def check_basis(g, basis, rank):
    k = g.shape[0]
    w = np.array(basis).reshape(len(basis), k)
    assert len(basis) == k - rank
    if not len(basis):
        return
    scale = np.abs(g).max()
    np.testing.assert_allclose(w @ g, 0, atol=1e-9 * max(scale, 1e-300) * np.sqrt(k))  # no lever moves them
    assert np.linalg.matrix_rank(w) == k - rank  # a basis of the whole left null space
    assert all(np.count_nonzero(v) <= rank + 1 for v in basis)
    assert all(np.abs(v).max() == 1.0 and v[np.flatnonzero(v)[0]] > 0 for v in basis)
    sizes = [np.count_nonzero(v) for v in basis]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("route", ["lstsq", "factors"])
def test_dependent_combinations_span_the_left_null_space_of_random_matrices(route, monkeypatch):
    if route == "factors":
        monkeypatch.setattr(ga, "LSTSQ_WORK", -1)  # the coefficients from G_B = L Q, as at 10,000 KPIs
    for case, g in random_cases():
        s = np.linalg.svd(g, compute_uv=False)
        rank = int((s > max(g.shape) * np.finfo(float).eps * s[0]).sum())  # numpy.linalg.matrix_rank's
        check_basis(g, dependent_combinations(g, rank), rank)


def test_a_large_mostly_nonzero_matrix_gives_the_same_picks_through_blas():
    rng = np.random.default_rng(5)
    g = rng.standard_normal((900, 40)) @ rng.standard_normal((40, 120))  # rank 40, all nonzero
    nz = Nonzeros(g)
    assert nz.matrix is not None and g.size >= ga.DENSE_PRODUCT  # the BLAS product
    picked, q, low = pivot_rows(nz, 40)
    assert picked == reference_picks(g, 40)
    check_basis(g, dependent_combinations(g, 40), 40)


def test_the_two_coefficient_routes_agree(monkeypatch):
    for case, g in random_cases():
        rank = np.linalg.matrix_rank(g)
        a = dependent_combinations(g, rank)
        monkeypatch.setattr(ga, "LSTSQ_WORK", -1)
        b = dependent_combinations(g, rank)
        monkeypatch.undo()
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=1e-10)


def reference_picks(g, rank):
    """The right-looking Gram-Schmidt the left-looking one replaced: every residual row updated
    and its norm computed again at each step; ties as ``pivot_rows`` decides them (TIE)."""
    resid = np.array(g, dtype=float)
    picked = []
    for _ in range(min(rank, *g.shape)):
        norms = np.einsum("ij,ij->i", resid, resid)
        norms[picked] = -1.0
        top = norms.max()
        if not top > 0:
            break
        p = int(np.argmax(norms >= top * (1 - ga.TIE)))
        picked.append(p)
        q = resid[p] / np.sqrt(norms[p])
        resid -= np.outer(resid @ q, q)
    return picked


def test_pivots_are_the_dense_right_looking_ones_with_the_tie_rule():
    # bench_scale.py's shape: every row norm equal, so every pick is decided by the tie rule
    for seed in range(4):
        g = generated(300, 30, seed)
        rank = np.linalg.matrix_rank(g)
        picked, q, low = pivot_rows(Nonzeros(g), rank)
        assert picked == reference_picks(g, rank)
        np.testing.assert_allclose(low @ q, g[picked], atol=1e-14)  # G_B = L Q
        np.testing.assert_allclose(q @ q.T, np.eye(len(q)), atol=1e-13)
        assert picked[0] == 0  # all tied at first: the first KPI


def test_the_tie_rule_picks_the_first_row_within_a_relative_1e_9():
    base = np.array([[0.3, 0.2, 0.0], [0.0, 0.3, 0.2], [0.2, 0.0, 0.3]])
    for bump, first in [(1 + 1e-12, 0), (1 - 1e-12, 0), (1 + 1e-6, 2)]:
        g = base.copy()
        g[2] *= np.sqrt(bump)  # row 2's squared norm moves by `bump`
        picked, _, _ = pivot_rows(Nonzeros(g), 3)
        assert picked[0] == first


def test_each_pick_is_the_largest_exact_distance():
    # rows of very different sizes and near-duplicates: each pick is the farthest row by its
    # distance computed again from scratch (two passes of projection), to a relative 1e-6
    rng = np.random.default_rng(7)
    for _ in range(20):
        k, m = 30, 12
        g = rng.standard_normal((k, m)) * 10.0 ** rng.uniform(-3, 3, (k, 1))
        g[10:20] = g[:10] + 1e-6 * rng.standard_normal((10, m)) * np.abs(g[:10]).max(axis=1, keepdims=True)
        picked, q, _ = pivot_rows(Nonzeros(g), m)
        for t, p in enumerate(picked):
            resid = g - (g @ q[:t].T) @ q[:t]
            resid -= (resid @ q[:t].T) @ q[:t]
            dist = np.einsum("ij,ij->i", resid, resid)
            dist[picked[:t]] = -1
            assert dist[p] >= dist.max() * (1 - 1e-6)


def test_a_distance_lost_to_cancellation_is_computed_again_before_it_is_picked(monkeypatch):
    # row 1 is row 0 plus 1e-4 in another lever: its true squared distance after row 0 is 1e-8,
    # but its squared norm 1e8 + 1e-8 rounds to 1e8 + 1.49e-8, and the downdate leaves 1.49e-8:
    # more than row 2's 1.21e-8, which is truly the farther
    g = np.array([[1e4, 0.0, 0.0], [1e4, 1e-4, 0.0], [0.0, 0.0, 1.1e-4]])
    assert pivot_rows(Nonzeros(g), 3)[0] == [0, 2, 1]
    monkeypatch.setattr(ga, "LOST", 0.0)  # without the guard the stale distance wins
    assert pivot_rows(Nonzeros(g), 3)[0] == [0, 1, 2]


def test_pivoting_stops_when_no_row_is_left_outside_the_span():
    g = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    picked, q, low = pivot_rows(Nonzeros(g), 2)  # asked for 2, the rank is 1
    assert picked == [1] and q.shape == (1, 2) and low.shape == (1, 1)
    assert pivot_rows(Nonzeros(np.zeros((3, 2))), 2)[0] == []


def old_equilibrate(g, max_iter=100, tol=1e-10):
    """The dense Ruiz iteration as it was (kernels.reference before the sparse path)."""
    d1, d2 = np.ones(g.shape[:-1]), np.ones(g.shape[-1:])
    a = g.copy()
    for _ in range(max_iter):
        r = np.sqrt(np.sqrt((a * a).sum(axis=-1)))
        c = np.sqrt(np.sqrt((a * a).sum(axis=-2)))
        r, c = np.where(r > 0, r, 1.0), np.where(c > 0, c, 1.0)
        d1 /= r
        d2 /= c
        a = g * d1[:, None] * d2[None, :]
        if max(np.ptp(r), np.ptp(c)) < tol:
            break
    return a, d1, d2


@pytest.mark.parametrize("per_row", [1, 2, 3, 6])
def test_equilibrate_on_the_nonzeros_matches_the_dense_iteration(per_row):
    k, m = 2000, 100  # 200,000 entries: the sparse path (SPARSE_SIZE)
    assert k * m >= kernels.reference.SPARSE_SIZE
    rng = np.random.default_rng(per_row)
    g = generated(k, m, per_row, per_row=per_row, values=tuple(rng.uniform(-2, 2, per_row)))
    g[5] = 0.0  # a zero row, left unscaled
    a, d1, d2 = kernels.equilibrate(g)
    a0, e1, e2 = old_equilibrate(g)
    if per_row <= 2:  # each row's sum in any order is the same: the same numbers, bit for bit
        np.testing.assert_array_equal(a, a0)
        np.testing.assert_array_equal(d1, e1)
        np.testing.assert_array_equal(d2, e2)
    else:  # a row's sum in another order: rounding only
        np.testing.assert_allclose(a, a0, rtol=1e-13, atol=0)
        np.testing.assert_allclose(d1, e1, rtol=1e-13)
        np.testing.assert_allclose(d2, e2, rtol=1e-13)
    assert d1[5] == 1.0


@pytest.mark.parametrize("shape", [(3000, 120), (120, 3000), (1500, 300)])
def test_sparse_gains_match_numpy_svd_and_pinv(shape, monkeypatch):
    monkeypatch.setattr(ga, "DENSE_WORK", 0)  # the sparse route at a size a test can afford
    k, m = shape
    g = generated(k, m, 3) if k > m else generated(m, k, 3).T
    sparse = SparseGains.of(g)
    assert sparse is not None
    sv = sparse.singular_values()
    np.testing.assert_allclose(sv, np.linalg.svd(g, compute_uv=False), rtol=1e-10)
    assert ga.condition_of(sv, g.shape) == pytest.approx(np.linalg.cond(g), rel=1e-10)
    scaled_sv, rga = sparse.scaled()
    a = old_equilibrate(g)[0]
    np.testing.assert_allclose(scaled_sv, np.linalg.svd(a, compute_uv=False), rtol=1e-10)
    expected = a * np.linalg.pinv(a).T  # the RGA of a non-square matrix (numpy's pseudo-inverse)
    np.testing.assert_allclose(rga, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    assert (rga[g == 0] == 0).all()


def test_sparse_gains_refuse_what_the_gram_matrix_cannot_promise(monkeypatch):
    monkeypatch.setattr(ga, "DENSE_WORK", 0)
    g = generated(2000, 100, 4)
    g[:, 1] = g[:, 0]  # two levers that always move together: rank 99 of 100
    sparse = SparseGains.of(g)
    assert sparse.singular_values() is None and sparse.scaled() == (None, None)
    assert SparseGains.of(np.ones((2000, 100))) is None  # dense: not this route
    monkeypatch.setattr(ga, "DENSE_WORK", 1e9)
    assert SparseGains.of(generated(2000, 100, 4)) is None  # small: the dense SVD is cheap


def spec_of(g) -> str:
    lines = ['mission "M"'] + [f'lever l{j} "L{j}"' for j in range(g.shape[1])]
    for i, row in enumerate(g):
        gains = ", ".join(f"l{j} {v:+.1f}" for j, v in enumerate(row) if v)
        lines.append(f'kpi k{i} "K{i}" {{ responds {gains} }}')
    return "\n".join(lines) + "\n"


def test_gain_analysis_reads_a_large_sparse_matrix_as_the_dense_one(monkeypatch):
    text = spec_of(generated(1500, 150, 5))
    dense = GainAnalysis.of(next(iter(metricsense.check(text, config={"select": ["MS202"]}).analysis.values())))
    monkeypatch.setattr(ga, "DENSE_WORK", 0)
    report = metricsense.check(text, config={"select": ["MS202"]})
    sparse = GainAnalysis.of(next(iter(report.analysis.values())))
    assert sparse.rank == dense.rank == 150
    np.testing.assert_allclose(sparse.singular_values, dense.singular_values, rtol=1e-10)
    assert sparse.condition_number == pytest.approx(dense.condition_number, rel=1e-10)
    assert sparse.scaled_condition_number == pytest.approx(dense.scaled_condition_number, rel=1e-10)
    rga_s, rga_d = np.asarray(sparse.rga.array), np.asarray(dense.rga.array)
    np.testing.assert_allclose(rga_s, rga_d, rtol=0, atol=1e-10 * np.abs(rga_d).max())
    assert sparse.suggested_pairing == dense.suggested_pairing
    assert sparse.rga_number == pytest.approx(dense.rga_number, rel=1e-10)
    (d,) = [d for d in report.diagnostics if d.code == "MS202"]
    assert d.evidence["rank"] == 150 and d.evidence["independent_combinations"] == 1350


def test_a_distance_lost_to_cancellation_below_the_top_is_computed_again_too():
    # KPIs 0 and 2 are the same row, KPI 1 differs from them by 1e-3 in one lever: rank 2 and one
    # combination (0 - 2). After row 0 the downdates leave row 1 (truly 1e-6 away) at 0.0 and row 2
    # (truly 0) at 1.9e-6: the stale top alone computed again left row 1 behind, and row 2 was
    # picked (a second, false combination "KPI 0 - KPI 1", which lever 2 moves, was named).
    a, b = np.array([1e5, 1.3, 0.0]), np.array([1e5, 1.3 + 1e-3, 0.0])
    g = np.vstack([a, b, a])
    assert pivot_rows(Nonzeros(g), 2)[0] == [0, 1]
    basis = dependent_combinations(g, 2)
    assert len(basis) == 1
    np.testing.assert_allclose(basis[0], [1.0, 0.0, -1.0], atol=1e-9)
