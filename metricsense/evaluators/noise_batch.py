"""The noise analysis's simulations for many triggers at once (MS302's run rates and bootstrap).

A trigger's noise (metricsense.evaluators.noise.trigger_steps) asks for simulated run rates:
its models' from today's level, then blocks of bootstrap replicates until its sequential test
stops (serial.sequential_blocks). Each such request names a ``Job`` (one comparison's model and
threshold). ``answer_one`` answers one request as the per-trigger code always did;
``answer_many`` answers a list at once: every point model's paths in one kernel call per horizon
(kernels.path_run_rates_rows), and the bootstrap replicates of every one-unit series without
gaps, per length and block, in one fill (kernels.ar1_fill_many), one refit
(kernels.ar1_fit_complete) and one run-rate call. Nothing random is drawn per trigger: every
series of a length shares the bootstrap's normals (serial._normals, from serial.SEED) and
every horizon its paths' normals (serial.path_normals), and each row's arithmetic is the
per-trigger one, so every rate, and so every p-value, is the same to the bit (the tests hold
both ways to each other). ``drive`` runs the triggers' steps in lockstep, one round of requests
at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from metricsense.evaluators import serial

#: Cap on one batched bootstrap's cells (jobs x replicates x periods; 8 bytes each): 16 MB.
BATCH_CELLS = 2_000_000
#: ``drive`` answers the requests of a round together (False: one at a time, the per-trigger path).
BATCHED = True


@dataclass(frozen=True)
class Job:
    """One comparison's simulations: its AR(1) model (units restricted), the data's gaps
    (``mask``, (T, U)), the horizon and bootstrap paths, the threshold and the run length."""

    model: serial.AR1
    mask: Any
    horizon: int
    paths: int
    threshold: float
    op: str
    n: int


def point_rates(job: Job):
    """The model's run rates from today's level, per unit: (U,)."""
    return serial.run_rates(job.model, serial.path_normals(job.horizon), job.threshold, job.op, job.n)


def boot_rates(job: Job, lo: int, hi: int):
    """The run rates of bootstrap replicates lo..hi-1 (the mean over units): (hi - lo,)."""
    z = serial.path_normals(job.horizon)[:job.paths]
    return serial.run_rates(serial.bootstrap(job.model, job.mask, lo=lo, hi=hi), z, job.threshold, job.op,
                            job.n).mean(axis=-1)


def answer_one(request):
    """("run", job) or ("boot", job, lo, hi), answered alone."""
    return point_rates(request[1]) if request[0] == "run" else boot_rates(*request[1:])


def answer_many(requests) -> list:
    """The answers of ``answer_one`` to each request, computed together."""
    out: list = [None] * len(requests)
    runs: dict[int, list[int]] = {}
    boots: dict[tuple, list[int]] = {}
    for i, req in enumerate(requests):
        if req[0] == "run":
            runs.setdefault(req[1].horizon, []).append(i)
        elif _batchable(req[1]):
            job = req[1]
            boots.setdefault((job.mask.shape[0], req[2], req[3], job.horizon, job.paths), []).append(i)
        else:
            out[i] = answer_one(req)
    for horizon, idx in runs.items():
        _point_many([requests[i][1] for i in idx], horizon, [out, idx])
    for (t, lo, hi, horizon, paths), idx in boots.items():
        step = max(1, BATCH_CELLS // max(1, (hi - lo) * t))
        for k in range(0, len(idx), step):
            part = idx[k:k + step]
            for i, rates in zip(part, _boot_many([requests[i][1] for i in part], t, lo, hi, horizon, paths)):
                out[i] = rates if rates is not None else answer_one(requests[i])
    return out


def _batchable(job: Job) -> bool:
    """One unit without a gap: the bootstrap's refit is the compiled one per replicate."""
    return job.mask.shape[1] == 1 and job.mask.shape[0] >= 2 and bool(job.mask.all())


_OPS = {"<": 0, "<=": 1, ">": 2, ">=": 3}  # kernels.reference.RUN_OPS


def _point_many(jobs: list[Job], horizon: int, into) -> None:
    import numpy as np

    from metricsense import kernels

    sizes = [len(j.model.last) for j in jobs]
    # each job's units side by side: its values, and its scalars repeated once per unit
    last = np.concatenate([np.asarray(j.model.last, dtype=float) for j in jobs])
    mean = np.concatenate([np.broadcast_to(np.asarray(j.model.mean, dtype=float), (u,)) for j, u in zip(jobs, sizes)])
    scalars = [np.repeat(np.array(v), sizes) for v in zip(*(
        (float(j.model.phi), float(j.model.sigma), float(j.model.drift), float(j.threshold), _OPS[j.op], int(j.n))
        for j in jobs))]
    rates = kernels.path_run_rates_rows(last, mean, *scalars, serial.path_normals(horizon))
    out, idx = into
    for i, part in zip(idx, np.split(rates, np.cumsum(sizes)[:-1])):
        out[i] = part


def _boot_many(jobs: list[Job], t: int, lo: int, hi: int, horizon: int, paths: int) -> list:
    """``boot_rates`` of one-unit, gap-free jobs of length t: None for a job whose simulated
    series hold a NaN (answered alone: its refit is the masked one)."""
    import numpy as np

    from metricsense import kernels

    e = serial._normals(serial.BOOTSTRAP, t, 1, serial.SEED)[lo:hi]
    b, k = len(e), len(jobs)
    models = [j.model for j in jobs]
    walk = np.array([m.walk for m in models])
    given = np.array([float(np.asarray(m.mean, dtype=float)[0]) for m in models])
    start = np.where(walk | np.isnan(given), 0.0, given)[:, None]
    phi, sigma, drift = (np.array([float(getattr(m, a)) for m in models]) for a in ("phi", "sigma", "drift"))
    # serial.bootstrap's first period: mean + sigma e / sqrt(1 - phi^2) (the square root as Python takes it)
    root = np.array([1.0 if m.walk else math.sqrt(1 - m.phi ** 2) for m in models])
    x = np.empty((k, b, t, 1))
    x[:, :, 0] = start[:, None, :] + np.where(walk[:, None, None], 0.0,
                                              sigma[:, None, None] * e[None, :, 0] / root[:, None, None])
    kernels.ar1_fill_many(x, start, phi, drift, sigma, e)
    bad = np.isnan(x).any(axis=(1, 2, 3))
    fp, fs, fd, fm = kernels.ar1_fit_complete(x.reshape(k * b, t, 1), serial.RANDOM_WALK_PHI)
    # the bootstrap's levels move around the estimate as the estimate moves around the truth
    means = np.where(walk[:, None], 0.0, fm.reshape(k, b) - start + given[:, None])
    last = np.repeat([float(m.last[0]) for m in models], b)
    thr = np.repeat([float(j.threshold) for j in jobs], b)
    ops = np.repeat([_OPS[j.op] for j in jobs], b)
    runs = np.repeat([int(j.n) for j in jobs], b)
    rates = kernels.path_run_rates_rows(last, means.ravel(), fp, fs, fd, thr, ops, runs,
                                        serial.path_normals(horizon)[:paths]).reshape(k, b)
    return [None if bad[i] else rates[i] for i in range(k)]


def drive(steps: list) -> list:
    """Run generators that yield lists of requests and get back their answers (in the same
    order), round by round, all of a round answered together (``answer_many``; one at a time
    when ``BATCHED`` is False); returns each generator's return value."""
    out: list = [None] * len(steps)
    waiting: list = []

    def advance(i, gen, value):
        try:
            waiting.append((i, gen, gen.send(value)))
        except StopIteration as stop:
            out[i] = stop.value

    for i, gen in enumerate(steps):
        advance(i, gen, None)
    while waiting:
        now = waiting[:]
        waiting.clear()
        flat = [r for _, _, reqs in now for r in reqs]
        answers = answer_many(flat) if BATCHED else [answer_one(r) for r in flat]
        at = 0
        for i, gen, reqs in now:
            advance(i, gen, answers[at:at + len(reqs)])
            at += len(reqs)
    return out


