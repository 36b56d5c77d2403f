"""Check simulated systems through `metricsense.check` and count what each rule says.

One task = one draw: its spec and data are written to a temporary folder and checked as a user
would (`metricsense.check(path)`), with `fdr-q = 1` (each rule alone, as it reports); what the
pipeline's Benjamini-Hochberg control at q = 0.05 keeps is read from the same report's q-values
(`kept_at`, equal to a second check at q = 0.05). A finding
is *statistical* when its rule is one of STATISTICAL and it is not said of the spec without data
(the design findings: a 10-KPI, 4-lever system has MS013 and a rank-deficient declared gain
matrix whatever its data).
"""

from __future__ import annotations

import math
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from calibration.systems import EFFECT_KPIS, EFFECT_RULE, draw, spec_text, write

STATISTICAL = ("MS101", "MS102", "MS201", "MS202", "MS203", "MS204", "MS205", "MS301", "MS302", "MS303",
               "MS401", "MS402", "MS403", "MS601", "MS602")


@dataclass(frozen=True)
class Task:
    family: str
    seed: int
    effect: str | None = None
    k: int = 10
    t: int = 104
    select: tuple = ()  # only these rules (a rule's own slice; the goal needs them all)


@dataclass
class Outcome:
    task: Task
    raw: frozenset  # rule codes with a statistical finding, fdr-q = 1
    fdr: frozenset  # the same with the default configuration (BH at q = 0.05)
    design: frozenset  # codes found without data
    crashed: str | None = None
    counts: dict | None = None  # code -> statistical findings, fdr-q = 1
    tests: dict | None = None  # code -> the tests the rule could run on this system (tests_of)
    planted: tuple = (False, False)  # the effect's rule named the KPI it was planted on (raw, BH)


def tests_of(s) -> dict[str, int]:
    """How many tests each rule can run on system ``s``: the denominators of a per-test rate.

    Pairs of KPIs (MS101), declared gains (MS205), output-outcome pairs sharing a failure
    (MS402), KPIs (MS301, MS303, MS401, MS403), the trigger (MS302, MS601, MS602), and one for
    the system's gain matrix and correlation structure (MS102, MS201-MS204)."""
    k = s.k
    outputs = sum(1 for kind in s.kinds if kind == "output")
    outcomes = sum(1 for kind in s.kinds if kind == "outcome")
    one = {c: 1 for c in ("MS102", "MS201", "MS202", "MS203", "MS204", "MS302", "MS601", "MS602")}
    return {**one, "MS101": k * (k - 1) // 2, "MS205": int((s.declared != 0).sum()), "MS301": k, "MS303": k,
            "MS401": k, "MS402": outputs * outcomes, "MS403": k}


Q = 0.05  # the default false-discovery rate the pipeline controls (config `fdr-q`)


def kept_at(diagnostics, q: float = Q) -> list:
    """The findings the pipeline keeps at ``fdr-q = q``, from a report checked at ``fdr-q = 1``.

    At q = 1 every statistical finding carries its BH q-value over the spec's family (``q_value``,
    metricsense.fdr), and q-values do not depend on the threshold: a finding is kept at q exactly
    when its q-value is at most q; findings without a p-value are always kept. One check then gives
    both columns (tests/calibration compares this with a check at q)."""
    from metricsense.fdr import p_value_of

    return [d for d in diagnostics if p_value_of(d) is None or d.evidence.get("q_value", 0.0) <= q]


def check_one(task: Task) -> Outcome:
    import metricsense

    s = draw(task.family, task.seed, k=task.k, t=task.t, effect=task.effect)
    with tempfile.TemporaryDirectory(prefix="msense-calib-") as tmp:
        path = write(s, Path(tmp))
        design = {(d.code, d.message) for d in metricsense.check(spec_text(s, None), config={}).diagnostics}
        found = {}
        counts: dict[str, int] = {}
        crashed = None
        planted = {}
        rule = EFFECT_RULE.get(task.effect or "")
        names = [f"`k{i}`" for i in EFFECT_KPIS.get(task.effect or "", ())]
        cfg = {"fdr-q": 1.0, **({"select": list(task.select)} if task.select else {})}
        every = metricsense.check(str(path), config=cfg).diagnostics
        for name, diags in (("raw", every), ("fdr", kept_at(every))):
            codes = set()
            planted[name] = any(d.code == rule and any(n in d.message for n in names) for d in diags)
            for d in diags:
                if d.code == "MS005" or d.code.startswith("MS03"):
                    crashed = crashed or f"{d.code}: {d.message}"
                if d.code in STATISTICAL and (d.code, d.message) not in design:
                    codes.add(d.code)
                    if name == "raw":
                        counts[d.code] = counts.get(d.code, 0) + 1
            found[name] = frozenset(codes)
    return Outcome(task, found["raw"], found["fdr"], frozenset(c for c, _ in design), crashed, counts, tests_of(s),
                   (planted["raw"], planted["fdr"]))


def run(tasks: list[Task], jobs: int = 1) -> list[Outcome]:
    if jobs <= 1:
        return [check_one(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(check_one, tasks, chunksize=4))


def rate(hits: int, n: int) -> tuple[float, float]:
    """A share and its Monte Carlo standard error."""
    if n == 0:
        return math.nan, math.nan
    p = hits / n
    return p, math.sqrt(p * (1 - p) / n)
