"""The compact JSON forms of the built-in records: what the report writes by default.

A report of a few thousand KPIs wrote every matrix whole (the KPI x KPI correlation and its pair
counts, the gains and relative gains, a divergence test per output and outcome, every KPI's
series): 462 MB at 2,000 KPIs. The compact form (``Record.compact()``, ``--analysis compact``)
keeps what grows at most linearly with the KPIs and the findings and writes each matrix as the
entries that matter; ``--analysis full`` writes ``to_json()``, every key whole.

One rule for every record: a key the compact form writes means exactly what it means in the
full form (complete, same shape); a key it leaves out is replaced by new keys named for what
they keep (``pairs``, ``gains``, ``latest_events``, ``divergence_shown``) and a count of all
(``pairs_above_floor``, ``gains_nonzero``, ``events_total``, ``divergence_total``).
"""

from __future__ import annotations

import math
from typing import Any


#: Correlation pairs written: |r| at or above this floor, strongest first.
CORRELATION_FLOOR = 0.5
#: At most this many pairs per KPI (so that a system moved by one common factor, where every
#: pair is above the floor, is still linear in the KPIs).
PAIRS_PER_KPI = 5
#: Gains written: the nonzero entries, at most this many per KPI and lever, largest first.
GAINS_PER_NAME = 10
#: A trigger's events written: its latest few.
EVENTS_SHOWN = 3
#: An output KPI's divergence tests written: those with the smallest p-values.
DIVERGENCE_SHOWN = 5
#: Estimated gains written beside declared ones: the declared pairs, and of the others those
#: at least this many standard errors from 0, the strongest first, at most one per KPI and lever
#: (at 2 standard errors, 5% of a dense KPI x lever matrix of noise would pass).
T_SHOWN = 3.0


def _number(v: Any) -> float | None:
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def correlation(record: Any) -> dict[str, Any]:
    """`matrix` and `n` as `pairs` (`kpis`, `r`, `n`) with |r| >= CORRELATION_FLOOR."""
    import numpy as np

    out: dict[str, Any] = {"basis": record.basis, "method": record.method, "kpis": list(record.kpis)}
    k = len(record.kpis)
    pairs: list[dict[str, Any]] = []
    total = 0
    if k > 1:
        # the matrix read by blocks (correlation_blocks): the record's own, kept from the analysis
        # (its one pass found these pairs already), or the rows of a record that has none
        from metricsense.evaluators.correlation_blocks import Blocks

        blocks = getattr(record.matrix, "blocks", None)
        if blocks is None:
            blocks = Blocks(np.ascontiguousarray(record.matrix, dtype=float))
        i, j, r = blocks.scan(CORRELATION_FLOOR).above(CORRELATION_FLOOR)
        n = np.asarray(record.n)
        total = len(i)
        chosen = np.lexsort((i * k + j, -np.abs(r)))[:PAIRS_PER_KPI * k]
        pairs = [{"kpis": [record.kpis[a], record.kpis[b]], "r": v, "n": int(n[a, b])}
                 for a, b, v in zip(i[chosen].tolist(), j[chosen].tolist(), r[chosen].tolist())]
    out.update(pairs_floor=CORRELATION_FLOOR, pairs_above_floor=total, pairs=pairs,
               effective_number=record.effective_number, effective_of=record.effective_of,
               effective_kpis=list(record.effective_kpis))
    return out


def _entries(matrix) -> list[tuple[int, int, float]]:
    """(row, column, value) of the nonzero, finite entries, in row-major order. A rectangular
    matrix of floats (None or NaN where there is none: the gain record's) is read as one array: a
    2,000 x 200 gain matrix was 400,000 Python comparisons. (Unlike the walk, a NumPy integer or
    a numeric string would count; records hold neither.)"""
    import numpy as np

    try:
        a = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):  # ragged rows, or values that are not numbers: one by one
        a = None
    if a is None or a.ndim != 2 or any(isinstance(v, bool) for row in _bool_rows(matrix) for v in row):
        found = []
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if _number(v) is not None and v != 0:
                    found.append((i, j, float(v)))
        return found
    rows, cols = np.nonzero(np.isfinite(a) & (a != 0))
    return list(zip(rows.tolist(), cols.tolist(), a[rows, cols].tolist()))


def _bool_rows(matrix) -> list:
    """The rows of a nested list (booleans are not gains); none of an array-backed matrix."""
    return matrix if isinstance(matrix, list) else []


def _largest(found: list, cap: int, key) -> list:
    """At most ``cap`` of ``found``, the largest by ``key``, kept in their own order."""
    if len(found) <= cap:
        return found
    chosen = sorted(range(len(found)), key=lambda x: (-key(found[x]), x))[:cap]
    return [found[x] for x in sorted(chosen)]


def gain(record: Any) -> dict[str, Any]:
    """`matrix` and `rga` as `gains` (`kpi`, `lever`, `gain`, `rga`): the nonzero gains."""
    kpis, levers = list(record.kpis), list(record.levers)
    out: dict[str, Any] = {"kpis": kpis, "levers": levers, "source": record.source}
    found = _entries(record.matrix)
    cap = GAINS_PER_NAME * (len(kpis) + len(levers))
    shown = _largest(found, cap, lambda e: abs(e[2]))
    rga = record.rga
    out["gains_nonzero"] = len(found)
    out["gains"] = [{"kpi": kpis[a], "lever": levers[b], "gain": v,
                     "rga": _number(rga[a][b]) if a < len(rga) and b < len(rga[a]) else None}
                    for a, b, v in shown]
    for key in ("condition_number", "scaled_condition_number", "minimized_condition_number", "rank",
                "singular_values", "suggested_pairing", "rga_number"):
        value = getattr(record, key)
        out[key] = dict(value) if key == "suggested_pairing" else list(value) if key == "singular_values" else value
    if record.estimated is not None:
        declared = {(kpis[a], levers[b]) for a, b, _ in found} if record.source == "declared" else set()
        out["estimated"] = estimated(record.estimated, declared)
    return out


def estimated(record: Any, declared: set[tuple[str, str]]) -> dict[str, Any]:
    """`matrix`, `se` and `lags` as `gains` (`kpi`, `lever`, `gain`, `se`, `lag`): the declared
    pairs, and the others estimated at least T_SHOWN standard errors from 0 (strongest first, at
    most as many as KPIs and levers)."""
    kpis, levers = list(record.kpis), list(record.levers)
    found = []
    total = 0
    for a, row in enumerate(record.matrix):
        for b, v in enumerate(row):
            if _number(v) is None:
                continue
            total += 1
            se = _number(record.se[a][b]) if a < len(record.se) and b < len(record.se[a]) else None
            t = abs(v) / se if se else (math.inf if v else 0.0)
            if (kpis[a], levers[b]) in declared or t >= T_SHOWN:
                found.append((a, b, float(v), se, t, (kpis[a], levers[b]) in declared))
    others = sum(1 for e in found if not e[5])
    cap = len(found) - others + min(others, len(kpis) + len(levers))
    shown = _largest(found, cap, lambda e: (e[5], e[4]))
    lags = record.lags or {}
    out: dict[str, Any] = {"kpis": kpis, "levers": levers, "gains_estimated": total, "gains": [
        {"kpi": kpis[a], "lever": levers[b], "gain": v, "se": se,
         "lag": lags.get(kpis[a], {}).get(levers[b], record.lag)}
        for a, b, v, se, _, _ in shown], "n": list(record.n), "lag": record.lag}
    if record.controls is not None:
        out["controls"] = {k: list(v) for k, v in record.controls.items()}
    if record.conditioning is not None:
        # NOTE: the per-entry bootstrap p-values of the relative gains are matrices: left out
        out["conditioning"] = {k: v for k, v in record.conditioning.items() if k not in ("rga_p_negative", "rga_p_large")}
    return out


def trigger(evaluation: Any) -> dict[str, Any]:
    """`periods` and `events` as `latest_events` (the last EVENTS_SHOWN) and `events_total`."""
    out = evaluation.to_json()
    out.pop("periods", None)
    events = out.pop("events", None)
    if events is not None:
        out["events_total"] = len(events)
        out["latest_events"] = events[-EVENTS_SHOWN:]
    return out


def _p_order(item: tuple[str, Any]) -> tuple:
    test = item[1] if isinstance(item[1], dict) else {}
    p = _number(test.get("p"))
    return (test.get("status") != "evaluated", p is None, p if p is not None else 0.0)


def distortion(entry: Any) -> dict[str, Any]:
    """`divergence` as `divergence_shown` (the tests with the smallest p-values) and `divergence_total`."""
    out = entry.to_json()
    div = out.pop("divergence", None)
    if div is not None:
        out["divergence_total"] = len(div)
        out["divergence_shown"] = dict(sorted(div.items(), key=_p_order)[:DIVERGENCE_SHOWN])
    return out


def noise(record: Any) -> dict[str, Any]:
    """Each KPI's `triggers` as `triggers_read` (the names of the triggers that read it) and
    `trigger_noise` (the noise of those first met at this KPI, in the record's order): a trigger
    reading m KPIs was copied, with its m comparisons, under each of them (m x m)."""
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for name, entry in record.kpis.items():
        e = entry.to_json()
        found = e.pop("triggers", None)
        if found is not None:
            e["triggers_read"] = list(found)
            own = {t: info for t, info in found.items() if t not in seen}
            seen.update(own)
            if own:
                e["trigger_noise"] = own
        out[name] = e
    return out
