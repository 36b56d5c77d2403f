"""`python -m calibration`: false-positive rates and power of metricsense's statistical rules.

    python -m calibration --reps 200 --jobs 2            # every family and planted effect
    python -m calibration --reps 50 --families iid ar08  # a slice
    python -m calibration --goal --reps 200              # only the healthy-system goal
    python -m calibration ... --readme calibration/README.md   # keep the table there

Prints (Markdown) the share of healthy draws in which each rule said something, per family,
with its Monte Carlo standard error; the power at each planted effect; and the goal measurement:
the share of healthy draws (10 KPIs, 4 levers, two years of weekly data) with any statistical
warning, over every family (goal: at most 1 in 10).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

from calibration.harness import STATISTICAL, Task, rate, run
from calibration.systems import EFFECT_ABOUT, EFFECT_FAMILY, EFFECT_RULE, EFFECTS, FAMILIES

MARK_START, MARK_END = "<!-- calibration:start -->", "<!-- calibration:end -->"


def cell(hits: int, n: int) -> str:
    p, se = rate(hits, n)
    return f"{100 * p:.1f} ± {100 * se:.1f}"


STATED = 0.05  # every statistical rule's stated size per test


def per_test_rate(got, code: str) -> tuple[float, float]:
    """Mean findings per test over the draws ``got`` and its Monte Carlo standard error."""
    import math

    x = [(o.counts or {}).get(code, 0) / max((o.tests or {}).get(code, 1), 1) for o in got]
    n = len(x)
    if not n:
        return math.nan, math.nan
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1)) if n > 1 else 0.0
    return mean, sd / math.sqrt(n)


def per_test(got, code: str) -> str:
    """Mean findings per test, in percent, ± one Monte Carlo standard error."""
    mean, se = per_test_rate(got, code)
    return f"{100 * mean:.1f} ± {100 * se:.1f}"


def holds(mean: float, se: float, stated: float = STATED) -> bool:
    """A rule holds its stated size on a family when its per-test rate is at most the stated size
    plus two Monte Carlo standard errors (issue 21's criterion)."""
    return mean <= stated + 2 * se


def summary(outcomes, families, effects, reps: int, run: dict) -> dict:
    """Everything the tables show, as data: `msense explain` reads this (metricsense/calibration.json)."""
    by: dict = {}
    for o in outcomes:
        by.setdefault((o.task.family, o.task.effect), []).append(o)
    rules: dict = {}
    for code in STATISTICAL:
        fams = {}
        for fam in families:
            got = by.get((fam, None), [])
            if got:
                mean, se = per_test_rate(got, code)
                fams[fam] = {"per_test": [mean, se], "per_draw": list(rate(sum(code in o.raw for o in got), len(got))),
                             "holds": holds(mean, se)}
        rules[code] = {"families": fams, "holds": all(f["holds"] for f in fams.values()), "power": []}
    for eff in effects:
        got = by.get((EFFECT_FAMILY[eff], eff), [])
        if got:
            code = EFFECT_RULE[eff]
            rules[code]["power"].append({
                "effect": eff, "family": EFFECT_FAMILY[eff], "about": EFFECT_ABOUT[eff],
                "raw": list(rate(sum(o.planted[0] for o in got), len(got))),
                "bh": list(rate(sum(o.planted[1] for o in got), len(got)))})
    healthy = [o for fam in families for o in by.get((fam, None), [])]
    goal = {"draws": len(healthy), "bh": list(rate(sum(bool(o.fdr) for o in healthy), len(healthy))),
            "raw": list(rate(sum(bool(o.raw) for o in healthy), len(healthy)))}
    return {"run": {**run, "reps": reps, "stated_size": STATED}, "rules": rules, "goal": goal}


def with_power(old: dict, new: dict) -> dict:
    """``old`` (a full run's measurements) with the power entries of ``new`` (a run of planted
    effects alone) added to their rules, each carrying the run it came from; an effect measured
    again replaces its entry."""
    rules = old.setdefault("rules", {})
    for code, rule in (new.get("rules") or {}).items():
        for entry in rule.get("power") or []:
            kept = [p for p in rules.setdefault(code, {"families": {}, "power": []}).setdefault("power", [])
                    if p.get("effect") != entry["effect"]]
            rules[code]["power"] = kept + [{**entry, "run": new.get("run", {})}]
    return old


def rounded(x):
    """Floats to 5 significant places, all the way down (the JSON is committed)."""
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return x


def tables(outcomes, families, effects, reps: int) -> str:
    by = {}
    for o in outcomes:
        by.setdefault((o.task.family, o.task.effect), []).append(o)
    crashed = [o for o in outcomes if o.crashed]
    lines = ["### Healthy systems: share of draws (%) in which the rule reported (fdr-q = 1: each rule alone)", ""]
    lines.append("| family | " + " | ".join(STATISTICAL) + " | any | any, BH q=0.05 |")
    lines.append("|---" * (len(STATISTICAL) + 3) + "|")
    goal_hits = goal_raw = goal_n = 0
    for fam in families:
        got = by.get((fam, None), [])
        n = len(got)
        if not n:
            continue
        row = [cell(sum(c in o.raw for o in got), n) for c in STATISTICAL]
        anyraw = sum(bool(o.raw) for o in got)
        anyfdr = sum(bool(o.fdr) for o in got)
        goal_hits, goal_raw, goal_n = goal_hits + anyfdr, goal_raw + anyraw, goal_n + n
        lines.append(f"| {fam} | " + " | ".join(row) + f" | {cell(anyraw, n)} | {cell(anyfdr, n)} |")
    lines += ["", "Cells: percent of draws ± one Monte Carlo standard error. A rule's rate here is per draw "
              "(any of its findings in a 10-KPI system), not per test.", ""]
    lines += ["### Healthy systems: findings per test (%) (fdr-q = 1)", "",
              "Findings of the rule over the tests it can run on the system (`calibration/harness.py` "
              "`tests_of`: 45 KPI pairs for MS101, 17 declared gains for MS205, 4 output-outcome pairs "
              "for MS402, 10 KPIs for MS301, MS303, MS401, MS403, 1 for the others), ± one Monte Carlo "
              "standard error (of the mean over draws). Compare with the rule's stated size (5%): a cell "
              "marked ✗ is above 5% plus two standard errors.", "",
              "| family | " + " | ".join(STATISTICAL) + " |", "|---" * (len(STATISTICAL) + 1) + "|"]
    for fam in families:
        got = by.get((fam, None), [])
        if got:
            lines.append(f"| {fam} | " + " | ".join(
                per_test(got, c) + ("" if holds(*per_test_rate(got, c)) else " ✗") for c in STATISTICAL) + " |")
    lines += ["", "### Each rule against its stated size (5% per test, fdr-q = 1)", "",
              "| rule | highest per-test rate (family) | families above 5% + 2 SE |", "|---|---|---|"]
    for c in STATISTICAL:
        rates = [(per_test_rate(by[(f, None)], c), f) for f in families if by.get((f, None))]
        if not rates:
            continue
        (worst, se), fam = max(rates, key=lambda r: r[0][0])
        over = [f for (m, e), f in rates if not holds(m, e)]
        lines.append(f"| {c} | {100 * worst:.1f} ± {100 * se:.1f} ({fam}) | {', '.join(over) or 'none: holds'} |")
    lines.append("")
    if effects:
        lines += ["### Power at planted effects (% of draws in which the rule meant to find it reported)", "",
                  "Power counts a finding of the effect's rule about the KPI the effect was planted on "
                  "(`calibration/systems.py` EFFECT_KPIS), not one anywhere in the system.", "",
                  "| effect | family | rule | healthy, per test | power, fdr-q = 1 | power, BH q=0.05 |", "|---|---|---|---|---|---|"]
        for eff in effects:
            got = by.get((EFFECT_FAMILY[eff], eff), [])
            base = by.get((EFFECT_FAMILY[eff], None), [])
            code = EFFECT_RULE[eff]
            if not got:
                continue
            healthy = per_test(base, code) if base else "n/a"
            lines.append(f"| {eff} | {EFFECT_FAMILY[eff]} | {code} | {healthy} | "
                         f"{cell(sum(o.planted[0] for o in got), len(got))} | "
                         f"{cell(sum(o.planted[1] for o in got), len(got))} |")
        lines.append("")
    if goal_n:
        p, se = rate(goal_hits, goal_n)
        pr, ser = rate(goal_raw, goal_n)
        verdict = "meet" if p + 2 * se <= 0.10 else ("do not meet" if p - 2 * se > 0.10 else "are within noise of")
        lines += ["### The healthy-system goal", "",
                  f"Share of healthy draws (10 KPIs, 4 levers, {104} weekly periods; {goal_n} draws over "
                  f"{len([f for f in families if by.get((f, None))])} families) with any statistical warning: "
                  f"**{100 * p:.1f}% ± {100 * se:.1f}** with the pipeline's BH control at q = 0.05 "
                  f"({100 * pr:.1f}% ± {100 * ser:.1f} without it). Goal: at most 10%: the rules as they "
                  f"stand {verdict} it.", ""]
    if crashed:
        lines += [f"Draws whose check reported MS005 or a data error: {len(crashed)} "
                  f"(first: {crashed[0].task}: {crashed[0].crashed[:200]})", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m calibration", description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=200, help="draws per family and per planted effect")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--effects", nargs="*", default=list(EFFECTS), choices=EFFECTS)
    ap.add_argument("--goal", action="store_true", help="only the healthy families (no planted effects)")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--select", nargs="*", default=[], metavar="CODE",
                    help="check only these rules (their columns; BH over their tests alone, so not the goal)")
    ap.add_argument("--readme", type=Path, help="write the tables into this Markdown file, between its markers")
    ap.add_argument("--json", type=Path, help="write the measurements as JSON (metricsense/calibration.json is "
                    "what `msense explain` states)")
    ap.add_argument("--add-power", action="store_true",
                    help="with --json and no families: add this run's planted effects to the power of their rules "
                         "in the existing file (effects measured after the full run), keeping everything else")
    args = ap.parse_args(argv)
    if args.add_power and (args.families or not args.json or args.goal):
        ap.error("--add-power adds planted effects to an existing --json file: give --json, --effects and "
                 "--families with no family")
    effects = [] if args.goal else args.effects
    tasks = []
    for fi, fam in enumerate(args.families):
        tasks += [Task(fam, args.seed * 10_000_000 + fi * 100_000 + r, select=tuple(args.select))
                  for r in range(args.reps)]
    for ei, eff in enumerate(effects):
        tasks += [Task(EFFECT_FAMILY[eff], args.seed * 10_000_000 + (50 + ei) * 100_000 + r, eff,
                       select=tuple(args.select)) for r in range(args.reps)]
    started = time.time()
    outcomes = run(tasks, args.jobs)
    took = time.time() - started
    text = tables(outcomes, args.families, effects, args.reps)
    command = "python -m calibration " + " ".join(sys.argv[1:] if argv is None else argv)
    header = (f"Run {dt.date.today().isoformat()}: `{command}` ({args.reps} draws per family and effect, "
              f"{len(tasks)} checks, {took / 60:.0f} min with {args.jobs} jobs, Python {platform.python_version()}).\n\n")
    print(header + text)
    if args.json:
        import json

        run_info = {"date": dt.date.today().isoformat(), "command": command, "minutes": round(took / 60, 1),
                    "jobs": args.jobs, "python": platform.python_version()}
        data = rounded(summary(outcomes, args.families, effects, args.reps, run_info))
        if args.add_power:
            data = with_power(json.loads(args.json.read_text()), data)
        args.json.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if args.readme:
        old = args.readme.read_text() if args.readme.exists() else f"{MARK_START}\n{MARK_END}\n"
        head, _, rest = old.partition(MARK_START)
        _, _, tail = rest.partition(MARK_END)
        args.readme.write_text(f"{head}{MARK_START}\n{header}{text}\n{MARK_END}{tail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
