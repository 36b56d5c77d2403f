"""`msense select`: which KPIs to hold at their targets, chosen as the optimization problem they are.

Seed 002: "managing an organization is an optimization problem", and the KPIs must be chosen so
that holding them at their targets keeps the organization near its best when disturbances and
noise hit. Self-optimizing control (Skogestad and co-workers) solves this for the controlled
variables of a plant; this package applies its exact local method to a spec's levers,
disturbances and KPIs (domain.md, "Choosing the KPIs"):

- `problem`: the spec's G_y, G_yd, Wd, Wn, Juu, Jud;
- `losses`: worst-case and average loss of a set, the best combination H of all KPIs, the null space;
- `search`: the best sets by bidirectional branch and bound, equal to enumeration.

NumPy is imported here: the CLI and the rules import this package inside their functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metricsense.selection import losses
from metricsense.selection.problem import (  # noqa: F401
    DEFAULT_NOISE, Inputs, SelectError, build_inputs, data_noise, extreme_number)
from metricsense.selection.search import Stats, branch_and_bound, floor_of


@dataclass(frozen=True)
class KpiSet:
    """One set of KPIs held at their targets (combined at their best when more than the levers)."""

    kpis: tuple[str, ...]
    worst_case_loss: float | None  # None: the set cannot hold the levers
    average_loss: float | None
    #: each disturbance's and each KPI's noise's loss when it alone moves by its usual size
    sources: dict[str, float] = field(default_factory=dict)
    note: str | None = None

    def as_dict(self) -> dict:
        out = {"kpis": list(self.kpis), "worst_case_loss": _finite(self.worst_case_loss),
               "average_loss": _finite(self.average_loss), "sources": {k: _finite(v) for k, v in self.sources.items()}}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Selection:
    """What `select` found: the ranked candidates, the current set, the best combination of all KPIs."""

    size: int
    inputs: Inputs
    current: KpiSet | None
    candidates: tuple[KpiSet, ...]
    combination: dict
    why: str
    nodes: int = 0
    evaluated: int = 0
    #: False when the time limit stopped the search: the candidates are the best found so far
    complete: bool = True

    def as_dict(self) -> dict:
        """The JSON shape (`select` at the top): size, inputs, current, candidates, combination."""
        return {"select": {
            "size": self.size,
            "inputs": self.inputs.as_dict(),
            "current": self.current.as_dict() if self.current is not None else None,
            "candidates": [c.as_dict() for c in self.candidates],
            "combination": self.combination,
            "why": self.why,
            "search": {"method": "bidirectional branch and bound (Kariwala & Cao 2009)",
                       "nodes": self.nodes, "sets_evaluated": self.evaluated, "complete": self.complete},
        }}


def _finite(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def source_names(inputs: Inputs) -> list[str]:
    """The columns of [F Wd, Wn]: the disturbances, then each KPI's noise."""
    return list(inputs.disturbances) + [f"noise in {k}" for k in inputs.kpis]


def prepared(inputs: Inputs) -> losses.Prepared:
    return losses.prepare(inputs.gy, inputs.gyd, inputs.juu, inputs.jud, inputs.wd, inputs.wn)


def evaluate(inputs: Inputs, prep: losses.Prepared, rows, floor: float, note: str | None = None) -> KpiSet:
    """The losses of the KPIs ``rows`` (indices into inputs.kpis), and what each source costs."""
    rows = sorted(rows)
    names = tuple(inputs.kpis[i] for i in rows)
    if len(rows) < prep.nu:
        return KpiSet(names, None, None, {}, note or (
            f"{len(rows)} KPIs cannot hold {prep.nu} levers: the levers they leave free drift with every "
            f"disturbance, so the loss is not bounded"))
    worst, average = losses.set_losses(prep, rows)
    if not np.isfinite(worst) or not 0.5 / worst > floor:
        return KpiSet(names, None, None, {}, note or "these KPIs cannot tell the levers apart (H G_y is singular)")
    h = np.eye(len(rows)) if len(rows) == prep.nu else losses.combination(prep, rows)
    m = losses.loss_matrix(prep, h, rows)
    cols = list(range(prep.nd)) + [prep.nd + i for i in rows]
    sources = losses.contributions(m[:, cols], [source_names(inputs)[c] for c in cols])
    return KpiSet(names, worst, average, sources, note)


def select_document(spec, size: int | None = None, top: int = 5, dataset=None,
                    time_limit: float | None = None) -> Selection:
    """Choose ``size`` KPIs (default: as many as the levers) of a Document; raises SelectError
    (ValueError for a ``size`` or ``top`` that is not a whole number, or a ``top`` below 1)."""
    size = None if size is None else _whole("size", size)
    top = _whole("top", top)
    if top < 1:
        raise ValueError(f"top must be at least 1 (how many of the best sets to show), not {top}")
    inputs = build_inputs(spec, dataset)
    try:
        with np.errstate(over="raise", invalid="raise"):
            return _select(spec, inputs, size, top, time_limit)
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        # NOTE: finite but extreme numbers (`cost 1e-320`, a gain of 1e308) overflow the products of
        # the method: name the number farthest from a typical move rather than fail with a traceback
        where = extreme_number(spec)
        text, span = where if where is not None else (None, problem_anchor(spec))
        raise SelectError(
            "the declared numbers are too large or too small to compute with" + (f": `{text}` is the "
            f"farthest from a typical move" if text else f" ({exc})"), span,
            "every number is in typical moves of the series: 1 is one typical move, and values "
            "millions of times larger or smaller say the units are not standardised") from None


def _whole(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def _select(spec, inputs: Inputs, size: int | None, top: int, time_limit: float | None = None) -> Selection:
    prep = prepared(inputs)
    nu, ny = prep.nu, prep.ny
    size = nu if size is None else size
    if not nu <= size <= ny:
        raise SelectError(
            f"a set of {size} KPIs cannot be chosen here: between {nu} (the levers) and {ny} (the KPIs with "
            f"gains)", problem_anchor(spec), "seed 002: no more KPIs than levers; `--size` defaults to the levers")
    stats = Stats()
    found = branch_and_bound(prep, size, top, stats, seconds=time_limit)
    floor = floor_of(prep)
    candidates = tuple(evaluate(inputs, prep, rows, floor) for _, rows in found)
    current = None
    if inputs.current:
        rows = [inputs.kpis.index(k) for k in inputs.current]
        note = None
        if len(rows) > nu:
            note = (f"{len(rows)} targeted KPIs for {nu} levers: they cannot all be held at their targets (MS013); "
                    f"the losses are those of the best index of them")
        current = evaluate(inputs, prep, rows, floor, note)
    h = losses.combination(prep)
    m = losses.loss_matrix(prep, h)
    combination = {
        "kpis": list(inputs.kpis),
        "H": h.tolist(),
        "worst_case_loss": _finite(0.5 * float(np.linalg.svd(m, compute_uv=False)[0]) ** 2),
        "average_loss": _finite(float(np.sum(m ** 2)) / (6 * (ny + prep.nd))),
        "null_space": null_space_check(inputs, prep),
    }
    why = why_text(current, candidates)
    if not candidates and not stats.complete:
        why = "the search stopped at its time limit before it found a set that holds the levers"
    return Selection(size, inputs, current, candidates, combination, why, stats.nodes, stats.evaluated, stats.complete)


def problem_anchor(spec):
    from metricsense.selection.problem import spec_anchor

    return spec_anchor(spec)


def null_space_check(inputs: Inputs, prep: losses.Prepared) -> dict:
    """Whether some H cancels every disturbance (H F = 0: n_y >= n_u + n_d), and the loss it leaves."""
    need = prep.nu + prep.nd
    f_wd = prep.y[:, :prep.nd]
    out = {"possible": False, "kpis_needed": need, "kpis": prep.ny}
    h = losses.null_space(prep, f_wd)  # no disturbances: every H cancels them, the best is the combination
    if h is not None:
        m = losses.loss_matrix(prep, h)
        out.update(possible=True, H=h.tolist(),
                   worst_case_loss=_finite(0.5 * float(np.linalg.svd(m, compute_uv=False)[0]) ** 2),
                   disturbance_loss=_finite(0.5 * float(np.linalg.norm(m[:, :prep.nd], 2)) ** 2))
    return out


def why_text(current: KpiSet | None, candidates: tuple[KpiSet, ...]) -> str:
    """In plain words: what the best set holds that the other passes on to the levers."""
    if not candidates:
        return "no set of this size can hold the levers"
    best = candidates[0]
    if current is not None and len(current.kpis) != len(best.kpis):
        dropped = [k for k in current.kpis if k not in best.kpis]
        added = [k for k in best.kpis if k not in current.kpis]
        if len(current.kpis) > len(best.kpis):
            change = f"stop targeting {_list(dropped)}" + (f" and target {_list(added)}" if added else "")
            return (f"the {len(current.kpis)} current targets cannot all be met with the levers there are; "
                    f"to hold {len(best.kpis)}, {change} (worst-case loss {best.worst_case_loss:.3g})")
        return (f"the {len(current.kpis)} current targets leave levers free to drift; also target "
                f"{_list(added)} (worst-case loss {best.worst_case_loss:.3g})")
    other, label = None, ""
    if current is not None and set(current.kpis) != set(best.kpis):
        if current.worst_case_loss is None:
            return f"the current targets cannot hold the levers ({current.note}); the best set can"
        other, label = current, "the current targets"
    elif len(candidates) > 1:
        other, label = candidates[1], "the runner-up"
    if other is None:
        return "the current targets are already the best set of this size"
    # the source the other set passes on most beyond what the best set passes on
    worst_source = max(other.sources, key=lambda k: other.sources[k] - best.sources.get(k, 0.0))
    theirs = other.sources[worst_source]
    ours = best.sources.get(worst_source)
    ratio = other.worst_case_loss / best.worst_case_loss if best.worst_case_loss else float("inf")
    held = (f"the best set ({_list(best.kpis)}) passes on {ours:.3g}" if ours is not None
            else f"the best set ({_list(best.kpis)}) does not read it")
    return (f"{label} pass {worst_source} on to the levers: alone it costs {theirs:.3g} of the mission, "
            f"where {held}; worst case {other.worst_case_loss:.3g} against {best.worst_case_loss:.3g} "
            f"({ratio:.1f} times)")


def _list(names) -> str:
    from metricsense.names import listed

    return listed(names) if names else "nothing"
