"""Trust rules (MS5xx): the value question of seed 001, compared, with confidentiality first.

Per manager (a group and its manager), from the latest survey round: the manager's own answer,
the team's mean and favourable share, the gap, and the number of team respondents. A group
with fewer team respondents than ``min_group`` is never shown: not its gap, not its mean, not
its name, not its manager. When exactly one group is suppressed, or the suppressed groups
together hold fewer than ``min_group`` respondents, a shown total minus the shown groups would
give them away (complementary disclosure), so the next-smallest shown group is suppressed too
(secondary suppression) until that is no longer possible. Nothing here logs or prints values.

Rounds and respondents. A survey's round is the column its data clause names
(``data "survey.csv" period "round"``), else ``period``; rounds are never pooled, and the latest
by time (``period_key``: dates, months, quarters in either order, whole numbers) is the one
reported. A respondent is one voice per round: with a ``respondent`` (or ``respondent_id``)
column their answers are averaged and counted once; without one, each answer row is one
respondent.

One table per survey. Statistical disclosure control calls several published views of the same
data *linked tables*: a whole run, a run per store and a run per site are three tables sharing
cells, and a cell hidden in one can be solved from the others (measured here before: the whole
run's total minus a ``--by store`` run's per-store records gave a hidden group's exact size and
mean). sdcTable (``protect_linked_tables``), tau-ARGUS and GaussSuppression protect linked tables
by choosing primary and secondary suppressions over all of them at once ("global protection",
one system of equations for every published cell), because protecting each table alone, or
iterating table by table, leaves a residual risk. metricsense avoids the problem instead of
solving it: whatever the run (whole, ``--by`` any column, any format, the agenda, the explorer),
it publishes exactly one table per survey and round, computed here once on the whole survey:
the shown groups and one marginal, the total. Segments never read a survey (data.dataset), so
no segment has a trust record, a per-segment finding, or an empty list that says where a hidden
group is. With one marginal the only equations an adversary has are the shown cells and
``total = sum of all cells`` (for the respondent count and for the score sum alike). The hidden
cells then enter exactly one equation, their sum; the total is published only when at least two
cells are hidden, and they hold at least ``min_group`` respondents together, so that sum has at
least two unknowns and no hidden cell's count or sum is determined (the system's row space never
holds a single hidden cell: tests/evaluators/test_trust_adversary.py checks it with NumPy on
generated surveys, and benchmarks/trust_adversary_campaign.py on ten thousand). Only hidden
groups with team respondents count: a group nobody on its team answered adds nothing to the
total and protects nobody. The hidden remainder is itself at least ``min_group`` respondents,
so the subtraction the total allows is a pooled group as large as a shown one. The managers'
total averages the shown groups' managers only, so it adds no equation about a hidden one.

NOTE: linear algebra is not all an adversary has: counts are whole numbers with known bounds (a
hidden group is below ``min_group``, a secondary one at most the smallest shown) and answers
lie on the scale. An attack used those to solve a hidden one-person group from a total beside
two hidden groups (a pool of 6 summing to 6 on 1..5: everyone answered 1). So the total is now
published only when no group with team answers is hidden: the one table then has no equation
about a hidden group at all, and secondary suppression only keeps the counts honest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from metricsense.diagnostics import Diagnostic, Severity, rule, rules_of
from metricsense.evaluators.records import ShownGroup, TrustAnalysis, TrustSignalAnalysis, TrustTotal
from metricsense.hookspecs import hookimpl
from metricsense.model import TrustSignal

DEFAULT_MIN_GROUP = 5
FLOOR_MIN_GROUP = 3
DEFAULT_SCALE = (1, 5)
MANAGER_ROLES = {"manager", "managers", "self"}
TEAM_ROLES = {"team", "member", "members", "report", "reports", "direct", "directs"}
#: A survey column naming who answered: a respondent answering twice in a round counts once.
RESPONDENT_COLUMNS = ("respondent", "respondent_id")


def _text(column) -> np.ndarray:
    """A survey column as an array of stripped strings (Labels, objects, numbers alike)."""
    import numpy as np

    return np.array(["" if v is None else str(v).strip() for v in np.asarray(column, dtype=object)], dtype=object)


def settings(signal: TrustSignal) -> dict:
    """The signal's scale, gap threshold and minimum group, with defaults and the safety floor."""
    lo, hi = signal.scale if signal.scale else DEFAULT_SCALE
    gap = signal.gap if signal.gap is not None else (hi - lo) / 3.0
    min_group = signal.min_group if signal.min_group is not None else DEFAULT_MIN_GROUP
    if min_group < FLOOR_MIN_GROUP:
        min_group = DEFAULT_MIN_GROUP  # MS503 reports it; never show groups smaller than the default
    return {"scale": [lo, hi], "gap": float(gap), "min_group": int(min_group)}


def favourable_floor(lo: int, hi: int) -> float:
    """Favourable answers: the top two points of a scale of five points or more, else the top one."""
    return hi - 1 if hi - lo + 1 >= 5 else hi


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_YEAR_QUARTER = re.compile(r"^(\d{4})\s*[-/ ]?\s*Q([1-4])$", re.IGNORECASE)
_QUARTER_YEAR = re.compile(r"^Q([1-4])\s*[-/ ]?\s*(\d{4})$", re.IGNORECASE)


def period_key(label: str) -> tuple:
    """Sort survey rounds by time, not as text, with the period machinery of the data layer
    (``metricsense.data.periods``): dates and timestamps, months (``2025-06``, ``Nov 2024``),
    quarters in either order (``2025-Q1``, ``Q1 2025``), ISO weeks (``2025-W52``) and years, on
    one calendar (a period at its first day), then whole numbers by value. A label that is no
    period (a blank, ``nan``, ``inf``, ``1_0``, free text, ``31/12/2024`` without a format) sorts
    before every round, so it is never taken as the latest; the data layer refuses such labels
    (MS032 naming the row) before they get here."""
    from metricsense.data.periods import round_key

    return round_key(label)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def trust_of(signal: TrustSignal, survey) -> TrustSignalAnalysis:
    """The `trust` analysis of one signal: shown groups, how many are not shown, and a safe total.

    NOTE: this is the one place that decides what may be shown: a hidden group's name, manager
    and numbers never leave this function, so no report, widget or segment has to filter them.
    """
    import numpy as np

    conf = settings(signal)
    lo, hi = conf["scale"]
    cols = survey.columns
    role = np.array([r.lower() for r in _text(cols["role"])], dtype=object)
    group = _text(cols["group"])
    manager = _text(cols["manager_id"])
    question = _text(cols["question"])
    score = np.asarray(cols["score"], dtype=float)
    keep = ~np.isnan(score)
    accepted = {"managers", "team", signal.name, signal.managers or "", signal.team or ""} - {""}
    asked = np.array([q in accepted for q in question], dtype=bool)
    if asked.any():  # a survey holding other questions too: only this signal's two
        keep &= asked
    period = None
    column = getattr(survey, "period", None) or "period"  # the data clause's `period "..."`, or `period`
    if column in cols:
        labels = _text(cols[column])
        present = {p for p, k in zip(labels, keep) if k and p}
        if present:
            period = max(present, key=period_key)  # the latest survey round, by time
            keep &= labels == period
    ids = next((_text(cols[c]) for c in RESPONDENT_COLUMNS if c in cols), None)
    fav = favourable_floor(lo, hi)
    units: dict[tuple[str, str], dict[str, list]] = {}
    for i in np.flatnonzero(keep):
        r = role[i]
        side = "managers" if r in MANAGER_ROLES else "team" if r in TEAM_ROLES else None
        if side is None:
            continue
        unit = units.setdefault((group[i], manager[i]), {"managers": [], "team": {}})
        if side == "managers":
            unit["managers"].append(score[i])
        else:
            # One respondent is one voice: their answers in the round are averaged. Without a
            # respondent id (or with a blank one) each answer row is one respondent.
            who = ids[i] if ids is not None and ids[i] else ("", int(i))
            unit["team"].setdefault(who, []).append(score[i])
    stats = []
    for (g, m), answers in sorted(units.items()):
        own = np.array(answers["managers"], dtype=float)
        team = np.array([np.mean(v) for v in answers["team"].values()], dtype=float)
        own_mean, team_mean = _mean(own), _mean(team)
        gap = own_mean - team_mean if own_mean is not None and team_mean is not None else None
        stats.append({
            "group": g, "manager": m, "managers": own_mean, "team": team_mean, "gap": gap, "n": len(team),
            "managers_favourable": float((own >= fav).mean()) if len(own) else None,
            "team_favourable": float((team >= fav).mean()) if len(team) else None,
            "_own_sum": float(own.sum()), "_own_n": len(own), "_team_sum": float(team.sum()),
        })
    min_group = conf["min_group"]
    hidden = {i for i, s in enumerate(stats) if s["n"] < min_group}
    primary = len(hidden)
    # Secondary suppression: never leave a suppressed remainder that a total would give away.
    # NOTE: only hidden groups with team respondents protect each other: a group nobody on the
    # team answered adds nothing to the total, so beside it one hidden group would be the total
    # minus the shown ones (found by the adversary of tests/trust_adversary.py).
    def exposed(hidden: set[int]) -> bool:
        held = [stats[i]["n"] for i in hidden if stats[i]["n"] > 0]
        return bool(held) and (len(held) == 1 or sum(held) < min_group)

    while exposed(hidden):
        shown = [i for i in range(len(stats)) if i not in hidden]
        if not shown:
            break
        hidden.add(min(shown, key=lambda i: (stats[i]["n"], stats[i]["group"], stats[i]["manager"])))
    # NOTE: the total is published only when no group with team answers is hidden. A total beside
    # hidden groups is one more equation, and with what else is known (a hidden group is below
    # min_group, a secondary one at most the smallest shown, answers lie on the scale) an attack
    # solved a hidden one-person group from it (a pool of 6 summing to 6 on 1..5: all answered 1).
    safe_total = not any(stats[i]["n"] > 0 for i in hidden)
    groups = []
    for i, s in enumerate(stats):
        if i in hidden:
            continue
        both = s["managers_favourable"] is not None and s["team_favourable"] is not None
        groups.append(ShownGroup(
            s["group"], s["manager"], s["managers"], s["team"], s["gap"], s["n"],
            s["managers_favourable"], s["team_favourable"],
            s["managers_favourable"] - s["team_favourable"] if both else None,
            s["gap"] is not None and abs(s["gap"]) > conf["gap"]))
    total = None
    n_all = sum(s["n"] for s in stats)
    if stats and safe_total and n_all >= min_group:
        # NOTE: managers' own ratings are one person's answers: the total averages the shown
        # groups' managers only, so no subtraction can recover a hidden manager's rating.
        shown_stats = [s for i, s in enumerate(stats) if i not in hidden]
        own_n = sum(s["_own_n"] for s in shown_stats)
        own = sum(s["_own_sum"] for s in shown_stats) / own_n if own_n else None
        team = sum(s["_team_sum"] for s in stats) / n_all
        total = TrustTotal(n_all, own, team, own - team if own is not None else None)
    # Suppressed groups are only counted: the report says that some were left out, never which.
    return TrustSignalAnalysis((lo, hi), conf["gap"], min_group, period, tuple(groups), len(hidden),
                               primary, len(hidden) - primary, total)


@hookimpl
def metricsense_register_analyses(register):
    register(TrustAnalysis.name, TrustAnalysis)


@hookimpl
def metricsense_analyze(spec, analysis, surveys):
    # The surveys, read whole for the spec (also in a segmented run); None in one segment's
    # check: a segment never computes or shows trust (one table per survey, see the docstring).
    if not surveys:
        return
    signals = {}
    for t in spec.trusts:
        survey = surveys.get(t.name)
        if survey is not None:
            signals[t.name] = trust_of(t, survey)
    if signals:
        analysis["trust"] = TrustAnalysis(signals)


def _signals(ctx) -> Iterator[tuple[TrustSignal, TrustSignalAnalysis]]:
    found = TrustAnalysis.of(ctx.analysis)
    for t in ctx.spec.trusts:
        if found is not None and t.name in found.signals:
            yield t, found.signals[t.name]


@rule(code="MS501", name="value-gap", severity=Severity.WARNING, personal=True)
def value_gap(ctx) -> Iterator[Diagnostic]:
    """A manager sees the value they bring very differently from how their team sees it.

    ## Why is this bad?
    Seed 001: ask managers "what value are you bringing to each team member?", ask their teams
    "what value did your manager bring?", and compare, to find alignment gaps before they become
    performance problems. A wide gap (by default over a third of the scale, the threshold
    360-degree tools use) says the manager's picture of their own work and the team's experience
    have come apart: a conversation to have now, privately and with curiosity (seed 000:
    double-check, don't inspect). Only groups at or above `min_group` are ever compared.

    ## Example
    ```msense
    trust value_question {
      managers "What value are you bringing to each team member?"
      team     "What value did your manager bring to your team?"
      scale 1..5
      data "survey.csv"
      gap > 1.0            # a manager at 4.9 whose team says 2.9 is 2.0 apart
    }
    ```

    ## What to do instead
    Talk about it: the manager and their own manager go through what the team values and what
    the manager thinks they provide (`msense agenda` lists the gaps as conversations). Then ask
    again next quarter and watch the gap, not the score.
    """
    for t, info in _signals(ctx):
        for g in info.groups:
            if not g.over:
                continue
            yield ctx.report(
                t, f"`{t.name}`: the manager of `{g.group}` rates the value they bring {g.managers:.2f} "
                   f"and their team {g.team:.2f} (n={g.n}): a gap of {abs(g.gap):.2f}, over {info.gap:g}",
                help="have the conversation: what does the team value, and what does the manager think they give?",
                evidence={"group": g.group, "manager": g.manager, "managers": g.managers, "team": g.team,
                          "gap": g.gap, "n": g.n, "threshold": info.gap, "period": info.period},
            )


@rule(code="MS502", name="group-below-minimum", severity=Severity.INFO)
def group_below_minimum(ctx) -> Iterator[Diagnostic]:
    """Some survey groups are too small to stay anonymous, so they are not shown.

    ## Why is this bad?
    Seed 001's value question only works if team members answer honestly, and seed 000 says why
    they will not when answers can be traced back to them: the survey becomes an inspection. A
    group with fewer than `min_group` team respondents (default 5, as engagement-survey products
    do) is never shown: not its gap, its mean, its name or its count. A group that could be
    worked out by subtracting the shown groups from a shown total is suppressed too. This
    finding says how many groups were left out, never which.

    ## Example
    ```msense
    trust value_question {
      scale 1..5
      data "survey.csv"    # one team has 3 respondents
      min_group 5
    }
    ```

    ## What to do instead
    Nothing, if the groups are small by nature: their managers' conversations happen one level
    up, pooled with a neighbouring team. Otherwise merge small teams for the survey, or survey
    less often so more people answer.
    """
    for t, info in _signals(ctx):
        if info.suppressed:
            extra = (f" ({info.secondary} more so that none can be worked out by subtraction)"
                     if info.secondary else "")
            yield ctx.report(
                t, f"`{t.name}`: {info.suppressed} group{'s' if info.suppressed != 1 else ''} not shown: "
                   f"{info.below_minimum} below the minimum of {info.min_group} respondents{extra}",
                help="nothing to fix if teams are small by nature; pool small teams for the survey otherwise",
                evidence={"suppressed": info.suppressed, "min_group": info.min_group},
            )


@rule(code="MS503", name="min-group-too-small", severity=Severity.ERROR, exit_code=2)
def min_group_too_small(ctx) -> Iterator[Diagnostic]:
    """A trust signal's `min_group` is below 3: answers could be traced to a person.

    ## Why is this bad?
    With one or two respondents a group's mean is (nearly) a person's answer, and the value
    question of seed 001 becomes an inspection of that person (seed 000). Survey products never
    allow a minimum under 3. metricsense refuses it: the spec is an error, and until it is fixed
    the default of 5 is used.

    ## Example
    ```msense
    trust value_question {
      scale 1..5
      min_group 1
    }
    ```

    ## What to do instead
    ```msense
    trust value_question {
      scale 1..5
      min_group 5
    }
    ```
    """
    for t in ctx.spec.trusts:
        if t.min_group is not None and t.min_group < FLOOR_MIN_GROUP:
            yield ctx.report(
                t, f"`{t.name}` sets `min_group {t.min_group}`: below {FLOOR_MIN_GROUP}, answers can be traced to a person",
                help=f"use `min_group {DEFAULT_MIN_GROUP}` (the default) or at least {FLOOR_MIN_GROUP}; "
                     f"until then {DEFAULT_MIN_GROUP} is used",
            )




@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
