"""Statistics for serially dependent series, shared by the noise and decoupling families.

KPIs are autocorrelated: a week's value is last week's plus a little. What a rule says about
them ("this threshold fires on noise 8% of the time", "the data does not support the declared
gain") must come from a model of that dependence, not from formulas for independent periods.
This module holds the few models the rules use, in plain NumPy (SciPy and statsmodels are test
oracles only):

- an AR(1) fit of a series or a panel (pooled coefficient and innovation scale, a level per
  unit), with Kendall's bias correction, falling back to a random walk (with drift when the
  changes' mean is clearly not zero) when the corrected coefficient reaches ``RANDOM_WALK_PHI``;
- the h-step forecast of that model, simulated paths for run probabilities (`for N periods`),
  and a parametric bootstrap of the fitted parameters for p-values;
- least squares with Newey-West (1987) standard errors, and the normal distribution's quantile.

NumPy is imported inside the functions: ``msense rules`` stays light.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

#: A bias-corrected AR(1) coefficient at or above this is treated as a random walk: over the
#: few dozen periods a KPI has, 0.98 and 1 cannot be told apart, and the walk is the cautious one.
RANDOM_WALK_PHI = 0.98
#: Bootstrap replications and simulated paths per replication (a rule's p-value resolution is 1/(B+1)).
BOOTSTRAP = 199
PATHS = 200
#: Cap on bootstrap x units x paths x horizon (memory: 8 bytes each).
CELLS = 2_000_000
SEED = 20_261_206
#: Models are fitted on at most this many last periods: ten years of weeks say all a bootstrap
#: needs, and a 2.5-million-row series must not become B copies of itself.
TAIL = 520


def norm_ppf(p: float) -> float:
    """The standard normal quantile (Acklam's rational approximation, then one Newton step)."""
    if not 0.0 < p < 1.0:
        return -math.inf if p <= 0 else math.inf
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    lo = 0.02425
    if p < lo or p > 1 - lo:
        q = math.sqrt(-2 * math.log(p if p < lo else 1 - p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        x = x if p < lo else -x
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    return x - e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)


def median(x) -> float:
    """``float(np.median(x))`` of a 1-D array, to the bit (its sign of zero included: NumPy's mean
    of the middle values adds them to 0.0), without np.median's overhead; NaN with a NaN."""
    import numpy as np

    n = x.size
    if n == 1:
        return 0.0 + float(x.flat[0])
    if n == 0:
        return math.nan
    if np.isnan(x).any():
        return math.nan
    k = n // 2
    p = np.partition(x, (k - 1, k) if n % 2 == 0 else k)
    return (0.0 + float(p[k - 1]) + float(p[k])) / 2 if n % 2 == 0 else 0.0 + float(p[k])


def norm_cdf(x):
    """The standard normal CDF, elementwise on arrays."""
    import numpy as np

    from math import erf

    x = np.asarray(x, dtype=float) / math.sqrt(2.0)
    return 0.5 * (1.0 + np.array([erf(v) for v in x.ravel().tolist()], dtype=float).reshape(x.shape))


@dataclass(frozen=True)
class AR1:
    """A fitted AR(1) (or random walk) for a (T, U) block; arrays carry leading bootstrap axes."""

    phi: Any        # (...,) coefficient; 1 for a random walk
    sigma: Any      # (...,) innovation standard deviation
    drift: Any      # (...,) mean change per period (a random walk only; else 0)
    mean: Any       # (..., U) each unit's level (a stationary model only)
    last: Any       # (U,) each unit's last observed value
    pairs: int      # consecutive observed pairs used
    walk: bool      # the point estimate is a random walk

    def to_json(self) -> dict:
        return {"model": "random walk" if self.walk else "AR(1)", "phi": float(self.phi),
                "sigma": float(self.sigma), "drift": float(self.drift), "pairs": self.pairs}


def _fit_arrays(x):
    """Vectorised AR(1) fit over the leading axes of x (..., T, U) with NaN gaps. Without a gap
    the fit is ``kernels.ar1_fit_complete``'s (the same operations without the masks, to the bit)."""
    import numpy as np

    from metricsense import kernels
    from metricsense.kernels import reference

    lead, (t, u) = x.shape[:-2], x.shape[-2:]
    if not np.isnan(x).any():
        if u != 1:  # NumPy's own shape: its sums over units run in an order the compiled fit does not repeat
            return (*reference.ar1_fit_complete(x, RANDOM_WALK_PHI), np.full(lead, (t - 1) * u))
        flat = np.ascontiguousarray(x, dtype=float).reshape((-1, t, u))
        phi, sigma, drift, mean = kernels.ar1_fit_complete(flat, RANDOM_WALK_PHI)
        return (phi.reshape(lead), sigma.reshape(lead), drift.reshape(lead), mean.reshape(lead + (u,)),
                np.full(lead, (t - 1) * u))
    prev, cur = x[..., :-1, :], x[..., 1:, :]
    ok = ~np.isnan(prev) & ~np.isnan(cur)
    cnt = (~np.isnan(x)).sum(axis=-2)
    mean = np.where(cnt > 0, np.nansum(x, axis=-2) / np.maximum(cnt, 1), np.nan)
    n = ok.sum(axis=(-2, -1))
    units = np.maximum((ok.sum(axis=-2) > 0).sum(axis=-1), 1)
    keep = lambda v: np.where(ok, v, 0.0)  # noqa: E731
    a = keep(prev - mean[..., None, :])
    b = keep(cur - mean[..., None, :])
    sxx = (a * a).sum(axis=(-2, -1))
    phi = np.where(sxx > 0, (a * b).sum(axis=(-2, -1)) / np.where(sxx > 0, sxx, 1), 0.0)
    per_unit = np.maximum(n / units, 1)
    phi = np.clip(phi + (1 + 3 * phi) / per_unit, -0.95, 1.0)  # Kendall (1954): E phi_hat = phi - (1+3phi)/T
    d = cur - prev
    dm = keep(d).sum(axis=(-2, -1)) / np.maximum(n, 1)
    dss = (keep(d - dm[..., None, None]) ** 2).sum(axis=(-2, -1))
    dsd = np.sqrt(dss / np.maximum(n - 1, 1))
    walk = phi >= RANDOM_WALK_PHI
    drift = np.where(walk & (np.abs(dm) > 2 * dsd / np.sqrt(np.maximum(n, 1))), dm, 0.0)
    res = keep(b - phi[..., None, None] * a)
    rsd = np.sqrt((res ** 2).sum(axis=(-2, -1)) / np.maximum(n - 2, 1))
    sigma = np.where(walk, np.sqrt((keep(d - drift[..., None, None]) ** 2).sum(axis=(-2, -1))
                                   / np.maximum(n - 1, 1)), rsd)
    phi = np.where(walk, 1.0, phi)
    return phi, sigma, drift, mean, n


def fit_ar1(block) -> AR1 | None:
    """AR(1) on a (T,) series or (T, U) panel (pooled phi and sigma, a mean per unit); None with < 4 pairs."""
    import numpy as np

    x = np.asarray(block, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    phi, sigma, drift, mean, n = _fit_arrays(x)
    if int(n) < 4 or not sigma > 0:
        return None
    last = x[-1].copy() if not np.isnan(x[-1]).any() else np.array(  # each unit's last observed value
        [col[~np.isnan(col)][-1] if (~np.isnan(col)).any() else np.nan for col in x.T])
    return AR1(phi=float(phi), sigma=float(sigma), drift=float(drift), mean=mean, last=last, pairs=int(n),
               walk=bool(phi >= 1.0))


def restrict(model: AR1, keep) -> AR1:
    """The model restricted to the units ``keep``."""
    import numpy as np

    return AR1(model.phi, model.sigma, model.drift, np.asarray(model.mean)[..., keep], np.asarray(model.last)[keep],
               model.pairs, model.walk)  # dataclasses.replace's AR1, made directly


def forecast(model: AR1, h: int):
    """Mean and standard deviation of each unit's value h periods after its last: (..., U) arrays."""
    import numpy as np

    phi = np.asarray(model.phi, dtype=float)[..., None]
    sigma = np.asarray(model.sigma, dtype=float)[..., None]
    drift = np.asarray(model.drift, dtype=float)[..., None]
    walk = phi >= 1.0
    ph = np.where(walk, 1.0, phi) ** h
    mean = np.where(walk, model.last + h * drift, model.mean + ph * (model.last - model.mean))
    var = np.where(walk, h * sigma ** 2, sigma ** 2 * (1 - ph ** 2) / np.where(walk, 1.0, 1 - phi ** 2))
    return mean, np.sqrt(var)


def simulate_paths(model: AR1, horizon: int, z):
    """Paths (..., U, M, horizon) from each unit's last value; z: (M, horizon) standard normals."""
    import numpy as np

    phi = np.asarray(model.phi, dtype=float)[..., None, None]
    sigma = np.asarray(model.sigma, dtype=float)[..., None, None]
    drift = np.asarray(model.drift, dtype=float)[..., None, None]
    mean = np.asarray(model.mean, dtype=float)[..., None]
    mean = np.where(np.isnan(mean), 0.0, mean)
    x = np.asarray(model.last, dtype=float)[:, None] + np.zeros_like(mean) + np.zeros_like(phi)
    x = np.repeat(x, z.shape[0], axis=-1)
    out = np.empty(x.shape + (horizon,))
    for t in range(horizon):
        x = mean + phi * (x - mean) + drift + sigma * z[:, t]
        out[..., t] = x
    return out


def forecasts(model: AR1, horizon: int):
    """``forecast`` at h = 1..horizon: mean and standard deviation, (horizon, ..., U) arrays (the
    same operations, all h at once)."""
    import numpy as np

    phi = np.asarray(model.phi, dtype=float)[..., None]
    sigma = np.asarray(model.sigma, dtype=float)[..., None]
    drift = np.asarray(model.drift, dtype=float)[..., None]
    walk = phi >= 1.0
    base = np.where(walk, 1.0, phi)
    h = np.arange(1, horizon + 1).reshape((horizon,) + (1,) * phi.ndim)
    ph = base ** h  # each power as `base ** k` gives it (libm's pow, k = 1 and 2 exact either way)
    mean = np.where(walk, model.last + h * drift, model.mean + ph * (model.last - model.mean))
    var = np.where(walk, h * sigma ** 2, sigma ** 2 * (1 - ph ** 2) / np.where(walk, 1.0, 1 - phi ** 2))
    return mean, np.sqrt(var)


def run_rates(model: AR1, z, threshold: float, op: str, n: int):
    """``run_rate(simulate_paths(model, horizon, z), threshold, op, n)`` without keeping the paths
    (metricsense.kernels.path_run_rates: the same paths, period by period): (..., U)."""
    import numpy as np

    from metricsense import kernels

    phi = np.asarray(model.phi, dtype=float)
    lead = phi.shape
    last = np.asarray(model.last, dtype=float)
    b, u = int(np.prod(lead, dtype=np.int64)), len(last)
    mean = np.broadcast_to(np.asarray(model.mean, dtype=float), lead + (u,)).reshape(b, u)
    flat = [np.broadcast_to(np.asarray(a, dtype=float), lead).reshape(b) for a in (phi, model.sigma, model.drift)]
    rates = kernels.path_run_rates(last, mean, *flat, np.asarray(z, dtype=float), float(threshold), op, int(n))
    return rates.reshape(lead + (u,))


def run_rate(paths, threshold: float, op: str, n: int):
    """Share of periods at which `value OP threshold` held for the last n periods: (...,) by unit."""
    import numpy as np

    past = {"<": paths < threshold, "<=": paths <= threshold, ">": paths > threshold,
            ">=": paths >= threshold}[op]
    held = past[..., n - 1:]
    for j in range(1, n):  # held at t when past at t, t-1, ..., t-n+1 (n is a handful)
        held = held & past[..., n - 1 - j: past.shape[-1] - j]
    return held.mean(axis=(-2, -1)) if held.shape[-1] else np.zeros(held.shape[:-2])


@functools.lru_cache(maxsize=8)
def _normals(b: int, t: int, u: int, seed: int):
    """The bootstrap's standard normals, (b, t, u) from ``seed``: the same for every series of one
    shape, so drawn once (read-only)."""
    import numpy as np

    e = np.random.default_rng(seed).standard_normal((b, t, u))
    e.flags.writeable = False
    return e


@functools.lru_cache(maxsize=8)
def path_normals(horizon: int):
    """The run rates' standard normals, (PATHS, horizon) from ``SEED``: the same for every
    trigger with that horizon, so drawn once (read-only)."""
    import numpy as np

    z = np.random.default_rng(SEED).standard_normal((PATHS, horizon))
    z.flags.writeable = False
    return z


def bootstrap(model: AR1, mask, b: int = BOOTSTRAP, seed: int = SEED, lo: int = 0, hi: int | None = None) -> AR1:
    """Parametric bootstrap: B series from the fitted model on the data's own gaps, refitted.

    ``mask`` is the (T, U) pattern of observed values. Each replicate starts at a draw from the
    stationary distribution (a random walk: at the unit's first observed level, 0 here) and keeps
    the observed last values (they are known, not estimated). Returns an AR1 with (B,) parameters;
    with ``lo``/``hi`` only replicates lo..hi-1 of the B (each the same, to the bit, as in the whole
    run: a replicate's normals and arithmetic do not depend on the others).
    """
    import numpy as np

    from metricsense import kernels

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 1:
        mask = mask[:, None]
    t, u = mask.shape
    e = _normals(b, t, u, seed)[lo:hi]
    b = len(e)
    x = np.empty((b, t, u))
    walk = model.walk
    mean = np.where(np.isnan(model.mean), 0.0, model.mean) if not walk else np.zeros(u)
    x[:, 0] = mean + (model.sigma * e[:, 0] / math.sqrt(1 - model.phi ** 2) if not walk else 0.0)
    kernels.ar1_fill(x, np.asarray(mean, dtype=float), float(model.phi), float(model.drift), float(model.sigma), e)
    x[:, ~mask] = np.nan
    phi, sigma, drift, means, _ = _fit_arrays(x)
    if walk:
        means = np.zeros_like(means)
    else:
        # the bootstrap's levels move around the estimate as the estimate moves around the truth
        means = means - mean + model.mean
    return AR1(phi=phi, sigma=sigma, drift=drift, mean=means, last=model.last, pairs=model.pairs, walk=walk)


def rate_p_value(boot, bound: float, cells: int) -> float:
    """The p-value of H0: rate <= ``bound`` from bootstrap rates, with a smoothed tail.

    The bootstrap rates are taken on the logit scale, where a rate's sampling distribution is
    close to normal, and the p-value is the normal tail of that distribution below the bound:
    Phi((logit(bound) - mean) / sd) of the logit rates. Unlike the share of bootstrap rates at
    or below the bound (at least 1 / (B + 1)), it goes as small as the evidence says, which
    Benjamini-Hochberg over a family of many tests needs. ``cells`` is how many simulated
    periods a rate is a share of: rates are kept within half a cell of 0 and 1."""
    import numpy as np

    b = np.asarray(boot, dtype=float)
    b = b[np.isfinite(b)]
    if not len(b) or not 0 < bound < 1:
        return math.nan
    eps = 0.5 / max(int(cells), 1)
    lo = np.log(np.clip(b, eps, 1 - eps) / (1 - np.clip(b, eps, 1 - eps)))
    centre, sd = float(lo.mean()), float(lo.std(ddof=1)) if len(lo) > 1 else 0.0
    edge = math.log(bound / (1 - bound))
    if not sd > 0:
        return 1.0 if centre <= edge else 0.0
    return 0.5 * math.erfc((centre - edge) / sd / math.sqrt(2))


#: Sequential Monte Carlo (Besag & Clifford 1991): the bootstrap stops at the replicate that is the
#: ``EXCEEDANCES``-th with a rate at or below the bound, and the p-value is EXCEEDANCES / replicates used.
#: An early stop means p >= 10 / 199 > 0.05: never a finding at the rules' 5%, so 10 is enough.
EXCEEDANCES = 10


def sequential_rate_p(rates_of, bound: float, cells: int, b: int = BOOTSTRAP, h: int = EXCEEDANCES):
    """The bootstrap p-value of H0: rate <= ``bound``, drawing replicates only until it is clear.

    ``rates_of(lo, hi)`` gives the rates of replicates lo..hi-1 (of B), computed in blocks of
    h, 2h and the rest (a test that has not stopped by 3h rarely stops before B, and each
    block costs a call). Replicate by replicate, in order: once h of them have
    a rate at or below the bound (an exceedance: a replicate as compatible with H0), stop and
    return p = h / n, n the replicates used (Besag & Clifford's sequential p-value, valid
    whatever the stopping point). If the B replicates hold fewer than h, the test needs them
    all and p is ``rate_p_value`` of the B rates (the logit-normal tail, finer than 1 / (B + 1)
    where Benjamini-Hochberg needs it; an early stop only replaces a p-value of 0.05 or more).
    Returns (p, n); ``sequential_blocks`` is the same test as a generator."""
    steps = sequential_blocks(bound, cells, b, h)
    try:
        block = next(steps)
        while True:
            block = steps.send(rates_of(*block))
    except StopIteration as stop:
        return stop.value


def sequential_blocks(bound: float, cells: int, b: int = BOOTSTRAP, h: int = EXCEEDANCES):
    """``sequential_rate_p`` as a generator: it yields each block (lo, hi) it needs, is sent
    that block's rates, and returns (p, n) (many triggers' tests then run side by side)."""
    import numpy as np

    got, lo, hits, step = [], 0, 0, h
    while lo < b:
        hi = min(b, lo + step)
        r = np.asarray((yield lo, hi), dtype=float)
        fin = np.isfinite(r)
        cum = hits + np.cumsum(fin & (r <= bound))
        if cum[-1] >= h:
            at = int(np.argmax(cum >= h))
            used = sum(np.isfinite(g).sum() for g in got) + int(fin[:at + 1].sum())
            return h / used, used
        got.append(r)
        hits, lo, step = int(cum[-1]), hi, (2 * h if hi <= h else b)
    every = np.concatenate(got) if got else np.zeros(0)
    return rate_p_value(every, bound, cells), int(np.isfinite(every).sum())


def share_test(hits, known, bound: float, least_lags: int = 1):
    """The share of hits among known cells over time, and the p-value of H0: share <= ``bound``.

    ``hits`` and ``known`` are per-period counts (a trigger's firings and the unit-periods where
    it could be evaluated). The share is sum(hits) / sum(known); its standard error is the
    ratio estimator's, from the Newey-West long-run variance of u_t = (hits_t - share known_t) /
    mean(known) with Bartlett weights and Andrews' (1991) plug-in bandwidth (never below the
    Newey-West rule nor ``least_lags``: a run of N periods holds N periods together). The
    p-value is the one-sided normal tail. Returns (share, se, p), NaN without known cells."""
    import numpy as np

    hits, known = np.asarray(hits, dtype=float), np.asarray(known, dtype=float)
    keep = known > 0
    hits, known = hits[keep], known[keep]
    t = len(known)
    if t < 2:
        return math.nan, math.nan, math.nan
    total = known.sum()
    share = float(hits.sum() / total)
    u = (hits - share * known) / (total / t)  # / known.mean(), the same division
    lags = max(int(math.floor(4 * (t / 100.0) ** (2.0 / 9.0))), int(least_lags),
               andrews_lags(u[:, None]) if np.any(u != u[0]) else 0)
    lags = min(lags, t - 1)
    s = float(np.dot(u, u))  # _long_run(u[:, None], lags)[0, 0]: the same dot products, as floats
    for j in range(1, lags + 1):
        g = float(np.dot(u[j:], u[:-j]))
        s += (1 - j / (lags + 1)) * (g + g)
    se = math.sqrt(max(s, 0.0)) / t
    if not se > 0:
        return share, 0.0, (0.0 if share > bound else 1.0)
    return share, se, 0.5 * math.erfc((share - bound) / se / math.sqrt(2))


def ols_hac(y, x, lags: int | None = None):
    """Least squares of y on x (x includes the intercept column) with Newey-West covariance.

    Bartlett weights 1 - j/(L+1), j = 1..L, L = floor(4 (n/100)^(2/9)) unless given; no
    small-sample factor (statsmodels' ``OLS.fit(cov_type="HAC", cov_kwds={"maxlags": L})``).
    Returns (coef, cov, residuals, L).
    """
    import numpy as np

    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n = len(y)
    if lags is None:
        lags = int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0)))
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    xu = x * resid[:, None]
    s = xu.T @ xu
    for j in range(1, lags + 1):
        w = 1 - j / (lags + 1)
        g = xu[j:].T @ xu[:-j]
        s += w * (g + g.T)
    inv = np.linalg.pinv(x.T @ x)
    return coef, inv @ s @ inv, resid, lags


def autocorr(x, k: int) -> float:
    """The lag-k autocorrelation of a NaN-free series (about its mean, divided by the lag-0 sum)."""
    return float(autocorrs(x, k)[k - 1]) if 0 < k < len(x) else 0.0


def autocorrs(x, lags: int):
    """The autocorrelations at lags 1..``lags`` of a NaN-free series, at once: (lags,) array.

    r_j = sum_t (x_t - m)(x_{t+j} - m) / sum_t (x_t - m)^2 (statsmodels' ``acf(adjusted=False)``);
    0 for lags at or past the series' length, and for a constant series."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    n = len(x)
    x = x - x.sum() / n if n else x  # x.mean(): its sum over its count
    out = np.zeros(max(int(lags), 0))
    den = float(x @ x)
    if den <= 0 or not len(out):
        return out
    j = min(len(out), n - 1)
    if j < 1:
        return out
    # x padded with j zeros as (n, j + 1) windows w[t, i] = x[t + i]: sliding_window_view's array, made directly
    pad = np.concatenate([x, np.zeros(j)])
    w = np.ndarray((n, j + 1), dtype=float, buffer=pad, strides=(pad.itemsize, pad.itemsize))
    out[:j] = (x @ w)[1:] / den
    return out


def _long_run(psi, lags: int):
    """Newey-West long-run covariance sum of the (n, p) influence terms psi (Bartlett weights)."""
    s = psi.T @ psi
    for j in range(1, lags + 1):
        g = psi[j:].T @ psi[:-j]
        s += (1 - j / (lags + 1)) * (g + g.T)
    return s


def standardised_gains(y, x, lags: int | None = None):
    """OLS of y on [1, x] with Newey-West SEs, and the standardised slopes b_j sd(x_j) / sd(y).

    The standardised slope's SE is by the delta method on the joint influence functions of the
    slopes and the two variances (both are estimates: Var g = grad' Omega grad / n^2 with
    grad = (sd_x/sd_y, g / (2 var_x), -g / (2 var_y))), with the same Bartlett long-run covariance.
    Returns (b, se_b, g, se_g, lags) for the slopes of x's columns.
    """
    import numpy as np

    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n, m = x.shape
    xx = np.column_stack([np.ones(n), x])
    if lags is None:  # Andrews' plug-in on the slopes' score terms (never fewer than Newey-West's rule)
        coef0, *_ = np.linalg.lstsq(xx, y, rcond=None)
        lags = max(int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0))),
                   andrews_lags(xx[:, 1:] * (y - xx @ coef0)[:, None]))
    coef, cov, resid, lags = ols_hac(y, xx, lags)
    inv = np.linalg.pinv(xx.T @ xx) * n
    psi_b = (xx * resid[:, None]) @ inv.T             # (n, m+1): n (X'X)^-1 x_t u_t
    vx = x.var(axis=0, ddof=1)
    vy = y.var(ddof=1)
    psi_vx = (x - x.mean(axis=0)) ** 2 - vx            # (n, m)
    psi_vy = (y - y.mean()) ** 2 - vy                  # (n,)
    b = coef[1:]
    g = b * np.sqrt(vx / vy)
    se_g = np.empty(m)
    for j in range(m):
        psi = np.column_stack([psi_b[:, j + 1], psi_vx[:, j], psi_vy])
        omega = _long_run(psi, lags)
        grad = np.array([math.sqrt(vx[j] / vy), g[j] / (2 * vx[j]), -g[j] / (2 * vy)])
        # n / (n - k): the small-sample factor for the k estimated coefficients (measured: without
        # it the SE is 7% short at n = 60 with independent changes)
        se_g[j] = math.sqrt(max(float(grad @ omega @ grad), 0.0) * n / (n - m - 1)) / n
    return b, np.sqrt(np.maximum(np.diag(cov)[1:], 0)), g, se_g, lags


def andrews_lags(psi) -> int:
    """Andrews' (1991) AR(1) plug-in bandwidth for Bartlett weights: floor(1.1447 (alpha n)^(1/3))."""
    import numpy as np

    psi = np.asarray(psi, dtype=float)
    n = len(psi)
    num = den = 0.0
    for col in psi.T:
        a, b = col[:-1], col[1:]
        aa = a @ a
        rho = float(min(max(a @ b / aa, -0.97), 0.97)) if aa > 0 else 0.0  # np.clip's value (NaN kept)
        r = b - rho * a
        s2 = float((r * r).sum() / len(r))  # np.mean((b - rho a) ** 2): the sum of squares over the count
        num += 4 * rho ** 2 * s2 ** 2 / ((1 - rho) ** 6 * (1 + rho) ** 2)
        den += s2 ** 2 / (1 - rho) ** 4
    alpha = num / den if den > 0 else 0.0
    return int(min(n // 3, math.floor(1.1447 * (alpha * n) ** (1 / 3))))


def chi2_sf(x: float, df: int) -> float:
    """P(chi2_df > x): the regularised upper incomplete gamma Q(df/2, x/2) (series or continued fraction)."""
    a, z = df / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    lg = math.lgamma(a)
    if z < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        k = a
        for _ in range(500):
            k += 1
            term *= z / k
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-z + a * math.log(z) - lg))
    b = z + 1 - a  # Lentz's continued fraction for Q
    c = 1 / 1e-300
    d = 1 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-z + a * math.log(z) - lg) * h)


def block_indices(n: int, b: int, rng, length: int | None = None):
    """(b, n) row indices of a moving-block bootstrap (Kunsch 1989), blocks of n^(1/3) rows."""
    import numpy as np

    length = length or max(1, int(round(n ** (1 / 3))))
    starts = rng.integers(0, n - length + 1, size=(b, -(-n // length)))
    idx = (starts[..., None] + np.arange(length)).reshape(b, -1)[:, :n]
    return idx


def rank_test(g, cov_vec, rank: int):
    """Kleibergen-Paap-style test of H0: rank(G) <= rank, with cov_vec the covariance of vec(G) (column-major).

    Project G on the singular vectors beyond ``rank`` (u_perp, v_perp); the statistic
    theta' Var(theta)^-1 theta, theta = (v_perp kron u_perp)' vec(G), is chi-square with
    (k - rank)(m - rank) degrees of freedom under H0. Returns (statistic, df, p_value).
    """
    import numpy as np

    g = np.asarray(g, dtype=float)
    k, m = g.shape
    u, _, vt = np.linalg.svd(g)
    up, vp = u[:, rank:], vt.T[:, rank:]
    proj = np.kron(vp, up)                       # (k m, (k-r)(m-r)) for column-major vec
    theta = proj.T @ g.reshape(-1, order="F")
    var = proj.T @ cov_vec @ proj
    stat = float(theta @ np.linalg.pinv(var) @ theta)
    df = (k - rank) * (m - rank)
    return stat, df, chi2_sf(stat, df)


def best_lag(dx, dy, sign: float, max_lag: int, least: int = 12) -> dict | None:
    """The lag k in 0..max_lag at which x's changes best predict y's changes k periods later.

    Each lag's correlation r_k (pairwise complete, at least ``least`` pairs) is a one-sided
    z-test in the direction ``sign`` with Bartlett's (1935) variance for two autocorrelated
    series, var r = (1 + 2 sum_j rho_x(j) rho_y(j)) / n, j up to n/4 (at most 10). The best lag
    is the largest z; its p-value is multiplied by the number of lags searched (Bonferroni), so
    the search keeps its size. Returns {periods, correlation, n, p_value} or None.
    """
    import numpy as np

    dx, dy = np.asarray(dx, dtype=float), np.asarray(dy, dtype=float)
    best, searched = None, 0
    for k in range(0, max_lag + 1):
        if k >= len(dx):  # a calendar shorter than the lag (found by the data fuzz test)
            break
        a, b = dx[: len(dx) - k], dy[k:]
        ok = ~np.isnan(a) & ~np.isnan(b)
        n = int(ok.sum())
        if n < least:
            continue
        a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
        saa, sbb = float(a @ a), float(b @ b)
        if saa <= 0 or sbb <= 0:
            continue
        searched += 1
        r = float(a @ b) / math.sqrt(saa * sbb) * (1.0 if sign >= 0 else -1.0)
        j = min(10, n // 4)
        inflation = 1 + 2 * float(autocorrs(a, j) @ autocorrs(b, j))
        z = r / math.sqrt(max(inflation, 0.1) / n)
        if best is None or z > best[3]:
            best = (k, r, n, z)
    if best is None:
        return None
    p_value = min(1.0, searched * 0.5 * math.erfc(best[3] / math.sqrt(2)))
    return {"periods": best[0], "correlation": best[1], "n": best[2], "p_value": p_value}


# ---- the spread of a KPI's moves over h periods (MS301) ---------------------------------------


def level_path(x, k: int):
    """The level known at each period: the median of the last ``k`` observed values up to it.

    ``x`` is a (T,) series on its own calendar (NaN for a missing period). NaN where the period
    itself is missing or fewer than ``k`` values were observed up to it."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    out = np.full(len(x), np.nan)
    obs = np.flatnonzero(~np.isnan(x))
    k = max(int(k), 1)
    if len(obs) >= k:
        win = np.lib.stride_tricks.sliding_window_view(x[obs], k)  # odd k: np.median's partition, its middle
        out[obs[k - 1:]] = 0.0 + np.partition(win, [k // 2, -1], axis=1)[:, k // 2] if k % 2 else np.median(win, axis=1)
    return out


def moves(x, h: int, k: int):
    """The KPI's moves over h periods from its level: x[t + h] - level[t] (``level_path``),
    for every observed period t with a level and an observed value h periods later; (n,) array."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    if h < 1 or len(x) <= h:
        return np.zeros(0)
    e = x[h:] - level_path(x, k)[:-h]
    return e[~np.isnan(e)]


def spread_test(e, gap: float, ratio: float, lags: int):
    """The spread of the moves ``e`` and the p-value of H0: |gap| >= ratio x the true spread.

    The spread is the moves' standard deviation s (about their mean). Its sampling distribution
    is a scaled chi-square, nu s^2 / sigma^2 ~ chi2(nu), with the effective degrees of freedom of
    a variance estimated from dependent, possibly heavy-tailed moves (Bartlett 1946; the moves
    overlap when h > 1): nu = (n - 1) / ((1 + 2 sum_{j<=L} r_j^2) max(1, (kurtosis - 1) / 2)),
    r_j the moves' autocorrelations, L = max(lags, n // 4) (measured: with L = h + k the size
    was 6.5% for independent values, with n // 4 at most 4.4% on independent, AR(1) 0.8 and
    0.95, random-walk and noisy random-walk KPIs of 104 periods, power kept). Under H0 at its boundary (sigma = |gap| / ratio) the p-value
    is P(chi2(nu) >= nu s^2 ratio^2 / gap^2). Returns (s, nu, p) (p is 0 when the gap is 0)."""
    import numpy as np

    e = np.asarray(e, dtype=float)
    n = len(e)
    if n < 3:
        return math.nan, math.nan, math.nan
    d = e - e.sum() / n  # e.mean(), as each mean below: the sum over the count
    var = float(d @ d) / (n - 1)
    if not var > 0:
        return 0.0, math.nan, math.nan
    r = autocorrs(d, min(max(int(lags), n // 4), n - 2))
    kurt = float((d ** 4).sum() / n) / float((d ** 2).sum() / n) ** 2
    nu = (n - 1) / ((1 + 2 * float(r @ r)) * max(1.0, (kurt - 1) / 2))
    s = math.sqrt(var)
    if gap == 0:
        return s, nu, 0.0
    return s, nu, chi2_sf(nu * var * ratio ** 2 / gap ** 2, nu)
