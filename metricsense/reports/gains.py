"""The gain matrix a spec declares (`responds`), with its condition number and RGA.

The decoupling evaluator's `GainAnalysis` record holds the gains it used (declared, or estimated
from data); this is the one the spec states, available without any evaluator or data, so reports,
the explorer and `msense diff` can always show it.

One reading for every output (`analyse`, said in words by `describe`): every KPI counts, so a KPI
no lever moves makes the matrix rank-deficient (condition number infinite) and is named
(`orphaned`); levers that move no KPI are named (`idle`) and counted apart, and change no number
(a column of zeros adds no direction the KPIs can be moved in). The condition number of the part
the levers do reach (`steerable`: without the orphaned KPIs and idle levers, the decoupling
evaluator's matrix for declared gains) is given beside it, never instead of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metricsense.model import Document


def declared_gain_matrix(doc: Document) -> tuple[list[str], list[str], np.ndarray]:
    """KPI names, lever names (spec order) and the KPI x lever matrix of declared gains."""
    levers = list(dict.fromkeys(lv.name for lv in doc.levers))
    kpis = list(dict.fromkeys(k.name for k in doc.kpis))
    col = {name: j for j, name in enumerate(levers)}
    row = {name: i for i, name in enumerate(kpis)}
    g = np.zeros((len(kpis), len(levers)))
    for kpi in doc.kpis:
        i = row[kpi.name]
        for gain in kpi.responds:
            j = col.get(gain.name)
            if j is not None:  # a gain on an undeclared lever is MS002's business
                g[i, j] = gain.value
    return kpis, levers, g


def _conditioning(g: np.ndarray) -> tuple[int, float | None, list[float]]:
    """(rank, condition number for the KPIs, singular values): infinite when the rank is below the
    number of KPIs (rows), as MS202 says it (no lever, or gains all zero, included); None without KPIs."""
    if g.shape[0] == 0:
        return 0, None, []
    if g.size == 0:
        return 0, float("inf"), []  # KPIs and no lever: nothing moves them
    s = np.linalg.svd(g, compute_uv=False)
    tol = s.max(initial=0.0) * max(g.shape) * np.finfo(float).eps
    rank = int((s > tol).sum())
    if not s.size or s[0] <= 0:
        return rank, float("inf"), s.tolist()
    return rank, (float(s[0] / s[-1]) if rank == g.shape[0] else float("inf")), s.tolist()


def analyse(kpis: list[str], levers: list[str], g: np.ndarray) -> dict[str, Any]:
    """Condition number (inf when the rank is below the number of KPIs), rank, singular values and
    RGA of ``g``; the KPIs no lever moves (`orphaned`), the levers that move no KPI (`idle`), and the
    condition number of the rest (`steerable_condition_number`, over `steerable_kpis`)."""
    g = np.asarray(g, dtype=float).reshape(len(kpis), len(levers))
    moves = g != 0
    out: dict[str, Any] = {"kpis": list(kpis), "levers": list(levers), "matrix": g.tolist(), "source": "declared",
                           "condition_number": None, "rank": 0, "singular_values": [], "rga": None,
                           "orphaned": [k for i, k in enumerate(kpis) if not moves[i].any()],
                           "idle": [lv for j, lv in enumerate(levers) if not moves[:, j].any()],
                           "steerable_kpis": [], "steerable_condition_number": None}
    from metricsense.evaluators.common import usable_scale

    if g.size == 0:
        out["condition_number"] = _conditioning(g)[1]  # KPIs and no lever: ∞; nothing at all: None
        return out
    if not usable_scale(g):
        return out  # gains of 1e999 or 1e-320: their inverse and squares overflow or underflow
    rank, cond, s = _conditioning(g)
    out.update(rank=rank, singular_values=s, condition_number=cond)
    rows, cols = moves.any(axis=1), moves.any(axis=0)
    out["steerable_kpis"] = [k for i, k in enumerate(kpis) if rows[i]]
    out["steerable_condition_number"] = _conditioning(g[np.ix_(rows, cols)])[1]
    # Relative gain array (Bristol): G * pinv(G)^T elementwise; for a square, invertible G each
    # row and column sums to 1, and values near 1 mark the lever to pair with each KPI.
    rga = g * np.linalg.pinv(g).T
    out["rga"] = rga.tolist()
    return out


def declared(doc: Document) -> dict[str, Any]:
    """`analyse` of the spec's declared gain matrix (no condition number when no KPI declares a gain:
    nothing is declared, which is not the same as levers that move nothing)."""
    out = analyse(*declared_gain_matrix(doc))
    if not any(k.responds for k in doc.kpis) and doc.levers:
        out["condition_number"] = None
    return out


def describe(g: dict[str, Any]) -> str:
    """An analysis in the words every output uses (report captions, the explorer, Markdown):

    "condition number ∞ (rank-deficient): rank 2 of 3 KPIs; 2 of 3 levers move them (idle: x);
    no lever moves `wait`; 1.41 among the 2 KPIs the levers move"."""
    kpis, levers = g.get("kpis") or [], g.get("levers") or []
    idle, orphaned = list(g.get("idle") or []), list(g.get("orphaned") or [])
    text = (f"condition number {format_condition(g.get('condition_number'))}: rank {g.get('rank', 0)} of "
            f"{len(kpis)} KPI{'s' if len(kpis) != 1 else ''}; {len(levers) - len(idle)} of {len(levers)} "
            f"lever{'s' if len(levers) != 1 else ''} move them")
    if idle:
        text += f" (idle: {', '.join(idle)})"
    if orphaned:
        text += f"; no lever moves {', '.join(f'`{k}`' for k in orphaned)}"
    steer = g.get("steerable_condition_number")
    n = len(g.get("steerable_kpis") or [])
    if steer is not None and 0 < n < len(kpis):
        text += f"; {format_condition(steer)} among the {n} KPI{'s' if n != 1 else ''} the levers move"
    return text


def format_condition(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "∞ (rank-deficient)"
    return f"{value:.3g}"
