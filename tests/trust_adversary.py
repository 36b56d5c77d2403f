"""An adversary for the trust tables: generate a survey, publish it every way, try to solve it.

``generate(rng)`` writes a survey (groups of 0 to 20 respondents, several rounds, two segment
columns: ``site`` splits a group, ``region`` holds whole groups; blank cells; sometimes a later
pulse of one small team, and with respondent ids sometimes a department exported beside some of
its groups), a KPI read per site, and a spec reading both. ``publish(case)`` runs every way metricsense can publish them in
this process (a whole run, ``--by`` site, region and group (a column of the survey alone); JSON,
text and Markdown reports; the agenda as JSON).
``audit(case, outputs)`` collects every trust number published anywhere in the JSON (the spec's
record and any segment's), writes each as a linear equation over the unknowns (each finest
cell's respondent count and score sum: round x group x site x region), and checks with NumPy
that no hidden group's count or sum for the latest round lies in the row space of what was
published; then it searches every output for every hidden group's name and manager id.

Used by tests/evaluators/test_trust_adversary.py (a fixed-seed sample) and by
benchmarks/trust_adversary_campaign.py (the long campaign).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROUND_STYLES = ("iso", "year-quarter", "quarter-year", "year-month", "whole")


def round_label(style: str, k: int) -> str:
    """The k-th round (0 = first) in a style whose text order is NOT its time order."""
    year, q = 2023 + (k + 3) // 4, (k + 3) % 4 + 1  # starts at Q4 2023
    return {"iso": f"{year}-{3 * q:02d}-{[31, 30, 30, 31][q - 1]:02d}",
            "year-quarter": f"{year}-Q{q}", "quarter-year": f"Q{q} {year}",
            "year-month": f"{year}-{3 * q}", "whole": str(9 + k)}[style]  # 2024-3 and 2024-12, 9 and 10


@dataclass
class Case:
    folder: Path
    spec: Path
    min_group: int
    rounds: list[str]                      # in time order
    groups: list[tuple[str, str]]          # (group, manager)
    #: (round, group, manager, site, region) -> {respondent key: [scores]} for team answers
    team: dict = field(default_factory=dict)
    has_ids: bool = False
    seed: int = 0
    answered: set = field(default_factory=set)  # rounds with at least one answer (a score)
    #: (department, director) -> the groups it holds: exported as a group of its own whose rows
    #: repeat its groups' team answers (same respondents), so it has no cells of its own
    departments: dict = field(default_factory=dict)
    far: str = ""  # a round label in the survey's style that it does not hold (years later)

    def members(self, key: tuple[str, str]) -> set[tuple[str, str]]:
        """The groups whose cells a published group sums: itself, or a department's groups."""
        return set(self.departments.get(key, [key]))

    @property
    def latest(self) -> str | None:
        """The round the table must be of: the latest with answers (a round nobody answered is not
        in the data) in which some group reaches min_group; with none such, the latest with
        answers (everything in it hidden). A later round of small groups only is never reported:
        it would say which small team answered (attack A12)."""
        answered = [r for r in reversed(self.rounds) if r in self.answered]
        for r in answered:
            counts: dict[tuple[str, str], int] = {}
            for c, people in self.team.items():
                if c[0] == r:
                    counts[(c[1], c[2])] = counts.get((c[1], c[2]), 0) + len(people)
            for dept, groups in self.departments.items():
                counts[dept] = sum(counts.get(g, 0) for g in groups)
            if any(n >= self.min_group for n in counts.values()):
                return r
        return None  # no round reaches min_group: none is reported (attack F7)


def generate(rng: np.random.Generator, folder: Path, seed: int = 0) -> Case:
    """One generated survey and its spec in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    n_groups = int(rng.integers(1, 9))
    n_rounds = int(rng.integers(1, 5))
    style = ROUND_STYLES[int(rng.integers(len(ROUND_STYLES)))]
    rounds = [round_label(style, k) for k in range(n_rounds)]
    declared = bool(rng.integers(2))        # `period "round"` in the data clause, else `period`
    has_ids = bool(rng.integers(2))
    id_column = ("respondent", "respondent_id")[int(rng.integers(2))]
    min_group = int(rng.choice([3, 4, 5, 5, 5, 6]))
    tokens = {f"{int(x):08x}" for x in rng.integers(0, 2**32, size=4 * n_groups)}
    tokens = sorted(tokens)[: 2 * n_groups]
    rng.shuffle(tokens)
    groups = [(f"grp-{tokens[2 * i]}", f"mgr-{tokens[2 * i + 1]}") for i in range(n_groups)]
    regions = [f"region-{c}" for c in "abc"[: int(rng.integers(1, 4))]]
    region_of = {g: regions[int(rng.integers(len(regions)))] for g, _ in groups}
    sites = [f"site-{c}" for c in "pqr"[: int(rng.integers(1, 4))]]
    case = Case(folder, folder / "s.msense", min_group, rounds, groups, has_ids=has_ids, seed=seed,
                far=round_label(style, 40))
    rows = []
    person = 0
    for r in rounds:
        for g, m in groups:
            size = int(rng.integers(0, 21)) if rng.random() < 0.15 else int(rng.integers(1, 21))
            region = region_of[g]
            if rng.random() < 0.9:
                case.answered.add(r)
                rows.append({"role": "manager", "question": "managers", "group": g, "manager_id": m,
                             "score": int(rng.integers(1, 6)), "site": sites[0], "region": region,
                             "round": r, "rid": f"self-{m}"})
            for _ in range(size):
                person += 1
                rid = f"p{person}"
                site = sites[int(rng.integers(len(sites)))]
                if rng.random() < 0.05:
                    site = ""  # a blank segment cell: in no `--by site` segment
                answers = 2 if has_ids and rng.random() < 0.2 else 1
                kept = []
                for _ in range(answers):
                    blank = rng.random() < 0.04
                    score = "" if blank else int(rng.integers(1, 6))
                    rows.append({"role": "team", "question": "team", "group": g, "manager_id": m,
                                 "score": score, "site": site, "region": region, "round": r, "rid": rid})
                    if not blank:
                        kept.append(float(score))
                        case.answered.add(r)
                if kept:
                    key = rid if has_ids else (rid, len(rows))
                    case.team.setdefault((r, g, m, site, region), {})[key] = kept
    order = rng.permutation(len(rows))
    # A department exported beside its own groups (with respondent ids, 40% of those surveys):
    # its rows repeat some groups' team answers, the same people, under its own name and director.
    # Drawn from a generator of its own, so every other draw (and each regression seed) is as before.
    pulses = np.random.default_rng([seed, 11])
    if pulses.random() < 0.3:
        # a later pulse of one small team (fewer than min_group): never the reported round, and
        # `open` on it must read as `open` on no round at all (attack L1)
        pulse = round_label(style, n_rounds)
        g, m = groups[int(pulses.integers(n_groups))]
        case.rounds.append(pulse)
        for _ in range(int(pulses.integers(1, min_group))):
            person += 1
            rid, score = f"p{person}", int(pulses.integers(1, 6))
            rows.append({"role": "team", "question": "team", "group": g, "manager_id": m, "score": score,
                         "site": sites[0], "region": region_of[g], "round": pulse, "rid": rid})
            case.team.setdefault((pulse, g, m, sites[0], region_of[g]), {})[rid if has_ids else (rid, len(rows))] = [
                float(score)]
        case.answered.add(pulse)
        order = np.concatenate([order, np.arange(len(order), len(rows))])
    more = np.random.default_rng([seed, 7])
    if has_ids and n_groups >= 2 and more.random() < 0.4:
        size = int(more.integers(2, n_groups + 1))
        inside = [groups[int(i)] for i in more.choice(n_groups, size=size, replace=False)]
        token = f"{int(more.integers(0, 2**32)):08x}"
        dept = (f"dept-{token}", f"dir-{token}")
        case.departments[dept] = sorted(inside)
        copies = [{**row, "group": dept[0], "manager_id": dept[1]} for row in rows
                  if row["role"] == "team" and (row["group"], row["manager_id"]) in set(inside)]
        copies += [{"role": "manager", "question": "managers", "group": dept[0], "manager_id": dept[1],
                    "score": int(more.integers(1, 6)), "site": sites[0], "region": regions[0], "round": r,
                    "rid": f"self-{dept[1]}"} for r in rounds if r in case.answered]
        rows += copies
        order = np.concatenate([order, len(rows) - len(copies) + more.permutation(len(copies))])
    period_col = "round" if declared else "period"
    header = ["role", "question", "group", "manager_id", "score", "site", "region", period_col]
    if has_ids:
        header.append(id_column)
    with open(folder / "survey.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i in order:
            row = rows[i]
            out = [row["role"], row["question"], row["group"], row["manager_id"], row["score"],
                   row["site"], row["region"], row["round"]]
            if has_ids:
                out.append(row["rid"])
            w.writerow(out)
    # A KPI read per site, with each site's region: the data the segments of `--by` come from.
    with open(folder / "kpis.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["period", "site", "region", "value"])
        for k, site in enumerate(sites):
            for period in range(1, 7):
                w.writerow([period, site, regions[k % len(regions)], int(rng.integers(0, 100))])
    option = ' period "round"' if declared else ""
    case.spec.write_text(f'mission "M"\ndata "kpis.csv" layout long segment "site"\nkpi k "K" {{ kind outcome }}\n'
                         f'trust vq {{\n  scale 1..5\n  data "survey.csv"{option}\n'
                         f'  min_group {min_group}\n  gap > 1.0\n}}\n', "utf-8")
    return case


def publish(case: Case) -> dict[str, str]:
    """Every output metricsense makes of the case, by a name saying how it was made."""
    import metricsense
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    pm, _ = get_plugin_manager()
    registry = build_registry(pm)
    outputs: dict[str, str] = {}
    # NOTE: as a reader who asked for the findings about named managers (--show-personal): the
    # most the tool publishes; without it the groups are not named at all.
    for by in (None, "site", "region", "group"):  # `group`: a column of the survey alone
        report = metricsense.check(case.spec, config={}, by=by, jobs=1, plugin_manager=pm, show_personal=True)
        tag = f"--by {by}" if by else "whole"
        for name in ("json", "text", "markdown"):
            outputs[f"{tag} {name}"] = registry.formats[name][0](report)
        outputs[f"{tag} agenda"] = json.dumps(metricsense.agenda(report).to_dict())
    # `open` as a probe (attack L1): on a later round that holds answers, and on a label the
    # survey does not hold, the spec's table must read the same but for the label echoed
    later = [r for r in case.rounds if r in case.answered and case.latest is not None
             and case.rounds.index(r) > case.rounds.index(case.latest)]
    for label in ([later[-1], case.far] if later else []):
        probe = case.spec.with_name("s-open.msense")
        probe.write_text(case.spec.read_text("utf-8").replace("  gap > 1.0\n", f'  gap > 1.0\n  open "{label}"\n'),
                         "utf-8")
        report = metricsense.check(probe, config={}, jobs=1, plugin_manager=pm, show_personal=True)
        outputs[f"open {'far' if label == case.far else 'later'} json"] = registry.formats["json"][0](report)
    return outputs


def _records(doc, where: dict):
    """Every trust signal record in a JSON document, with the segment it belongs to."""
    if isinstance(doc, dict):
        if "groups" in doc and "total" in doc and "min_group" in doc:
            yield doc, where
            return
        seg = where
        if "segment" in doc and isinstance(doc.get("segment"), str):
            seg = {**where, "segment": doc["segment"]}
        for v in doc.values():
            yield from _records(v, seg)
    elif isinstance(doc, list):
        for v in doc:
            yield from _records(v, where)


@dataclass
class Audit:
    hidden: list[tuple[str, str]]
    solved: list[str]      # "group: n" / "group: sum" determined by what was published
    named: list[str]       # "output: name" of a hidden group's name or manager in an output
    equations: int
    shown: list[tuple[str, str]]
    wrong: list[str] = field(default_factory=list)  # the table is not the latest round's, or miscounts

    @property
    def ok(self) -> bool:
        return not self.solved and not self.named and not self.wrong


def audit(case: Case, outputs: dict[str, str]) -> Audit:
    cells = sorted(case.team)                          # (round, group, manager, site, region)
    index = {c: i for i, c in enumerate(cells)}
    k = len(cells)
    rows: list[np.ndarray] = []

    def row(match, part: int) -> np.ndarray:
        v = np.zeros(2 * k)
        for c, i in index.items():
            if match(c):
                v[part * k + i] = 1.0
        return v

    shown: set[tuple[str, str]] = set()
    wrong: list[str] = []
    for name, text in outputs.items():
        if not name.endswith(" json"):
            continue
        by = name.split()[1] if name.startswith("--by") else None
        for rec, where in _records(json.loads(text), {}):
            period = rec.get("period")
            seg = where.get("segment")
            col = {"site": 3, "region": 4, "group": 1}.get(by) if seg is not None else None

            def inside(c, period=period, seg=seg, col=col):
                return (period is None or c[0] == period) and (col is None or c[col] == seg)

            for g in rec.get("groups", []):
                if g.get("suppressed"):
                    continue
                key = (g["group"], g["manager"])
                holds = case.members(key)
                if seg is None and period == case.latest:
                    shown.add(key)
                    n = sum(len(case.team.get(c, {})) for c in cells if c[0] == period and (c[1], c[2]) in holds)
                    if g.get("n") != n:
                        wrong.append(f"{name}: {key[0]} has n={g.get('n')}, not its {n} respondents")
                match = lambda c, holds=holds, inside=inside: inside(c) and (c[1], c[2]) in holds  # noqa: E731
                if g.get("n") is not None:
                    rows.append(row(match, 0))
                if g.get("team") is not None:
                    rows.append(row(match, 1))
            if seg is None and period != case.latest:
                wrong.append(f"{name}: the table is of round {period!r}, not the latest, {case.latest!r}")
            total = rec.get("total")
            if total:
                if total.get("n") is not None:
                    rows.append(row(inside, 0))
                if total.get("team") is not None:
                    rows.append(row(inside, 1))
    if "open later json" in outputs:
        probes = [[{k: v for k, v in rec.items() if k != "open_round"} for rec, _ in _records(json.loads(outputs[name]), {})]
                  for name in ("open later json", "open far json")]
        if probes[0] != probes[1]:
            wrong.append("`open` on a later round with answers reads differently from `open` on no round: a test "
                         "of which round a small team answered in")
    whole = [rec for rec, where in _records(json.loads(outputs["whole json"]), {}) if "segment" not in where]
    if case.latest is not None and len(whole) != 1:
        wrong.append(f"the whole run has {len(whole)} trust tables, not one")  # an audit of nothing passes nothing
    present = {(c[1], c[2]) for c in cells if c[0] == case.latest}
    present |= {d for d, groups in case.departments.items() if present & set(groups)}
    hidden = sorted(present - shown)
    a = np.array(rows) if rows else np.zeros((0, 2 * k))
    rank = np.linalg.matrix_rank(a) if len(a) else 0
    # what must stay hidden: each hidden group, and (GaussSuppression's singleton problem) the hidden
    # groups of a department together when they hold fewer than min_group respondents
    targets = [(f"{g}", case.members((g, m))) for g, m in hidden]
    for dept, groups in case.departments.items():
        inside = [gm for gm in groups if gm in hidden]
        n = sum(len(case.team.get(c, {})) for c in cells if c[0] == case.latest and (c[1], c[2]) in inside)
        if len(inside) > 1 and 0 < n < case.min_group:
            targets.append((f"{dept[0]}'s hidden groups together", set(inside)))
    solved = []
    for label, holds in targets:
        for part, what in ((0, "n"), (1, "sum")):
            target = row(lambda c, holds=holds: c[0] == case.latest and (c[1], c[2]) in holds, part)
            if not target.any():
                continue
            if np.linalg.matrix_rank(np.vstack([a, target])) == rank:
                solved.append(f"{label}: {what}")
    named = []
    # A hidden group's name or manager must appear nowhere (a group hidden in the latest round
    # and shown in none: every name not shown in the latest round's table).
    for g, m in hidden:
        for name, text in outputs.items():
            for word in (g, m):
                if word in text:
                    named.append(f"{name}: {word}")
    return Audit(hidden, solved, named, len(rows), sorted(shown), wrong)


def run_case(seed: int, folder: Path) -> tuple[Case, Audit]:
    case = generate(np.random.default_rng(seed), folder, seed)
    return case, audit(case, publish(case))
