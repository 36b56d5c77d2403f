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
whitened output and outcome. The pairs of a span are one list (``pair_step_tests``): every
output and outcome on it whitened together (a matrix product per model), each pair's two inner
products per model by the ``pair_dots`` kernel, so a spec's 5,000 pairs are one batch, not one
small batch per output.

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
from collections.abc import Iterator

from metricsense.evaluators.distortion_stats import STEP_QS, STEP_RHOS, STEP_SLACK, step_test
from metricsense.model import KPI, Document

#: A residual sum of squares at most this share of the outcome's own (whitened) sum of squares
#: is recomputed by the reference: the difference y~'y~ - b x~'y~ has lost digits.
CANCEL = 1e-6
#: A restricted log-likelihood this close to the edge of the slack (top - slack): the reference.
LL_TIE = 1e-7
#: Two models' |t| this close (relative): the reference picks between them.
T_TIE = 1e-9
#: Numbers held at once by a step of the batch (models x KPIs x periods; 8 bytes each).
BUDGET = 1 << 20
#: Pairs decided together (memory: about 81 x CHUNK x 8 bytes per array).
CHUNK = 1024


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


#: Layouts of one size made together at most (memory: the chunk's M is about 81 x n x n x 8 bytes
#: each, 5.6 MB at 93 periods).
STACK = 16


def with_layouts(spans: list, times) -> Iterator[tuple]:
    """Each span with its layout (``times(span)``: its t1, t2), spans of one size next to each
    other and their layouts made STACK at a time (``span_layouts``: a system with gaps has a span
    per pair, 746 of them at 300 KPIs with a fifth of the values blank)."""
    import numpy as np

    spans = sorted(spans, key=lambda sp: tuple(len(t) for t in times(sp)))
    for at in range(0, len(spans), STACK):
        chunk = spans[at:at + STACK]
        keys = [tuple(np.asarray(t, dtype=float).tobytes() for t in times(sp)) for sp in chunk]
        yield from zip(chunk, span_layouts(keys, STEP_RHOS, STEP_QS))


def span_layouts(keys: list, rhos: tuple, qs: tuple) -> list:
    """``_span_layout`` of many spans (``keys``: (t1 bytes, t2 bytes)), in their order: those with
    the same numbers of periods before and after the split are made together, each error model
    one stacked call for all of them (the same LAPACK routine on each matrix as one at a time: the
    same bits, tests/evaluators/test_distortion_batch.py), so a system whose gaps give every pair
    its own span makes its layouts in fewer, larger steps. A stack in which one matrix does not
    factor is made one span at a time (the reference skips that model for that span only)."""
    import numpy as np

    found: dict = {}
    sizes: dict = {}
    for key in dict.fromkeys(keys):
        sizes.setdefault((len(key[0]), len(key[1])), []).append(key)
    for group in sizes.values():
        for at in range(0, len(group), STACK):
            chunk = group[at:at + STACK]
            made = None
            if len(chunk) > 1:
                try:
                    made = _stacked_layouts(chunk, rhos, qs)
                except np.linalg.LinAlgError:
                    made = None
            found.update(zip(chunk, made) if made is not None else
                         ((key, _layout(*key, rhos, qs)) for key in chunk))
    return [found[key] for key in keys]


def _stacked_layouts(keys: list, rhos: tuple, qs: tuple) -> list:
    """``_span_layout`` for spans of one size, every model factoring (else LinAlgError): the
    factorisations and inverses (the bulk of the work) one stacked call per model, the small
    products after them span by span with ``_span_layout``'s own operations."""
    import numpy as np

    t1s = np.array([np.frombuffer(a) for a, _ in keys])
    t2s = np.array([np.frombuffer(b) for _, b in keys])
    count, n1 = t1s.shape
    n = n1 + t2s.shape[1]
    t = np.concatenate([t1s, t2s], axis=1)
    tau = t - t.min(axis=1, keepdims=True) + 1.0
    walk = np.minimum(tau[:, :, None], tau[:, None, :])
    lag = np.abs(t[:, :, None] - t[:, None, :])
    Z = np.column_stack([np.ones(n), np.r_[np.zeros(n1), np.ones(n - n1)]])
    eye1, eye = np.broadcast_to(np.eye(n1), (count, n1, n1)), np.broadcast_to(np.eye(n), (count, n, n))
    nm = len(rhos) * len(qs)
    out = [{"models": [(float(rho), float(q)) for rho in rhos for q in qs], "M1": np.empty((nm, n1, n1)),
            "const": np.empty(nm), "M": np.empty((nm, n, n)), "C": np.empty((nm, 2, n)), "z11": np.empty(nm),
            "ok_full": np.ones(nm, dtype=bool),
            "near": np.argwhere(np.triu(np.abs(t1[:, None] - t1[None, :]) == 1, 1))} for t1 in t1s]
    m = 0
    for rho in rhos:
        A1 = rho ** lag[:, :n1, :n1]
        A = rho ** lag
        for q in qs:
            L1s = np.linalg.cholesky(A1 + q * walk[:, :n1, :n1])
            Li1s = np.linalg.solve(L1s, eye1)
            Ls = np.linalg.cholesky(A + q * walk)
            Lis = np.linalg.solve(Ls, eye)
            for lay, L1, Li1, Li in zip(out, L1s, Li1s, Lis):
                u = Li1.sum(axis=1)  # L1^-1 1
                uu = float(u @ u)
                lay["M1"][m] = Li1 - np.outer(u, u @ Li1) / uu
                lay["const"][m] = -0.5 * (2.0 * float(np.log(np.diag(L1)).sum()) + math.log(uu))
                Zw = Li @ Z
                ZZi = np.linalg.inv(Zw.T @ Zw)
                C = ZZi @ Zw.T @ Li
                np.subtract(Li, Zw @ C, out=lay["M"][m])
                lay["C"][m] = C
                lay["z11"][m] = float(ZZi[1, 1])
            m += 1
    return out


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
    ``n_before``, ``n_after``; ``result(found, i, j)`` is that result as ``step_test`` gives it.
    (``pair_step_tests`` on every pair of the grid.)"""
    import numpy as np

    nx, ny = len(np.atleast_2d(xb)), len(np.atleast_2d(yb))
    ii, jj = np.divmod(np.arange(nx * ny), ny) if nx and ny else (np.zeros(0, int), np.zeros(0, int))
    found = pair_step_tests(xb, xa, yb, ya, t1, t2, ii, jj, rhos, qs, slack)
    for f in (*FIELDS, "valid"):
        found[f] = found[f].reshape(nx, ny)
    return found


def pair_step_tests(xb, xa, yb, ya, t1, t2, pi, pj, rhos=STEP_RHOS, qs=STEP_QS, slack: float | None = None,
                    layout: dict | None = None) -> dict:
    """``step_test`` for a list of output x outcome pairs on one span: pair p is output ``pi[p]``
    (row of ``xb``, ``xa``) against outcome ``pj[p]`` (row of ``yb``, ``ya``). Each of FIELDS an
    array over the pairs, ``valid`` where ``step_test`` gives a result, and ``df``, ``n_before``,
    ``n_after``. Every KPI is whitened once per error model, however many pairs it is in; a
    pair's products are inner products of two whitened rows. ``layout``: the span's
    ``_span_layout`` when made already (``span_layouts``)."""
    import numpy as np

    from metricsense import kernels

    slack = STEP_SLACK if slack is None else slack
    xb, xa, yb, ya = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (xb, xa, yb, ya))
    t1, t2 = np.ascontiguousarray(t1, dtype=float), np.ascontiguousarray(t2, dtype=float)
    pi, pj = np.asarray(pi, dtype=np.intp), np.asarray(pj, dtype=np.intp)
    n1, n2 = len(t1), len(t2)
    n, k = n1 + n2, 3
    npairs = len(pi)
    out = {f: np.full(npairs, np.nan) for f in FIELDS}
    out.update(valid=np.zeros(npairs, dtype=bool), df=float(n - k - 2), n_before=n1, n_after=n2)
    if n1 < 4 or n2 < 2 or n - k - 2 < 2 or not npairs:
        return out
    # the reference's checks on the output alone: x varies before, [1, x, D] has full rank
    ones, D = np.ones(n), np.r_[np.zeros(n1), np.ones(n2)]
    usable = np.zeros(len(xb), dtype=bool)
    # NOTE: every output at once: the spread test row by row, and the rank of each [1, x, D] by
    # one stacked SVD (each matrix's own LAPACK call, as matrix_rank makes it one at a time)
    out_rows = np.unique(pi)
    x1s = xb[out_rows]
    varies = np.ptp(x1s, axis=1) > 64 * np.finfo(float).eps * np.abs(x1s).max(axis=1)
    if varies.any():
        rows = out_rows[varies]
        designs = np.empty((len(rows), n, k))
        designs[:, :, 0], designs[:, :, 2] = ones, D
        designs[:, :n1, 1], designs[:, n1:, 1] = xb[rows], xa[rows]
        usable[rows] = np.linalg.matrix_rank(designs) == k
    lay = layout if layout is not None else _layout(t1.tobytes(), t2.tobytes(), tuple(rhos), tuple(qs))
    live = np.flatnonzero(usable[pi])
    if lay is None or not len(live):
        return out
    # the KPIs in a pair with a usable output: outputs first, then outcomes (rows of v)
    xs, xat = np.unique(pi[live], return_inverse=True)
    ys, yat = np.unique(pj[live], return_inverse=True)
    vi, vj = xat.ravel(), len(xs) + yat.ravel()
    vb = np.vstack([xb[xs], yb[ys]])
    va = np.vstack([xa[xs], ya[ys]])
    models = lay["models"]
    nm = len(models)
    # centred by the mean before the split (only the intercept moves)
    mv = vb.mean(axis=1)
    vbc = vb - mv[:, None]
    vf = np.hstack([vbc, va - mv[:, None]])
    # per model, each KPI whitened and projected once; a pair's products from its two rows,
    # a few models at a time (memory: models x KPIs x periods)
    nk, npl = len(vb), len(live)
    vv1, vvf = np.empty((nm, nk)), np.empty((nm, nk))
    P1, PF = np.empty((nm, npl)), np.empty((nm, npl))
    c = np.einsum("kt,mjt->mkj", vf, lay["C"])  # models x KPIs x 2: the shared columns' coefficients
    per = max(1, min(nm, BUDGET // max(1, nk * n)))
    for m0 in range(0, nm, per):
        ms = slice(m0, m0 + per)
        V1 = vbc @ lay["M1"][ms].swapaxes(1, 2)
        VF = vf @ lay["M"][ms].swapaxes(1, 2)
        vv1[ms], vvf[ms] = np.einsum("mkt,mkt->mk", V1, V1), np.einsum("mkt,mkt->mk", VF, VF)
        P1[ms], PF[ms] = kernels.pair_dots(V1, vi, vj), kernels.pair_dots(VF, vi, vj)
        del V1, VF
    h = 0.5 * (n1 - 2)
    with np.errstate(all="ignore"):
        # the restricted log-likelihood is ll = K - h ln(e'e), K = const - ln(x~'x~)/2 - h ln(1/(n1 - 2)),
        # compared through w = exp((K - K_0) / h) / e'e (monotone in ll; no logarithm per pair)
        Kx = lay["const"][:, None] - 0.5 * np.log(vv1[:, :len(xs)]) + h * math.log(n1 - 2)
        Wx = np.exp((Kx - Kx[:1]) / h)
    ok_w = np.isfinite(Wx).all(axis=0) & (Wx > 0).all(axis=0)
    near = lay["near"]
    ss, lag = (vbc * vbc).sum(axis=1), (vbc[:, near[:, 0]] * vbc[:, near[:, 1]]).sum(axis=1)
    cells = {f: np.empty(npl) for f in FIELDS}
    bad = np.zeros(npl, dtype=bool)
    g = np.zeros(npl, dtype=np.intp)
    for p0 in range(0, npl, CHUNK):
        at = slice(p0, p0 + CHUNK)
        a, b = vi[at], vj[at]
        bad[at], g[at], found = _decide(lay, n1, n2, slack, P1[:, at], PF[:, at], Wx[:, a], ok_w[a],
                                        vv1[:, a], vv1[:, b], vvf[:, a], vvf[:, b], c[:, a], c[:, b], mv[a], mv[b])
        plain = _plain(vbc[a], vbc[b], va[a], va[b], mv[a], mv[b], ss[a], ss[b], lag[a], lag[b], near, n1, n2)
        bad[at] |= plain.pop("bad")
        for f, v in (found | plain).items():
            cells[f][at] = v
    rho_of = np.array([m[0] for m in models])
    q_of = np.array([m[1] for m in models])
    cells.update(rho=rho_of[g], q=q_of[g])
    for f, v in cells.items():
        out[f][live] = v
    out["valid"][live] = True
    for p in live[bad]:
        i, j = int(pi[p]), int(pj[p])
        got = step_test(xb[i], yb[j], t1, xa[i], ya[j], t2, rhos, qs, slack)
        out["valid"][p] = got is not None
        for f in FIELDS:
            out[f][p] = got[f] if got is not None else np.nan
    return out


def _decide(lay, n1: int, n2: int, slack: float, P1, PF, Wx, ok_w, xx1, yy1, xxf, yyf, cx, cy, mx, my):
    """For pairs (columns) given their products under every error model (rows): the reference's
    choice of model, the step and its standard error, and which pairs go to the reference."""
    import numpy as np

    n, k = n1 + n2, 3
    h = 0.5 * (n1 - 2)
    cols = np.arange(P1.shape[1])
    with np.errstate(all="ignore"):
        ee1 = yy1 - P1 * P1 / xx1
        bad = (ee1 <= CANCEL * yy1).any(axis=0) | ~ok_w
        w = Wx / ee1
        rel = w / (w.max(axis=0) * math.exp(-slack / h))
        bad |= (np.abs(rel - 1.0) < LL_TIE / h).any(axis=0)
        chosen = rel >= 1.0
        del ee1, w, rel
        slope = PF / xxf
        eef = yyf - slope * PF
        bad |= ((eef <= CANCEL * yyf) & chosen).any(axis=0)
        bad |= (chosen & ~lay["ok_full"][:, None]).any(axis=0)
        delta = cy[..., 1] - slope * cx[..., 1]
        var = eef * (lay["z11"][:, None] + cx[..., 1] ** 2 / xxf) / (n - k)  # Var(delta) = e'e V
        score = np.where(chosen, delta * delta / var, np.inf)
        bad |= (chosen & ~(var > 0)).any(axis=0)
        g = score.argmin(axis=0)
        best = score[g, cols]
        score[g, cols] = np.inf
        bad |= score.min(axis=0) - best <= 2 * T_TIE * np.maximum(best, 1.0)
        sl, dl, vr, eg = slope[g, cols], delta[g, cols], var[g, cols], eef[g, cols]
        se = np.sqrt(vr)
        icpt = cy[g, cols, 0] - sl * cx[g, cols, 0] + my - sl * mx
        # a residual that cancelled (below zero) goes to the reference
        rsd, tg = np.sqrt(eg / (n - k)), np.where(se > 0, dl / se, np.nan)
    return bad, g, {"intercept": icpt, "slope": sl, "residual_sd": rsd, "mean_residual": dl, "se": se, "t": tg}


def _plain(xbc, ybc, xa, ya, mx, my, sxx, syy, xlag, ylag, near, n1: int, n2: int) -> dict:
    """The plain view of pairs (rows): least squares before the split, the lag-1 autocorrelation
    of its residuals, the iid t of the mean prediction residual after (``bad``: it cancelled)."""
    import numpy as np

    with np.errstate(all="ignore"):
        sxy = np.einsum("pt,pt->p", xbc, ybc)
        xy_lag = np.einsum("pt,pt->p", xbc[:, near[:, 0]], ybc[:, near[:, 1]]) + \
            np.einsum("pt,pt->p", xbc[:, near[:, 1]], ybc[:, near[:, 0]])
        x2m, y2m = xa.mean(axis=1) - mx, ya.mean(axis=1) - my
        beta = sxy / sxx
        rss = syy - beta * sxy
        lag1 = ylag - beta * xy_lag + beta * beta * xlag
        r1 = np.where(rss > 0, lag1 / rss, 0.0)
        var_iid = rss / (n1 - 2) * (1.0 / n2 + 1.0 / n1 + x2m**2 / sxx)
        t_iid = np.where(var_iid > 0, (y2m - beta * x2m) / np.sqrt(var_iid), np.nan)
    return {"r1": r1, "t_iid": t_iid, "bad": ~(rss > CANCEL * syy)}


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


__all__ = ["FIELDS", "pair_step_tests", "result", "step_tests", "t_sf_many"]
