"""Shared statistics for serially dependent series (evaluators/serial.py), against statsmodels,
SciPy and plain NumPy simulation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from metricsense.evaluators import serial
from support import require


def test_ols_hac_matches_statsmodels():
    require("statsmodels")
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    n = 80
    x = rng.standard_normal((n, 2))
    e = serial_ar(rng, n, 0.7)
    y = x @ [0.5, -0.2] + e
    xx = np.column_stack([np.ones(n), x])
    coef, cov, _, lags = serial.ols_hac(y, xx)
    fit = sm.OLS(y, xx).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert coef == pytest.approx(fit.params, rel=1e-10)
    assert np.sqrt(np.diag(cov)) == pytest.approx(fit.bse, rel=1e-10)


def test_long_run_covariance_matches_statsmodels():
    require("statsmodels")
    from statsmodels.stats.sandwich_covariance import S_hac_simple

    psi = np.random.default_rng(1).standard_normal((60, 3))
    assert serial._long_run(psi, 4) == pytest.approx(S_hac_simple(psi, nlags=4), rel=1e-10)


def serial_ar(rng, n, phi):
    e = np.empty(n)
    e[0] = rng.standard_normal() / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + rng.standard_normal()
    return e


def test_delta_method_se_of_a_standardised_gain_matches_simulation():
    # persistent regressor and errors: the plain OLS SE understates, the fixed-scale SE too
    rng = np.random.default_rng(2)
    n, reps = 120, 1500
    g_hat, se_hat = [], []
    for _ in range(reps):
        x = serial_ar(rng, n, 0.6)
        y = 0.6 * x + serial_ar(rng, n, 0.6)
        _, _, g, se, _ = serial.standardised_gains(y, x[:, None])
        g_hat.append(g[0])
        se_hat.append(se[0])
    # the mean delta-method SE is within 20% of the Monte Carlo spread of the estimate (Newey-West
    # is short in small samples with persistent terms: measured 0.086 against 0.099 here)
    assert np.mean(se_hat) == pytest.approx(np.std(g_hat), rel=0.2)
    # and the SE that treats the scales as fixed constants is not the delta method's
    assert np.mean(se_hat) > 0.5 * np.std(g_hat)


def test_chi2_sf_matches_scipy():
    stats = require("scipy.stats").stats
    for df in (1, 2, 3, 4, 9):
        for x in (0.01, 0.5, 1.0, 3.84, 10.0, 40.0):
            assert serial.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-9, abs=1e-14)


def test_norm_cdf_matches_scipy():
    stats = require("scipy.stats").stats
    x = np.linspace(-6, 6, 25)
    assert serial.norm_cdf(x) == pytest.approx(stats.norm.cdf(x), rel=1e-12, abs=1e-15)


def test_rank_test_holds_its_size_on_a_rank_one_matrix_and_rejects_full_rank():
    rng = np.random.default_rng(3)
    g_true = np.outer([1.0, 0.8], [0.6, 0.5])  # rank 1
    cov = np.eye(4) * 0.0025
    p_null = [serial.rank_test(g_true + rng.normal(0, 0.05, (2, 2)), cov, 1)[2] for _ in range(4000)]
    # exact chi-square(1) under H0 with a known covariance: the rejection rate is 5% +- 2 MC SE
    assert np.mean(np.array(p_null) <= 0.05) == pytest.approx(0.05, abs=2 * math.sqrt(0.05 * 0.95 / 4000))
    full = np.array([[1.0, 0.1], [0.2, 1.0]])
    assert serial.rank_test(full, cov, 1)[2] < 1e-6


def test_fit_ar1_walk_and_stationary():
    rng = np.random.default_rng(4)
    walk = np.cumsum(rng.standard_normal(80))
    assert serial.fit_ar1(walk).phi > 0.85  # 0.98 and up is fitted as a random walk
    assert serial.fit_ar1(np.cumsum(0.5 + rng.standard_normal(80))).walk
    stationary = serial_ar(rng, 80, 0.3)
    model = serial.fit_ar1(stationary)
    assert not model.walk and 0 < model.phi < 0.7
    assert serial.fit_ar1([1.0, 2.0, np.nan]) is None


def test_lag_search_keeps_its_size_where_the_best_of_seven_did_not():
    # unrelated lever and KPI changes (the KPI's changes autocorrelated): a plain NumPy simulation
    rng = np.random.default_rng(6)
    reps, n = 1000, 100
    ours = old = 0
    for _ in range(reps):
        dx = rng.standard_normal(n)
        dy = np.diff(serial_ar(rng, n + 1, 0.5))
        found = serial.best_lag(dx, dy, +1.0, 6)
        ours += found is not None and found["p_value"] <= 0.05
        r = [np.corrcoef(dx[: n - k], dy[k:])[0, 1] for k in range(7)]
        old += max(r) > 2 / math.sqrt(n - np.argmax(r))
    se = math.sqrt(0.05 * 0.95 / reps)
    assert ours / reps <= 0.05 + 2 * se
    assert old / reps > 0.05 + 2 * se  # the uncorrected search, as the issue measured it


def test_lag_search_finds_a_real_lag():
    rng = np.random.default_rng(7)
    dx = rng.standard_normal(104)
    dy = 0.5 * np.concatenate([np.zeros(3), dx[:-3]]) + rng.standard_normal(104)
    found = serial.best_lag(dx, dy, +1.0, 6)
    assert found["periods"] == 3 and found["p_value"] < 0.001


def test_autocorrs_match_statsmodels_acf():
    require("statsmodels")
    from statsmodels.tsa.stattools import acf

    rng = np.random.default_rng(12)
    for n, lags in ((200, 10), (12, 10), (5, 3)):
        x = serial_ar(rng, n, 0.6)
        want = acf(x, nlags=min(lags, n - 1), adjusted=False, fft=False)[1:]
        got = serial.autocorrs(x, lags)
        assert got[: len(want)] == pytest.approx(want, rel=1e-10, abs=1e-14)
        assert serial.autocorr(x, 2) == pytest.approx(want[1], rel=1e-10)
    assert not serial.autocorrs(np.ones(20), 4).any()  # a constant series: no correlation
    assert serial.autocorr(np.arange(5.0), 5) == 0.0  # a lag past the end


def _best_lag_by_loops(dx, dy, sign, max_lag, least=12):
    """The lag search written out with np.corrcoef and statsmodels' acf (an independent version)."""
    from statsmodels.tsa.stattools import acf

    best, searched = None, 0
    for k in range(min(max_lag + 1, len(dx))):
        a, b = dx[: len(dx) - k], dy[k:]
        ok = ~np.isnan(a) & ~np.isnan(b)
        if ok.sum() < least or a[ok].std() == 0 or b[ok].std() == 0:
            continue
        searched += 1
        a, b, n = a[ok], b[ok], int(ok.sum())
        r = np.corrcoef(a, b)[0, 1] * np.sign(sign)
        j = min(10, n // 4)
        ra, rb = acf(a, nlags=j, adjusted=False, fft=False)[1:], acf(b, nlags=j, adjusted=False, fft=False)[1:]
        z = r / math.sqrt(max(1 + 2 * ra @ rb, 0.1) / n)
        if best is None or z > best[3]:
            best = (k, r, n, z)
    return best[0], best[1], best[2], min(1.0, searched * stats_norm_sf(best[3]))


def stats_norm_sf(z):
    return require("scipy.stats").stats.norm.sf(z)


def test_vectorised_lag_search_matches_the_plain_loops():
    require("statsmodels")
    rng = np.random.default_rng(13)
    for trial in range(20):
        n = int(rng.integers(20, 150))
        dx = rng.standard_normal(n)
        dy = 0.3 * np.roll(dx, trial % 4) + rng.standard_normal(n)
        dx[rng.random(n) < 0.1] = np.nan
        found = serial.best_lag(dx, dy, 1.0 if trial % 2 else -1.0, 6)
        k, r, m, p = _best_lag_by_loops(dx, dy, 1.0 if trial % 2 else -1.0, 6)
        assert (found["periods"], found["n"]) == (k, m)
        assert found["correlation"] == pytest.approx(r, rel=1e-10)
        assert found["p_value"] == pytest.approx(p, rel=1e-8, abs=1e-15)


def test_rate_p_value_is_the_normal_tail_of_the_logit_bootstrap():
    stats = require("scipy.stats").stats
    rng = np.random.default_rng(14)
    boot = 1 / (1 + np.exp(-rng.normal(-1.0, 0.3, 199)))  # rates around 27%
    lo = np.log(boot / (1 - boot))
    want = stats.norm.cdf((math.log(0.1 / 0.9) - lo.mean()) / lo.std(ddof=1))
    assert serial.rate_p_value(boot, 0.1, 10_000) == pytest.approx(want, rel=1e-10)
    assert serial.rate_p_value(boot, 0.1, 10_000) < 1e-4  # finer than 1 / (B + 1)
    # the share of bootstrap rates at or below the bound, smoothed: close to it in the body
    mid = 1 / (1 + math.exp(1.0))
    assert serial.rate_p_value(boot, mid, 10_000) == pytest.approx(np.mean(boot <= mid), abs=0.06)


def test_share_test_matches_statsmodels_hac_on_the_linearised_share():
    require("statsmodels")
    import statsmodels.api as sm

    stats = require("scipy.stats").stats
    rng = np.random.default_rng(15)
    x = serial_ar(rng, 104, 0.8)
    hits = (x > 0.5).astype(float)
    known = np.ones(104)
    share, se, p = serial.share_test(hits, known, 0.1, 2)
    assert share == pytest.approx(hits.mean(), rel=1e-12)
    u = hits - share
    lags = max(int(math.floor(4 * (104 / 100) ** (2 / 9))), 2, serial.andrews_lags(u[:, None]))
    fit = sm.OLS(u, np.ones(104)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert se == pytest.approx(fit.bse[0], rel=1e-10)
    assert p == pytest.approx(stats.norm.sf((share - 0.1) / se), rel=1e-10)


def test_share_test_holds_its_size_on_a_persistent_series():
    """Fixed seed, plain NumPy: an AR(1) 0.8 KPI of 104 periods and a threshold whose true rate of
    runs of 2 periods is exactly 10% (the null's boundary): rejected at most 5% + 2 MC SE."""
    rng = np.random.default_rng(16)
    reps, n = 400, 104
    x = np.empty((reps, n))
    x[:, 0] = rng.standard_normal(reps) / 0.6
    for t in range(1, n):
        x[:, t] = 0.8 * x[:, t - 1] + rng.standard_normal(reps)
    long = x[:, 20:].ravel()  # the true rate of runs, from the same model
    pairs = np.stack([x[:, 19:-1].ravel(), x[:, 20:].ravel()])
    lo, hi = np.quantile(long, [0.5, 0.99])
    for _ in range(60):  # bisection: P(x_t > c and x_{t-1} > c) = 0.10
        c = (lo + hi) / 2
        lo, hi = (c, hi) if np.mean((pairs > c).all(axis=0)) > 0.10 else (lo, c)
    rejected = 0
    for row in x:
        held = (row[1:] > c) & (row[:-1] > c)
        rejected += serial.share_test(held.astype(float), np.ones(n - 1), 0.10, 2)[2] <= 0.05
    assert rejected / reps <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps)


def _masked_fit(x):
    """serial._fit_arrays as it was before its no-gap path: every step masked."""
    prev, cur = x[..., :-1, :], x[..., 1:, :]
    ok = ~np.isnan(prev) & ~np.isnan(cur)
    cnt = (~np.isnan(x)).sum(axis=-2)
    mean = np.where(cnt > 0, np.nansum(x, axis=-2) / np.maximum(cnt, 1), np.nan)
    a = np.where(ok, prev - mean[..., None, :], 0.0)
    b = np.where(ok, cur - mean[..., None, :], 0.0)
    n = ok.sum(axis=(-2, -1))
    sxx = (a * a).sum(axis=(-2, -1))
    phi = np.where(sxx > 0, (a * b).sum(axis=(-2, -1)) / np.where(sxx > 0, sxx, 1), 0.0)
    units = np.maximum((ok.sum(axis=-2) > 0).sum(axis=-1), 1)
    phi = np.clip(phi + (1 + 3 * phi) / np.maximum(n / units, 1), -0.95, 1.0)
    d = np.where(ok, cur - prev, 0.0)
    dm = d.sum(axis=(-2, -1)) / np.maximum(n, 1)
    dss = (np.where(ok, cur - prev - dm[..., None, None], 0.0) ** 2).sum(axis=(-2, -1))
    dsd = np.sqrt(dss / np.maximum(n - 1, 1))
    walk = phi >= serial.RANDOM_WALK_PHI
    drift = np.where(walk & (np.abs(dm) > 2 * dsd / np.sqrt(np.maximum(n, 1))), dm, 0.0)
    res = np.where(ok, b - phi[..., None, None] * a, 0.0)
    rsd = np.sqrt((res ** 2).sum(axis=(-2, -1)) / np.maximum(n - 2, 1))
    sigma = np.where(walk, np.sqrt((np.where(ok, cur - prev - drift[..., None, None], 0.0) ** 2)
                                   .sum(axis=(-2, -1)) / np.maximum(n - 1, 1)), rsd)
    return np.where(walk, 1.0, phi), sigma, drift, mean, n


def test_ar1_fit_without_gaps_is_the_masked_fit_to_the_bit():
    """The fit skips its masks when nothing is missing (a bootstrap of a complete series): the
    same numbers, bit for bit and dtype for dtype, as the masked computation, with and without
    gaps, on bootstrap-shaped stacks, panels, constants and walks."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        lead = [(), (7,), (3, 2), (199,)][trial % 4]
        t, u = int(rng.integers(2, 60)), int(rng.integers(1, 4))
        x = np.cumsum(rng.standard_normal(lead + (t, u)), axis=-2) * rng.uniform(0.1, 100) + rng.uniform(-1e3, 1e3)
        if trial % 3 == 0:
            x[..., rng.random((t, u)) < 0.2] = np.nan
        if trial % 11 == 0:
            x = np.repeat(x[..., :1, :], t, axis=-2)
        for got, want in zip(serial._fit_arrays(x), _masked_fit(x)):
            got, want = np.asarray(got), np.asarray(want)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want, equal_nan=True), trial


def test_median_is_numpys_to_the_bit():
    """serial.median (the noise rules' medians without np.median's overhead) is float(np.median(x)):
    the same value, its sign of zero (NumPy adds the middle values to 0.0) and NaN with a NaN."""
    rng = np.random.default_rng(301)
    for n in [*range(0, 30), 103, 104, 520]:
        for kind in range(4):
            x = (rng.standard_normal(n), rng.integers(-2, 3, n).astype(float),
                 np.where(rng.random(n) < 0.5, -0.0, 0.0), rng.standard_normal(n))[kind]
            if kind == 3 and n:
                x[rng.integers(n)] = np.nan
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want = float(np.median(x))
            got = serial.median(x)
            assert (math.isnan(want) and math.isnan(got)) or (got == want and math.copysign(1, got) == math.copysign(1, want))
