"""The branch and bound returns exactly what enumerating every set returns, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from metricsense.selection import losses
from metricsense.selection.search import Stats, branch_and_bound, enumerate_best


def _random_system(rng, ny, nu, nd, ties: str):
    gy, gyd = rng.normal(size=(ny, nu)), rng.normal(size=(ny, nd))
    wn = rng.uniform(0.05, 1.0, ny)
    if ties in ("twins", "all") and ny >= 3:  # two KPIs alike: every set with one ties the set with the other
        gy[1], gyd[1], wn[1] = gy[0], gyd[0], wn[0]
    if ties in ("mute", "all"):  # a KPI no lever moves: every square set holding it is singular
        gy[int(rng.integers(ny))] = 0
    if ties == "integers":  # small integer gains: exactly equal losses between different sets
        gy, gyd = rng.integers(-2, 3, size=(ny, nu)).astype(float), rng.integers(-1, 2, size=(ny, nd)).astype(float)
        wn = np.ones(ny)
    a = rng.normal(size=(nu, nu))
    juu = a @ a.T + nu * np.eye(nu)
    return losses.prepare(gy, gyd, juu, rng.normal(size=(nu, nd)), rng.uniform(0.5, 2, nd), wn)


def test_branch_and_bound_equals_enumeration_on_thousands_of_random_systems():
    rng = np.random.default_rng(2024)
    kinds = ("none", "twins", "mute", "integers", "all")
    compared = 0
    for trial in range(2000):
        ny = int(rng.integers(2, 8))
        nu = int(rng.integers(1, min(4, ny) + 1))
        nd = int(rng.integers(1, 4))
        prep = _random_system(rng, ny, nu, nd, kinds[trial % len(kinds)])
        size = int(rng.integers(nu, ny + 1))
        top = (1, 3)[trial // len(kinds) % 2]
        expected = enumerate_best(prep, size, top)
        assert branch_and_bound(prep, size, top) == expected, (trial, size, top)
        compared += 1
    assert compared == 2000


def test_integer_gains_do_tie_and_the_tie_is_broken_by_the_kpis_order():
    # twin KPIs 0 and 1: {0, 2} and {1, 2} have exactly the same loss; the smaller indices come first
    gy = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gyd = np.array([[1.0], [1.0], [0.0], [2.0]])
    prep = losses.prepare(gy, gyd, np.eye(2), np.zeros((2, 1)), [1.0], [0.5, 0.5, 0.5, 0.5])
    found = branch_and_bound(prep, 2, 2)
    assert found == enumerate_best(prep, 2, 2)
    assert [rows for _, rows in found] == [(0, 2), (1, 2)] and found[0][0] == found[1][0]


def test_the_bounds_prune():
    # a larger system: the search evaluates far fewer sets than there are
    rng = np.random.default_rng(5)
    prep = _random_system(rng, 24, 3, 2, "none")
    stats = Stats()
    branch_and_bound(prep, 3, 1, stats)
    assert stats.evaluated < 2024 / 4  # C(24, 3) = 2024


def test_sizes_outside_the_levers_and_kpis_are_refused():
    prep = _random_system(np.random.default_rng(1), 5, 2, 1, "none")
    with pytest.raises(ValueError):
        branch_and_bound(prep, 1, 1)
    with pytest.raises(ValueError):
        branch_and_bound(prep, 6, 1)
