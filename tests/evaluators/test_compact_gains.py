"""The compact JSON's gain entries (``compact._entries``) read a matrix as one array: the same
entries, in the same row-major order, as the walk over its values it replaced (None, NaN and
the infinities are no gain, nor is 0; a boolean is not a number), for nested lists of floats
and float arrays (what gain records hold)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricsense.evaluators.compact import _entries


def walked(matrix) -> list[tuple[int, int, float]]:
    found = []
    for a, row in enumerate(matrix):
        for b, v in enumerate(row):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v != 0:
                found.append((a, b, float(v)))
    return found


@pytest.mark.parametrize("seed", range(8))
def test_entries_are_the_walks(seed):
    rng = np.random.default_rng(seed)
    k, m = rng.integers(1, 30), rng.integers(1, 12)
    values = rng.normal(0, 2, (k, m))
    values[rng.random((k, m)) < 0.4] = 0.0
    values[rng.random((k, m)) < 0.1] = np.nan
    values[rng.random((k, m)) < 0.05] = np.inf
    nested = [[None if math.isnan(v) else (int(v) if v == 0 else float(v)) for v in row] for row in values]
    want = walked(nested)
    assert _entries(nested) == want
    assert _entries(values) == want
    assert want  # the draws hold gains


def test_ragged_rows_booleans_and_empty():
    assert _entries([[1.0, 0, 2], [None, -3.5]]) == [(0, 0, 1.0), (0, 2, 2.0), (1, 1, -3.5)]
    assert _entries([[True, 2.0], [0.0, False]]) == [(0, 1, 2.0)]
    assert _entries([]) == [] and _entries([[]]) == []
