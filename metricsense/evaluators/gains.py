"""The statistics behind the decoupling rules (MS2xx): gains estimated from data, their
uncertainty and pairings on the relative gain array; the combinations no lever moves are
metricsense.evaluators.gain_algebra's (named here too).

Only metricsense.evaluators.decoupling uses it (evaluator families never import each other);
NumPy and the kernels load inside the functions only.
"""

from __future__ import annotations

import functools

from metricsense.encoding import finite
from metricsense.evaluators.gain_algebra import dependent_combinations  # noqa: F401 - MS202's, named here too


def lag_periods(duration, frequency) -> int:
    """A declared `lag` in periods of the data (0 when there is none or the frequency is unknown)."""
    from metricsense.model import UNIT_DAYS

    if duration is None:
        return 0
    if duration.unit == "period":
        return int(duration.count)
    if frequency not in UNIT_DAYS or duration.unit not in UNIT_DAYS:
        return 0
    return int(round(duration.count * UNIT_DAYS[duration.unit] / UNIT_DAYS[frequency]))


def _shift(col, k: int):
    import numpy as np

    return col if k <= 0 else np.concatenate([np.full(k, np.nan), col[:-k]])


def ewc_df(n: int) -> int:
    """The degrees of freedom (cosine terms) of the equal-weighted cosine long-run variance for
    ``n`` periods: ceil(0.4 n^(2/3)), at least 2 (Lazarus, Lewis, Stock & Watson 2018: 9 for two
    years of weekly changes, 26 for ten years)."""
    import math

    return max(2, int(math.ceil(0.4 * max(n, 1) ** (2.0 / 3.0))))


def t_two_sided(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with an integer ``df`` (closed form: Abramowitz & Stegun
    26.7.3-4; SciPy's ``2 * t.sf`` to 1e-12 in the tests). The CLI never imports SciPy."""
    import math

    df = max(1, int(df))
    if not math.isfinite(t):
        return 0.0 if not math.isnan(t) else 1.0
    theta = math.atan(abs(t) / math.sqrt(df))
    c, s = math.cos(theta), math.sin(theta)
    if df % 2:
        total = term = c if df > 1 else 0.0
        for k in range(3, df - 1, 2):
            term *= c * c * (k - 1) / k
            total += term
        inside = 2.0 / math.pi * (theta + s * total)
    else:
        total = term = 1.0
        for k in range(2, df - 1, 2):
            term *= c * c * (k - 1) / k
            total += term
        inside = s * total
    return min(1.0, max(0.0, 1.0 - inside))


@functools.lru_cache(maxsize=1024)
def t_quantile(df: int, level: float = 0.95) -> float:
    """The t with P(|T| >= t) = 1 - level for Student's t with ``df`` degrees of freedom (bisection
    on ``t_two_sided``, to 1e-10). Kept per (df, level): MS205 asks for the same few quantiles for
    every declared gain of every segment (50 bisection steps each: 40% of a segmented run's CPU)."""
    lo, hi = 0.0, 1e4
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_two_sided(mid, df) > 1 - level else (lo, mid)
    return (lo + hi) / 2


@functools.lru_cache(maxsize=16)
def cosine_basis(n: int, df: int):
    """The first ``df`` cosine transforms of a series of ``n``, as rows: sqrt(2/n) cos(pi j (t - 1/2) / n).
    Kept per (n, df), read-only: every KPI of a segment (and every segment of one length) uses the
    same one (40% of a standardised gain's CPU on 500 periods)."""
    import math

    import numpy as np

    basis = math.sqrt(2.0 / n) * np.cos(np.pi * np.outer(np.arange(1, df + 1), (np.arange(n) + 0.5) / n))
    basis.flags.writeable = False
    return basis


def standardised_gains(y, x, df: int | None = None):
    """OLS of y on [1, x] and the standardised slopes g_j = b_j sd(x_j) / sd(y), with standard
    errors whose t-ratios are Student's t with ``df`` degrees of freedom on dependent data.

    The standardised slope's influence function is that of the slope, n (X'X)^-1 x_t u_t, and of
    the two variances it is scaled by (both are estimates; the delta method): s_t = grad' psi_t
    with grad = (sd_x/sd_y, g / (2 var_x), -g / (2 var_y)). Its long-run variance is the
    equal-weighted cosine estimator (EWC): the mean of the squares of the first ``df`` cosine
    transforms sqrt(2/n) sum_t cos(pi j (t - 1/2) / n) s_t. With df fixed as n grows the t-ratio
    is Student's t with df degrees of freedom whatever the autocorrelation of s_t (fixed-b
    asymptotics: Mueller 2007, Sun 2013; df = ewc_df(n) as Lazarus, Lewis, Stock & Watson 2018
    recommend), so its p-values hold their size where Newey-West's with a normal or n - k
    reference did not (measured 5-9% at 5% on the calibration systems). The variance has the
    small-sample factor n / (n - k) for the k estimated coefficients. Returns (g, se_g, df).
    """
    import numpy as np

    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n, m = x.shape
    df = ewc_df(n) if df is None else int(df)
    xx = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(xx, y, rcond=None)
    resid = y - xx @ coef
    inv = np.linalg.pinv(xx.T @ xx) * n
    psi_b = (xx * resid[:, None]) @ inv.T              # (n, m+1): n (X'X)^-1 x_t u_t
    vx = x.var(axis=0, ddof=1)
    vy = y.var(ddof=1)
    g = coef[1:] * np.sqrt(vx / vy)
    s = (psi_b[:, 1:] * np.sqrt(vx / vy) + ((x - x.mean(axis=0)) ** 2 - vx) * (g / (2 * vx))
         - (((y - y.mean()) ** 2 - vy) * (1 / (2 * vy)))[:, None] * g)   # (n, m): s_t per slope
    lam = cosine_basis(n, df) @ s                       # (df, m)
    omega = (lam ** 2).mean(axis=0) * n / max(n - m - 1, 1)
    return g, np.sqrt(omega / n), df


class _Changes:
    """``data.changes(names)`` for many sets of names that share a calendar unit, each column
    placed once: on a calendar unit a column's row is its period's step on that calendar (less
    the first observed step of the set), so the set's matrix is a slice of the columns placed
    on the whole calendar (metricsense.data.align.regular, the same sums and counts). Sets
    without one shared unit, or too sparse for a row per period, ask ``data.changes``."""

    def __init__(self, data):
        self.data = data
        self.placed: dict[tuple, object] = {}
        self.grid: dict[str, tuple] = {}
        self.block_key: tuple | None = None
        self.block: tuple = ()

    def __call__(self, names: list[str], shared: int = 0):
        """``data.changes(names)``; the first ``shared`` names are the same in many calls (the
        levers): their units, values and placed columns are gathered once."""
        import numpy as np

        from metricsense.data import periods as P
        from metricsense.data.dataset import changes_of

        data = self.data
        periods = getattr(data, "periods", None)
        unit_of = getattr(data, "unit_of", None)
        series = getattr(data, "series_map", None)
        if periods is None or series is None or unit_of is None or not len(periods):
            return data.changes(names)
        head = tuple(names[:shared])
        if self.block_key != head:
            self.block_key = head
            self.block = ({unit_of(n) for n in head},
                          np.zeros(len(periods), dtype=bool) if not head else
                          ~np.isnan(np.column_stack([series[n].values for n in head])).all(axis=1), {})
        head_units, head_seen, head_cols = self.block
        rest = names[shared:]
        units = head_units | {unit_of(n) for n in rest}
        calendar = {u for u in units if u in P.UNITS}
        if len(calendar) != 1:
            return data.changes(names)
        (unit,) = calendar
        if unit not in self.grid:
            steps = P.step_of(P.bucket(periods, unit), unit)
            lo, hi = int(steps.min()), int(steps.max())
            self.grid[unit] = (steps, lo, hi - lo + 1 <= max(100_000, 20 * len(periods)), hi - lo + 1)
        steps, lo, dense, size = self.grid[unit]
        if not dense:
            return data.changes(names)
        if unit not in head_cols:
            head_cols[unit] = np.column_stack([self._placed(n, unit) for n in head]) if head else np.empty((size, 0))
        observed = head_seen.copy()
        for n in rest:
            observed |= ~np.isnan(series[n].values)
        if not observed.any():
            return data.changes(names)
        at = steps[observed]
        a, b = int(at.min()) - lo, int(at.max()) - lo + 1
        x = np.column_stack([head_cols[unit][a:b], *(self._placed(n, unit)[a:b] for n in rest)])
        return changes_of(x)

    def _placed(self, name: str, unit: str):
        """One series on the whole calendar of ``unit`` (align.regular's mean per period)."""
        import numpy as np

        key = (unit, name)
        if key not in self.placed:
            steps, lo, _, size = self.grid[unit]
            col = self.data.series_map[name].values
            ok = ~np.isnan(col)
            pos = steps[ok] - lo
            total, count = np.zeros(size), np.zeros(size)
            np.add.at(total, pos, col[ok])
            np.add.at(count, pos, 1.0)
            with np.errstate(invalid="ignore", over="ignore"):
                self.placed[key] = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
        return self.placed[key]


def can_estimate(data, levers, min_periods: int = 12) -> bool:
    """Whether ``estimate_gains`` can estimate any KPI's gains on these levers: some of them are in
    the data, with more changes than a regression on all of them needs (a KPI's declared
    disturbances need more still). 10,000 KPIs on 1,000 levers and 104 weeks: none can, and the
    two all-NaN 10,000 x 1,000 arrays it would return are not made."""
    names_l = [lv.name for lv in levers if lv.name in data]
    return bool(names_l) and len(getattr(data, "periods", ())) - 1 >= max(min_periods, len(names_l) + 3)


def estimate_gains(spec, data, kpis, levers, lag: int = 0, min_periods: int = 12):
    """Standardised least-squares gains of KPI changes on lever changes, with standard errors.

    For each KPI: regress its period-to-period change on the levers' changes, each at the lag
    the KPI declares for it (`responds x +0.3 lag 2 weeks`, in periods of the data; else
    ``lag``), and on the changes of the disturbances it declares (`disturbed weather +0.2`, at
    their lags), plus an intercept, over the periods where all are present. Leaving a declared
    disturbance out would confound a lever planned around it. The slopes are scaled by
    sd(lever change) / sd(KPI change): the effect of a typical move of the lever, in typical
    moves of the KPI, which is how declared gains are read. Standard errors are Newey-West
    (autocorrelation-robust), and the standardised gain's by the delta method (the two standard
    deviations are estimated too; metricsense.evaluators.serial.standardised_gains). Returns
    (G, SE, n per KPI, lags, controls); NaN where a KPI has too few periods.
    """
    import numpy as np

    from metricsense.evaluators import serial

    names_l = [lv.name for lv in levers if lv.name in data]
    g = np.full((len(kpis), len(levers)), np.nan)
    se = np.full_like(g, np.nan)
    n_used = [0] * len(kpis)
    lags: dict[str, dict[str, int]] = {}
    controls: dict[str, list[str]] = {}
    if not names_l:
        return g, se, n_used, lags, controls
    lcols = [j for j, lv in enumerate(levers) if lv.name in data]
    freq = getattr(data, "frequency", None)
    changes = _Changes(data)
    for i, k in enumerate(kpis):
        if k.name not in data:
            continue
        declared = {r.name: lag_periods(r.lag, freq) for r in k.responds if r.lag is not None}
        dist = [(d.name, lag_periods(d.lag, freq)) for d in getattr(k, "disturbed", ())
                if d.name in data and d.name not in names_l and d.name != k.name]
        # One regular calendar for the KPI and its regressors (the coarsest of their frequencies):
        # a change exists only between consecutive periods that both have a value.
        if len(getattr(data, "periods", ())) - 1 < max(min_periods, len(names_l) + len(dist) + 3):
            continue  # fewer changes than the regression needs, whatever the data (n <= periods - 1)
        d = changes([*names_l, *(n for n, _ in dist), k.name], shared=len(names_l))
        y = d[:, -1]
        kl = [declared.get(n, lag) for n in names_l]
        cols = [_shift(d[:, j], kl[j]) for j in range(len(names_l))]
        cols += [_shift(d[:, len(names_l) + j], dl) for j, (_, dl) in enumerate(dist)]
        xl = np.column_stack(cols)
        ok = ~np.isnan(y) & ~np.isnan(xl).any(axis=1)
        # NOTE: the latest 2,080 periods at most, as the bootstrap below (a 2.5-million-row
        # series would make the cosine transforms of the long-run variance too large to hold)
        xs, yy = xl[ok][-4 * serial.TAIL:], y[ok][-4 * serial.TAIL:]
        n = len(yy)
        m = xl.shape[1]
        if n < max(min_periods, m + 3):
            continue
        scale_x = np.abs(xs).max()
        if not (np.isfinite(scale_x) and np.isfinite(yy).all()) or scale_x > 1e150:
            continue  # values this large overflow the normal equations; nothing to estimate
        if np.std(yy) == 0 or (np.std(xs[:, :len(names_l)], axis=0) == 0).any():
            continue
        try:
            gain, se_gain, _ = standardised_gains(yy, xs)
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            continue
        g[i, lcols] = gain[:len(names_l)]
        se[i, lcols] = se_gain[:len(names_l)]
        n_used[i] = n
        lags[k.name] = dict(zip(names_l, kl))
        controls[k.name] = [n for n, _ in dist]
    return g, se, n_used, lags, controls


def assignment(cost) -> list[int]:
    """The columns assigned to each row minimising the total cost (rows <= columns).

    The Hungarian method with potentials (Kuhn 1955, Munkres 1957), O(rows^2 x columns); the scan
    over the columns is one NumPy step, so 400 x 400 takes a fraction of a second, not 15 s.
    """
    import numpy as np

    cost = np.asarray(cost, dtype=float)
    if not np.isfinite(cost).all():
        raise ValueError("the costs must be finite")
    n, m = cost.shape
    inf = float("inf")
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=int)  # owner[j]: the row (1-based) holding column j
    way = np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        minv = np.full(m + 1, inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = owner[j0]
            cur = np.empty(m + 1)
            cur[0] = inf
            cur[1:] = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used & (cur < minv)
            minv[better] = cur[better]
            way[better] = j0
            open_ = np.where(used, inf, minv)
            j1 = int(np.argmin(open_))  # the first smallest, as a scan with `<` finds it
            delta = open_[j1]
            if not np.isfinite(delta):  # NOTE: only a NaN or infinite cost gets here; never loop on it
                raise ValueError("the costs must be finite")
            u[owner[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    rows = [-1] * n
    for j in range(1, m + 1):
        if owner[j]:
            rows[owner[j] - 1] = j - 1
    return rows


def best_pairing(rga) -> tuple[list[int], float]:
    """The KPI -> lever pairing (distinct levers) with the smallest RGA number sum |L - P|, on positive elements.

    sum |L - P| = sum |L| + sum over the pairs of (|l - 1| - |l|), so the best pairing is a
    linear assignment on that cost. A pairing on a negative (or zero) relative gain reverses the
    loop's sign once the other loops close (Skogestad & Postlethwaite, 2nd ed., 3.4): those
    elements cost more than any positive pairing can save, and a KPI the assignment still puts on
    one is left unpaired (-1). With more KPIs than levers, each lever gets one KPI and the other
    KPIs stay unpaired.
    """
    import numpy as np

    rga = np.asarray(rga, dtype=float)
    k, m = rga.shape
    # NOTE: the same numbers as |L - 1| - |L| and np.where(L > 0, cost, cost + penalty), made in
    # place: 10,000 KPIs x 1,000 levers made seven arrays of 80 MB that way, 2 s of the analysis
    cost = np.subtract(rga, 1.0)
    np.abs(cost, out=cost)
    work = np.abs(rga)
    total = work.sum()  # sum |L|
    cost -= work
    np.abs(cost, out=work)
    penalty = 4.0 * (work.sum() + 1.0)  # more than any sum of positive-pairing costs
    cost_pos = np.add(cost, penalty, out=work)
    np.copyto(cost_pos, cost, where=rga > 0)
    if k <= m:
        pairing = assignment(cost_pos)
    else:
        by_lever = assignment(cost_pos.T)
        pairing = [-1] * k
        for j, i in enumerate(by_lever):
            pairing[i] = j
    pairing = [j if j >= 0 and rga[i, j] > 0 else -1 for i, j in enumerate(pairing)]
    picked = [(i, j) for i, j in enumerate(pairing) if j >= 0]
    score = float(total + sum(cost[i, j] for i, j in picked))
    return pairing, score


def niederlinski(g, pairing) -> float | None:
    """Niederlinski's index det(G) / prod g_ii of a square G with the pairing on the diagonal.

    Negative: closing the paired loops with integral action cannot be stable (Niederlinski 1971;
    Grosdidier, Morari & Holt 1985), whatever the tuning. None unless G is square and every KPI
    is paired.
    """
    import numpy as np

    g = np.asarray(g, dtype=float)
    if g.shape[0] != g.shape[1] or any(j < 0 for j in pairing) or len(set(pairing)) != len(pairing):
        return None
    gp = g[:, list(pairing)]
    diag = np.prod(np.diag(gp))
    if diag == 0 or not np.isfinite(gp).all():
        return None
    return float(np.linalg.det(gp) / diag)


#: A scaled condition number at most this is well-conditioned: MS202 on estimated gains speaks only
#: when the data rules that out (the bootstrap's share at or below it, p <= 0.05).
WELL_CONDITIONED = 5.0

#: The relative gain at or above which MS203 calls a pairing hard to steer (its option `large`).
RGA_LARGE = 5.0


def conditioning_bootstrap(data, kpis, levers, lag: int = 0, threshold: float = 10.0, b: int = 199,
                           min_periods: int = 12) -> dict | None:
    """How sure the data is about the conditioning and rank of gains estimated from it.

    The standardised gains of all KPIs on all levers are re-estimated on B moving-block bootstrap
    samples of the periods (Kunsch 1989; blocks of n^(1/3) periods keep the autocorrelation)
    where every series has a change. Returns the percentile interval of the scaled condition
    number, ``p_ill_conditioned`` = the bootstrap share at or below ``threshold`` (H0: the
    condition number is at most the threshold), and a Kleibergen-Paap-style rank test of
    H0: rank <= min(KPIs, levers) - 1 with the bootstrap covariance of the gains
    (metricsense.evaluators.serial.rank_test). None with too few complete periods.
    """
    import numpy as np

    from metricsense import kernels
    from metricsense.evaluators import serial

    names_l = [lv.name for lv in levers]
    names_k = [k.name for k in kpis]
    d = data.changes([*names_l, *names_k])
    x = np.column_stack([_shift(d[:, j], lag) for j in range(len(names_l))])
    y = d[:, len(names_l):]
    ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y).any(axis=1)
    x, y = x[ok][-4 * serial.TAIL:], y[ok][-4 * serial.TAIL:]  # NOTE: B resamples of millions of rows would not fit
    n, m = x.shape
    k = y.shape[1]
    if n < max(min_periods, m + 3) or min(k, m) < 2:
        return None

    def gains(xs, ys):
        sx, sy = xs.std(axis=0, ddof=1), ys.std(axis=0, ddof=1)
        if (sx == 0).any() or (sy == 0).any():
            return None
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(xs)), xs]), ys, rcond=None)
        return (coef[1:] * sx[:, None] / sy[None, :]).T  # KPIs x levers

    g0 = gains(x, y)
    if g0 is None or not np.isfinite(g0).all():
        return None
    rng = np.random.default_rng(serial.SEED)
    reps = [gains(x[i], y[i]) for i in serial.block_indices(n, b, rng)]
    reps = np.array([r for r in reps if r is not None and np.isfinite(r).all()])
    if len(reps) < b // 2:
        return None
    conds = np.array([float(kernels.equilibrated_condition_number(r)) for r in reps])
    conds = np.where(np.isfinite(conds), conds, np.inf)
    cov = np.cov(np.stack([r.reshape(-1, order="F") for r in reps]).T)  # of vec(G), column-major
    stat, df, p_rank = serial.rank_test(g0, np.atleast_2d(cov), min(k, m) - 1)
    rgas = np.array([kernels.rga(kernels.equilibrate(r)[0] if k != m else r) for r in reps])
    intended = [int(np.argmax(np.abs(row))) for row in g0]
    ni = np.array([niederlinski(r, intended) if k == m else None for r in reps], dtype=float)
    b1 = len(reps) + 1
    return {"bootstrap": int(len(reps)), "periods": int(n), "threshold": threshold,
            # percentile-bootstrap p-values for MS203's claims about the relative gains: an element
            # is negative (H0: >= 0), an element is at least `large` (H0: < large, large = 5), the
            # intended pairing's Niederlinski index is negative (H0: >= 0)
            "rga_p_negative": ((1 + (~(rgas < 0)).sum(axis=0)) / b1).tolist(),
            "rga_p_large": ((1 + (~(rgas >= RGA_LARGE)).sum(axis=0)) / b1).tolist(),
            "rga_large": RGA_LARGE,
            "niederlinski_p_negative": (float((1 + (~(ni < 0)).sum()) / b1) if k == m else None),
            "condition_interval": [finite(float(np.quantile(conds, 0.025))), finite(float(np.quantile(conds, 0.975)))],
            "condition_q05": finite(float(np.quantile(conds, 0.05))),
            "p_ill_conditioned": (1 + int((conds <= threshold).sum())) / (len(conds) + 1),
            # H0: the scaled condition number is at most WELL_CONDITIONED (MS202's bar on estimated gains)
            "p_not_well_conditioned": (1 + int((conds <= WELL_CONDITIONED).sum())) / (len(conds) + 1),
            "rank_test": {"rank": min(k, m) - 1, "statistic": stat, "df": df, "p_value": p_rank}}
