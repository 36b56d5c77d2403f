"""Trust rules (MS5xx): the value question of seed 001, compared, with confidentiality first.

Per manager (a group and its manager), from the latest survey round: the manager's own answer,
the team's mean and favourable share, the gap, and the number of team respondents. A group
with fewer team respondents than ``min_group`` is never shown: not its gap, not its mean, not
its name, not its manager, and no total is published beside it (a shown total minus the shown
groups would give it away: complementary disclosure). With no total beside a hidden group,
secondary suppression (hiding a shown group too) would protect nobody among groups that share
no respondent, and its count leaked the hidden groups' sizes, so there is none for them (groups
sharing respondents are below). Nothing here logs or prints values.

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
group is, and no series may read a survey file (MS037).

The total is published only when no group with team answers is hidden, so the one table has no
equation about a hidden group at all. (Before, the total was published beside two or more
hidden groups holding ``min_group`` together, with secondary suppression to make sure; linear
algebra said no hidden cell was determined, but counts are whole numbers with known bounds and
answers lie on the scale, and an attack used those to solve a hidden one-person group: a pool
of 6 summing to 6 on 1..5, everyone answered 1. With no total beside a hidden group, secondary
suppression protects nobody, and its count said whether the hidden groups together reach
``min_group``; it is gone.) tests/evaluators/test_trust_adversary.py and
benchmarks/trust_adversary_campaign.py collect every published number across runs and formats
and check that none determines a hidden group. The managers' total averages the shown groups'
managers only.

Groups that share respondents (with respondent ids: a department exported beside its own teams,
one person in two teams) are linked cells inside the one table: the department minus a shown
team is the other teams' sum. For them, and only them, a shown group that would let fewer than
``min_group`` respondents be worked out is left out too: secondary suppression by GaussSuppression's
method (``secondary_suppression``), counted in ``secondary``. Without respondent ids each answer row
is one respondent and groups never share any, so an export that repeats the same answers under a
department and its teams cannot be told from two sets of people: give the ids.

Across runs on changing data the same holds only for a closed round: two runs on a round still
collecting answers, one respondent apart, differ by that person's answers. See ``open`` in the
trust clause (MS505) and docs/robustness.md.
"""

from __future__ import annotations

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


def settings(signal: TrustSignal) -> dict:
    """The signal's scale, gap threshold and minimum group, with defaults and the safety floor."""
    lo, hi = signal.scale if signal.scale else DEFAULT_SCALE
    gap = signal.gap if signal.gap is not None else (hi - lo) / 3.0
    min_group = signal.min_group if signal.min_group is not None else DEFAULT_MIN_GROUP
    if min_group < FLOOR_MIN_GROUP:
        min_group = DEFAULT_MIN_GROUP  # MS503 reports it; never show groups smaller than the default
    # NOTE: data.survey.min_group_of is the same rule (the scale check reads only groups this large)
    return {"scale": [lo, hi], "gap": float(gap), "min_group": int(min_group)}


def favourable_floor(lo: int, hi: int) -> float:
    """Favourable answers: the top two points of a scale of five points or more, else the top one."""
    return hi - 1 if hi - lo + 1 >= 5 else hi


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


def same_round(a: str, b: str) -> bool:
    """``metricsense.data.periods.same_round`` (the data layer's, which the survey's checks use)."""
    from metricsense.data.periods import same_round as same

    return same(a, b)


def overlaps(a: str, b: str) -> bool:
    """``metricsense.data.periods.overlaps``: `open` excludes every round its label overlaps, here
    and in the survey's checks (NOTE: imported when called: the CLI's start-up stays free of NumPy)."""
    from metricsense.data.periods import overlaps as share

    return share(a, b)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def valid_scale(signal: TrustSignal) -> bool:
    """A scale runs from its lowest point up to a higher one (`scale 5..1` is MS504)."""
    return signal.scale is None or signal.scale[0] < signal.scale[1]


def _round_stats(role, group, manager, score, ids, rows, fav) -> list[dict]:
    """Per (group, manager) in one round: the manager's and the team's means, favourable shares, n."""
    import numpy as np

    units: dict[tuple[str, str], dict[str, list]] = {}
    for i in np.flatnonzero(rows):
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
            "_who": frozenset(answers["team"]),
        })
    return stats


#: Groups linked by shared respondents beyond this many are kept laminar (``_laminar``): the
#: rank test of ``_gauss`` grows as a power of the groups (benchmarks/bench_trust.py: seconds at 200).
GAUSS_LIMIT = 40


def secondary_suppression(stats: list[dict], hidden: set[int], min_group: int) -> set[int]:
    """The groups to leave out beside the hidden ones so that no set of fewer than ``min_group``
    respondents can be worked out from the shown groups: secondary suppression.

    Groups share respondents only with respondent ids (a department and its teams exported as
    groups of their own, or one person in two teams); otherwise each answer row is one respondent
    and groups are disjoint, so nothing is added. The method is GaussSuppression's (Langsrud 2024;
    R packages SSBtools and GaussSuppression of Statistics Norway, the default method of
    easySdcTable, their interface to sdcTable, whose own SIMPLEHEURISTIC solves the same problem
    by a search for covering cells): the candidates, largest group first (its default order is
    by count, so the small are the ones lost), are taken one by one, and a candidate is left out
    when with it the shown groups would determine something that must stay hidden. Here that is any sum over respondents who together are fewer than
    ``min_group``: respondents are merged into classes that the shown groups cannot tell apart
    (the same groups hold them), and a candidate is left out when the span of the shown groups'
    rows would hold a nonzero vector over the classes smaller than ``min_group`` alone (``_gauss``).
    The merge covers GaussSuppression's singleton problem: two hidden one-person teams inside a
    department form one class of 2, so `department - other team` is refused although it names
    neither alone. Groups linked through more than ``GAUSS_LIMIT`` others are kept laminar
    instead (any two shown ones disjoint or nested, ``_laminar``), where the same test is exact
    and linear.

    Runs at every minimum from the floor (3) up to ``min_group``, each choosing among the groups
    the one below kept: so a higher minimum shows a subset of what a lower one shows, and two runs
    of the spec with different minimums (the author may set any down to the floor) together show
    no more than the lower one alone. Chosen at each minimum on its own, the two sets of shown
    groups could differ both ways, and their union determine what neither does.
    """
    candidates = {i for i in range(len(stats)) if i not in hidden}
    kept = set(range(len(stats)))  # from the floor, groups hidden at min_group are candidates too
    for level in range(min(FLOOR_MIN_GROUP, min_group), min_group + 1):
        kept = {i for i in kept if stats[i]["n"] >= level}
        kept -= _secondary_at(stats, set(range(len(stats))) - kept, level)
    return candidates - kept


def _secondary_at(stats: list[dict], hidden: set[int], min_group: int) -> set[int]:
    """``secondary_suppression`` at one minimum, among the groups not in ``hidden``."""
    member: dict = {}
    for i, st in enumerate(stats):
        for who in st["_who"]:
            member.setdefault(who, []).append(i)
    if all(len(units) == 1 for units in member.values()):
        return set()
    # groups linked by shared respondents: only these can be subtracted from one another
    parent = list(range(len(stats)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for units in member.values():
        for j in units[1:]:
            parent[root(j)] = root(units[0])
    linked: dict[int, list[int]] = {}
    for i in sorted(set(range(len(stats))) - hidden,
                    key=lambda i: (-stats[i]["n"], stats[i]["group"], stats[i]["manager"])):
        linked.setdefault(root(i), []).append(i)
    # respondents of the groups not shown: a shown group minus another that leaves only them is
    # an equation about hidden groups (the total beside a hidden group, inside a department), and
    # with the answers' bounds it solved them (a pool of 5 summing to 5 on 1..5: all answered 1)
    covered = frozenset(who for i in hidden for who in stats[i]["_who"])
    left_out: set[int] = set()
    for candidates in linked.values():
        if len(candidates) > 1:
            method = _gauss if len(candidates) <= GAUSS_LIMIT else _laminar
            left_out |= method(candidates, stats, min_group, covered)
    return left_out


def _gauss(candidates: list[int], stats: list[dict], min_group: int, covered: frozenset = frozenset()) -> set[int]:
    """GaussSuppression over respondent classes (see ``secondary_suppression``)."""
    import numpy as np

    left_out: set[int] = set()
    kept: list[int] = []
    for i in candidates:
        rows = kept + [i]
        holders: dict = {}
        for r in rows:
            for who in stats[r]["_who"]:
                holders.setdefault(who, []).append(r)
        classes: dict[tuple, int] = {}
        exposed: dict[tuple, bool] = {}  # a class holding someone in no hidden group
        for who, units in holders.items():
            classes[tuple(units)] = classes.get(tuple(units), 0) + 1
            exposed[tuple(units)] = exposed.get(tuple(units), False) or who not in covered
        keys = list(classes)
        large = np.array([classes[key] >= min_group and exposed[key] for key in keys])
        if not large.all():
            matrix = np.array([[1.0 if r in key else 0.0 for key in keys] for r in rows])
            # a vector of the rows' span over the small classes alone: the rank over every class
            # is above the rank over the large ones
            if np.linalg.matrix_rank(matrix) > (np.linalg.matrix_rank(matrix[:, large]) if large.any() else 0):
                left_out.add(i)
                continue
        kept.append(i)  # (one group alone is a class of its own n >= min_group)
    return left_out


def _laminar(candidates: list[int], stats: list[dict], min_group: int, covered: frozenset = frozenset()) -> set[int]:
    """Secondary suppression keeping the shown groups laminar: a candidate that crosses a shown
    group (shares some respondents, holds others) is left out. In a laminar family each shown
    group's residual (its respondents in no smaller shown group) is one class, and the span of
    the groups is the span of their disjoint residuals, so the test of ``_gauss`` is exact here:
    no residual of 1 to ``min_group - 1`` respondents. Largest first, a candidate has no shown
    group inside it, and lies in the residual of the smallest shown group holding it."""
    left_out: set[int] = set()
    residual: dict[int, set] = {}
    holders: dict = {}
    for i in candidates:
        team = stats[i]["_who"]
        touching = {k for who in team for k in holders.get(who, ())}
        if any(not team <= stats[k]["_who"] for k in touching):
            left_out.add(i)  # crosses a shown group
            continue
        if touching:
            holder = min(touching, key=lambda k: len(stats[k]["_who"]))
            rest = residual[holder] - team
            if 0 < len(rest) < min_group or (rest and rest <= covered):
                left_out.add(i)
                continue
            residual[holder] = rest
        residual[i] = set(team)
        for who in team:
            holders.setdefault(who, []).append(i)
    return left_out


def trust_of(signal: TrustSignal, survey) -> TrustSignalAnalysis:
    """The `trust` analysis of one signal: shown groups, how many are not shown, and a safe total.

    NOTE: this is the one place that decides what may be shown: a hidden group's name, manager
    and numbers never leave this function, so no report, widget or segment has to filter them.
    """
    import numpy as np

    from metricsense.data.survey import RESPONDENT_COLUMNS, asked, text as _text
    from metricsense.data.table import Table

    conf = settings(signal)
    lo, hi = conf["scale"]
    min_group = conf["min_group"]
    cols = survey.columns
    role = np.array([r.lower() for r in _text(cols["role"])], dtype=object)
    group = _text(cols["group"])
    manager = _text(cols["manager_id"])
    score = np.asarray(cols["score"], dtype=float)
    # The rows of this signal's questions (data.survey.asked: a survey whose questions do not
    # match is MS037 when read, and never pooled here).
    keep = ~np.isnan(score) & asked(signal, Table(dict(cols), getattr(survey, "origin", "<survey>")))
    ids = next((_text(cols[c]) for c in RESPONDENT_COLUMNS if c in cols), None)
    fav = favourable_floor(lo, hi)
    column = getattr(survey, "period", None) or "period"  # the data clause's `period "..."`, or `period`
    rounds: list[tuple[str | None, np.ndarray]] = [(None, keep)]
    still_open = signal.open_round.strip() if signal.open_round is not None else None
    answered: list[str] = []  # every round with answers, `open` or not, latest first
    if column in cols:
        labels = _text(cols[column])
        present = {p for p, k in zip(labels, keep) if k and p}
        answered = sorted(present, key=period_key, reverse=True)
        if signal.open_round is not None:
            # NOTE: a round still collecting answers is never reported: two runs on it one late
            # respondent apart differ by that person's answers (a total, or a shown group's mean).
            # It matches as a period (`Q2 2025` is `2025-Q2`; `2025-05` lies in it), and it is echoed whether or not
            # the survey holds it, so `open` is no test of which labels exist.
            closed = {p for p in present if not overlaps(p, still_open)}
            keep = keep & np.array([p in closed for p in labels], dtype=bool)
            present = closed
            # NOTE: every round open: nothing is read (before, the whole survey was pooled and shown)
            rounds = [(None, keep)]
        if present:
            rounds = [(p, keep & (labels == p)) for p in sorted(present, key=period_key, reverse=True)]
    elif still_open is not None:
        # NOTE: no round column, and a round is open: any answer may be the open round's, so none
        # is read (pooled and shown, two runs one late respondent apart differed by that answer)
        rounds = [(None, np.zeros_like(keep))]
    # The latest round by time in which some group reaches min_group. NOTE: a later round with
    # only small groups in it (one team's pulse) is not reported: reporting it would say which
    # round one small team answered in, and that it holds 1..min_group-1 answers (an attack
    # found it); it is counted in `unreported_rounds`, never named.
    # A round in which no group reaches min_group is never the reported one, even with no other:
    # its label would say that a small team answered then (and `open` on the others could make
    # it the last one left); then no round is reported and nothing is shown.
    chosen = None
    for k, (_label, rows) in enumerate(rounds):
        if any(st["n"] >= min_group for st in _round_stats(role, group, manager, score, ids, rows, fav)):
            chosen = k
            break
    if chosen is None and rounds[0][0] is None:
        chosen = 0  # no round column: the one round, every group hidden (and counted)
    # NOTE: the later rounds are counted among every round with answers, `open` or not: counted
    # among the closed ones, `open "2025-Q3"` took one off the count exactly when the survey held
    # answers in 2025-Q3, and spans (`open "2025"`, months, weeks) found which round a small team
    # answered in (an attack). `open` can only move the reported round, whose label is published.
    if chosen is None:
        period, stats = None, []
    else:
        period, rows = rounds[chosen]
        stats = _round_stats(role, group, manager, score, ids, rows, fav)
    unreported = (len(answered) if period is None else
                  sum(1 for p in answered if period_key(p) > period_key(period)))
    # NOTE: a group whose team gave no answer has nothing to compare and is not counted: "1 group
    # not shown" beside a published total said that its team had not answered.
    stats = [st for st in stats if st["n"] > 0]
    # NOTE: a group below min_group is not shown, and among groups that share no respondent
    # nothing else is suppressed. The one table per survey has no total beside a hidden group (see
    # below), so no equation holds a hidden group and a secondary suppression would protect nobody,
    # while its count said whether the hidden groups together reach min_group (it pinned one at n=4).
    below = {i for i, st in enumerate(stats) if st["n"] < min_group}
    # NOTE: groups that share respondents (a department and its teams, with respondent ids) can be
    # subtracted: the department minus a shown team was a hidden team's exact sum (an attack). A
    # shown group that would let that happen is left out too (secondary suppression).
    secondary = secondary_suppression(stats, below, min_group)
    hidden = below | secondary
    # NOTE: the total is published only when no group with team answers is hidden. A total beside
    # hidden groups is one more equation, and with what else is known (a hidden group is below
    # min_group, answers lie on the scale) an attack solved a hidden one-person group from it (a
    # pool of 6 summing to 6 on 1..5: all answered 1).
    safe_total = not any(stats[i]["n"] > 0 for i in hidden)
    groups = []
    for i, st in enumerate(stats):
        if i in hidden:
            continue
        both = st["managers_favourable"] is not None and st["team_favourable"] is not None
        groups.append(ShownGroup(
            st["group"], st["manager"], st["managers"], st["team"], st["gap"], st["n"],
            st["managers_favourable"], st["team_favourable"],
            st["managers_favourable"] - st["team_favourable"] if both else None,
            st["gap"] is not None and abs(st["gap"]) > conf["gap"]))
    total = None
    n_all = sum(st["n"] for st in stats)
    if stats and safe_total and n_all >= min_group:
        # NOTE: managers' own ratings are one person's answers: the total averages the shown
        # groups' managers only, so no subtraction can recover a hidden manager's rating.
        shown_stats = [st for i, st in enumerate(stats) if i not in hidden]
        own_n = sum(st["_own_n"] for st in shown_stats)
        own = sum(st["_own_sum"] for st in shown_stats) / own_n if own_n else None
        team = sum(st["_team_sum"] for st in stats) / n_all
        total = TrustTotal(n_all, own, team, own - team if own is not None else None)
    # Suppressed groups are only counted: the report says that some were left out, never which.
    return TrustSignalAnalysis((lo, hi), conf["gap"], min_group, period, tuple(groups), len(hidden),
                               len(below), len(secondary), total, unreported_rounds=unreported,
                               open_round=still_open)


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
        if survey is not None and valid_scale(t):  # a reversed scale is MS504: nothing is shown
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
    do) is never shown: not its gap, its mean, its name or its count, and no total is shown
    beside it (a total minus the shown groups would give it away). A later round in which no
    group reaches `min_group` is not reported either (it would say which small team answered).
    This finding says how many groups, and how many later rounds, were left out, never which.

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
        still = f"; round `{info.open_round}` is open: reported once it closes" if info.open_round else ""
        why = "open, or no group in {} reached the minimum" if info.open_round else "no group in {} reached the minimum"
        later = (f"; {info.unreported_rounds}{' later' if info.period else ''} round"
                 f"{'s' if info.unreported_rounds != 1 else ''} not reported: "
                 + why.format('them' if info.unreported_rounds != 1 else 'it')
                 if info.unreported_rounds else "")
        later += still
        if info.suppressed or later:
            beside = (f" ({info.below_minimum}), or sharing respondents with a shown group so that fewer could be "
                      f"worked out ({info.secondary})" if info.secondary else "")
            count = (f"{info.suppressed} group{'s' if info.suppressed != 1 else ''} not shown: below the minimum of "
                     f"{info.min_group} respondents{beside}" if info.suppressed
                     else "every group shown" if info.groups else "no group shown")
            yield ctx.report(
                t, f"`{t.name}`: {count}{later}",
                help="nothing to fix if teams are small by nature; pool small teams for the survey otherwise",
                evidence={"suppressed": info.suppressed, "min_group": info.min_group,
                          "unreported_rounds": info.unreported_rounds},
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




@rule(code="MS504", name="invalid-scale", severity=Severity.ERROR, exit_code=2)
def invalid_scale(ctx) -> Iterator[Diagnostic]:
    """A trust signal's scale does not run from a lower point to a higher one (`scale 5..1`).

    ## Why is this bad?
    The gap threshold (a third of the scale), the favourable answers (the top two points) and
    the check that every score lies on the scale all read the scale from low to high. Read the
    other way, every group's gap crosses a negative threshold and the value question of seed
    001 turns into an accusation of every manager. metricsense refuses the scale and shows no
    group of the signal until it is fixed.

    ## Example
    ```msense
    trust value_question {
      scale 5..1           # 5 is "no value", 1 is "a lot"
    }
    ```

    ## What to do instead
    Write the scale from its lowest point to its highest (`scale 1..5`); if the survey's 1 is its
    best answer, recode the scores in the export (6 - score) so that higher means more value.
    """
    for t in ctx.spec.trusts:
        if not valid_scale(t):
            lo, hi = t.scale
            yield ctx.report(
                t, f"`{t.name}` sets `scale {lo}..{hi}`: a scale runs from its lowest point to a higher one",
                help=f"write `scale {min(lo, hi)}..{max(lo, hi)}`" if lo != hi else "a scale needs at least two points",
            )


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
