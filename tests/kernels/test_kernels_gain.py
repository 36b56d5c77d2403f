"""Condition numbers, the RGA and the participation ratio, against numpy.linalg and the theory.

Matrices are drawn with a bounded condition number (at most about 1e4): then LAPACK's and the
one-sided Jacobi singular values agree to about eps * cond, and 1e-9 relative holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import metricsense.kernels as kernels

FAST = settings(max_examples=40, deadline=None)


@st.composite
def gains(draw, square: bool = True, max_k: int = 5):
    """A k x m gain matrix U diag(s) V^T with singular values in [1, 1e4]."""
    k = draw(st.integers(1, max_k))
    m = k if square else draw(st.integers(1, max_k))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    u, _ = np.linalg.qr(rng.standard_normal((k, k)))
    v, _ = np.linalg.qr(rng.standard_normal((m, m)))
    s = np.zeros((k, m))
    np.fill_diagonal(s, 10.0 ** rng.uniform(0, 4, size=min(k, m)))
    return u @ s @ v.T * draw(st.sampled_from([1.0, 1e-6, 1e5]))


def invertible_rga(g):
    return g * np.linalg.inv(g).swapaxes(-1, -2)


@FAST
@given(g=gains(square=False, max_k=6))
def test_condition_number_matches_numpy(backend, g):
    assert_allclose(backend.condition_number(g), np.linalg.cond(g), rtol=1e-9)


@pytest.mark.parametrize("shape", [(200, 3, 3), (50, 2, 4), (20, 5, 5), (4, 12, 12), (3, 10, 7)])
def test_stacks_match_numpy(backend, shape):
    g = np.random.default_rng(0).standard_normal(shape)
    cond = np.linalg.cond(g)
    ok = cond < 1e8
    assert_allclose(backend.condition_number(g)[ok], cond[ok], rtol=1e-7)
    if shape[1] == shape[2]:
        assert_allclose(backend.rga(g)[ok], invertible_rga(g)[ok], rtol=1e-7, atol=1e-9)
    else:
        want = g * np.swapaxes(np.linalg.pinv(g), -1, -2)
        assert_allclose(backend.rga(g), want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e-100, 1e-80, 1e80, 1e100, 1e150, 1e300])
def test_condition_number_does_not_depend_on_the_scale(backend, scale):
    # The compiled Jacobi SVD once tested convergence on g^4, which overflows beyond 1e77 and
    # underflows below 1e-77: it stopped before the first rotation and returned column norms.
    rng = np.random.default_rng(3)
    for k, m in ((2, 2), (3, 3), (4, 2), (2, 5), (6, 6)):
        g = rng.standard_normal((k, m))
        assert_allclose(backend.condition_number(g * scale), np.linalg.cond(g), rtol=1e-9)
        assert_allclose(backend.rga(g * scale), backend.rga(g), rtol=1e-9, atol=1e-12)


def test_singular_and_nan(backend):
    singular = [np.zeros((3, 3)), np.outer([1.0, 2, 3], [4.0, 5, 6]), np.array([[1.0, 2], [2, 4]]),
                np.array([[1.0, 2, 3], [1, 2, 3], [4, 5, 6]]), np.array([[1.0, 2, 3], [2, 4, 6]])]
    for g in singular:
        assert backend.condition_number(g) == np.inf
        lam = backend.rga(g)
        assert np.isfinite(lam).all()
        assert_allclose(lam.sum(), np.linalg.matrix_rank(g), atol=1e-9)  # pseudo-inverse RGA
    g = np.eye(3)
    g[1, 2] = np.nan
    assert np.isnan(backend.condition_number(g))
    assert np.isnan(backend.rga(g)).all()
    assert_array_equal(backend.condition_number(np.stack([np.eye(2), np.zeros((2, 2))])), [1.0, np.inf])


@FAST
@given(g=gains(), seed=st.integers(0, 2**32 - 1))
def test_rga_properties(backend, g, seed):
    rng = np.random.default_rng(seed)
    k = g.shape[0]
    lam = backend.rga(g)
    tol = dict(rtol=1e-8, atol=1e-8 * max(1.0, np.abs(lam).max()))
    assert_allclose(lam.sum(axis=0), np.ones(k), **tol)
    assert_allclose(lam.sum(axis=1), np.ones(k), **tol)
    p, q = rng.permutation(k), rng.permutation(k)
    assert_allclose(backend.rga(g[p][:, q]), lam[p][:, q], **tol)
    d1, d2 = 10.0 ** rng.uniform(-3, 3, k), 10.0 ** rng.uniform(-3, 3, k)
    assert_allclose(backend.rga(d1[:, None] * g * d2[None, :]), lam, **tol)
    assert_allclose(backend.rga(g.T), lam.T, **tol)
    assert_allclose(backend.rga(np.linalg.inv(g)), lam.T, **tol)
    assert_allclose(lam, invertible_rga(g), **tol)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 9])
def test_triangular_rga_is_identity(backend, k):
    g = np.triu(np.random.default_rng(k).uniform(1, 2, (k, k)))
    assert_allclose(backend.rga(g), np.eye(k), atol=1e-12)
    assert_allclose(backend.rga(g.T), np.eye(k), atol=1e-12)


@FAST
@given(g=gains(max_k=2), seed=st.integers(0, 2**32 - 1))
def test_minimized_2x2_closed_form(g, seed):
    if g.shape != (2, 2):
        return
    lam1 = np.abs(kernels.rga(g)).sum(axis=0).max()
    closed = lam1 + np.sqrt(max(lam1 * lam1 - 1, 0.0))
    # NOTE: near gamma* = 1 (an almost diagonal RGA) sqrt(lam1^2 - 1) turns a rounding difference
    # of 1e-16 in the RGA into 1e-8: hence the absolute floor (found by Hypothesis in CI).
    assert_allclose(kernels.minimized_condition_number(g), closed, rtol=1e-12, atol=2e-7)
    # The numerical minimisation used for larger G reaches the closed form too; near gamma* = 1
    # the singular values coalesce at the optimum (a kink), which limits it to about sqrt(eps).
    assert_allclose(kernels.reference._minimized_gamma_numeric(g), closed, rtol=1e-6)
    d = 10.0 ** np.random.default_rng(seed).uniform(-2, 2, 4)
    assert_allclose(kernels.minimized_condition_number(d[:2, None] * g * d[None, 2:]), closed, rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(g=gains(max_k=4), seed=st.integers(0, 2**32 - 1))
def test_minimized_bounds(g, seed):
    k = g.shape[0]
    gstar = kernels.minimized_condition_number(g)
    rng = np.random.default_rng(seed)
    # Where the extreme singular values coalesce (gamma* near 1) gamma* is good to about
    # sqrt(eps) only, as its docstring says (the 2 x 2 closed form takes a square root of
    # ||L||_i1^2 - 1); elsewhere to 1e-12.
    tol = 1e-12 if gstar > 1 + 1e-6 else 3e-8
    assert gstar <= kernels.condition_number(g) * (1 + tol)
    assert gstar <= kernels.equilibrated_condition_number(g) * (1 + tol)
    for _ in range(5):  # no scaling beats it
        d1, d2 = 10.0 ** rng.uniform(-1, 1, k), 10.0 ** rng.uniform(-1, 1, k)
        assert gstar <= kernels.condition_number(d1[:, None] * g * d2[None, :]) * (1 + 1e-9)
    # S&P (A.4): ||L||_m - 1/gamma* <= gamma*, ||L||_m = 2 max(||L||_i1, ||L||_i_inf).
    lam = np.abs(kernels.rga(g))
    lm = 2 * max(lam.sum(axis=0).max(), lam.sum(axis=1).max())
    assert lm - 1 / gstar <= gstar * (1 + 1e-9)


def test_scaled_condition_numbers():
    g = np.array([[1.0, 1e4], [1e-3, 2.0]])
    assert kernels.equilibrated_condition_number(g) < kernels.condition_number(g)
    scaled, d1, d2 = kernels.equilibrate(g)
    assert_allclose(np.linalg.norm(scaled, axis=0), 1.0, rtol=1e-8)
    assert_allclose(np.linalg.norm(scaled, axis=1), 1.0, rtol=1e-8)
    assert_allclose(scaled, d1[:, None] * g * d2[None, :])
    stack = np.stack([g, np.eye(2), np.ones((2, 2))])
    assert_allclose(kernels.minimized_condition_number(stack)[:2], [kernels.minimized_condition_number(g), 1.0])
    assert kernels.minimized_condition_number(stack)[2] == np.inf
    assert kernels.equilibrated_condition_number(np.ones((2, 3))) == np.inf
    with pytest.raises(ValueError):
        kernels.minimized_condition_number(np.ones((2, 3)))


def test_rga_number():
    lam = np.array([[0.8, 0.2], [0.2, 0.8]])
    assert kernels.rga_number(lam, [0, 1]) == pytest.approx(0.8)
    assert kernels.rga_number(lam, np.eye(2)) == pytest.approx(0.8)
    assert kernels.rga_number(lam, [1, 0]) == pytest.approx(3.2)


def test_participation_ratio():
    for p, r in [(5, 0.0), (5, 0.5), (8, 0.9), (3, 1.0)]:
        mat = np.full((p, p), r)
        np.fill_diagonal(mat, 1.0)
        assert kernels.participation_ratio(mat) == pytest.approx(p / (1 + (p - 1) * r * r))
    mat = np.eye(4)
    mat[3, :] = mat[:, 3] = np.nan  # a constant series: dropped
    mat[0, 1] = mat[1, 0] = np.nan  # too little overlap: counts as 0
    assert kernels.participation_ratio(mat) == pytest.approx(3.0)
    assert np.isnan(kernels.participation_ratio(np.full((2, 2), np.nan)))
    assert_allclose(kernels.participation_ratio(np.stack([np.eye(3), np.ones((3, 3))])), [3.0, 1.0])


def test_minimized_condition_number_survives_structural_zeros():
    """A sparse gain matrix (the school-district example's) once overflowed the BFGS scaling."""
    from metricsense.kernels import reference

    g = np.array([[0.4, 0.0, 0.0, 0.3], [0.0, 0.5, 0.0, 0.0], [0.2, 0.0, 0.6, 0.0], [0.0, 0.3, 0.0, 0.4]])
    gamma = reference.minimized_condition_number(g)
    assert np.isfinite(gamma) and 1.0 <= gamma <= reference.condition_number(g) + 1e-9
    tri = np.triu(np.arange(1.0, 17.0).reshape(4, 4))
    gamma = reference.minimized_condition_number(tri)
    assert np.isfinite(gamma) and gamma >= 1.0


@pytest.mark.parametrize("k, n", [(9, 300), (20, 400), (48, 12), (64, 40), (70, 50)])
def test_larger_stacks_with_bad_matrices(backend, k, n):
    # Larger matrices take the compiled LU (up to 64 x 64) or NumPy's inverse and SVD, in chunks
    # on helper threads for big stacks; a NaN, an inf, an exactly and a numerically singular
    # matrix in the stack must each get the reference's answer and leave the others alone.
    rng = np.random.default_rng(k)
    g = rng.standard_normal((n, k, k))
    g[1, 2, 3] = np.nan
    g[2, 0, 0] = np.inf
    g[3, 4] = 0.0  # a zero row: an exact zero pivot
    g[4, :, 1] = g[4, :, 0] * (1 + 1e-17)  # two equal columns: singular at working precision
    ok = np.ones(n, dtype=bool)
    ok[1:5] = False
    cond = np.linalg.cond(g[ok])
    got = backend.condition_number(g)
    assert_allclose(got[ok], cond, rtol=1e-9)
    assert np.isnan(got[1]) and np.isnan(got[2]) and got[3] == np.inf and got[4] == np.inf
    lam = backend.rga(g)
    assert_allclose(lam[ok], invertible_rga(g[ok]), rtol=1e-7, atol=1e-9)
    assert np.isnan(lam[1]).all() and np.isnan(lam[2]).all()
    want = g[3:5] * np.swapaxes(np.linalg.pinv(g[3:5], rcond=k * np.finfo(float).eps), -1, -2)
    assert_allclose(lam[3:5], want, rtol=1e-7, atol=1e-9)
    assert_allclose(lam[ok].sum(axis=-1), 1.0, rtol=1e-8)


def batch_of_hard_cases(rng, n, k, m):
    """n k x m matrices, each drawn from a mix that makes lanes of one block converge at different
    sweeps: random, well and badly conditioned (1e2 .. 1e12), identity-like (no rotation), rank
    deficient, zero, NaN and inf, scaled by 1e-200 .. 1e200, and with a column 1e-150 of the rest."""
    out = np.empty((n, k, m))
    r = min(k, m)
    for q in range(n):
        kind = rng.integers(10)
        if kind == 0:
            g = np.eye(k, m) * rng.uniform(0.5, 2.0)
        elif kind in (1, 2):
            u, _ = np.linalg.qr(rng.standard_normal((k, k)))
            v, _ = np.linalg.qr(rng.standard_normal((m, m)))
            s = np.zeros((k, m))
            np.fill_diagonal(s, np.geomspace(1.0, 10.0 ** rng.uniform(2, 12), r))
            g = u @ s @ v.T
        elif kind == 3 and r > 1:
            g = rng.standard_normal((k, r - 1)) @ rng.standard_normal((r - 1, m))
        elif kind == 4:
            g = np.zeros((k, m))
        elif kind == 5:
            g = rng.standard_normal((k, m))
            g[rng.integers(k), rng.integers(m)] = rng.choice([np.nan, np.inf, -np.inf])
        elif kind == 6:
            g = rng.standard_normal((k, m))
            g[:, rng.integers(m)] *= 1e-150
        else:
            g = rng.standard_normal((k, m))
        out[q] = g * 10.0 ** rng.choice([0.0, -200.0, 200.0, rng.uniform(-5, 5)])
    return out


SHAPES = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (2, 5), (6, 3), (1, 7), (8, 8), (12, 9), (7, 16), (16, 16)]


@pytest.mark.parametrize("k, m", SHAPES)
@pytest.mark.parametrize("n", [1, 3, 15, 16, 17, 35, 100])
def test_batched_jacobi_gives_the_scalar_bits(k, m, n):
    # The batched one-sided Jacobi (16 matrices in vector lanes; generic, AVX2 and AVX-512
    # builds) runs the scalar routine's operations in the same order: the same bits, for a
    # block that is full or not, lanes that stop rotating at different sweeps, and NaN, inf,
    # zero and singular lanes next to ordinary ones.
    from kernel_support import compiled_kernel

    mod = compiled_kernel()
    if mod is None:
        pytest.skip("metricsense._kernel is not built")
    g = batch_of_hard_cases(np.random.default_rng(1000 * k + 10 * m + n), n, k, m)
    scalar = mod._cond_small(g, 0)
    for isa in range(1, mod._JACOBI_ISA + 1):
        assert_array_equal(mod._cond_small(g, isa), scalar, err_msg=f"isa={isa}")
    assert_array_equal(mod._cond_small(g), scalar)
    assert_array_equal(mod.condition_number(g), scalar)


def test_batched_jacobi_rejects_what_it_cannot_run():
    from kernel_support import compiled_kernel

    mod = compiled_kernel()
    if mod is None:
        pytest.skip("metricsense._kernel is not built")
    with pytest.raises(ValueError):
        mod._cond_small(np.ones((2, 3, 3)), mod._JACOBI_ISA + 1)
    with pytest.raises(ValueError):
        mod._cond_small(np.ones((2, 17, 3)))
    assert mod._cond_small(np.ones((0, 3, 3))).shape == (0,)


@pytest.mark.parametrize("k, m", SHAPES)
def test_hard_batches_match_numpy(backend, k, m):
    # Against numpy.linalg.cond: to 1e-9 where the condition number is at most 1e4 (the
    # accuracy of either SVD is about eps * cond), inf where NumPy's own singular values fall
    # below the cutoff by a clear margin, NaN for NaN and inf, and the lanes do not disturb
    # each other (each matrix alone gives the same).
    rng = np.random.default_rng(7 * k + m)
    g = batch_of_hard_cases(rng, 53, k, m)
    got = backend.condition_number(g)
    finite = np.isfinite(g).all(axis=(1, 2))
    assert np.isnan(got[~finite]).all() and not np.isnan(got[finite]).any()
    sv = np.linalg.svd(np.where(finite[:, None, None], g, 0.0), compute_uv=False)
    ratio = sv[:, -1] / np.maximum(sv[:, 0], 1e-300)
    cut = max(k, m) * np.finfo(float).eps
    sure_singular = finite & ((sv[:, 0] == 0) | (ratio < cut / 100))
    assert (got[sure_singular] == np.inf).all()
    ok = finite & (ratio > 1e-4)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_allclose(got[ok], np.linalg.cond(g[ok]), rtol=1e-9)
    assert_array_equal([backend.condition_number(g[q]) for q in range(len(g))], got)


@pytest.mark.parametrize("k, m", [(7, 7), (8, 8), (9, 5), (12, 12), (3, 14), (16, 16)])
def test_condition_number_of_larger_small_matrices(backend, k, m):
    # Up to 16 x 16 the condition number is the batched Jacobi's, beyond it LAPACK's SVD.
    rng = np.random.default_rng(k * m)
    u, _ = np.linalg.qr(rng.standard_normal((200, k, k)))
    v, _ = np.linalg.qr(rng.standard_normal((200, m, m)))
    s = np.zeros((200, k, m))
    for q in range(200):
        np.fill_diagonal(s[q], 10.0 ** rng.uniform(0, 4, size=min(k, m)))
    g = u @ s @ np.swapaxes(v, -1, -2)
    assert_allclose(backend.condition_number(g), np.linalg.cond(g), rtol=1e-9)
    assert_allclose(backend.condition_number(g * 1e-250), np.linalg.cond(g), rtol=1e-9)


@pytest.mark.parametrize("shape", [(3, 0, 2), (2, 0, 0), (1, 0, 17), (0, 3)])
def test_an_empty_gain_matrix_has_no_condition_number(backend, shape):
    """No KPIs or no levers: NaN (there is no smallest singular value), never a crash."""
    out = np.asarray(backend.condition_number(np.zeros(shape)))
    assert out.shape == shape[:-2] and np.isnan(out).all()
