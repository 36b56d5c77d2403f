"""MS402's pairs (``outcomes_for``: which outcomes an output is compared with, and on what basis)
and its step test for many output x outcome pairs at once, with the statistics of
``distortion_stats.step_test`` (which stays the reference; tests/evaluators/test_distortion_batch.py
holds the two together).

A KPI system of n KPIs has about (n/4)^2 output x outcome pairs, and each step test fits a grid
of 81 error models (AR(1) persistence rho x random-walk share q). The grid and the periods'
times are the same for every pair on the same span, so what depends on them alone is computed
once per span (and kept, ``_layout``): per error model, the whitening L^-1 (L the Cholesky
factor of the covariance) with the columns every pair shares (the intercept; the step at the
split) projected out. A KPI's values are then whitened once per model, not once per pair, and
a pair's restricted likelihood and step t at every model come from inner products of the
whitened output and outcome: a few matrix products per model for all pairs.

By Frisch-Waugh-Lovell, with x~, y~ the whitened output and outcome after projecting out the
shared columns Z (u = L^-1 1 for the fit before the split; [1, D] whitened over all periods):
slope b = x~'y~ / x~'x~, residual sum of squares y~'y~ - b x~'y~, det(X'X) = (u'u)(x~'x~), the
step delta = c_y - b c_x (c = (Zw'Zw)^-1 Zw' L^-1 v, its second entry) and
[(X'X)^-1]_DD = [(Zw'Zw)^-1]_11 + c_x^2 / x~'x~. Values are centred (by their mean before the
split) first, which moves only the intercept.

A pair is handed to the reference ``step_test`` whenever the batched arithmetic could decide
differently from it: a residual sum of squares that cancels (within CANCEL of the outcome's own),
a model whose restricted log-likelihood is within LL_TIE of the edge of the slack, or two
models' t within T_TIE of each other. Everything else agrees with the reference to rounding
(rel 1e-9 in the tests; the error models chosen are the same).
"""

from __future__ import annotations

import collections
import math

from metricsense.evaluators.distortion_stats import STEP_QS, STEP_RHOS, STEP_SLACK, step_test
from metricsense.model import KPI, Document

#: A residual sum of squares at most this share of the outcome's own (whitened) sum of squares
#: is recomputed by the reference: the difference y~'y~ - b x~'y~ has lost digits.
CANCEL = 1e-6
#: A restricted log-likelihood this close to the edge of the slack (top - slack): the reference.
LL_TIE = 1e-7
#: Two models' |t| this close (relative): the reference picks between them.
T_TIE = 1e-9
#: Pairs computed together (memory: about 81 x CHUNK x 8 bytes per array).
CHUNK = 16384


#: The layouts kept, the least recently used dropped first, at most this many bytes in all (the
#: last one built is always kept: a 500-period span split at its middle holds 81 x (250² + 500²)
#: doubles, 194 MiB; a 104-period span 9 MiB). A cache of 16 spans could hold 3 GB.
LAYOUT_BYTES = 256 * 2**20
_LAYOUTS: collections.OrderedDict = collections.OrderedDict()


def _layout(t1_bytes: bytes, t2_bytes: bytes, rhos: tuple, qs: tuple):
    """``_span_layout``, kept for the spans used last (LAYOUT_BYTES)."""
    key = (t1_bytes, t2_bytes, rhos, qs)
    if key in _LAYOUTS:
        _LAYOUTS.move_to_end(key)
        return _LAYOUTS[key][0]
    lay = _span_layout(*key)
    _LAYOUTS[key] = lay, sum(getattr(v, "nbytes", 0) for v in (lay or {}).values())
    while len(_LAYOUTS) > 1 and sum(size for _, size in _LAYOUTS.values()) > LAYOUT_BYTES:
        _LAYOUTS.popitem(last=False)
    return lay


def _span_layout(t1_bytes: bytes, t2_bytes: bytes, rhos: tuple, qs: tuple):
    """What the step test's error models give on one span, for every pair on it: per model that
    factors (the reference skips the others), the REML projection M1 (n1 x n1), its constant,
    and for all periods the projection M (n x n), the map C (2 x n) to the shared columns'
    coefficients, and [(Zw'Zw)^-1]_11. A model whose covariance over all periods does not
    factor is marked (the reference raises there; its pairs go to it)."""
    import numpy as np

    t1, t2 = np.frombuffer(t1_bytes), np.frombuffer(t2_bytes)
    n1, n2 = len(t1), len(t2)
    t = np.concatenate([t1, t2])
    n = n1 + n2
    tau = t - t.min() + 1.0
    walk = np.minimum(tau[:, None], tau[None, :])
    lag = np.abs(t[:, None] - t[None, :])
    Z = np.column_stack([np.ones(n), np.r_[np.zeros(n1), np.ones(n2)]])
    models, M1s, consts, Cs, z11s, ok_full = [], [], [], [], [], []
    # NOTE: M, the largest (models x n x n), is filled in place: a list of arrays stacked at the
    # end held it twice while the layout was built
    Ms = np.empty((len(rhos) * len(qs), n, n))
    for rho in rhos:
        A1 = rho ** lag[:n1, :n1]
        A = rho ** lag
        for q in qs:
            try:
                L1 = np.linalg.cholesky(A1 + q * walk[:n1, :n1])
            except np.linalg.LinAlgError:
                continue
            Li1 = np.linalg.solve(L1, np.eye(n1))
            u = Li1.sum(axis=1)  # L1^-1 1
            uu = float(u @ u)
            M1s.append(Li1 - np.outer(u, u @ Li1) / uu)
            consts.append(-0.5 * (2.0 * float(np.log(np.diag(L1)).sum()) + math.log(uu)))
            models.append((float(rho), float(q)))
            try:
                L = np.linalg.cholesky(A + q * walk)
            except np.linalg.LinAlgError:
                ok_full.append(False)
                Ms[len(ok_full) - 1] = 0.0
                Cs.append(np.zeros((2, n)))
                z11s.append(1.0)
                continue
            ok_full.append(True)
            Li = np.linalg.solve(L, np.eye(n))
            Zw = Li @ Z
            ZZi = np.linalg.inv(Zw.T @ Zw)
            C = ZZi @ Zw.T @ Li
            np.subtract(Li, Zw @ C, out=Ms[len(ok_full) - 1])
            Cs.append(C)
            z11s.append(float(ZZi[1, 1]))
    if not models:
        return None
    # adjacent periods before the split (the plain view's lag-1 autocorrelation)
    near = np.argwhere(np.triu(np.abs(t1[:, None] - t1[None, :]) == 1, 1))
    Ms = Ms[:len(models)] if len(models) == len(Ms) else Ms[:len(models)].copy()
    return {"models": models, "M1": np.array(M1s), "const": np.array(consts), "M": Ms,
            "C": np.array(Cs), "z11": np.array(z11s), "ok_full": np.array(ok_full), "near": near}


#: An output that shares neither a guarded failure nor a lever with any outcome is compared with
#: every outcome only in a spec with at most this many outcome KPIs (issue 25: a large spec would
#: test each such output against hundreds of outcomes it has no stated reason to move).
EVERY_OUTCOME_UP_TO = 20

#: Why an output was paired with an outcome (``basis`` of a divergence entry and of MS402's evidence).
BASES = {"guards": "a failure both guard", "levers": "a lever both respond to",
         "every outcome": "no failure or lever shared with any outcome, so every outcome (a spec of at most "
                          f"{EVERY_OUTCOME_UP_TO} outcomes)"}


def outcomes_for(output: KPI, spec: Document, known: dict | None = None) -> tuple[list[KPI], str | None]:
    """The outcome KPIs an output is compared with, and on what basis: those guarding a failure
    the output guards (``"guards"``); else those responding to one of its levers (``"levers"``);
    else, in a spec with at most ``EVERY_OUTCOME_UP_TO`` outcome KPIs, every one (``"every
    outcome"``); else none (``[]``, None). ``known`` (a dict kept across calls on one spec)
    holds the outcomes with their failures and levers, and the outcomes by failure and lever."""
    if known is None:
        known = {}
    if "outcomes" not in known:
        found = [k for k in spec.kpis if k.kind == "outcome"]
        by_guard: dict[str, list[int]] = {}
        by_lever: dict[str, list[int]] = {}
        for i, k in enumerate(found):
            for name in dict.fromkeys(g.name for g in k.guards):
                by_guard.setdefault(name, []).append(i)
            for name in dict.fromkeys(g.name for g in k.responds):
                by_lever.setdefault(name, []).append(i)
        known.update(outcomes=found, by_guard=by_guard, by_lever=by_lever)
    found = known["outcomes"]
    for basis, names, index in (("guards", [g.name for g in output.guards], known["by_guard"]),
                                ("levers", [g.name for g in output.responds], known["by_lever"])):
        hits = sorted({i for name in names for i in index.get(name, ())})
        shared = [found[i] for i in hits if found[i] is not output]
        if shared:
            return shared, basis
    rest = [k for k in found if k is not output]
    if rest and len(found) <= EVERY_OUTCOME_UP_TO:
        return rest, "every outcome"
    return [], None


#: The step test's numbers, as ``step_test`` names them (``step_tests`` gives each as an array).
FIELDS = ("intercept", "slope", "residual_sd", "mean_residual", "se", "t", "r1", "rho", "q", "t_iid")


def step_tests(xb, xa, yb, ya, t1, t2, rhos=STEP_RHOS, qs=STEP_QS, slack: float | None = None) -> dict:
    """``step_test`` for every output x outcome pair on one span: outputs' values ``xb`` (before
    the split, times ``t1``) and ``xa`` (after, times ``t2``), one row each; outcomes' ``yb``,
    ``ya`` likewise. Each of FIELDS an (outputs x outcomes) array, ``valid`` where
    ``step_test(xb[i], yb[j], t1, xa[i], ya[j], t2)`` gives a result (not None), and ``df``,
    ``n_before``, ``n_after``; ``result(found, i, j)`` is that result as ``step_test`` gives it."""
    import numpy as np

    slack = STEP_SLACK if slack is None else slack
    xb, xa, yb, ya = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (xb, xa, yb, ya))
    t1, t2 = np.ascontiguousarray(t1, dtype=float), np.ascontiguousarray(t2, dtype=float)
    n1, n2 = len(t1), len(t2)
    n, k = n1 + n2, 3
    nx, ny = len(xb), len(yb)
    out = {f: np.full((nx, ny), np.nan) for f in FIELDS}
    out.update(valid=np.zeros((nx, ny), dtype=bool), df=float(n - k - 2), n_before=n1, n_after=n2)
    if n1 < 4 or n2 < 2 or n - k - 2 < 2 or not nx or not ny:
        return out
    # the reference's checks on the output alone: x varies before, [1, x, D] has full rank
    ones, D = np.ones(n), np.r_[np.zeros(n1), np.ones(n2)]
    usable = []
    for i in range(nx):
        x1 = xb[i]
        if np.ptp(x1) > 64 * np.finfo(float).eps * float(np.abs(x1).max()) and \
                np.linalg.matrix_rank(np.column_stack([ones, np.r_[x1, xa[i]], D])) == k:
            usable.append(i)
    lay = _layout(t1.tobytes(), t2.tobytes(), tuple(rhos), tuple(qs))
    if lay is None or not usable:
        return out
    usable = np.array(usable)
    xb_all, xa_all = xb, xa
    xb, xa = xb[usable], xa[usable]
    models = lay["models"]
    # centred by the mean before the split (only the intercept moves)
    mx, my = xb.mean(axis=1), yb.mean(axis=1)
    xbc, ybc = xb - mx[:, None], yb - my[:, None]
    xf, yf = np.hstack([xbc, xa - mx[:, None]]), np.hstack([ybc, ya - my[:, None]])
    # per model, each KPI whitened and projected once (models x KPIs x periods)
    M1t, Mt, Ct = lay["M1"].swapaxes(1, 2), lay["M"].swapaxes(1, 2), lay["C"].swapaxes(1, 2)
    X1, Y1, XF, YF = xbc @ M1t, ybc @ M1t, xf @ Mt, yf @ Mt
    cx, cy = xf @ Ct, yf @ Ct
    xx1, yy1 = (X1 * X1).sum(axis=2), (Y1 * Y1).sum(axis=2)
    xxf, yyf = (XF * XF).sum(axis=2), (YF * YF).sum(axis=2)
    h = 0.5 * (n1 - 2)
    # the restricted log-likelihood is ll = K - h ln(e'e), K = const - ln(x~'x~)/2 - h ln(1/(n1 - 2)),
    # compared through w = exp((K - K_0) / h) / e'e (monotone in ll; no logarithm per pair)
    K = lay["const"][:, None] - 0.5 * np.log(xx1) + h * math.log(n1 - 2)
    W = np.exp((K - K[:1]) / h)
    ok_w = np.isfinite(W).all(axis=0) & (W > 0).all(axis=0)
    edge_ratio = math.exp(-slack / h)
    tie = LL_TIE / h
    V = (lay["z11"][:, None] + cx[..., 1] ** 2 / xxf) / (n - k)  # Var(delta) = e'e V
    rho_of = np.array([m[0] for m in models])
    q_of = np.array([m[1] for m in models])
    ok_full = lay["ok_full"][:, None, None]
    # the plain view (least squares before the split, no whitening)
    sxx, x2m, y2m = (xbc * xbc).sum(axis=1), xa.mean(axis=1) - mx, ya.mean(axis=1) - my
    sxy_all = xbc @ ybc.T
    near = lay["near"]
    yl0, yl1 = ybc[:, near[:, 0]], ybc[:, near[:, 1]]
    xl0, xl1 = xbc[:, near[:, 0]], xbc[:, near[:, 1]]
    yy_lag = (yl0 * yl1).sum(axis=1)
    xy_lag = xl0 @ yl1.T + xl1 @ yl0.T
    xx_lag = (xl0 * xl1).sum(axis=1)
    syy = (ybc * ybc).sum(axis=1)
    step = max(1, CHUNK // ny)
    cols = np.arange(ny)
    for lo in range(0, len(usable), step):
        blk = slice(lo, lo + step)
        bi = len(usable[blk])
        with np.errstate(all="ignore"):
            P1 = X1[:, blk] @ Y1.swapaxes(1, 2)  # models x outputs x outcomes
            b1 = yy1[:, None, :]
            ee1 = b1 - P1 * P1 / xx1[:, blk, None]
            bad = (ee1 <= CANCEL * b1).any(axis=0) | ~ok_w[blk, None]
            w = W[:, blk, None] / ee1
            top = w.max(axis=0)
            edge = top * edge_ratio
            rel = w / edge
            bad |= (np.abs(rel - 1.0) < tie).any(axis=0)
            chosen = rel >= 1.0
            del P1, ee1, w, rel
            PF = XF[:, blk] @ YF.swapaxes(1, 2)
            slope = PF / xxf[:, blk, None]
            bf = yyf[:, None, :]
            eef = bf - slope * PF
            bad |= ((eef <= CANCEL * bf) & chosen).any(axis=0)
            bad |= (chosen & ~ok_full).any(axis=0)
            delta = cy[:, None, :, 1] - slope * cx[:, blk, None, 1]
            var = eef * V[:, blk, None]
            score = np.where(chosen, delta * delta / var, np.inf)
            bad |= (chosen & ~(var > 0)).any(axis=0)
            g = score.argmin(axis=0)  # outputs x outcomes
            rows = np.arange(bi)[:, None]
            best = score[g, rows, cols]
            score[g, rows, cols] = np.inf
            bad |= score.min(axis=0) - best <= 2 * T_TIE * np.maximum(best, 1.0)
            sl, dl, vr, eg = slope[g, rows, cols], delta[g, rows, cols], var[g, rows, cols], eef[g, rows, cols]
            del PF, slope, eef, delta, var, score
            se = np.sqrt(vr)
            xi = usable[blk]
            icpt = cy[g, cols, 0] - sl * cx[g, np.arange(lo, lo + bi)[:, None], 0] + my[None, :] - sl * mx[blk, None]
            # the plain view: least squares before, lag-1 autocorrelation, iid t after
            beta = sxy_all[blk] / sxx[blk, None]
            rss = syy[None, :] - beta * sxy_all[blk]
            direct = rss > CANCEL * syy[None, :]
            lag1 = yy_lag[None, :] - beta * xy_lag[blk] + beta * beta * xx_lag[blk, None]
            r1 = np.where(rss > 0, lag1 / rss, 0.0)
            var_iid = rss / (n1 - 2) * (1.0 / n2 + 1.0 / n1 + x2m[blk, None] ** 2 / sxx[blk, None])
            t_iid = np.where(var_iid > 0, (y2m[None, :] - beta * x2m[blk, None]) / np.sqrt(var_iid), np.nan)
            bad |= ~direct
        with np.errstate(all="ignore"):  # a residual that cancelled (below zero) goes to the reference
            rsd, tg = np.sqrt(eg / (n - k)), np.where(se > 0, dl / se, np.nan)
        cells = {"intercept": icpt, "slope": sl, "residual_sd": rsd, "mean_residual": dl,
                 "se": se, "t": tg, "r1": r1, "rho": rho_of[g], "q": q_of[g],
                 "t_iid": t_iid}
        for f, v in cells.items():
            out[f][xi] = v
        out["valid"][xi] = True
        for li, j in zip(*np.nonzero(bad)):
            i = int(xi[li])
            got = step_test(xb_all[i], yb[j], t1, xa_all[i], ya[j], t2, rhos, qs, slack)
            out["valid"][i, j] = got is not None
            for f in FIELDS:
                out[f][i, j] = got[f] if got is not None else np.nan
    return out


def result(found: dict, i: int, j: int) -> dict | None:
    """Pair (i, j) of ``step_tests`` as ``step_test`` gives it (a dict, or None)."""
    if not found["valid"][i, j]:
        return None
    return {"intercept": float(found["intercept"][i, j]), "slope": float(found["slope"][i, j]),
            "residual_sd": float(found["residual_sd"][i, j]), "mean_residual": float(found["mean_residual"][i, j]),
            "se": float(found["se"][i, j]), "t": float(found["t"][i, j]), "df": found["df"],
            "n_before": found["n_before"], "n_after": found["n_after"], "r1": float(found["r1"][i, j]),
            "rho": float(found["rho"][i, j]), "q": float(found["q"][i, j]), "t_iid": float(found["t_iid"][i, j])}


def t_sf_many(t, df: float):
    """``distortion_stats.t_sf`` over an array of t on one df: the same continued fraction
    (modified Lentz), run on every value at once, each stopping where the scalar one would."""
    import numpy as np

    t = np.asarray(t, dtype=float)
    out = np.where(t > 0, 0.0, 1.0)
    fin = np.isfinite(t)
    tf = t[fin]
    a, b = df / 2.0, 0.5
    x = df / (df + tf * tf)
    ibeta = np.where(x >= 1.0, 1.0, 0.0)
    inner = (x > 0.0) & (x < 1.0)
    xs = x[inner]
    with np.errstate(all="ignore"):
        lbeta = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)) + a * np.log(xs) + b * np.log1p(-xs)
    low = xs < (a + 1.0) / (a + b + 2.0)
    val = np.empty_like(xs)
    val[low] = np.exp(lbeta[low]) * _betacf_many(a, b, xs[low]) / a
    val[~low] = 1.0 - np.exp(lbeta[~low]) * _betacf_many(b, a, 1.0 - xs[~low]) / b
    ibeta[inner] = val
    tail = 0.5 * ibeta
    out[fin] = np.where(tf > 0, tail, 1.0 - tail)
    return out


def _betacf_many(a: float, b: float, x):
    import numpy as np

    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) > tiny, d, tiny)
    h = d.copy()
    live = np.arange(len(x))
    xl = x
    for m in range(1, 400):
        if not len(live):
            break
        m2 = 2 * m
        aa = m * (b - m) * xl / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / np.where(np.abs(d) > tiny, d, tiny)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) > tiny, c, tiny)
        hl = h[live] * (d * c)
        aa = -(a + m) * (qab + m) * xl / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / np.where(np.abs(d) > tiny, d, tiny)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) > tiny, c, tiny)
        delta = d * c
        h[live] = hl * delta
        going = ~(np.abs(delta - 1.0) < eps)
        live, xl, c, d = live[going], xl[going], c[going], d[going]
    return h


__all__ = ["FIELDS", "result", "step_tests", "t_sf_many"]
