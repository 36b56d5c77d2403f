"""``pair_dots`` (MS402's batched step tests): each backend's inner products of listed pairs of
rows against math.fsum of the products (correctly rounded), rel 1e-13 (the order of a sum of up
to 104 products moves its last bits); repeated and self pairs, odd lengths, indices checked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernel_support import backend  # noqa: F401 (fixture)


@pytest.mark.parametrize("T", [1, 3, 4, 7, 104])
def test_pair_dots_are_the_sums_of_products(backend, T):  # noqa: F811
    rng = np.random.default_rng(T)
    v = rng.normal(0, 1, (5, 9, T)) * 10.0 ** rng.integers(-3, 4, (5, 9, 1))
    i = np.array([0, 3, 3, 8, 2, 5, 5])
    j = np.array([1, 3, 7, 0, 2, 5, 6])
    got = backend.pair_dots(v, i, j)
    assert got.shape == (5, len(i))
    for m in range(5):
        for p in range(len(i)):
            want = math.fsum(float(a) * float(b) for a, b in zip(v[m, i[p]], v[m, j[p]]))
            assert got[m, p] == pytest.approx(want, rel=1e-13, abs=1e-300)


def test_pair_dots_of_no_pairs_and_bad_indices(backend):  # noqa: F811
    v = np.ones((3, 4, 5))
    assert backend.pair_dots(v, np.zeros(0, np.intp), np.zeros(0, np.intp)).shape == (3, 0)
    with pytest.raises(ValueError):
        backend.pair_dots(v, np.array([0, 4]), np.array([1, 1]))
    with pytest.raises(ValueError):
        backend.pair_dots(v, np.array([0, -1]), np.array([1, 1]))
    with pytest.raises(ValueError):
        backend.pair_dots(v[0], np.array([0]), np.array([1]))
