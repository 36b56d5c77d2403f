"""From a spec to the matrices of self-optimizing control: G_y, G_yd, Wd, Wn, Juu, Jud, with names.

Everything is in the standardised units the declared gains use (a typical move of each series):

- the levers u are those some KPI `responds` to; the disturbances d those some KPI is `disturbed`
  by or that declare a `best`; the KPIs y those that declare either gain;
- G_y from `responds`, G_yd from `disturbed` (lags are ignored: the method is about where things
  settle, not how fast);
- Wd: each disturbance's `size` (default 1, a typical move);
- Juu: diagonal, each lever's `cost` (default 1: being off every lever's best setting costs alike);
- Jud: from the disturbances' `best` moves B (how far the best setting of each lever moves when the
  disturbance moves by one): Jud = -Juu B, so that F = G_y B + G_yd (default B = 0: the best lever
  settings do not move, and F = G_yd);
- Wn: each KPI's declared `noise`, else its noise from its data (`data_noise`), else DEFAULT_NOISE.

Mistakes (a cost of 0, a `best` that names no lever) are SelectError with the clause's span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metricsense.span import Span

#: A KPI's noise, in typical moves, when it declares none and has no data to measure it from.
DEFAULT_NOISE = 0.25
#: The noise measured from data is kept between these (a series too short or too smooth to say).
NOISE_RANGE = (0.05, 1.0)
#: The fewest consecutive changes a series needs for its noise to be measured.
MIN_CHANGES = 8


class SelectError(Exception):
    """A spec that `msense select` cannot use, with where (the clause, or the spec) and what to do."""

    def __init__(self, message: str, span: Span, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.help = help


@dataclass(frozen=True)
class Inputs:
    """What the selection used, so anyone can recompute it (the JSON's `inputs`)."""

    kpis: tuple[str, ...]
    levers: tuple[str, ...]
    disturbances: tuple[str, ...]
    gy: np.ndarray
    gyd: np.ndarray
    wd: np.ndarray  # diagonal
    wn: np.ndarray  # diagonal
    juu: np.ndarray
    jud: np.ndarray
    noise_from: tuple[str, ...]  # per KPI: "declared", "data" or "default"
    current: tuple[str, ...]  # the KPIs with a target

    def as_dict(self) -> dict:
        return {
            "kpis": list(self.kpis), "levers": list(self.levers), "disturbances": list(self.disturbances),
            "G_y": self.gy.tolist(), "G_yd": self.gyd.tolist(), "Wd": self.wd.tolist(), "Wn": self.wn.tolist(),
            "Juu": self.juu.tolist(), "Jud": self.jud.tolist(), "noise_from": list(self.noise_from),
        }


def data_noise(values) -> float | None:
    """A series' noise in typical moves, from the local-level model, or None with too few changes.

    A KPI seen as a random walk plus white noise (the level moves for real; each reading adds an
    error) has changes whose lag-1 autocorrelation is -s_n^2 / var(changes), so the noise relative
    to a typical move (the standard deviation of the changes) is sqrt(-rho_1), 0.71 for pure noise
    and 0 for a pure walk. Only changes between consecutive observed periods count.
    """
    x = np.asarray(values, dtype=float).ravel()
    d = np.diff(x)
    pairs = np.isfinite(d[1:]) & np.isfinite(d[:-1])
    if pairs.sum() < MIN_CHANGES:
        return None
    a, b = d[1:][pairs], d[:-1][pairs]
    scale = float(max(np.abs(a).max(), np.abs(b).max()))
    if not 0 < scale < np.inf:
        return None
    a, b = a / scale, b / scale  # series in large units (1e300) do not overflow the products below
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if den == 0:
        return None
    rho = float((a * b).sum()) / den
    return float(np.clip(np.sqrt(max(-rho, 0.0)), *NOISE_RANGE))


def spec_anchor(spec) -> Span:
    if spec.mission is not None:
        return spec.mission.span
    if spec.statements:
        return spec.statements[0].span
    return Span.point(spec.files[0] if spec.files else spec.root)


def declared_numbers(spec):
    """Every number the selection reads from ``spec``: (clause text, value, span), in the spec's order."""
    for lv in spec.levers:
        if lv.cost is not None:
            yield f"cost {lv.cost.value:g}` on lever `{lv.name}", lv.cost.value, lv.cost.span
    for d in spec.disturbances:
        if d.size is not None:
            yield f"size {d.size.value:g}` on disturbance `{d.name}", d.size.value, d.size.span
        for move in d.best:
            yield f"best {move.name} {move.value:+g}` on disturbance `{d.name}", move.value, move.span
    for k in spec.kpis:
        for word, gains in (("responds", k.responds), ("disturbed", k.disturbed)):
            for g in gains:
                yield f"{word} {g.name} {g.value:+g}` in KPI `{k.name}", g.value, g.span
        if k.noise is not None:
            yield f"noise {k.noise.value:g}` on KPI `{k.name}", k.noise.value, k.noise.span


def extreme_number(spec):
    """The declared number farthest from a typical move (1) in orders of magnitude: (text, span) or None."""
    best, where = -1.0, None
    for text, value, span in declared_numbers(spec):
        if value == 0:
            continue
        far = abs(float(np.log10(abs(value)))) if np.isfinite(value) else float("inf")
        if far > best:
            best, where = far, (text, span)
    return where


#: The clauses the selection reads: given twice, only the last would count (MS009).
SELECT_CLAUSES = {"responds", "disturbed", "noise", "cost", "size", "best"}


def _refuse_ambiguous(spec) -> None:
    """A name declared twice (MS003) or a clause the selection reads given twice (MS009) is an error:
    the matrices would silently hold one of them."""
    seen: dict[str, object] = {}
    for node in [*spec.levers, *spec.disturbances, *spec.kpis]:
        if node.name in seen:
            raise SelectError(f"`{node.name}` is declared twice (MS003): `msense select` cannot tell which "
                              f"one's gains and weights to use", node.name_span, "rename one of them")
        seen[node.name] = node
    for kind, nodes in (("lever", spec.levers), ("disturbance", spec.disturbances), ("KPI", spec.kpis)):
        for node in nodes:
            for clause, span in getattr(node, "repeated", ()):
                if clause in SELECT_CLAUSES:
                    listed = clause in ("responds", "disturbed", "best")
                    raise SelectError(f"`{clause}` is given more than once in {kind} `{node.name}` (MS009): "
                                      f"only the last would count", span,
                                      "give all its gains in one clause, separated by commas" if listed else "keep one")
    levers = {lv.name for lv in spec.levers}
    dists = {d.name for d in spec.disturbances}
    for k in spec.kpis:
        for clause, names, want in (("responds", levers, "lever"), ("disturbed", dists, "disturbance")):
            for g in getattr(k, clause):
                if g.name not in names:
                    what = ("is a lever, not a disturbance" if g.name in levers else "is a disturbance, not a lever"
                            if g.name in dists else f"is not declared: a {want} is expected here")
                    raise SelectError(f"`{clause} {g.name}` in KPI `{k.name}`: `{g.name}` {what} (MS002)",
                                      g.span, f"`{clause}` names the {want}s that move the KPI; the gain would be "
                                              f"left out of the choice")
    for node in [*spec.kpis, *spec.disturbances]:
        for clause in ("responds", "disturbed", "best"):
            names: set[str] = set()
            for g in getattr(node, clause, ()):
                if g.name in names:
                    raise SelectError(f"`{g.name}` is named twice in the `{clause}` of `{node.name}`: only the last "
                                      f"gain would count", g.span, "give each one gain")
                names.add(g.name)


def build_inputs(spec, dataset=None) -> Inputs:
    """The matrices of ``spec`` (a Document); ``dataset`` (a DataSet, optional) gives undeclared noise."""
    _refuse_ambiguous(spec)
    for text, value, span in declared_numbers(spec):
        if not np.isfinite(value):
            raise SelectError(f"`{text}`: the number is too large to compute with (it reads as infinity)", span,
                              "every number is in typical moves of the series: 1 is one typical move")
    lever_decl = {lv.name: lv for lv in spec.levers}
    dist_decl = {d.name: d for d in spec.disturbances}
    used_levers = {g.name for k in spec.kpis for g in k.responds if g.name in lever_decl}
    levers = [lv for lv in spec.levers if lv.name in used_levers]
    levers = list({lv.name: lv for lv in levers}.values())  # a name declared twice is MS0xx's: keep the first
    used_dist = {g.name for k in spec.kpis for g in k.disturbed if g.name in dist_decl}
    dists = [d for d in spec.disturbances if d.name in used_dist or d.best]
    dists = list({d.name: d for d in dists}.values())
    kpis = [k for k in spec.kpis
            if any(g.name in used_levers for g in k.responds) or any(g.name in used_dist for g in k.disturbed)]
    kpis = list({k.name: k for k in kpis}.values())
    if not levers:
        raise SelectError("no KPI declares how a lever moves it: `msense select` needs the gains",
                          spec_anchor(spec), "declare them in each KPI, e.g. `responds deploys +0.3`")
    col = {lv.name: j for j, lv in enumerate(levers)}
    dcol = {d.name: j for j, d in enumerate(dists)}
    gy = np.zeros((len(kpis), len(levers)))
    gyd = np.zeros((len(kpis), len(dists)))
    for i, k in enumerate(kpis):
        for g in k.responds:
            if g.name in col:
                gy[i, col[g.name]] = g.value
        for g in k.disturbed:
            if g.name in dcol:
                gyd[i, dcol[g.name]] = g.value
    costs = []
    for lv in levers:
        if lv.cost is not None and not lv.cost.value > 0:
            raise SelectError(f"`cost {lv.cost.value:g}` on lever `{lv.name}`: a cost must be above 0",
                              lv.cost.span, "a cost says how much it costs to be off this lever's best setting "
                                            "(1 is the default, 2 twice as costly)")
        costs.append(lv.cost.value if lv.cost is not None else 1.0)
    juu = np.diag(costs)
    sizes = [d.size.value if d.size is not None else 1.0 for d in dists]
    best = np.zeros((len(levers), len(dists)))
    for k, d in enumerate(dists):
        for move in d.best:
            if move.name not in col:
                what = "moves no KPI" if move.name in lever_decl else "is not a declared lever"
                raise SelectError(f"`best {move.name}` on disturbance `{d.name}`: `{move.name}` {what}",
                                  move.span, "`best` names the levers whose best setting moves when the disturbance "
                                             "hits, and by how much (in typical moves)")
            best[col[move.name], k] = move.value
    jud = -juu @ best
    noise, noise_from = [], []
    for k in kpis:
        if k.noise is not None:
            if not k.noise.value > 0:
                raise SelectError(f"`noise {k.noise.value:g}` on KPI `{k.name}`: noise must be above 0",
                                  k.noise.span, "no KPI is read without error; say how large its noise is "
                                                "next to a typical move (0.2 is a fifth of one)")
            noise.append(k.noise.value)
            noise_from.append("declared")
            continue
        measured = None
        if dataset is not None and k.name in dataset:
            measured = data_noise(dataset.series(k.name).values)
        noise.append(measured if measured is not None else DEFAULT_NOISE)
        noise_from.append("data" if measured is not None else "default")
    if len(kpis) < len(levers):
        raise SelectError(
            f"{len(kpis)} KPI{'' if len(kpis) == 1 else 's'} with gains for {len(levers)} levers: no set of KPIs can "
            f"hold them all", spec_anchor(spec),
            "seed 002: as many KPIs as levers; add a KPI for the levers no target can steer, or leave levers out")
    if np.linalg.matrix_rank(gy) < len(levers):
        raise SelectError(
            f"the declared gains do not let the KPIs tell the {len(levers)} levers apart (rank "
            f"{np.linalg.matrix_rank(gy)}): no set of KPIs can hold them all", spec_anchor(spec),
            "give the levers that move the same KPIs alike a KPI of their own, or merge them")
    current = tuple(k.name for k in kpis if k.target is not None)
    return Inputs(
        kpis=tuple(k.name for k in kpis), levers=tuple(lv.name for lv in levers),
        disturbances=tuple(d.name for d in dists), gy=gy, gyd=gyd, wd=np.array(sizes), wn=np.array(noise),
        juu=juu, jud=jud, noise_from=tuple(noise_from), current=current,
    )
