"""A trigger's comparisons judged against an AR(1) model of their varying side (the noise
analysis's ``comparison_noise``), one at a time or many at once (``comparison_noise_many``).

Many triggers compare one plain series with a number (`csat < target - 0.2`): their values are
a column without a gap. For those, the noise of the changes, the AR(1) fit, the forecasts from
today's level and the chance of being past the threshold are the same operations on the rows of
one matrix: medians by NumPy's partition of each row (as serial.median takes one series), the
fit by kernels.ar1_fit_complete (the compiled fit, row by row, as serial.fit_ar1 calls it), each
power as the one-model forecasts take it (its own call, same shapes), every other operation
elementwise, each row's mean its own pairwise sum: every value is the one-at-a-time one, to the
bit (tests/evaluators/test_noise_models.py). Any other comparison takes ``comparison_noise``.
NumPy is imported inside functions.
"""

from __future__ import annotations

import math

from metricsense import expressions as ex
from metricsense.encoding import finite
from metricsense.evaluators import serial
from metricsense.evaluators.common import row_medians
from metricsense.evaluators.noise_batch import Job
from metricsense.evaluators.noise_fields import MAD_SCALE
from metricsense.evaluators.records import ComparisonNoise
from metricsense.model import Binary, Call, walk_expr

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def robust_noise(changes) -> float:
    """1.4826 x median(|d - median(d)|) of the changes d (NaN ignored); NaN with none."""
    import numpy as np

    d = np.asarray(changes, dtype=float).ravel()
    nan = np.isnan(d)
    if nan.any():
        d = d[~nan]
    if not len(d):
        return float("nan")
    return float(MAD_SCALE * serial.median(np.abs(d - serial.median(d))))


def changes_of(block):
    """Period-to-period changes of a (T, U) block, pooled over units, NaN-free."""
    import numpy as np

    d = np.diff(block, axis=0).ravel()
    return d[~np.isnan(d)]


def _reads(expr) -> set[str]:
    return {ex.series_name(r) for r in ex.read_refs(expr)}


def comparison_noise(cmp: Binary, inputs, level_periods: int, max_rate: float = 0.1,
                     n_run: int = 1) -> tuple[ComparisonNoise, Job | None]:
    """One comparison `varying OP constant` judged against an AR(1) model of the varying side.

    The values (``x``, ``mean(x, 4)``, ``change(x, 1)``; per unit for a segmented series) get an
    AR(1) fit (pooled coefficient and scale, a level per unit; a random walk when the corrected
    coefficient is 0.98 or more: metricsense.evaluators.serial). From each unit's last value over
    the next ``horizon`` periods (as many as observed, 13 to 104): ``rate``, the mean chance of
    being past the threshold (exact normal forecasts), ``rate_run``, the simulated rate of runs of
    ``n_run`` periods (filled in by the caller, from the ``Job`` returned beside the entry, which
    also gives the run rates of a parametric bootstrap: metricsense.evaluators.noise_batch).
    Units whose centre is already past the threshold are left out (MS602's finding).
    """
    done, front = _front(cmp, inputs)
    return (done, None) if front is None else _judged(*front, n_run)


def _front(cmp: Binary, inputs):
    """(the entry of a comparison that is not judged, None), else (None, (its varying side's values,
    the threshold, the operator with the varying side on the left, whether the values are changes))."""
    left_reads, right_reads = _reads(cmp.left), _reads(cmp.right)
    if cmp.op not in _FLIP:
        return {"status": f"`{cmp.op}` is not a one-sided threshold"}, None
    if left_reads and not right_reads:
        varying, const, op = cmp.left, cmp.right, cmp.op
    elif right_reads and not left_reads:
        varying, const, op = cmp.right, cmp.left, _FLIP[cmp.op]
    else:
        return {"status": "compares two series, not a series with a threshold"}, None
    t = len(next(iter(inputs.arrays.values())))
    try:
        v = ex.evaluate(varying, inputs, t)
        c = ex.evaluate(const, inputs, t)
    except ex.EvalError as exc:
        return {"status": f"not evaluated: {exc}"}, None
    threshold = float(c[0, 0])
    if not math.isfinite(threshold):
        return {"status": "the threshold is not a number"}, None
    of_changes = any(isinstance(n, Call) and n.func == "change" for n in walk_expr(varying))
    return None, (v, threshold, op, of_changes)


def _judged(v, threshold: float, op: str, of_changes: bool, n_run: int) -> tuple[ComparisonNoise, Job | None]:
    """comparison_noise from the varying side's values on: the noise, the model, its forecasts, its job."""
    import numpy as np

    v = np.asarray(v, dtype=float)
    noise = robust_noise(v) if of_changes else robust_noise(changes_of(v))
    n_obs = int((~np.isnan(v)).sum())
    has = (~np.isnan(v)).any(axis=0)
    out: ComparisonNoise = {"status": "evaluated", "threshold": threshold, "op": op,
                            "values": "changes" if of_changes else "levels",
                            "noise": finite(noise), "observed": n_obs, "units": int(has.sum())}
    v = v[-serial.TAIL:, has]
    model = serial.fit_ar1(v) if v.shape[1] else None
    if model is None:
        out["status"] = "no variation to judge"
        return out, None
    centre = model.last if model.walk else model.mean
    dist = (centre - threshold) if op in ("<", "<=") else (threshold - centre)
    quiet = dist >= 0
    out["units_past"] = int((~quiet).sum())
    out["model"] = model.to_json()
    if not quiet.any():
        out["status"] = "already past the threshold at today's level"
        out["level"] = finite(serial.median(centre))  # float(np.median(...)), to the bit
        out["distance"] = finite(serial.median(dist))
        return out, None
    keep = np.flatnonzero(quiet)
    horizon = int(min(max(len(v), 13), 104))
    b = serial.BOOTSTRAP
    if b * len(keep) * horizon * 20 > serial.CELLS:  # many units: an even sample of them
        keep = keep[np.linspace(0, len(keep) - 1, max(1, serial.CELLS // (b * horizon * 20))).astype(int)]
    model = serial.restrict(model, keep)
    mean_h, sd_h = _forecasts(model, horizon)
    zs = (threshold - mean_h) / sd_h
    p_past = serial.norm_cdf(zs) if op in ("<", "<=") else 1 - serial.norm_cdf(zs)
    rate = float(p_past.sum() / p_past.size)  # p_past.mean(): its sum over its count
    paths = max(20, min(serial.PATHS, serial.CELLS // max(1, b * len(keep) * horizon)))
    spread, distance = serial.median(sd_h[-1]), serial.median(dist[keep])
    out["level"] = finite(serial.median(centre[keep]))
    out["distance"] = finite(distance)
    out["spread"] = finite(spread)
    out["distance_in_noise"] = finite(distance / spread) if spread > 0 else None
    out["horizon"] = horizon
    out["rate"] = rate
    out["rate_run"] = math.nan  # the model's simulated runs (noise_batch.point_rates)
    out["bootstrap_cells"] = int(paths * max(horizon - n_run + 1, 1) * len(keep))
    return out, Job(model, ~np.isnan(v[:, keep]), horizon, paths, threshold, op, n_run)


def _forecasts(model, horizon: int):
    """serial.forecasts of a comparison's model (scalar coefficients, ``mean`` and ``last`` (U,)) with only the
    side of each np.where it keeps made: the same operations on the same arrays, values and shapes."""
    import numpy as np

    if not (isinstance(model.phi, float) and np.ndim(model.mean) == 1 and np.shape(model.last) == np.shape(model.mean)):
        return serial.forecasts(model, horizon)
    phi, sigma, drift = (np.asarray(v, dtype=float)[..., None] for v in (model.phi, model.sigma, model.drift))
    h = np.arange(1, horizon + 1).reshape((horizon, 1))
    if phi[0] >= 1.0:  # a random walk
        return model.last + h * drift, np.sqrt(h * sigma ** 2)
    ph = phi ** h
    return model.mean + ph * (model.last - model.mean), np.sqrt(sigma ** 2 * (1 - ph ** 2) / (1 - phi ** 2))


def comparison_noise_many(requests: list) -> list:
    """``comparison_noise(cmp, inputs, level_periods, max_rate, n_run)`` of each request (those
    arguments), the comparisons of one plain column without a gap made together."""
    import numpy as np

    out: list = [None] * len(requests)
    plain: dict[int, list] = {}  # periods -> (request, values, threshold, op, n_run)
    for i, (cmp, inputs, _level, _rate, n_run) in enumerate(requests):
        done, front = _front(cmp, inputs)
        if front is None:
            out[i] = (done, None)
            continue
        v, threshold, op, of_changes = front
        if of_changes or v.shape[1] != 1 or not 5 <= len(v) <= serial.TAIL or not np.isfinite(v).all():
            out[i] = _judged(v, threshold, op, of_changes, n_run)
            continue
        plain.setdefault(len(v), []).append((i, v, threshold, op, n_run))
    for t, group in plain.items():
        x = np.array([g[1][:, 0] for g in group])
        d = np.diff(x, axis=1)
        ok = np.isfinite(d).all(axis=1)
        for (i, v, threshold, op, n_run), good in zip(group, ok.tolist()):
            if not good:
                out[i] = _judged(v, threshold, op, False, n_run)
        if ok.any():
            keep = [g for g, good in zip(group, ok.tolist()) if good]
            for g, found in zip(keep, _judged_many(x[ok], d[ok], keep, t)):
                out[g[0]] = found
    return out


def _judged_many(x, d, group: list, t: int) -> list:
    """``_judged`` of gap-free one-unit columns of ``t`` periods (rows of ``x``; ``d`` their
    changes, finite), each (request, values, threshold, op, n_run) in ``group``."""
    import numpy as np

    from metricsense import kernels

    noise = MAD_SCALE * row_medians(np.abs(d - row_medians(d)[:, None]))  # robust_noise(changes_of(v))
    phi, sigma, drift, mean = kernels.ar1_fit_complete(np.ascontiguousarray(x[:, :, None]), serial.RANDOM_WALK_PHI)
    last = x[:, -1].copy()
    thr = np.array([g[2] for g in group])
    lower = np.array([g[3] in ("<", "<=") for g in group])
    walk = phi >= 1.0
    centre = np.where(walk, last, mean[:, 0])
    dist = np.where(lower, centre - thr, thr - centre)
    horizon = int(min(max(t, 13), 104))
    h = np.arange(1, horizon + 1)
    judged = np.flatnonzero(sigma > 0) if t - 1 >= 4 else np.zeros(0, dtype=np.intp)
    quiet = judged[dist[judged] >= 0]
    # the forecasts of the quiet ones (_forecasts: a walk's from its last value, else each power
    # as its own call makes it, (horizon, 1))
    rw, ar = quiet[walk[quiet]], quiet[~walk[quiet]]
    mean_h, sd_h = np.empty((len(x), horizon)), np.empty((len(x), horizon))
    sq = sigma[:, None] ** 2
    mean_h[rw] = last[rw, None] + h * drift[rw, None]
    sd_h[rw] = np.sqrt(h * sq[rw])
    if len(ar):
        ph = np.array([(np.asarray(float(phi[k]), dtype=float)[..., None] ** h[:, None])[:, 0] for k in ar.tolist()])
        m = mean[ar, :1]
        mean_h[ar] = m + ph * (last[ar, None] - m)
        sd_h[ar] = np.sqrt(sq[ar] * (1 - ph ** 2) / (1 - phi[ar, None] ** 2))
    cdf = serial.norm_cdf((thr[quiet, None] - mean_h[quiet]) / sd_h[quiet])
    p_past = np.where(lower[quiet, None], cdf, 1 - cdf)
    rates = dict(zip(quiet.tolist(), (p_past.sum(axis=1) / horizon).tolist()))  # each row's mean
    b = serial.BOOTSTRAP
    paths = max(20, min(serial.PATHS, serial.CELLS // max(1, b * horizon)))
    judged_set = set(judged.tolist())
    out = []
    for k, (_i, v, threshold, op, n_run) in enumerate(group):
        entry: ComparisonNoise = {"status": "evaluated", "threshold": threshold, "op": op, "values": "levels",
                                  "noise": finite(float(noise[k])), "observed": t, "units": 1}
        if k not in judged_set:
            entry["status"] = "no variation to judge"
            out.append((entry, None))
            continue
        model = serial.AR1(phi=float(phi[k]), sigma=float(sigma[k]), drift=float(drift[k]), mean=mean[k],
                           last=last[k:k + 1], pairs=t - 1, walk=bool(walk[k]))
        entry["units_past"] = 0 if k in rates else 1
        entry["model"] = model.to_json()
        gap = 0.0 + float(dist[k])  # serial.median of one value
        if k not in rates:
            entry["status"] = "already past the threshold at today's level"
            entry["level"] = finite(0.0 + float(centre[k]))
            entry["distance"] = finite(gap)
            out.append((entry, None))
            continue
        spread = 0.0 + float(sd_h[k, -1])
        entry["level"] = finite(0.0 + float(centre[k]))
        entry["distance"] = finite(gap)
        entry["spread"] = finite(spread)
        entry["distance_in_noise"] = finite(gap / spread) if spread > 0 else None
        entry["horizon"] = horizon
        entry["rate"] = rates[k]
        entry["rate_run"] = math.nan  # the model's simulated runs (noise_batch.point_rates)
        entry["bootstrap_cells"] = int(paths * max(horizon - n_run + 1, 1))
        restricted = serial.AR1(model.phi, model.sigma, model.drift, mean[k].copy(), last[k:k + 1].copy(),
                                model.pairs, model.walk)
        out.append((entry, Job(restricted, np.ones((t, 1), dtype=bool), horizon, paths, threshold, op, n_run)))
    return out


__all__ = ["changes_of", "comparison_noise", "comparison_noise_many", "robust_noise"]
