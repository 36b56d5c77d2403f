"""The statistics behind the distortion rules (MS401-MS403), kept apart from the rules' wording.

NumPy only, imported inside the functions. Each test here is built to hold its size on the data
KPI systems actually have (issue 21): values pooled over units x periods with persistent unit
levels (clustered by unit), errors that persist from period to period (AR(1) errors, plus a random walk for MS402), and
levels and seasons that change the spread of a number without anyone gaming it (whole years on
each side, and a spread measured both as it is and relative to the level).
"""

from __future__ import annotations

import math

# ---- distributions ------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbeta) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbeta) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    if not math.isfinite(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def norm_sf(z: float) -> float:
    """P(Z > z) = 1 - Phi(z), computed without cancellation in the upper tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


# ---- MS401: a density discontinuity, clustered by unit -----------------------------------------

#: At most this many clusters in the jackknife: with more units, units are dealt into this many
#: groups (a grouped jackknife; groups of whole units are still independent).
MAX_CLUSTERS = 200
#: Fewer units than this cannot carry a clustered variance.
MIN_CLUSTERS = 10


def _boundary_weights(mid, h: float, degree: int):
    """The row of the triangular-weighted polynomial fit that gives the value at 0 (a linear map
    of the bin heights), or None when the window holds too few bins."""
    import numpy as np

    w = np.maximum(0.0, 1.0 - np.abs(mid) / h)
    keep = w > 0
    if keep.sum() < degree + 2:
        return None
    A = np.vander(mid, degree + 1, increasing=True)
    AtW = A.T * w
    try:
        row = np.linalg.solve(AtW @ A, np.eye(degree + 1)[:, 0]) @ AtW
    except np.linalg.LinAlgError:
        return None
    return row


def cluster_codes(cl):
    """``np.unique(cl, return_inverse=True)[1]``: each value's rank among the distinct values; for
    sorted whole numbers (a plain series' runs of periods) counted off their changes."""
    import numpy as np

    cl = np.asarray(cl)
    if cl.ndim == 1 and len(cl) and cl.dtype.kind in "iu" and bool((cl[1:] >= cl[:-1]).all()):
        cid = np.zeros(len(cl), dtype=np.intp)
        np.cumsum(cl[1:] != cl[:-1], out=cid[1:])
        return cid
    return np.unique(cl, return_inverse=True)[1]


def clustered_density_test(x, clusters, cutoff: float, meets: str = "above", inclusive: bool = True,
                           step: float = 0.0, bandwidth_of=None) -> dict:
    """A bias-corrected density discontinuity test at ``cutoff`` with a variance clustered by unit.

    Bins and bandwidth as McCrary (2008) (bins aligned to a discrete support, the boundary between
    the last value that misses and the first that meets; ``bandwidth_of(mid, y, left, right)`` is
    his quartic rule of thumb). The densities at the boundary come from triangular-weighted local
    *quadratic* fits at that local-linear bandwidth: the robust bias correction of Calonico,
    Cattaneo & Titiunik (2014), which Cattaneo, Jansson & Ma's (2020) density test (rddensity)
    uses too (it fits one degree higher than the bandwidth was chosen for), so a density that is
    curved or sloped at the target (a target in a tail) does not look like a jump. At least five
    bins with weight on each side (discrete scores: five score points). theta = ln f+ - ln f-.
    Its standard error is a delete-one-cluster jackknife over ``clusters`` (units: a ward's,
    a store's values across periods stay together, so persistent unit levels do not count as
    independent evidence), grouped into at most MAX_CLUSTERS groups; z = theta / se toward the
    side that meets, p from Student's t with G - 1 degrees of freedom (G clusters).
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    cl = np.asarray(clusters)
    ok = np.isfinite(x)
    x, cl = x[ok], cl[ok]
    n = len(x)
    out = {"n": n, "cutoff": float(cutoff), "meets": meets}
    cid = cluster_codes(cl)
    G = int(cid.max()) + 1 if n else 0
    out["clusters"] = G
    if n < 20 or x.std() == 0:
        return {**out, "status": "too few values"}
    if G < MIN_CLUSTERS:
        return {**out, "status": f"fewer than {MIN_CLUSTERS} units"}
    if G > MAX_CLUSTERS:
        cid = cid % MAX_CLUSTERS
        G = MAX_CLUSTERS
    g = step
    b = 2.0 * x.std(ddof=1) / math.sqrt(n)
    edge = float(cutoff)
    if g > 0 and b <= g * (1 + 1e-9):
        # one score per bin: a density on a few mass points is no density; compare the masses
        return {**out, **mass_point_test(x, cid, cutoff, meets, inclusive, g)}
    if g > 0:
        b = max(g, math.ceil(b / g - 1e-9) * g)
        on_grid = abs((cutoff - x.min()) / g - round((cutoff - x.min()) / g)) < 1e-6
        if on_grid:
            lower = (meets == "above") == inclusive
            edge = cutoff - g / 2 if lower else cutoff + g / 2
    k = np.floor((x - edge) / b + 1e-9).astype(np.int64)
    kmin, kmax = int(k.min()), int(k.max())
    out.update({"bin": b, "support_step": g or None, "boundary": edge})
    # fewer than six bins below the boundary, or from it up (the bins kmin..kmax: k < 0 below)
    if min(kmax, -1) - kmin + 1 < 6 or kmax - max(kmin, 0) + 1 < 6:
        return {**out, "status": "the target is at the edge of the data"}
    K = kmax - kmin + 1
    by_cluster = np.zeros((G, K))
    np.add.at(by_cluster, (cid, k - kmin), 1.0)
    counts = by_cluster.sum(axis=0)
    ks = np.arange(kmin, kmax + 1)
    mid = (ks + 0.5) * b
    y = counts / (n * b)
    left, right = ks < 0, ks >= 0
    h = bandwidth_of(mid, y, left, right) if bandwidth_of is not None else None
    if h is None:
        return {**out, "status": "no bandwidth"}
    h = max(h, 5.5 * b)  # five bins with weight on each side at least
    wl = _boundary_weights(mid[left], h, 2)
    wr = _boundary_weights(mid[right], h, 2)
    if wl is None or wr is None:
        return {**out, "status": "too few bins near the target"}
    out["bandwidth"] = h
    f_minus = float(wl @ y[left])
    f_plus = float(wr @ y[right])
    out.update({"f_below": f_minus, "f_above": f_plus})
    if not (f_minus > 0 and f_plus > 0):
        return {**out, "status": "no density on one side of the target"}
    theta = math.log(f_plus) - math.log(f_minus)
    # the jackknife: each cluster's counts left out in turn (the fits are linear in the counts)
    rest = counts[None, :] - by_cluster
    n_rest = n - by_cluster.sum(axis=1)
    fm = rest[:, left] @ wl / (n_rest * b)
    fp = rest[:, right] @ wr / (n_rest * b)
    if not ((fm > 0).all() and (fp > 0).all()):
        return {**out, "status": "no density on one side of the target without one unit"}
    th = np.log(fp) - np.log(fm)
    se = math.sqrt((G - 1) / G * float(((th - th.mean()) ** 2).sum()))
    if not se > 0:
        return {**out, "status": "no variation between units"}
    z = (theta if meets == "above" else -theta) / se
    return {**out, "status": "evaluated", "theta": theta, "se": se, "z": z, "df": G - 1,
            "p": t_sf(z, G - 1)}


def mass_point_test(x, cid, cutoff: float, meets: str, inclusive: bool, step: float) -> dict:
    """MS401 on a discrete support with one score per bin (scores 1-7, 0-20): the masses m at the
    first score that meets the target (m0), the two below it (m-1, m-2: they miss it) and the one
    past it (m1). A smooth distribution has a log mass locally quadratic in the score, and then
    theta = (ln m0 - ln m-1) - ((ln m-1 - ln m-2) + (ln m1 - ln m0)) / 2 is exactly 0 (the jump
    at the target against the average slope on either side); a pile-up at the first meeting
    score drawn from just short of it makes theta > 0. Its standard error is the delete-one-cluster
    jackknife (clusters ``cid``, 0..G-1: units), Student's t on Satterthwaite's degrees of freedom for that
    variance (fewer than units - 1 when a few units carry it). Mirrored for a `<=` target."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    sgn = 1.0 if meets == "above" else -1.0
    k = np.rint((sgn * x) / step).astype(np.int64)
    c = sgn * cutoff / step
    first = math.ceil(c - 1e-9) if inclusive else math.floor(c + 1e-9) + 1  # the first score that meets
    G = int(cid.max()) + 1
    pts = np.array([first - 2, first - 1, first, first + 1])
    by = np.zeros((G, 4))
    for j, v in enumerate(pts):
        np.add.at(by[:, j], cid[k == v], 1.0)
    m = by.sum(axis=0)
    first_value = float(sgn * first * step)
    out = {"bin": step, "support_step": step, "boundary": first_value - sgn * step / 2, "bandwidth": 2 * step,
           "test": "mass points", "masses": [int(v) for v in m]}
    if not (m > 0).all():
        return {**out, "status": "a score next to the target has no values"}
    w = np.array([0.5, -1.5, 1.5, -0.5])  # theta = w . ln m
    theta = float(w @ np.log(m))
    rest = m[None, :] - by
    if not (rest > 0).all():
        return {**out, "status": "a score next to the target has values from one unit only"}
    th = np.log(rest) @ w
    se = math.sqrt((G - 1) / G * float(((th - th.mean()) ** 2).sum()))
    if not se > 0:
        return {**out, "status": "no variation between units"}
    z = theta / se
    # when a few units carry the variance (persistent unit levels put a unit's values on one or
    # two scores) the jackknife variance has fewer degrees of freedom than units: Satterthwaite's
    # (sum d_g^2)^2 / sum d_g^4 over the units' squared jackknife deviations d_g, at most G - 1
    d2 = (th - th.mean()) ** 2
    df = max(1.0, min(G - 1.0, float(d2.sum()) ** 2 / float(d2 @ d2)))
    # theta is said on the side that meets: f_below/f_above are the masses just short and at it
    return {**out, "status": "evaluated", "f_below": float(m[1]), "f_above": float(m[2]),
            "theta": theta if meets == "above" else -theta, "se": se, "z": z, "df": df, "p": t_sf(z, df)}


def bunching_units(x, units, edge: float, width: float, meets: str, names) -> list[tuple[str, int, int]]:
    """The units with more values just on the meeting side of ``edge`` (within ``width``) than
    just on the other: (name, just past, just short), the largest excess first (at most five)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    units = np.asarray(units)
    past = (x >= edge) & (x < edge + width) if meets == "above" else (x < edge) & (x >= edge - width)
    short = (x < edge) & (x >= edge - width) if meets == "above" else (x >= edge) & (x < edge + width)
    found = []
    for u in np.unique(units):
        mine = units == u
        a, s = int((past & mine).sum()), int((short & mine).sum())
        if a > s:
            found.append((str(names[int(u)]) if names is not None else str(u), a, s))
    found.sort(key=lambda r: (-(r[1] - r[2]), r[0]))
    return found[:5]


# ---- MS402 until issue 21's second pass: a mean prediction residual under AR(1) errors -----------
# (kept for benchmarks/calib_distortion.py's comparison; the rule now uses step_test below)


def ar1_corr(times, rho: float):
    """The AR(1) correlation matrix rho^|t_i - t_j| at the given (integer) times."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    return rho ** np.abs(t[:, None] - t[None, :])


def ar1_rho(resid, X, times, grid: int = 100, upper_z: float | None = None) -> tuple[float, float]:
    """The lag-1 autocorrelation of the residuals (``r1``) and the AR(1) rho that would give it on
    average: E[r1] for residuals of a fit on X under AR(1) errors with parameter rho is, to a ratio
    of expectations, tr(M L M R) / tr(M R) (M = I - H, L the lag-one pairs at the given times,
    halved and symmetric); rho is the value in [0, 0.995] whose expectation matches r1. The plain
    r1 is biased toward zero by about (1 + 3 rho) / n in short series (Kendall 1954); this
    matching removes that bias, so persistent errors are not taken for independent ones. The rho
    returned is the largest on the grid whose expected r1 is within ``upper_z`` (default UPPER_Z)
    standard errors above the r1 seen: the upper end of what the residuals allow."""
    import numpy as np

    resid = np.asarray(resid, dtype=float)
    t = np.asarray(times, dtype=float)
    n = len(resid)
    lag = (np.abs(t[:, None] - t[None, :]) == 1).astype(float) / 2.0
    ss = float(resid @ resid)
    if n < 4 or ss <= 0:
        return 0.0, 0.0
    r1 = float(resid @ lag @ resid) / ss
    M = np.eye(n) - X @ np.linalg.pinv(X)
    MLM = M @ lag @ M
    rhos = np.linspace(0.0, 0.995, grid)
    expect = np.array([float(np.sum(MLM * R)) / float(np.sum(M * R)) for R in (ar1_corr(t, r) for r in rhos)])
    # the largest rho the residuals do not rule out at UPPER_Z standard errors of r1 (about
    # sqrt((1 - rho^2) / n)): a rho too small makes a persistent error look like a shortfall, one
    # too large only costs power, so the rule takes the upper end of that range
    sd = np.sqrt(np.maximum(1.0 - rhos**2, 1.0 / n) / n)
    ok = np.flatnonzero(expect - (UPPER_Z if upper_z is None else upper_z) * sd <= r1)
    return r1, float(rhos[ok[-1]]) if len(ok) else 0.0


#: How many standard errors of r1 above the matched rho the rule's rho may go (see ar1_rho): the
#: upper end of a one-sided 99.9% range, so the p-value holds whichever rho in it is true (a
#: Berger-Boos bound). Not enough where the outcome's residual trends or wanders with a lever the
#: output does not see (a random walk plus noise, which no single AR(1) matches): at 3.0 the
#: calibration suite still measured 8-11% false positives per test on its trend, improvement and
#: panel families (200 draws); a trend in the fit did not help (improvement 12.6%, coarse 9.1%):
#: the gap between two KPIs is a random walk plus noise, which step_test models.
UPPER_Z = 3.0


def mean_residual_ar1(x1, y1, t1, x2, y2, t2) -> dict | None:
    """Fit y = a + b x by least squares on the periods before (times t1); the mean prediction
    residual r of the periods after (times t2), with its exact variance under AR(1) errors.

    r = c'u with c = (-X1 (X1'X1)^-1 m, 1/n2) for m = (1, mean x2), so Var(r) = s^2 c' R c, R the
    AR(1) correlation at the periods' times (a shortfall right after the split counts less than
    one far from it when errors persist). rho comes from ``ar1_rho`` on the residuals before;
    s^2 = SSR / tr(M R11), unbiased for the error variance under that rho. t = r / sqrt(Var r),
    compared with Student's t on Satterthwaite's degrees of freedom for s^2, less one for rho. At rho = 0 this is the classical
    variance of a mean prediction error. None when x before does not vary."""
    import numpy as np

    x1, y1, x2, y2 = (np.asarray(a, dtype=float) for a in (x1, y1, x2, y2))
    t1, t2 = np.asarray(t1, dtype=float), np.asarray(t2, dtype=float)
    n1, n2 = len(x1), len(x2)
    if n1 < 4 or not np.ptp(x1) > 64 * np.finfo(float).eps * float(np.abs(x1).max()):
        return None
    X1 = np.column_stack([np.ones(n1), x1])
    beta, *_ = np.linalg.lstsq(X1, y1, rcond=None)
    resid = y1 - X1 @ beta
    try:
        G = np.linalg.inv(X1.T @ X1)
    except np.linalg.LinAlgError:
        return None
    r1, rho = ar1_rho(resid, X1, t1)
    times = np.concatenate([t1, t2])
    R = ar1_corr(times, rho)
    M = np.eye(n1) - X1 @ G @ X1.T
    MR = M @ R[:n1, :n1]
    s2 = float(resid @ resid) / float(np.trace(MR))
    # Satterthwaite: s^2 is a quadratic form in correlated errors, worth tr(MR)^2 / tr(MRMR)
    # independent squares (fewer the more the errors persist), less one for rho
    df = max(1.0, float(np.trace(MR)) ** 2 / float(np.sum(MR * MR.T)) - 1.0)
    m = np.array([1.0, x2.mean()])
    c = np.concatenate([-(X1 @ G @ m), np.full(n2, 1.0 / n2)])
    var = s2 * float(c @ R @ c)
    r = float((y2 - beta[0] - beta[1] * x2).mean())
    t = r / math.sqrt(var) if var > 0 else float("nan")
    s2_iid = float(resid @ resid) / (n1 - 2)
    var_iid = s2_iid * (1.0 / n2 + float(m @ G @ m))
    return {"intercept": float(beta[0]), "slope": float(beta[1]), "residual_sd": math.sqrt(s2),
            "mean_residual": r, "se": math.sqrt(var), "t": t, "df": df, "n_before": n1, "n_after": n2,
            "r1": r1, "rho": rho, "t_iid": r / math.sqrt(var_iid) if var_iid > 0 else float("nan")}


#: The grid MS402's error model is fitted on: AR(1) persistence rho and the random walk's step
#: variance q (relative to the AR(1) part's variance). rho = 0, q = 0 is independent errors.
STEP_RHOS = (0.0, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 0.96, 0.98)
STEP_QS = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: How far below its maximum the restricted log-likelihood of an error model may fall and still
#: be considered (see step_test). At 0 (the REML point estimate) persistence is under-estimated
#: in short series: AR(0.8) errors over 26 or 40 periods a side gave 10.7% and 8% false positives
#: at 5% (150 draws); at 0.5, 4.7% and 3.3%. On the calibration suite's 15 families (200 draws,
#: 4 tests each, 52 weeks a side) the per-test rate was at most 4.5% at 0, 3.0% at 0.5, 2.5% at
#: 1.0, with power at `diverge` 30.5%, 26.0% and 22.0% (the AR(1) test before: 36.0%, over its
#: size on five families).
STEP_SLACK = 0.5


def step_test(x1, y1, t1, x2, y2, t2, rhos=STEP_RHOS, qs=STEP_QS, slack: float | None = None) -> dict | None:
    """Did the outcome y step away from what the output x predicts when the target took effect?

    Box & Tiao's (1975) intervention analysis: y = a + b x + delta D + u over all periods, D = 1
    from the split on, with errors u = an AR(1) part plus a random walk (u = e + w, e AR(1) with
    persistence rho, w a walk whose steps have q times e's variance): the residual of one KPI on
    another carries the wander of whatever moves the outcome and not the output (other levers,
    disturbances), which no single AR(1) captures, and a persistent wander is not a shortfall.
    Covariance at the periods' times ``t``: rho^|t_i - t_j| + q min(tau_i, tau_j), tau the
    periods since the first (the intercept takes the walk's start). (rho, q) maximize the
    restricted likelihood (REML: Patterson & Thompson 1971) of the regression on the periods
    before the split, on a grid (``rhos`` x ``qs``), so a shortfall after it cannot pass for a
    wander; a, b, delta by generalized least squares over all periods under it. t = delta / se(delta) (GLS), compared with
    Student's t on n - 3 - 2 df (less two for rho and q). REML's (rho, q) is itself uncertain,
    and too little persistence makes a wander look like a shortfall: the t reported is the one
    nearest zero over the error models whose restricted log-likelihood is within ``slack``
    (STEP_SLACK) of the best (the least favourable model the data allow, after Berger & Boos
    1994). A walk makes the test compare the
    periods just before and just after the split; independent errors, all of them. None when x
    does not vary. ``mean_residual`` is delta: the outcome's shortfall from what the output
    predicts, on average after the split."""
    import numpy as np

    slack = STEP_SLACK if slack is None else slack
    x1, y1, x2, y2 = (np.asarray(a, dtype=float) for a in (x1, y1, x2, y2))
    t1, t2 = np.asarray(t1, dtype=float), np.asarray(t2, dtype=float)
    n1, n2 = len(x1), len(x2)
    n = n1 + n2
    if n1 < 4 or n2 < 2 or not np.ptp(x1) > 64 * np.finfo(float).eps * float(np.abs(x1).max()):
        return None
    # centred by the means before the split (moves only the intercept): a level of 1e9 or 1e-9
    # otherwise leaves X'X singular in floating point (LinAlgError) or pinv drops its small
    # singular value (a wrong t_iid)
    mx, my = float(x1.mean()), float(y1.mean())
    x1, x2, y1, y2 = x1 - mx, x2 - mx, y1 - my, y2 - my
    x, y, t = np.concatenate([x1, x2]), np.concatenate([y1, y2]), np.concatenate([t1, t2])
    X = np.column_stack([np.ones(n), x, np.r_[np.zeros(n1), np.ones(n2)]])
    k = X.shape[1]
    if n - k - 2 < 2 or np.linalg.matrix_rank(X) < k:
        return None
    tau = t - t.min() + 1.0
    walk = np.minimum(tau[:, None], tau[None, :])
    lag = np.abs(t[:, None] - t[None, :])
    # (rho, q) from the periods before only: a shortfall after cannot pass for a wander
    X1 = np.column_stack([np.ones(n1), x1])
    fits = []
    for rho in rhos:
        A = rho ** lag[:n1, :n1]
        for q in qs:
            try:
                L = np.linalg.cholesky(A + q * walk[:n1, :n1])
            except np.linalg.LinAlgError:
                continue
            Xs, ys = np.linalg.solve(L, X1), np.linalg.solve(L, y1)
            XtX = Xs.T @ Xs
            try:
                e = ys - Xs @ np.linalg.solve(XtX, Xs.T @ ys)
            except np.linalg.LinAlgError:
                continue
            s2 = float(e @ e) / (n1 - 2)
            if not s2 > 0:
                continue
            # the restricted log-likelihood, profiled over the scale
            ll = -0.5 * (2.0 * float(np.log(np.diag(L)).sum()) + float(np.linalg.slogdet(XtX)[1])
                         + (n1 - 2) * math.log(s2))
            fits.append((ll, float(rho), float(q)))
    if not fits:
        return None
    top = max(f[0] for f in fits)
    best = None
    for ll, rho, q in fits:
        if ll < top - slack:
            continue
        L = np.linalg.cholesky(rho ** lag + q * walk)
        Xs, ys = np.linalg.solve(L, X), np.linalg.solve(L, y)
        XtX = Xs.T @ Xs
        try:
            b = np.linalg.solve(XtX, Xs.T @ ys)
        except np.linalg.LinAlgError:
            continue
        e = ys - Xs @ b
        s2 = float(e @ e) / (n - k)
        se = math.sqrt(s2 * float(np.linalg.inv(XtX)[2, 2]))
        tt = float(b[2]) / se if se > 0 else 0.0
        if best is None or abs(tt) < abs(best[0]):
            best = (tt, rho, q, b, s2, se)
    if best is None:
        return None
    tt, rho, q, b, s2, se = best
    b = np.array([b[0] + my - b[1] * mx, b[1], b[2]])
    # the plain view, for the evidence: least squares before, the lag-1 autocorrelation of its
    # residuals, and the iid t of the mean prediction residual after
    beta1, *_ = np.linalg.lstsq(X1, y1, rcond=None)
    res1 = y1 - X1 @ beta1
    near = (np.abs(t1[:, None] - t1[None, :]) == 1).astype(float) / 2.0
    r1 = float(res1 @ near @ res1) / float(res1 @ res1) if float(res1 @ res1) > 0 else 0.0
    # x1 is centred: (X1'X1)^-1 is diag(1/n1, 1/sxx) (pinv's relative cutoff dropped one of
    # them when x's spread was far from 1)
    sxx = float(x1 @ x1)
    var_iid = float(res1 @ res1) / (n1 - 2) * (1.0 / n2 + 1.0 / n1 + float(x2.mean()) ** 2 / sxx)
    r_iid = float((y2 - beta1[0] - beta1[1] * x2).mean())
    df = float(n - k - 2)
    return {"intercept": float(b[0]), "slope": float(b[1]), "residual_sd": math.sqrt(s2), "mean_residual": float(b[2]),
            "se": se, "t": float(b[2]) / se if se > 0 else float("nan"), "df": df, "n_before": n1, "n_after": n2,
            "r1": r1, "rho": rho, "q": q,
            "t_iid": r_iid / math.sqrt(var_iid) if var_iid > 0 else float("nan")}


# ---- MS403: spread before and after, by unit, in whole years ------------------------------------


def paired_spread_test(dev_before, dev_after) -> dict | None:
    """Per unit (columns), the mean absolute deviation before and after; a paired t test across
    units that it fell (t > 0 when the spread after is smaller), n units - 1 df. Units, not
    unit-periods, are the independent pieces: a unit far from the median stays far."""
    import numpy as np

    with np.errstate(all="ignore"):
        mb = np.nanmean(np.abs(dev_before), axis=0)
        ma = np.nanmean(np.abs(dev_after), axis=0)
    both = np.isfinite(mb) & np.isfinite(ma)
    d = (mb - ma)[both]
    u = len(d)
    if u < 6:
        return None
    sd = float(d.std(ddof=1))
    t = float(d.mean()) / (sd / math.sqrt(u)) if sd > 0 else float("nan")
    return {"t": t, "df": u - 1, "units": u, "p": t_sf(t, u - 1) if math.isfinite(t) else None}


def spread_break_test(changes, times, after, cycle: int | None = None, power: float = 2.0 / 3.0) -> dict | None:
    """Did the spread of a series' changes fall *at* the split, beyond a trend it already had?

    z = |d - median of its side|^(2/3) (Brown-Forsythe's absolute deviations, to the power 2/3
    so their distribution is nearly symmetric: a t test on skewed deviations is too eager), is
    regressed on a constant, the time (in years) and the step at the split (the windows hold whole
    years on each side, so a volatile winter weighs the same on both; a yearly harmonic here cost
    half the power at 11 changes a side); t = -(step coefficient) / its HC3 standard error (robust to a spread that changes over time),
    p from Student's t on n - k df (t > 0 when the spread after is smaller). A spread that was
    already falling before the split, as when a level improves with noise in proportion to it
    (defects 40 -> 8 a week), and falls no faster after it, is not a collapse at the split."""
    import numpy as np

    d = np.asarray(changes, dtype=float)
    t = np.asarray(times, dtype=float)
    side = np.asarray(after, dtype=bool)
    ok = np.isfinite(d)
    d, t, side = d[ok], t[ok], side[ok]
    z = np.empty_like(d)
    for s in (False, True):
        m = side == s
        if m.sum() < 3:
            return None
        z[m] = np.abs(d[m] - np.median(d[m])) ** power
    design = break_design(t, side, cycle)
    if design is None:
        return None
    X, XtX_inv = design
    n, k = X.shape
    b = XtX_inv @ (X.T @ z)
    e = z - X @ b
    lev = np.einsum("ij,jk,ik->i", X, XtX_inv, X)
    u = X * (e / np.maximum(1.0 - lev, 1e-12))[:, None]
    var = float((XtX_inv @ (u.T @ u) @ XtX_inv)[2, 2])
    if not var > 0:
        return None
    tt = -float(b[2]) / math.sqrt(var)
    return {"t": tt, "df": n - k, "step": float(b[2]), "p": t_sf(tt, n - k)}


def break_design(times, side, cycle: int | None):
    """The spread-break regression's columns (a constant, the time in years from the first change
    after the split, the step) and (X'X)^-1; None with too few changes or a singular design."""
    import numpy as np

    year = float(cycle) if cycle else max(1.0, float(np.ptp(times)))
    X = np.column_stack([np.ones(len(times)), (times - times[side].min()) / year, side.astype(float)])
    n, k = X.shape
    if n <= k + 2:
        return None
    try:
        return X, np.linalg.inv(X.T @ X)
    except np.linalg.LinAlgError:
        return None


#: Periods in a year, by calendar unit (the cycle a season repeats on).
CYCLE = {"day": 365, "week": 52, "month": 12, "quarter": 4}


def whole_cycles(unit: str | None, n_before: int, n_after: int) -> tuple[int | None, int]:
    """(periods per year, whole years on each side) for sub-annual calendar data; (None, 0) when
    the periods follow no season (whole numbers, years)."""
    cycle = CYCLE.get(unit or "")
    if cycle is None:
        return None, 0
    return cycle, min(n_before, n_after) // cycle


__all__ = ["betainc", "norm_sf", "t_sf", "ar1_corr", "ar1_rho", "bunching_units", "clustered_density_test", "mass_point_test", "mean_residual_ar1", "step_test",
           "break_design", "paired_spread_test", "spread_break_test", "whole_cycles"]
