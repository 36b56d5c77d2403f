"""MS302's sequential bootstrap p-value (Besag & Clifford 1991) against the full bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricsense.evaluators import serial
from metricsense.evaluators.records import NoiseAnalysis
from support import weekly_trigger_check

H, B = serial.EXCEEDANCES, serial.BOOTSTRAP


def test_sequential_p_stops_at_the_hth_exceedance_whatever_the_blocks():
    rng = np.random.default_rng(3)
    for trial in range(200):
        share = rng.uniform(0.0, 0.3)
        rates = np.where(rng.random(B) < share, 0.05, 0.2) + rng.uniform(-0.01, 0.01, B)
        asked = []

        def rates_of(lo, hi):
            asked.append((lo, hi))
            return rates[lo:hi]

        p, used = serial.sequential_rate_p(rates_of, 0.1, 10_000)
        hits = np.cumsum(rates <= 0.1)
        if hits[-1] >= H:
            n = int(np.argmax(hits >= H)) + 1
            assert (p, used) == (H / n, n)
            assert p > 0.05  # an early stop is never a finding at 5%
            assert asked[-1][0] < n  # no block started after the stop
        else:
            assert (p, used) == (serial.rate_p_value(rates, 0.1, 10_000), B)
        assert asked == [(0, H), (H, 3 * H), (3 * H, B)][:len(asked)]  # blocks of h, 2h, the rest
    # a non-finite replicate is not counted among the replicates used
    rates = np.full(B, 0.05)
    rates[3] = np.nan
    assert serial.sequential_rate_p(lambda lo, hi: rates[lo:hi], 0.1, 10_000) == (H / H, H)


def _check(tmp, x, threshold: float, n: int):
    return weekly_trigger_check(tmp, x, f'x < {threshold:.4f} for {n} period{"s" if n > 1 else ""}')


def test_sequential_bootstrap_agrees_with_the_full_bootstrap_on_fixed_seeds(tmp_path, monkeypatch):
    """Seeded AR(1) (phi 0 to 0.95) and random-walk KPIs with thresholds from rarely to often
    crossed, through `metricsense.check`: beside each sequential p-value, the same 199 replicates
    in full. Where the sequential test stopped early, its p-value is within Monte Carlo error of
    the full bootstrap's share of replicates at or below the bound (3 binomial standard errors
    at the replicates used) and the full bootstrap's own p-value says no finding either in the
    clear cases (p > 0.02); where it did not stop, it is the full bootstrap's p-value exactly."""
    seen = []
    plain = serial.sequential_blocks

    def beside(bound, cells, **kw):  # the same blocks, after the whole bootstrap's rates
        every = np.asarray((yield 0, B), dtype=float)
        p, used = yield from plain(bound, cells, **kw)
        seen.append((every, bound, cells, p, used))
        return p, used

    monkeypatch.setattr(serial, "sequential_blocks", beside)
    rng = np.random.default_rng(2025)
    for case in range(24):
        phi = (0.0, 0.5, 0.8, 0.95, 1.0)[case % 5]
        e = rng.standard_normal(104)
        x = np.empty(104)
        x[0] = e[0] / math.sqrt(1 - phi ** 2) if phi < 1 else 0.0
        for t in range(1, 104):
            x[t] = phi * x[t - 1] + e[t]
        x += 50
        q = (2, 10, 25, 40)[case % 4]  # thresholds at the 2nd to 40th percentile of the history
        _check(tmp_path, x, float(np.percentile(x, q)), 1 + case % 2)
    stopped = full = 0
    for every, bound, cells, p, used in seen:
        k = int((every <= bound).sum())
        p_full = serial.rate_p_value(every, bound, cells)
        if k >= H:
            stopped += 1
            share = k / B
            assert used <= B and p == H / used and p > 0.05
            assert abs(p - share) <= 3 * math.sqrt(share * (1 - share) / used) + 1 / B, (p, share, used)
            if abs(p_full - 0.05) > 0.03:
                assert p_full > 0.05, (p, p_full)  # the same decision: no finding
        else:
            full += 1
            assert (p, used) == (p_full, B)
    assert stopped >= 5 and full >= 5, (stopped, full)


def test_the_analysis_says_how_many_replicates_were_used(tmp_path):
    x = 50 + np.random.default_rng(30).standard_normal(104)
    often = _check(tmp_path, x, 49.5, 1)  # below in about 31% of weeks: no replicate near 10%
    info = NoiseAnalysis.of(*often.analysis.values()).kpis["x"].triggers["up"]
    assert info["bootstrap"] == B and info["p_model"] < 1e-3
    rare = _check(tmp_path, x, 48.3, 1)  # 3% of weeks: stops at the 10th replicate
    info = NoiseAnalysis.of(*rare.analysis.values()).kpis["x"].triggers["up"]
    assert info["p_history"] < 1 and info["bootstrap"] == H and info["p_model"] == pytest.approx(1.0)
    assert "model_test" not in info


def test_no_bootstrap_where_the_history_says_p_1(tmp_path):
    """A trigger whose history gives p = 1 (it never held here) has an intersection-union p-value
    of 1 whatever its model's: the bootstrap is not run, and the analysis says so."""
    x = 50 + np.random.default_rng(30).standard_normal(104)
    never = _check(tmp_path, x, 47.7, 1)
    info = NoiseAnalysis.of(*never.analysis.values()).kpis["x"].triggers["up"]
    assert info["history_share"] == 0 and info["p_history"] == 1.0
    assert info["p_value"] == 1.0 and info["p_model"] is None and info["bootstrap"] == 0
    assert info["model_test"] == "not run: p_history is 1, so p_value is 1"
    assert info["rate"] >= 0 and info["rate_per_run"] >= 0  # the model's rates are still estimated
    assert not [d for d in never.diagnostics if d.code == "MS302"]
