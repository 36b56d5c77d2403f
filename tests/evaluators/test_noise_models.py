"""noise_models.comparison_noise_many (many comparisons' models at once) against comparison_noise
one at a time: the same entries and jobs, to the bit, for every kind of column a trigger reads."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import metricsense
from metricsense import expressions as ex
from metricsense.evaluators import noise, noise_models


def _spec(folder, rng, t):
    start = dt.date(2024, 1, 1)
    periods = [start + dt.timedelta(weeks=i) for i in range(t)]
    cols = {}
    for i in range(16):
        kind = i % 4
        x = np.zeros(t)
        if kind == 0:
            for j in range(1, t):
                x[j] = 0.6 * x[j - 1] + rng.normal()
            x += 50
        elif kind == 1:  # a random walk (with a drift now and then)
            x = 50 + np.cumsum(rng.normal(0.3 * (i % 8 == 1), 1, t))
        elif kind == 2:
            x = 50 + rng.normal(0, 2, t)
        else:  # coarse values: ties
            x = np.round(50 + np.cumsum(rng.normal(0, 1, t)))
        cols[f"k{i}"] = x
    cols["flat"] = np.full(t, 3.0)
    gappy = 50 + rng.normal(0, 1, t)
    gappy[t // 2] = np.nan
    cols["gappy"] = gappy
    (folder / "d.csv").write_text("period," + ",".join(cols) + "\n" + "".join(
        f"{p}," + ",".join("" if np.isnan(c[j]) else f"{c[j]:.4f}" for c in cols.values()) + "\n"
        for j, p in enumerate(periods)))
    kpis = "".join(f'kpi {n} "{n}" {{\n  better higher\n  target >= 52\n}}\n' for n in cols)
    conds = []
    for i, name in enumerate(cols):
        level = float(np.nanmedian(cols[name]))
        conds += [f"{name} < {level - 1:.3f} for {1 + i % 3} periods", f"{name} > {level + 0.5:.3f} for 1 period",
                  f"{level + 0.2:.3f} > {name} for 2 periods", f"{name} >= {level - 40:.3f} for 1 period",
                  f"{name} < target - 1 for 1 period", f"change({name}, 1) < -0.5 for 1 period",
                  f"mean({name}, 4) <= {level:.3f} for 2 periods"]
    conds += ["k0 < 50 and k3 > 40 for 1 period", "k1 > 52 or k2 < 38 for 1 period", "k0 > k1 for 1 period"]
    triggers = "".join(f'trigger t{i} when {c} {{\n  ask "why?"\n}}\n' for i, c in enumerate(conds))
    (folder / "m.msense").write_text('mission "m" { why "w" owner "o" }\ndata "d.csv"\n' + kpis + triggers)
    return folder / "m.msense"


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
                and a.tobytes() == b.tobytes())
    return repr(a) == repr(b) and type(a) is type(b)


@pytest.mark.parametrize("t", [3, 6, 30, 104, 600])
def test_many_comparisons_are_each_one_alone(tmp_path, t, monkeypatch):
    from metricsense.pipeline import load_data
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    path = _spec(tmp_path, np.random.default_rng(t), t)
    doc = metricsense.load(path)
    data, _ = load_data(doc, None, build_registry(get_plugin_manager()[0]), [])
    asked = []
    for trig in doc.triggers:
        grid = ex.prepared(trig, doc, data)
        asked += [(c, grid.inputs, 3, 0.1, grid.n) for c in noise._comparisons(trig.condition)[0]]
    rows = []
    together = noise_models._judged_many
    monkeypatch.setattr(noise_models, "_judged_many", lambda x, *a: rows.append(len(x)) or together(x, *a))
    many = noise_models.comparison_noise_many(asked)
    assert (sum(rows) > 40) == (5 <= t <= 520), rows  # the plain columns together (not too short or long)
    statuses = set()
    for request, (entry, job) in zip(asked, many):
        want_entry, want_job = noise_models.comparison_noise(*request)
        assert repr(entry) == repr(want_entry) and list(entry) == list(want_entry)
        statuses.add(entry["status"][:12])
        assert (job is None) == (want_job is None)
        if job is not None:
            for f in ("mask", "horizon", "paths", "threshold", "op", "n"):
                assert _same(getattr(job, f), getattr(want_job, f)), f
            for f in ("phi", "sigma", "drift", "mean", "last", "pairs", "walk"):
                assert _same(getattr(job.model, f), getattr(want_job.model, f)), f
    if t >= 30:
        assert {"evaluated", "already past", "no variation"} <= statuses, statuses


def test_row_sums_are_each_rows_own_sum():
    """The rates are each row's mean as the one-row sum gives it (NumPy's pairwise sum per row)."""
    rng = np.random.default_rng(0)
    for h in (13, 52, 104, 129):
        p = rng.random((50, h)) ** 3
        got = p.sum(axis=1) / h
        for k in range(len(p)):
            one = p[k].reshape(h, 1).copy()
            assert got[k] == one.sum() / one.size
