"""The correlation record's storage: arrays, not nested lists (issue 25: at 10,000 KPIs the lists
took 4 GB), read as the rows of lists every reader had.

Structural claims only (dtypes, bytes held, no list inside the record), never a measured memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle

import numpy as np
import pytest

import metricsense
from metricsense.encoding import finite_lists
from metricsense.evaluators.compact import CORRELATION_FLOOR, PAIRS_PER_KPI
from metricsense.evaluators.correlation import corrected_effective_number, pair_counts, participation
from metricsense.evaluators.matrices import Matrix, counts, pairwise_sum
from metricsense.evaluators.records import CorrelationAnalysis
from metricsense.kernels import reference

K, T = 40, 30


def system(tmp_path, gaps: bool = False) -> CorrelationAnalysis:
    """K KPIs over T weeks, two common factors (so pairs above the compact floor exist)."""
    rng = np.random.default_rng(5)
    values = np.cumsum(rng.standard_normal((T, K)) + rng.standard_normal((T, 2)) @ rng.standard_normal((2, K)),
                       axis=0) + 50
    if gaps:
        values[rng.random(values.shape) < 0.1] = np.nan
    lines = ["period," + ",".join(f"k{i}" for i in range(K))]
    for w in range(T):
        day = dt.date(2024, 1, 1) + dt.timedelta(weeks=w)
        lines.append(day.isoformat() + "," + ",".join("" if np.isnan(v) else f"{v:.4f}" for v in values[w]))
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    spec = ['data "data.csv"'] + [f'kpi k{i} "KPI {i}" {{ kind output }}' for i in range(K)]
    (tmp_path / "spec.msense").write_text("\n".join(spec) + "\n")
    report = metricsense.check(tmp_path / "spec.msense", config={"time-budget": 1e9})
    (analysis,) = report.analysis.values()
    record = CorrelationAnalysis.of(analysis)
    assert record is not None and len(record.kpis) == K
    return record


def no_lists(record) -> None:
    for f in dataclasses.fields(record):
        assert not isinstance(getattr(record, f.name), list), f.name


def test_the_record_holds_arrays_read_as_rows_of_lists(tmp_path):
    record = system(tmp_path)
    no_lists(record)
    r = record.matrix.array
    assert isinstance(record.matrix, Matrix) and r.dtype == np.float64 and r.shape == (K, K)
    assert record.matrix.nbytes == K * K * 8 and not r.flags.writeable
    # every KPI has every change but the first: one count for every pair, no array behind it
    assert record.n.nbytes == 0 and record.n.array.dtype == np.uint8 and record.n.shape == (K, K)
    assert record.n[3] == [T - 1] * K and np.asarray(record.n)[2, 7] == T - 1
    # the reading the nested lists gave: rows of Python floats (None where not finite), to_json whole
    assert len(record.matrix) == K and record.matrix[0] == finite_lists(r[0])
    assert all(type(v) is float for v in record.matrix[1])
    assert list(record.matrix) == record.matrix.to_json() == finite_lists(r)
    assert record.to_json()["n"] == [[T - 1] * K for _ in range(K)]
    assert np.asarray(record.matrix) is r  # no copy for NumPy readers
    with pytest.raises(ValueError):
        r[0, 1] = 0.5
    again = pickle.loads(pickle.dumps(record))
    assert again == record and again.n.nbytes == 0


def test_compact_pairs_are_the_strongest_above_the_floor(tmp_path):
    record = system(tmp_path)
    r = record.matrix.array
    i, j = np.triu_indices(K, 1)
    strength = np.abs(r[i, j])
    above = [(-s, a, b) for s, a, b in zip(strength, i, j) if s >= CORRELATION_FLOOR]
    expected = [[record.kpis[a], record.kpis[b]] for _, a, b in sorted(above)[: PAIRS_PER_KPI * K]]
    compact = record.compact()
    assert compact["pairs_above_floor"] == len(above) > 0
    assert [p["kpis"] for p in compact["pairs"]] == expected
    assert all(p["n"] == T - 1 and p["r"] == r[record.kpis.index(p["kpis"][0]), record.kpis.index(p["kpis"][1])]
               for p in compact["pairs"])


def test_gaps_give_counts_in_the_smallest_type(tmp_path):
    record = system(tmp_path, gaps=True)
    no_lists(record)
    assert record.n.array.dtype == np.uint8 and record.n.nbytes == K * K
    # the counts, independently: periods where both KPIs have a change
    rows = (tmp_path / "data.csv").read_text().splitlines()[1:]
    present = np.array([[cell != "" for cell in row.split(",")[1:]] for row in rows])
    both = present[1:] & present[:-1]
    assert np.array_equal(np.asarray(record.n), both.T.astype(int) @ both.astype(int))


def test_counts_and_lists_given_by_hand():
    record = CorrelationAnalysis("changes", "pearson", ("a", "b"), [[1.0, None], [None, 1.0]], [[9, 0], [0, 9]],
                                 None, 0, ())
    assert record.matrix.array.dtype == np.float64 and np.isnan(record.matrix.array[0, 1])
    assert record.matrix[0] == [1.0, None] and record.n[1] == [0, 9] and record.n.array.dtype == np.uint8
    assert counts(np.full((3, 3), 70000)).array.dtype == np.uint32
    assert pair_counts(np.ones((300, 4))).nbytes == 0 and pair_counts(np.ones((300, 4)))[0] == [300] * 4


def test_blocked_sums_are_numpys_to_the_bit():
    # MS102's and the effective number's sums are made by blocks as NumPy sums the whole
    rng = np.random.default_rng(3)
    r = rng.uniform(-1, 1, (150, 150))
    r = (r + r.T) / 2
    np.fill_diagonal(r, 1.0)
    flat = r.reshape(-1)
    assert pairwise_sum(flat.size, lambda lo, hi: flat[lo:hi], limit=1000) == flat.sum()
    assert participation(r) == reference.participation_ratio(r)
    n = rng.integers(0, 40, (150, 150))
    eye, r2 = np.eye(150, dtype=bool), r * r
    adj = np.where(~eye & (n > 2), np.maximum(r2 - (1 - r2) / np.maximum(n - 2, 1), 0.0), np.where(eye, 0.0, r2))
    assert corrected_effective_number(r, n) == float(150 * 150 / (150 + adj.sum()))


def test_the_gain_record_holds_arrays_too():
    from pathlib import Path

    from metricsense.evaluators.records import GainAnalysis

    example = Path(__file__).parents[2] / "examples" / "customer-love"
    report = metricsense.check(example, config={"time-budget": 1e9})
    gains = [GainAnalysis.of(a) for a in report.analysis.values() if GainAnalysis.of(a) is not None]
    assert gains
    for gain in gains:
        shape = (len(gain.kpis), len(gain.levers))
        for m in (gain.matrix, gain.rga):
            assert isinstance(m, Matrix) and m.array.dtype == np.float64 and m.shape == shape
            assert m.nbytes == shape[0] * shape[1] * 8
            assert m.to_json() == finite_lists(m.array) == [list(row) for row in m]
    # an infinity reads as None, and as NaN for NumPy readers, as the lists gave it
    g = gains[0]
    bad = dataclasses.replace(g, rga=np.full(g.rga.shape, np.inf))
    assert bad.rga[0][0] is None and np.isnan(np.asarray(bad.rga)).all()
    assert bad.to_json()["rga"] == [[None] * len(g.levers) for _ in g.kpis]
