"""``path_run_rates`` (MS301/MS302's simulated run rates): each backend equals the paths simulated
and kept (serial.simulate_paths then serial.run_rate), exactly: the same operations in the same
order give the same values, the same comparisons and the same counts."""

from __future__ import annotations

import numpy as np
import pytest

from kernel_support import backend  # noqa: F401 (fixture)
from metricsense.evaluators import serial
from metricsense.kernels import reference


def _kept_paths(last, mean, phi, sigma, drift, z, threshold, op, n):
    model = serial.AR1(phi=phi, sigma=sigma, drift=drift, mean=mean, last=last, pairs=10, walk=False)
    return serial.run_rate(serial.simulate_paths(model, z.shape[1], z), threshold, op, n)


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_path_run_rates_are_the_kept_paths_exactly(backend, op, n):  # noqa: F811
    rng = np.random.default_rng(len(op) * 10 + n)
    b, u, m, h = 7, 3, 33, 26
    phi = np.r_[1.0, rng.uniform(-0.5, 0.99, b - 1)]
    sigma, drift = rng.uniform(0.1, 2.0, b), np.r_[0.3, np.zeros(b - 1)]
    mean = rng.normal(0, 1, (b, u))
    mean[2, 1] = np.nan  # read as 0
    last = rng.normal(0, 1, u)
    z = rng.standard_normal((m, h))
    for threshold in (-1.0, 0.0, 0.5, float(np.round(last[0], 1))):
        got = backend.path_run_rates(last, mean, phi, sigma, drift, z, threshold, op, n)
        assert got.shape == (b, u)
        assert np.array_equal(got, _kept_paths(last, mean, phi, sigma, drift, z, threshold, op, n))


def test_path_run_rates_on_a_grid_of_values_ties_included(backend):  # noqa: F811
    """Values that land exactly on the threshold (phi 1, sigma 1, whole-number draws): `<` and `<=`
    differ there, and each backend counts as the reference does."""
    z = np.random.default_rng(9).integers(-2, 3, (40, 30)).astype(float)
    args = (np.zeros(1), np.zeros((2, 1)), np.array([1.0, 1.0]), np.array([1.0, 0.5]), np.zeros(2), z)
    for op in ("<", "<="):
        got = backend.path_run_rates(*args, 0.0, op, 2)
        assert np.array_equal(got, _kept_paths(*args, 0.0, op, 2))
    assert not np.array_equal(backend.path_run_rates(*args, 0.0, "<", 2), backend.path_run_rates(*args, 0.0, "<=", 2))


def test_path_run_rates_shorter_than_the_run_are_zero(backend):  # noqa: F811
    z = np.ones((5, 2))
    got = backend.path_run_rates(np.zeros(2), np.zeros((1, 2)), np.ones(1), np.ones(1), np.zeros(1), z, -5.0, ">", 3)
    assert got.shape == (1, 2) and not got.any()


def test_serial_run_rates_and_forecasts_are_the_per_step_ones():
    """serial.run_rates (the kernel) and serial.forecasts (every horizon at once) give exactly what
    the per-path and per-horizon code gives, for a point model and its bootstrap."""
    rng = np.random.default_rng(302)
    for walk in (False, True):
        x = np.cumsum(rng.normal(size=(60, 2)) + 0.5, axis=0) if walk else rng.normal(size=(60, 2))
        x[rng.random(x.shape) < 0.1] = np.nan
        model = serial.fit_ar1(x)
        assert model is not None and model.walk == walk
        z = np.random.default_rng(serial.SEED).standard_normal((serial.PATHS, 60))
        thr = float(np.nanmedian(x)) + 1.0
        for m in (model, serial.bootstrap(model, ~np.isnan(x), b=31)):
            kept = serial.run_rate(serial.simulate_paths(m, 60, z[:40]), thr, ">", 2)
            assert np.array_equal(serial.run_rates(m, z[:40], thr, ">", 2), kept)
        mean, sd = serial.forecasts(model, 60)
        assert np.array_equal(mean, np.stack([serial.forecast(model, h)[0] for h in range(1, 61)]))
        assert np.array_equal(sd, np.stack([serial.forecast(model, h)[1] for h in range(1, 61)]))


def test_ar1_fill_is_the_period_by_period_loop(backend):  # noqa: F811
    """serial.bootstrap's series: each backend fills x exactly as the NumPy loop over periods."""
    rng = np.random.default_rng(2)
    e = rng.standard_normal((9, 30, 3))
    mean = rng.normal(0, 1, 3)
    for phi, drift, sigma in ((0.7, 0.0, 1.3), (1.0, 0.25, 0.5), (-0.4, 0.0, 2.0)):
        x = np.empty((9, 30, 3))
        x[:, 0] = mean + sigma * e[:, 0]
        want = x.copy()
        for i in range(1, 30):
            want[:, i] = mean + phi * (want[:, i - 1] - mean) + drift + sigma * e[:, i]
        assert np.array_equal(backend.ar1_fill(x, mean, phi, drift, sigma, e), want)


def _masked_fit(x):
    """serial._fit_arrays' general path (the masks) on complete series: the fit before
    ar1_fit_complete, kept here as the oracle."""
    ok = np.ones(x[..., 1:, :].shape, dtype=bool)
    prev, cur = x[..., :-1, :], x[..., 1:, :]
    mean = np.nansum(x, axis=-2) / np.maximum((~np.isnan(x)).sum(axis=-2), 1)
    n = ok.sum(axis=(-2, -1))
    per_unit = np.maximum(n / np.maximum((ok.sum(axis=-2) > 0).sum(axis=-1), 1), 1)
    a, b = np.where(ok, prev - mean[..., None, :], 0.0), np.where(ok, cur - mean[..., None, :], 0.0)
    sxx = (a * a).sum(axis=(-2, -1))
    phi = np.where(sxx > 0, (a * b).sum(axis=(-2, -1)) / np.where(sxx > 0, sxx, 1), 0.0)
    phi = np.clip(phi + (1 + 3 * phi) / per_unit, -0.95, 1.0)
    d = cur - prev
    dm = d.sum(axis=(-2, -1)) / np.maximum(n, 1)
    dsd = np.sqrt(((d - dm[..., None, None]) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 1, 1))
    walk = phi >= serial.RANDOM_WALK_PHI
    drift = np.where(walk & (np.abs(dm) > 2 * dsd / np.sqrt(np.maximum(n, 1))), dm, 0.0)
    rsd = np.sqrt(((b - phi[..., None, None] * a) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 2, 1))
    sigma = np.where(walk, np.sqrt(((d - drift[..., None, None]) ** 2).sum(axis=(-2, -1)) / np.maximum(n - 1, 1)), rsd)
    return np.where(walk, 1.0, phi), sigma, drift, mean


@pytest.mark.parametrize("t", [2, 5, 13, 60, 103, 104, 200, 520])
def test_ar1_fit_complete_is_numpys_fit_to_the_bit(backend, t):  # noqa: F811
    """The bootstrap's refits: each backend gives serial._fit_arrays' numbers exactly (NumPy's
    pairwise sums repeated in C) on stationary, walking and drifting series, one unit or three."""
    rng = np.random.default_rng(t)
    for u in (1, 3):
        scale = 10.0 ** rng.uniform(-3, 3)
        e = rng.standard_normal((199, t, u)) * scale
        x = np.empty((199, t, u))
        x[:, 0] = 50 + e[:, 0]
        phis = np.r_[rng.uniform(-0.9, 0.95, 100), np.ones(99)][:, None]
        drift = np.r_[np.zeros(150), np.full(49, 0.5 * scale)][:, None]
        for i in range(1, t):
            x[:, i] = 50 + phis * (x[:, i - 1] - 50) + drift + e[:, i]
        got = backend.ar1_fit_complete(x, serial.RANDOM_WALK_PHI)
        want = _masked_fit(x)
        for g, w in zip(got, want):
            assert g.shape == w.shape and np.array_equal(g, w)
        if t >= 13:  # walks and drifts were met
            assert (got[0] == 1.0).sum() > 20 and (got[2] != 0).sum() > 5


def test_point_fits_of_complete_series_are_numpys_fit_to_the_bit():
    """serial._fit_arrays on one complete series or panel (T, U), the point model of a trigger's
    values: the compiled fit for one unit, NumPy's on the array as given for several (its memory
    order decides the order of NumPy's sums: a panel comes column-major from the evaluators),
    so the bits of the NumPy fit on that array (reference.ar1_fit_complete, the fit's NumPy
    operations without masks)."""
    rng = np.random.default_rng(303)
    for u in (1, 2, 3, 5, 12):
        for t in (13, 60, 78, 104):
            x = np.cumsum(rng.standard_normal((t, u)), axis=0) * 0.1 + rng.normal(0, 1, u) * 10
            for arr in (x, np.asfortranarray(x), x[::-1][::-1]):
                got = serial._fit_arrays(arr)
                for g, w in zip(got, reference.ar1_fit_complete(arr, serial.RANDOM_WALK_PHI)):
                    assert np.shape(g) == np.shape(w) and np.array_equal(g, w)


def test_path_run_rates_broadcast_their_models_as_the_reference_does(backend):  # noqa: F811
    """One mean, sigma or drift for every model (as NumPy broadcasts them in the reference) gives
    the rates of the arrays written out: the compiled kernel read past the end of a short one."""
    rng = np.random.default_rng(25)
    b, u = 300, 200
    z = rng.standard_normal((16, 6))
    last, phi = rng.normal(0, 1, u), rng.uniform(-0.5, 0.9, b)
    whole = backend.path_run_rates(last, np.full((b, u), 0.25), phi, np.full(b, 0.7), np.full(b, 0.1), z, 0.0, "<", 2)
    short = backend.path_run_rates(last, np.full((1, 1), 0.25), phi, np.full(1, 0.7), np.full(1, 0.1), z, 0.0, "<", 2)
    assert np.array_equal(short, whole)
    assert np.array_equal(whole, reference.path_run_rates(last, np.full((b, u), 0.25), phi, np.full(b, 0.7),
                                                          np.full(b, 0.1), z, 0.0, "<", 2))


@pytest.mark.parametrize("bad", [
    dict(sigma=np.ones(2)),            # 3 models, 2 sigmas
    dict(mean=np.zeros((3, 5))),       # 2 units, 5 means each
    dict(z=np.ones(12)),               # draws not M x H
    dict(n=0),                         # a run of no periods
    dict(op="=="),
])
def test_path_run_rates_refuse_inconsistent_arrays(backend, bad):  # noqa: F811
    args = dict(last=np.ones(2), mean=np.ones((3, 2)), phi=np.ones(3), sigma=np.ones(3), drift=np.ones(3),
                z=np.ones((5, 12)), threshold=0.0, op="<", n=2)
    args.update(bad)
    with pytest.raises(ValueError):
        backend.path_run_rates(**args)
