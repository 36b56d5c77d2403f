"""serial's autocorrelations, spread test and Andrews bandwidth against the NumPy forms they were
first written in (np.mean, np.clip, the sliding window view): the same values to the bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricsense.evaluators import serial


def _autocorrs(x, lags):
    x = np.asarray(x, dtype=float)
    x = x - x.mean() if len(x) else x
    out = np.zeros(max(int(lags), 0))
    den = float(x @ x)
    if den <= 0 or not len(out):
        return out
    j = min(len(out), len(x) - 1)
    if j < 1:
        return out
    w = np.lib.stride_tricks.sliding_window_view(np.concatenate([x, np.zeros(j)]), j + 1)[: len(x)]
    out[:j] = (x @ w)[1:] / den
    return out


def _spread_test(e, gap, ratio, lags):
    e = np.asarray(e, dtype=float)
    n = len(e)
    if n < 3:
        return math.nan, math.nan, math.nan
    d = e - e.mean()
    var = float(d @ d) / (n - 1)
    if not var > 0:
        return 0.0, math.nan, math.nan
    r = _autocorrs(d, min(max(int(lags), n // 4), n - 2))
    kurt = float(np.mean(d ** 4)) / float(np.mean(d ** 2)) ** 2
    nu = (n - 1) / ((1 + 2 * float(r @ r)) * max(1.0, (kurt - 1) / 2))
    s = math.sqrt(var)
    if gap == 0:
        return s, nu, 0.0
    return s, nu, serial.chi2_sf(nu * var * ratio ** 2 / gap ** 2, nu)


def _andrews_lags(psi):
    psi = np.asarray(psi, dtype=float)
    n = len(psi)
    num = den = 0.0
    for col in psi.T:
        a, b = col[:-1], col[1:]
        rho = float(np.clip(a @ b / (a @ a), -0.97, 0.97)) if a @ a > 0 else 0.0
        s2 = float(np.mean((b - rho * a) ** 2))
        num += 4 * rho ** 2 * s2 ** 2 / ((1 - rho) ** 6 * (1 + rho) ** 2)
        den += s2 ** 2 / (1 - rho) ** 4
    alpha = num / den if den > 0 else 0.0
    return int(min(n // 3, math.floor(1.1447 * (alpha * n) ** (1 / 3))))


def _series(rng, n):
    yield rng.normal(0, 1, n)
    yield np.cumsum(rng.normal(0, 1, n)) * 1e6
    yield rng.standard_t(2, n)
    yield np.round(rng.normal(0, 1, n), 1)
    yield np.full(n, 2.5)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.99 * x[t - 1] + rng.normal()
    yield x


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 9, 17, 104, 129, 520])
def test_the_fast_forms_are_the_numpy_ones(n):
    rng = np.random.default_rng(n)
    for x in _series(rng, n):
        for lags in (0, 1, 3, n // 4, n + 2):
            assert np.array_equal(serial.autocorrs(x, lags), _autocorrs(x, lags))
        for gap, lags in ((0.0, 1), (0.3, 4), (-2.0, 10)):
            assert repr(serial.spread_test(x, gap, 1.0, lags)) == repr(_spread_test(x, gap, 1.0, lags))
        if n >= 2:
            assert serial.andrews_lags(x[:, None]) == _andrews_lags(x[:, None])
            both = np.column_stack([x, rng.normal(0, 1, n), -x])
            assert serial.andrews_lags(both) == _andrews_lags(both)


def test_share_test_on_firings_is_unchanged():
    rng = np.random.default_rng(3)
    for n in (2, 5, 52, 104, 300):
        for p in (0.0, 0.05, 0.3, 1.0):
            hits = (rng.random(n) < p).astype(float)
            known = np.ones(n)
            known[rng.random(n) < 0.1] = 0
            got = serial.share_test(hits * known, known, 0.1, 2)
            # the oracle: share_test's arithmetic with known.mean() and the NumPy bandwidth
            keep = known > 0
            h, k = hits[keep] * known[keep], known[keep]
            t = len(k)
            if t < 2:
                assert all(math.isnan(v) for v in got)
                continue
            share = float(h.sum() / k.sum())
            u = (h - share * k) / k.mean()
            lags = max(int(math.floor(4 * (t / 100.0) ** (2.0 / 9.0))), 2,
                       _andrews_lags(u[:, None]) if np.any(u != u[0]) else 0)
            lags = min(lags, t - 1)
            s = float(np.dot(u, u))
            for j in range(1, lags + 1):
                g = float(np.dot(u[j:], u[:-j]))
                s += (1 - j / (lags + 1)) * (g + g)
            se = math.sqrt(max(s, 0.0)) / t
            want = (share, 0.0, (0.0 if share > 0.1 else 1.0)) if not se > 0 else \
                (share, se, 0.5 * math.erfc((share - 0.1) / se / math.sqrt(2)))
            assert repr(got) == repr(want)


def test_a_comparisons_forecasts_are_serial_forecasts():
    """noise_models._forecasts (one side of each np.where made) against serial.forecasts: same values and shapes."""
    from metricsense.evaluators import noise_models

    rng = np.random.default_rng(0)
    for _ in range(2000):
        u = int(rng.integers(1, 4))
        phi = float(rng.choice([rng.uniform(-0.95, 0.99), 1.0, 0.0, -0.5, 0.98]))
        model = serial.AR1(phi=phi, sigma=float(rng.uniform(0.01, 5)), drift=float(rng.choice([0.0, rng.normal()])),
                           mean=rng.normal(0, 10, u) * rng.choice([1, 1e6]), last=rng.normal(0, 10, u), pairs=50,
                           walk=phi >= 1)
        horizon = int(rng.integers(13, 105))
        for got, want in zip(noise_models._forecasts(model, horizon), serial.forecasts(model, horizon)):
            assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
            assert np.array_equal(np.signbit(got), np.signbit(want))


def test_median_is_numpys_to_the_bit():
    rng = np.random.default_rng(9)
    for n in (1, 2, 3, 4, 5, 8, 9, 104):
        for _ in range(50):
            x = np.round(rng.normal(0, 1, n), 1) * rng.choice([-0.0, 0.0, 1.0], n)
            if rng.random() < 0.1:
                x[0] = np.nan
            assert repr(serial.median(x)) == repr(float(np.median(x)))
