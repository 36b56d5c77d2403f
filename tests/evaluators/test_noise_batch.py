"""The noise analysis's simulations batched across triggers (metricsense.evaluators.noise_batch)
give every rate of the per-trigger path to the bit, on either kernel backend: one-unit and
segmented series, gaps, short and long series of differing lengths, random walks with and
without drift, simulations that overflow, and whole specs through ``noise_of``."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest

import metricsense
from metricsense import kernels
from metricsense.evaluators import noise, noise_batch, serial
from metricsense.kernels import reference

BLOCKS = ((0, 10), (10, 30), (30, serial.BOOTSTRAP), (0, serial.BOOTSTRAP))


@pytest.fixture(params=["reference", "compiled"])
def backends(request, monkeypatch):
    """metricsense.kernels with each backend's functions, whatever BACKEND says."""
    if request.param == "reference":
        module = reference
    else:
        try:
            from metricsense import _kernel as module
        except ImportError as exc:  # as tests/kernels/kernel_support.py: CI must fail
            if os.environ.get("CI", "").lower() in ("1", "true"):
                pytest.fail(f"CI: the compiled kernel did not import: {exc}")
            pytest.skip("metricsense._kernel is not built")
    for name in kernels.COMPILED:
        monkeypatch.setattr(kernels, name, getattr(module, name))
    return request.param


def _series(rng, t: int, u: int, kind: str):
    e = rng.standard_normal((t, u))
    if kind == "walk":
        x = 40 + np.cumsum(e, axis=0)
    elif kind == "drift":
        x = 40 + np.cumsum(e + 0.8, axis=0)
    else:
        x = np.empty((t, u))
        x[0] = e[0]
        for i in range(1, t):
            x[i] = 0.6 * x[i - 1] + e[i]
        x = 50 + 3 * x
    return x


def _jobs(seed: int) -> list:
    """Jobs of fitted models of many shapes (as noise.comparison_noise makes them)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in (5, 6, 13, 40, 40, 104, 104, 104, 130):
        for u in (1, 1, 3):
            for kind in ("ar", "walk", "drift"):
                x = _series(rng, t, u, kind)
                if rng.random() < 0.3:  # gaps
                    x[rng.random(x.shape) < 0.15] = np.nan
                model = serial.fit_ar1(x)
                if model is None:
                    continue
                horizon = int(min(max(t, 13), 104))
                paths = int(rng.choice([20, 57, 96, serial.PATHS]))
                threshold = float(np.nanmedian(x) + rng.normal(0, 2))
                op = str(rng.choice(["<", "<=", ">", ">="]))
                out.append(noise_batch.Job(model, ~np.isnan(x), horizon, paths, threshold, op, int(rng.integers(1, 4))))
    # a simulation that overflows (its series hold NaN: the masked refit) and a level that is NaN
    huge = serial.AR1(phi=0.5, sigma=1e308, drift=0.0, mean=np.array([0.0]), last=np.array([0.0]), pairs=30, walk=False)
    out.append(noise_batch.Job(huge, np.ones((30, 1), bool), 30, 20, 0.0, "<", 1))
    nan_mean = serial.AR1(phi=0.3, sigma=1.0, drift=0.0, mean=np.array([np.nan]), last=np.array([1.0]), pairs=30,
                          walk=False)
    out.append(noise_batch.Job(nan_mean, np.ones((30, 1), bool), 30, 40, 0.5, ">=", 2))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_batched_answers_are_the_per_request_ones(backends, seed, monkeypatch):
    jobs = _jobs(seed)
    assert sum(noise_batch._batchable(j) for j in jobs) > 20 and not all(noise_batch._batchable(j) for j in jobs)
    requests = [("run", j) for j in jobs] + [("boot", j, lo, hi) for lo, hi in BLOCKS for j in jobs]
    np.random.default_rng(seed).shuffle(requests)
    alone = [noise_batch.answer_one(r) for r in requests]
    monkeypatch.setattr(noise_batch, "BATCH_CELLS", 30_000)  # several chunks per group
    one, single = noise_batch.answer_one, []
    monkeypatch.setattr(noise_batch, "answer_one", lambda r: single.append(r) or one(r))
    together = noise_batch.answer_many(requests)
    assert len(together) == len(alone)
    for r, a, b in zip(requests, alone, together):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True), r[0]
    # answered alone: the bootstraps of gaps and of several units, and the one that overflowed
    assert {id(r[1]) for r in single} == {id(j) for j in jobs if not noise_batch._batchable(j)} | {id(jobs[-2])}


def test_rows_kernel_is_path_run_rates_row_by_row(backends):
    rng = np.random.default_rng(7)
    r = 300
    z = rng.standard_normal((23, 17))
    last, mean, thr = rng.normal(0, 1, r), rng.normal(0, 1, r), rng.normal(0, 1, r)
    mean[::17] = np.nan
    phi = np.where(rng.random(r) < 0.3, 1.0, rng.uniform(-0.95, 0.98, r))
    sigma, drift = rng.uniform(0.1, 2, r), np.where(rng.random(r) < 0.2, 0.3, 0.0)
    op, n = rng.integers(0, 4, r), rng.integers(1, 5, r)
    n[:5] = 40  # longer than the horizon: 0
    got = kernels.path_run_rates_rows(last, mean, phi, sigma, drift, thr, op, n, z)
    want = [kernels.path_run_rates(last[i:i + 1], mean[i:i + 1, None], phi[i:i + 1], sigma[i:i + 1], drift[i:i + 1],
                                   z, thr[i], reference.RUN_OPS[op[i]], int(n[i]))[0, 0] if n[i] <= 17 else 0.0
            for i in range(r)]
    assert np.array_equal(got, np.array(want))
    with pytest.raises(ValueError, match="op codes"):
        kernels.path_run_rates_rows(last, mean, phi, sigma, drift, thr, op + 4, n, z)
    with pytest.raises(ValueError, match="at least 1"):
        kernels.path_run_rates_rows(last, mean, phi, sigma, drift, thr, op, n * 0, z)


def test_fill_many_is_fill_model_by_model(backends):
    rng = np.random.default_rng(8)
    k, b, t, u = 6, 5, 21, 2
    e = rng.standard_normal((b, t, u))
    x = rng.standard_normal((k, b, t, u))
    mean, phi = rng.normal(0, 1, (k, u)), np.r_[1.0, rng.uniform(-0.9, 0.98, k - 1)]
    drift, sigma = np.r_[0.4, np.zeros(k - 1)], rng.uniform(0.1, 2, k)
    want = np.stack([kernels.ar1_fill(x[i].copy(), mean[i], phi[i], drift[i], sigma[i], e) for i in range(k)])
    assert np.array_equal(kernels.ar1_fill_many(x.copy(), mean, phi, drift, sigma, e), want)


def _spec(folder, rng):
    """KPIs of differing lengths (monthly among weekly), gaps, a constant, a short one and a
    segmented one, with triggers of every shape noise.trigger_steps meets."""
    start = dt.date(2024, 1, 1)
    periods = [start + dt.timedelta(weeks=i) for i in range(104)]
    cols = {}
    for i in range(12):
        x = _series(rng, 104, 1, ("ar", "walk", "drift")[i % 3])[:, 0]
        if i % 4 == 1:
            x[rng.random(104) < 0.2] = np.nan
        if i == 5:
            x[:70] = np.nan  # a short history
        if i == 6:
            x[np.arange(104) % 4 != 0] = np.nan  # monthly among weekly
        cols[f"k{i}"] = x
    cols["flat"] = np.full(104, 3.0)
    (folder / "d.csv").write_text("period," + ",".join(cols) + "\n" + "".join(
        f"{p}," + ",".join("" if np.isnan(c[j]) else f"{c[j]:.4f}" for c in cols.values()) + "\n"
        for j, p in enumerate(periods)))
    seg = [f"{p},{s},{40 + rng.normal(0, 2) + (s == 'b') * 3:.3f}\n" for p in periods[:60] for s in "abc"]
    (folder / "s.csv").write_text("period,unit,seg\n" + "".join(seg))
    kpis = "".join(f'kpi {name} "{name}" {{\n  better higher\n  target >= 45\n}}\n' for name in cols)
    kpis += 'kpi seg "seg" {\n  better higher\n  data "s.csv" layout long segment "unit" column "seg"\n}\n'
    conds = []
    for i, name in enumerate(cols):
        level = float(np.nanmedian(cols[name])) if not np.isnan(cols[name]).all() else 0.0
        conds += [f"{name} < {level - 0.5:.3f} for {1 + i % 3} periods", f"{name} > {level + 0.3:.3f} for 1 period",
                  f"change({name}, 1) < -0.5 for 1 period", f"mean({name}, 4) <= {level:.3f} for 2 periods"]
    conds += ["k0 < 50 and k3 > 40 for 1 period", "k1 > 52 or k2 < 38 for 1 period", "k0 > k1 for 1 period",
              "k0 < 55 and k0 > 45 for 2 periods", "seg < 41 for 1 period", "seg > 39 for 2 periods"]
    triggers = "".join(f'trigger t{i} when {c} {{\n  ask "why?"\n}}\n' for i, c in enumerate(conds))
    (folder / "m.msense").write_text('mission "m" { why "w" owner "o" }\ndata "d.csv"\n' + kpis + triggers)
    return folder / "m.msense"


@pytest.mark.parametrize("seed", [11, 12])
def test_noise_of_batched_is_the_per_trigger_analysis(backends, tmp_path, seed, monkeypatch):
    path = _spec(tmp_path, np.random.default_rng(seed))
    calls = []
    plain = noise_batch._boot_many
    monkeypatch.setattr(noise_batch, "_boot_many", lambda jobs, *a: calls.append(len(jobs)) or plain(jobs, *a))
    batched, alone = _noise_twice(path, monkeypatch)
    assert repr(batched) == repr(alone)
    triggers = {name: info for e in batched.kpis.values() for name, info in (e.triggers or {}).items()}
    assert len(triggers) > 40 and max(calls) > 5  # bootstraps of many triggers in one call
    used = [info["bootstrap"] for info in triggers.values() if info.get("status") == "evaluated"]
    assert serial.BOOTSTRAP in used and any(0 < n < serial.BOOTSTRAP for n in used)  # full and stopped tests
    statuses = {info.get("status", "")[:12] for info in triggers.values()}
    assert {"evaluated", "already past", "no variation"} <= statuses, statuses
    seg = batched.kpis["seg"].triggers
    assert any(p.get("units", 0) > 1 for info in seg.values() for p in info.get("comparisons", ()))


def _noise_twice(path, monkeypatch):
    """noise_of of the spec at ``path`` batched and one trigger at a time."""
    from metricsense.pipeline import load_data
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    doc = metricsense.load(path)
    data, _ = load_data(doc, None, build_registry(get_plugin_manager()[0]), [])
    batched = noise.noise_of(doc, data)
    monkeypatch.setattr(noise_batch, "BATCHED", False)
    alone = noise.noise_of(doc, data)
    return batched, alone


def _share_test_by_matrices(hits, known, bound, least_lags):
    """share_test as it was written with _long_run's (n, 1) matrix products (the oracle)."""
    import math

    keep = known > 0
    hits, known = hits[keep], known[keep]
    t = len(known)
    share = float(hits.sum() / known.sum())
    u = (hits - share * known) / known.mean()
    lags = max(int(math.floor(4 * (t / 100.0) ** (2.0 / 9.0))), int(least_lags),
               serial.andrews_lags(u[:, None]) if np.any(u != u[0]) else 0)
    lags = min(lags, t - 1)
    se = math.sqrt(max(float(serial._long_run(u[:, None], lags)[0, 0]), 0.0)) / t
    if not se > 0:
        return share, 0.0, (0.0 if share > bound else 1.0)
    return share, se, 0.5 * math.erfc((share - bound) / se / math.sqrt(2))


def test_share_test_is_the_matrix_products_one():
    """share_test's Newey-West sum as float dot products: the bits of _long_run's matrix products."""
    rng = np.random.default_rng(31)
    for _ in range(500):
        n = int(rng.integers(2, 300))
        hits = rng.integers(0, 4, n).astype(float) * (rng.random(n) < rng.random())
        known = rng.integers(0, 5, n).astype(float)
        if (known > 0).sum() < 2:
            continue
        args = (hits, known, float(rng.uniform(0.01, 0.5)), int(rng.integers(1, 30)))
        assert serial.share_test(*args) == _share_test_by_matrices(*args)


def test_level_path_is_numpys_rolling_median():
    """level_path's odd windows by np.median's own partition: the same values, signs of zero too."""
    rng = np.random.default_rng(32)
    for trial in range(400):
        x = np.round(rng.standard_normal(int(rng.integers(1, 80))) * 10 ** rng.uniform(-3, 3), int(rng.integers(0, 3)))
        x[rng.random(len(x)) < 0.2] = (-0.0, 0.0, np.nan)[trial % 3]
        for k in (1, 2, 3, 4, 5):
            got = serial.level_path(x, k)
            obs = np.flatnonzero(~np.isnan(x))
            want = np.full(len(x), np.nan)
            if len(obs) >= k:
                want[obs[k - 1:]] = np.median(np.lib.stride_tricks.sliding_window_view(x[obs], k), axis=1)
            assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


def test_run_rates_without_drift_count_signed_zeros_as_the_reference(backends):
    """The compiled kernel leaves out `+ drift` when the drift is 0: values that are zeros of
    either sign (means, last values and draws of -0.0 and 0.0, thresholds at 0) are counted as
    the reference counts them with the addition."""
    rng = np.random.default_rng(33)
    z = rng.choice([-0.0, 0.0, -1.0, 1.0, 0.5], size=(24, 15))
    r = 400
    last, mean = rng.choice([-0.0, 0.0, 1.0], r), rng.choice([-0.0, 0.0, -0.5], r)
    phi, sigma = rng.choice([1.0, 0.5, -0.5, 0.0], r), rng.choice([1.0, 0.0, 2.0], r)
    drift = rng.choice([0.0, -0.0, 0.25], r)
    thr, op, n = rng.choice([-0.0, 0.0, 0.5], r), rng.integers(0, 4, r), rng.integers(1, 4, r)
    want = reference.path_run_rates_rows(last, mean, phi, sigma, drift, thr, op, n, z)
    assert np.array_equal(kernels.path_run_rates_rows(last, mean, phi, sigma, drift, thr, op, n, z), want)
    assert 0 < want.mean() < 1


def test_the_collector_is_paused_during_the_analysis_and_left_as_found():
    import gc

    from metricsense.collector import paused

    seen = []
    with paused():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()  # the caller's choice kept
    finally:
        gc.enable()
    with pytest.raises(ValueError), paused():
        raise ValueError("an analysis that fails")
    assert gc.isenabled()


def test_triggers_of_one_name_keep_their_own_noise(tmp_path):
    """Two triggers named alike (MS003 reports the name) on different KPIs: each KPI lists the
    noise of its own trigger, as the per-trigger analysis did (the batched one gave both KPIs
    the last trigger's)."""
    from metricsense.pipeline import load_data
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    rng = np.random.default_rng(3)
    periods = [(dt.date(2024, 1, 1) + dt.timedelta(weeks=i)).isoformat() for i in range(60)]
    a, b = 50 + np.cumsum(rng.standard_normal(60)), np.full(60, 3.0)
    (tmp_path / "d.csv").write_text("period,a,b\n" + "".join(f"{p},{x:.3f},{y}\n" for p, x, y in zip(periods, a, b)))
    (tmp_path / "m.msense").write_text(
        'mission "m" { why "w" owner "o" }\ndata "d.csv"\nkpi a "a" { better higher }\nkpi b "b" { better higher }\n'
        f'trigger same when a < {a.min() - 1:.3f} for 1 period {{ ask "why?" }}\n'
        'trigger same when b < 1 for 1 period { ask "why?" }\n')
    doc = metricsense.load(tmp_path / "m.msense")
    data, _ = load_data(doc, None, build_registry(get_plugin_manager()[0]), [])
    kpis = noise.noise_of(doc, data).kpis
    assert kpis["a"].triggers["same"]["comparisons"][0]["threshold"] == round(a.min() - 1, 3)
    assert kpis["b"].triggers["same"]["comparisons"][0]["threshold"] == 1.0
