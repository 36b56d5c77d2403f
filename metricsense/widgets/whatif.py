"""The explorer's what-if, computed by the core: the gains, the redundancy and a before -> after.

No widgets here: functions of a spec, its data and the reader's choices (KPIs and levers kept,
the redundancy threshold), so the model, the snapshot and the tests share them. Every KPI that
stays ticked stays counted: a KPI left with no lever is `orphaned` and makes the gains
rank-deficient (`metricsense.reports.gains.analyse`, the reading the HTML and Markdown reports
use), never dropped from the count.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from metricsense.evaluators.records import GainAnalysis
from metricsense.model import KPI, Disturbance, Lever


def sub_document(document, kpis_off: set[str], levers_off: set[str]):
    """The spec without the unticked KPIs and levers (every other statement kept).

    A KPI's `responds` gains and a disturbance's `best` moves of an unticked lever go with it: the
    lever is no longer there (msense select, behind the explorer's suggest, refuses a gain or a
    `best` naming no lever)."""
    kept = tuple(_without_best(s, levers_off) for s in document.statements
                 if not (isinstance(s, KPI) and s.name in kpis_off)
                 and not (isinstance(s, Lever) and s.name in levers_off))
    return dataclasses.replace(document, statements=kept)


def _without_best(statement, levers_off: set[str]):
    field = "best" if isinstance(statement, Disturbance) else "responds" if isinstance(statement, KPI) else None
    if field is None or not any(g.name in levers_off for g in getattr(statement, field)):
        return statement
    return dataclasses.replace(statement, **{field: tuple(g for g in getattr(statement, field)
                                                          if g.name not in levers_off)})


def gain_source(document, gain: GainAnalysis | None) -> tuple[str | None, list[str], list[str], list[list[float]]]:
    """(source, KPIs, levers, matrix) the explorer ticks over.

    Declared gains: every KPI and every lever of the spec (the HTML report's declared matrix), so a
    KPI no lever moves and an idle lever are there to see. Estimated gains: the evaluator's
    estimate (a KPI or lever without data is not in it)."""
    from metricsense.reports.gains import declared_gain_matrix

    if gain is not None and gain.source == "estimated":
        matrix = [[float("nan") if v is None else float(v) for v in row] for row in gain.matrix]
        return "estimated", list(gain.kpis), list(gain.levers), matrix
    if any(k.responds for k in document.kpis):
        kpis, levers, g = declared_gain_matrix(document)
        return "declared", kpis, levers, g.tolist()
    return None, [], [], []


def kept_gains(kpis: list[str], levers: list[str], matrix: list[list[float]], kpis_on: list[str],
               levers_on: list[str]) -> tuple[Any, list[str], list[str]]:
    """The kept rows and columns of the gain matrix, and their names."""
    import numpy as np

    rows = [i for i, n in enumerate(kpis) if n in kpis_on]
    cols = [j for j, n in enumerate(levers) if n in levers_on]
    m = np.asarray(matrix, dtype=float).reshape(len(kpis), len(levers))
    return m[np.ix_(rows, cols)], [kpis[i] for i in rows], [levers[j] for j in cols]


def gains(source: str | None, kpis: list[str], levers: list[str], matrix: list[list[float]],
          kpis_on: list[str], levers_on: list[str], scaled: bool = True) -> dict[str, Any]:
    """``gains.analyse`` of the kept rows and columns, with the scaled condition number (``scaled``;
    else None, for ``scaled_condition`` to fill in)."""
    from metricsense.reports import gains as shared

    if source is None:
        return {}
    g, names_k, names_l = kept_gains(kpis, levers, matrix, kpis_on, levers_on)
    out = shared.analyse(names_k, names_l, g)
    out["source"] = source
    out["scaled_condition_number"] = scaled_condition(out, g) if scaled else None
    return out


def scaled_condition(analysed: dict[str, Any], g: Any) -> float | None:
    """The condition number of the kept gains ``g`` scaled to unit row and column norms (Ruiz), when
    ``analysed`` (their ``gains.analyse``) says it is finite; else None. About 3 ms at 9 x 10 (its
    iterations), so the explorer tells the page the other numbers first."""
    import numpy as np

    from metricsense import kernels

    cond = analysed.get("condition_number")
    if cond is None or cond == float("inf"):
        return None
    moved = (g != 0)
    sub = g[np.ix_(moved.any(axis=1), moved.any(axis=0))]  # zero columns (idle levers) add nothing
    return float(kernels.equilibrated_condition_number(sub))


def pairing(document, data, source: str | None, kpis_off: set[str], levers_off: set[str]) -> dict[str, Any]:
    """The decoupling evaluator's pairing search (the smallest RGA number) on the kept spec.

    Declared gains: the evaluator's ``pairing_of`` on the kept spec's declared matrix, and no more
    (``gain_analysis`` would also minimise the condition number over scalings, which the explorer
    does not show: 30-180 ms on customer-love, in which the kernel answers no click). Estimated
    gains: ``gain_analysis`` itself, which estimates them again for the kept levers."""
    from metricsense.evaluators.common import usable_scale
    from metricsense.evaluators.decoupling import declared_gains, gain_analysis, pairing_of

    spec = sub_document(document, kpis_off, levers_off)
    none = {"suggested_pairing": None, "rga_number": None}
    if source != "estimated":
        kpis, levers, g = declared_gains(spec)
        if g.size == 0 or not usable_scale(g):
            return none
        _rga, chosen, rga_number = pairing_of(g)
        return {"suggested_pairing": {kpis[i].name: levers[j].name for i, j in enumerate(chosen) if j >= 0},
                "rga_number": rga_number}
    result = gain_analysis(spec, data)
    if result is None:
        return none
    return {"suggested_pairing": dict(result.suggested_pairing), "rga_number": result.rga_number}


def correlation_json(record) -> dict[str, Any]:
    """``CorrelationAnalysis.to_json()`` without walking its KPI x KPI matrices number by number
    (``analysis.plain`` looks at each for a record inside: 3 s at 500 KPIs); the same dict."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name in ("matrix", "n"):
            value = [list(row) for row in value]
        elif isinstance(value, tuple) and all(isinstance(v, (str, int, float)) for v in value):
            value = list(value)
        else:
            from metricsense.analysis import plain

            value = plain(value)
        out[f.name] = value
    return out


def redundancy(document, data, registry, kpis_on: list[str], threshold: float,
               cache: dict | None = None) -> dict[str, Any]:
    """MS101 itself at ``threshold`` on the kept KPIs, and their correlation and effective number.

    The correlation is the evaluator's (`correlation_analysis`, with the options the check's
    analysis uses); the groups are what the rule reports on the kept spec. ``cache`` (a dict the
    caller keeps) holds the correlation of the last set of kept KPIs: a new threshold reuses it."""
    out: dict[str, Any] = {"threshold": float(threshold), "clusters": [], "correlation": {},
                           "effective_number": None, "effective_of": 0}
    rule = registry.rules.get("MS101") if registry is not None else None
    if data is None:
        return out
    from metricsense.diagnostics import EvalContext
    from metricsense.evaluators.correlation import OPTIONS, correlation_analysis

    kpis_off = {k.name for k in document.kpis} - set(kpis_on)
    spec = sub_document(document, kpis_off, set())
    options = {name: opt.default for name, opt in OPTIONS.items()}
    key = (tuple(sorted(kpis_off)), id(data))
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        result = correlation_analysis(spec, data, options)
        # NOTE: the correlation evaluator caches its analysis on the data set by options, not by the
        # KPIs of the spec: the rule gets a shallow copy with a cache of its own for this KPI set.
        mine = copy.copy(data)
        mine.__dict__["_correlation_cache"] = {}
        hit = (result, mine, correlation_json(result.record) if result is not None else None)
        if cache is not None:
            cache.clear()  # one set of KPIs: the one ticked now
            cache[key] = hit
    result, mine, corr_json = hit
    if result is None:
        return out
    record = result.record
    out.update(correlation=corr_json, effective_number=record.effective_number,
               effective_of=record.effective_of)
    if rule is None or rule.func is None:
        return out
    rule_options = {name: opt.default for name, opt in rule.options.items()}
    rule_options.update({k: options[k] for k in ("basis", "method", "min_periods") if k in rule_options})
    rule_options["threshold"] = float(threshold)
    # NOTE: the rule looks its analysis up by all the evaluator's options, its threshold among them,
    # though `correlation_analysis` reads only basis, method and min_periods: it gets this one.
    mine.__dict__["_correlation_cache"][tuple(sorted({k: rule_options.get(k, o.default)
                                                      for k, o in OPTIONS.items()}.items()))] = result
    ctx = EvalContext(spec, rule, rule_options, mine, {})
    for d in rule.func(ctx):
        ev = d.evidence
        strongest = max(ev.get("pairs") or [{}], key=lambda p: abs(p.get("r", 0)))
        out["clusters"].append({"keep": ev.get("keep"), "drop": list(ev.get("drop") or []),
                                "r": strongest.get("r"), "n": strongest.get("n"), "message": d.message})
    return out


def summary(decoupling: dict[str, Any], redundancy: dict[str, Any]) -> dict[str, Any]:
    """The numbers a change is judged by: what the before -> after compares."""
    return {"condition_number": decoupling.get("condition_number"), "rank": decoupling.get("rank"),
            "kpis": len(decoupling.get("kpis") or []), "levers": len(decoupling.get("levers") or []),
            "idle": list(decoupling.get("idle") or []), "orphaned": list(decoupling.get("orphaned") or []),
            "effective_number": redundancy.get("effective_number"), "effective_of": redundancy.get("effective_of"),
            "clusters": len(redundancy.get("clusters") or []), "threshold": redundancy.get("threshold")}


def _num(v: Any) -> str:
    from metricsense.reports.gains import format_condition

    if v is None:
        return "n/a"
    if isinstance(v, float):
        return format_condition(v) if v == float("inf") else f"{v:.3g}"
    return str(v)


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, before, after) rows, in words a manager reads."""
    rows = [("condition number", _num(before["condition_number"]), _num(after["condition_number"])),
            ("rank", f"{_num(before['rank'])} of {before['kpis']} KPIs", f"{_num(after['rank'])} of {after['kpis']} KPIs"),
            ("levers that move a KPI", f"{before['levers'] - len(before['idle'])} of {before['levers']}",
             f"{after['levers'] - len(after['idle'])} of {after['levers']}"),
            ("KPIs no lever moves", ", ".join(before["orphaned"]) or "none", ", ".join(after["orphaned"]) or "none"),
            ("effective number of KPIs",
             f"{_num(before['effective_number'])} of {before['effective_of']}" if before["effective_number"] is not None else "n/a",
             f"{_num(after['effective_number'])} of {after['effective_of']}" if after["effective_number"] is not None else "n/a"),
            ("redundant groups", f"{before['clusters']} at |r| ≥ {before['threshold']:.2f}",
             f"{after['clusters']} at |r| ≥ {after['threshold']:.2f}")]
    return rows
