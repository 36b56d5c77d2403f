"""metricsense._select (the compiled bounds) against their NumPy reference in metricsense.selection.search."""

from __future__ import annotations

import os

import numpy as np
import pytest

from metricsense.selection import losses
from metricsense.selection import search


def test_the_compiled_bounds_are_built():
    if os.environ.get("METRICSENSE_PUREPYTHON", "") not in ("", "0"):
        pytest.skip("the reference is forced")
    assert search.BACKEND == "cython"


@pytest.mark.skipif(search.BACKEND != "cython", reason="metricsense._select is not built")
def test_compiled_bounds_equal_the_reference():
    rng = np.random.default_rng(11)
    for _ in range(300):
        ny = int(rng.integers(3, 15))
        nu = int(rng.integers(1, min(5, ny)))
        nd = int(rng.integers(1, 4))
        a = rng.normal(size=(nu, nu))
        prep = losses.prepare(rng.normal(size=(ny, nu)), rng.normal(size=(ny, nd)), a @ a.T + nu * np.eye(nu),
                              rng.normal(size=(nu, nd)), np.ones(nd), rng.uniform(0.05, 1, ny))
        perm = rng.permutation(ny)
        f = int(rng.integers(0, nu))
        fixed, cand = tuple(int(x) for x in perm[:f]), perm[f:]
        cut = float(rng.uniform(0, 1.2)) * search.criterion(prep, range(ny))
        for got, want in ((search.upward_square(prep, fixed, cand, cut), search._upward_square(prep, fixed, cand, cut)),
                          (search.downward(prep, list(fixed) + cand.tolist(), f, cut),
                           search._downward(prep, list(fixed) + cand.tolist(), f, cut))):
            assert (got is None) == (want is None)
            if got is not None:
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.skipif(search.BACKEND != "cython", reason="metricsense._select is not built")
def test_the_search_gives_the_same_sets_with_either_backend(monkeypatch):
    rng = np.random.default_rng(12)
    a = rng.normal(size=(3, 3))
    prep = losses.prepare(rng.normal(size=(18, 3)), rng.normal(size=(18, 2)), a @ a.T + 3 * np.eye(3),
                          rng.normal(size=(3, 2)), np.ones(2), rng.uniform(0.05, 1, 18))
    compiled = search.branch_and_bound(prep, 3, 5)
    monkeypatch.setattr(search, "_FAST", None)
    assert search.branch_and_bound(prep, 3, 5) == compiled == search.enumerate_best(prep, 3, 5)
