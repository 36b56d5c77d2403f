"""The gain matrix a spec declares (`responds`), with its condition number and RGA.

The decoupling evaluator's `GainAnalysis` record holds the gains it used (declared, or estimated
from data); this is the one the spec states, available without any evaluator or data, so reports,
the explorer and `msense diff` can always show it.
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


def analyse(kpis: list[str], levers: list[str], g: np.ndarray) -> dict[str, Any]:
    """Condition number (inf when rank-deficient), rank, singular values and RGA of ``g``."""
    out: dict[str, Any] = {"kpis": kpis, "levers": levers, "matrix": g.tolist(), "source": "declared",
                           "condition_number": None, "rank": 0, "singular_values": [], "rga": None}
    from metricsense.evaluators.common import usable_scale

    if g.size == 0 or not usable_scale(g):
        return out  # gains of 1e999 or 1e-320: their inverse and squares overflow or underflow
    s = np.linalg.svd(g, compute_uv=False)
    tol = s.max(initial=0.0) * max(g.shape) * np.finfo(float).eps
    rank = int((s > tol).sum())
    out["rank"] = rank
    out["singular_values"] = s.tolist()
    if s.size and s[0] > 0:
        out["condition_number"] = float(s[0] / s[-1]) if rank == min(g.shape) else float("inf")
    # Relative gain array (Bristol): G * pinv(G)^T elementwise; for a square, invertible G each
    # row and column sums to 1, and values near 1 mark the lever to pair with each KPI.
    rga = g * np.linalg.pinv(g).T
    out["rga"] = rga.tolist()
    return out


def declared(doc: Document) -> dict[str, Any]:
    """`analyse` of the spec's declared gain matrix."""
    return analyse(*declared_gain_matrix(doc))


def format_condition(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == float("inf"):
        return "∞ (rank-deficient)"
    return f"{value:.3g}"
