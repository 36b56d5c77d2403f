"""Structural rules (MS0xx): what the spec says, before any data is read."""

from __future__ import annotations

from collections.abc import Iterator

from metricsense.diagnostics import Diagnostic, Option, Severity, rule, rules_of
from metricsense.evaluators.common import meant_levers, spec_anchor
from metricsense.evaluators.records import StructureAnalysis
from metricsense.hookspecs import hookimpl
from metricsense.model import (
    FUNCTIONS,
    KPI,
    LEVELS,
    Call,
    Disturbance,
    Document,
    Failure,
    Lever,
    Ref,
    TargetRef,
    walk_expr,
)
from metricsense.names import Suggester, first, listed

_KIND_WORD = {Lever: "a lever", Disturbance: "a disturbance", Failure: "a failure", KPI: "a KPI"}


def _kind(node) -> str:
    return _KIND_WORD.get(type(node), "a " + type(node).__name__.lower())


def names(items) -> str:
    """`a`, `b` and `c`; past a handful, "and N more" (the full list goes in the evidence)."""
    return listed(items)


# ---- structural analysis: computed once, shown in the JSON, read by the rules ----------------


def max_matching(kpis: list[str], edges: dict[str, list[str]]) -> dict[str, str]:
    """A maximum matching KPI -> lever of the bipartite `responds` graph (augmenting paths)."""
    lever_of: dict[str, str] = {}  # lever -> KPI
    levers = {lever for k in kpis for lever in edges.get(k, ())}
    for k in kpis:
        if len(lever_of) == len(levers):
            break  # NOTE: every lever matched: no augmenting path is left (10,000 KPIs on 1,000 levers walked 0.6 s)
        seen: set[str] = set()

        def augment(kpi: str) -> bool:
            for lever in edges.get(kpi, ()):
                if lever in seen:
                    continue
                seen.add(lever)
                if lever not in lever_of or augment(lever_of[lever]):
                    lever_of[lever] = kpi
                    return True
            return False

        augment(k)
    return {kpi: lever for lever, kpi in lever_of.items()}


def overdetermined(kpis: list[str], edges: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """The KPIs (and their levers) that compete for too few levers.

    This is the over-determined part of the Dulmage-Mendelsohn decomposition: every KPI that
    some maximum matching leaves unmatched, found by alternating paths from the unmatched KPIs.
    It does not depend on which maximum matching was found, so the names are not arbitrary.
    """
    matched = max_matching(kpis, edges)
    kpi_of = {lever: kpi for kpi, lever in matched.items()}
    frontier = [k for k in kpis if k not in matched]
    seen_k, seen_l = set(frontier), set()
    while frontier:
        k = frontier.pop()
        for lever in edges.get(k, ()):
            if lever in seen_l:
                continue
            seen_l.add(lever)
            nxt = kpi_of.get(lever)
            if nxt is not None and nxt not in seen_k:
                seen_k.add(nxt)
                frontier.append(nxt)
    return [k for k in kpis if k in seen_k], sorted(seen_l)


def structure_of(spec: Document) -> StructureAnalysis:
    levers = {lv.name for lv in spec.levers}
    kpis = [k.name for k in spec.kpis]
    edges = {k.name: [g.name for g in k.responds if g.name in levers] for k in spec.kpis}
    matched = max_matching(kpis, edges)
    return StructureAnalysis(
        kpis=len(kpis),
        levers=len(levers),
        disturbances=len(spec.disturbances),
        failures={level: sum(f.level == level for f in spec.failures) for level in LEVELS},
        kpis_by_kind={level: sum(k.kind == level for k in spec.kpis) for level in LEVELS},
        declared_gains=sum(len(e) for e in edges.values()),
        structural_rank=len(matched),
        triggers=len(spec.triggers),
        trust_signals=len(spec.trusts),
    )


@hookimpl
def metricsense_register_analyses(register):
    register(StructureAnalysis.name, StructureAnalysis)


@hookimpl
def metricsense_analyze(spec, analysis):
    analysis[StructureAnalysis.name] = structure_of(spec)


# ---- names ----------------------------------------------------------------------------------


@rule(code="MS002", name="undefined-name", severity=Severity.ERROR, exit_code=2)
def undefined_name(ctx) -> Iterator[Diagnostic]:
    """A name is used that the spec does not declare, or declares as something else.

    ## Why is this bad?
    `guards`, `responds`, `disturbed` and trigger conditions tie the KPI system together: which
    failure a KPI watches, which lever moves it, which series a conversation starts from. A
    misspelt or missing name silently cuts that tie, and every rule built on it (levers versus
    KPIs, coverage of key failures) then judges a different system from the one intended. Seed
    002's heuristics (no more KPIs than inputs, decouple the input-output structure) can only be
    checked on a structure whose every link resolves.

    ## Example
    ```msense
    lever deploys "Deploys per week"
    kpi csat "Customer satisfaction" {
      responds deploy +0.2       # no lever `deploy`
      guards deploys              # `deploys` is a lever, not a failure
    }
    ```

    ## What to do instead
    Declare every name once (`lever`, `disturbance`, `failure`, `kpi`) and use it with the
    kind each clause expects: `guards` names failures, `responds` levers, `disturbed`
    disturbances, and trigger conditions KPIs, levers or disturbances.
    """
    spec = ctx.spec
    suggesters: dict[tuple[type, ...], Suggester] = {}  # one per kind of name expected

    def check(ref_name: str, span, expected: tuple[type, ...], what: str):
        found = spec.lookup(ref_name)
        if found is None:
            suggest = suggesters.get(expected)
            if suggest is None:
                suggest = suggesters[expected] = Suggester([s.name for s in spec.named() if isinstance(s, expected)])
            close = suggest(ref_name)
            return ctx.report(span, f"`{ref_name}` is not declared; {what} expected here",
                              help=f"did you mean `{close}`?" if close else None)
        if not isinstance(found, expected):
            return ctx.report(span, f"`{ref_name}` is {_kind(found)}, but {what} is expected here",
                              related=[(found, f"`{ref_name}` is declared here")])
        return None

    for kpi in spec.kpis:
        for ref in kpi.guards:
            d = check(ref.name, ref.span, (Failure,), "a failure")
            if d:
                yield d
        for gain in kpi.responds:
            d = check(gain.name, gain.span, (Lever,), "a lever")
            if d:
                yield d
        for gain in kpi.disturbed:
            d = check(gain.name, gain.span, (Disturbance,), "a disturbance")
            if d:
                yield d
    for dist in spec.disturbances:  # `best staff +0.5`: the levers whose best setting follows it
        for move in dist.best:
            d = check(move.name, move.span, (Lever,), "a lever")
            if d:
                yield d
    for trig in spec.triggers:
        for node in walk_expr(trig.condition):
            if isinstance(node, Ref):
                d = check(node.name, node.span, (KPI, Lever, Disturbance), "a KPI, lever or disturbance")
                if d:
                    yield d
            elif isinstance(node, TargetRef) and node.of is not None:
                found = spec.lookup(node.of.name)
                if isinstance(found, KPI) and found.target is None:
                    yield ctx.report(node, f"`target({node.of.name})`: the KPI `{node.of.name}` has no target",
                                     related=[(found, "declared here")])
            elif isinstance(node, Call):
                if node.func not in FUNCTIONS:
                    known = ", ".join(sorted(FUNCTIONS)) + " and abs"
                    yield ctx.report(node, f"`{node.func}` is not a function a trigger can use",
                                     help=f"the functions are {known}")
                elif len(node.args) != FUNCTIONS[node.func]:
                    yield ctx.report(node, f"`{node.func}` takes {FUNCTIONS[node.func]} arguments, "
                                           f"not {len(node.args)}")


@rule(code="MS003", name="duplicate-name", severity=Severity.ERROR, exit_code=2)
def duplicate_name(ctx) -> Iterator[Diagnostic]:
    """A name is declared twice, or the spec has more than one mission.

    ## Why is this bad?
    Every reference to the name becomes ambiguous: which `csat` does a trigger read, which
    `deploys` does a KPI respond to? Levers, disturbances, failures, KPIs, triggers and trust
    signals share one namespace, across included files too. A KPI system has one mission
    (seed 004, practice #1: articulate *the* mission); two missions mean two systems.

    ## Example
    ```msense
    lever deploys "Deploys per week"
    kpi deploys "Deploy frequency" { }
    ```

    ## What to do instead
    Give each concept its own name (`deploys` for the lever, `deploy_rate` for the KPI), and
    split unrelated systems into separate specs.
    """
    first: dict[str, object] = {}
    for node in ctx.spec.named():
        earlier = first.get(node.name)
        if earlier is None:
            first[node.name] = node
            continue
        yield ctx.report(node, f"`{node.name}` is already declared as {_kind(earlier)}",
                         related=[(earlier, "first declared here")], help="rename one of them")
    missions = ctx.spec.missions
    for extra in missions[1:]:
        yield ctx.report(extra, "a second `mission`: a spec has one mission",
                         related=[(missions[0], "the first mission")],
                         help="merge the two, or split the spec into two KPI systems")


@rule(code="MS009", name="duplicate-clause", severity=Severity.ERROR, exit_code=2)
def duplicate_clause(ctx) -> Iterator[Diagnostic]:
    """A KPI, lever or disturbance gives the same clause twice; only the last one would count.

    ## Why is this bad?
    Two `target` lines (or two `data`, `link`, ...) in one KPI leave readers unsure which one
    the team is held to. Behn's specific target (seed 004, practice #3) is one target: the
    spec should say one thing once.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {
      target >= 4.5 by 2027-06-30
      target >= 4.8 by 2027-12-31
    }
    ```

    ## What to do instead
    Keep one clause; put a later, more ambitious target in the next revision of the spec.
    """
    for kind, nodes in (("lever", ctx.spec.levers), ("disturbance", ctx.spec.disturbances), ("KPI", ctx.spec.kpis)):
        for node in nodes:
            for clause, span in node.repeated:
                yield ctx.report(span, f"`{clause}` is given more than once in {kind} `{node.name}`",
                                 related=[(node, f"in this {kind}")], help="keep one")


# ---- Behn's practices -------------------------------------------------------------------------


@rule(code="MS010", name="missing-mission", severity=Severity.WARNING)
def missing_mission(ctx) -> Iterator[Diagnostic]:
    """The spec declares no mission.

    ## Why is this bad?
    Behn's first practice (seed 004) is to articulate the mission so everyone understands the
    big picture; seed 002 warns that without a shared, compelling vision nobody knows what
    matters and what is noise. Every KPI's `link` is a sentence about the mission: without one,
    the KPIs are numbers for their own sake.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" { target >= 4.5 by 2027-06-30 }
    ```

    ## What to do instead
    ```msense
    mission "Enable the organization to provide services our customers love" {
      why "Customers who love our services stay, and tell others."
    }
    ```
    """
    if ctx.spec.mission is None:
        yield ctx.report(spec_anchor(ctx.spec), "the spec declares no mission",
                         help='start with `mission "..." { why "..." }`: what the KPIs are for')


@rule(code="MS011", name="kpi-without-link", severity=Severity.WARNING)
def kpi_without_link(ctx) -> Iterator[Diagnostic]:
    """A KPI does not say how it connects to the mission.

    ## Why is this bad?
    Behn's fourth practice (seed 004) is to clarify the theory linking the target to the
    mission; seed 002's first heuristic asks for KPIs tightly coupled to the objective. A KPI
    with no stated link is the one that drifts into a target for its own sake, and the one
    people game, because nobody can say what the number is for.

    ## Example
    ```msense
    kpi tickets_closed "Tickets closed" { target >= 400 by 2027-03-31 }
    ```

    ## What to do instead
    ```msense
    kpi tickets_closed "Tickets closed" {
      target >= 400 by 2027-03-31
      link "Closed tickets are customers whose problem we solved"
    }
    ```
    """
    for kpi in ctx.spec.kpis:
        if not (kpi.link and kpi.link.strip()):
            yield ctx.report(kpi, f"KPI `{kpi.name}` has no `link` to the mission",
                             help='add `link "..."`: one sentence on how this number serves the mission')


@rule(code="MS012", name="target-not-specific", severity=Severity.WARNING)
def target_not_specific(ctx) -> Iterator[Diagnostic]:
    """A KPI's target has no number or no date (or there is no target at all).

    ## Why is this bad?
    Behn's third practice (seed 004): set a specific target. "Improve satisfaction" cannot be
    met or missed, so it cannot spark the conversation a variance should (seed 003), and
    without a date nobody knows when to look. A KPI with no target at all is only a number to
    watch: say so by removing it, or give it a target.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {
      target "improve"
    }
    ```

    ## What to do instead
    ```msense
    kpi csat "Customer satisfaction" {
      target >= 4.5 by 2027-06-30
    }
    ```
    """
    for kpi in ctx.spec.kpis:
        t = kpi.target
        if t is None:
            yield ctx.report(kpi, f"KPI `{kpi.name}` has no target",
                             help="add `target >= VALUE by YYYY-MM-DD`")
            continue
        missing = []
        if t.value is None:
            missing.append("number")
        if t.by is None:
            missing.append("valid date")
        if missing:
            what = " and no ".join(missing)
            yield ctx.report(t, f"the target of `{kpi.name}` has no {what}",
                             help="write it as `target >= 4.5 by 2027-06-30` (a date that exists)",
                             evidence={"missing": missing})


# ---- seed 002: KPIs as measurements of a system ------------------------------------------------


@rule(code="MS013", name="more-kpis-than-levers", severity=Severity.WARNING)
def more_kpis_than_levers(ctx) -> Iterator[Diagnostic]:
    """More KPIs are to be steered than there are levers to move them independently.

    ## Why is this bad?
    Seed 002: do not select more KPIs than you have inputs. It is Tinbergen's rule from
    economic policy (n independent targets need n independent instruments): with fewer levers
    than KPIs, meeting one target means giving up another, whatever people do, and the review
    turns into an argument about effort. Where `responds` gains are declared, the check is
    structural: a maximum matching of KPIs to the levers that move them. The KPIs named are the
    over-determined part of that matching (Dulmage-Mendelsohn): all of them compete for the
    same few levers, so no choice of which to drop is implied.

    ## Example
    ```msense
    lever deploys "Deploys per week"
    kpi lead_time "Lead time" { responds deploys -0.5 }
    kpi change_fail "Change failure rate" { responds deploys +0.3 }
    ```
    Two KPIs, one lever: lead time and change failures cannot be set independently.

    ## What to do instead
    Add a lever that moves one of them on its own (`lever test_coverage`), or keep one KPI as a
    target and watch the other as a guard without a target.
    """
    spec = ctx.spec
    if not spec.kpis:
        return
    lever_names = {lv.name for lv in spec.levers}
    edges = {k.name: [g.name for g in k.responds if g.name in lever_names] for k in spec.kpis}
    if not any(edges.values()):
        if len(spec.kpis) > len(spec.levers):
            n, m = len(spec.kpis), len(spec.levers)
            extra = spec.kpis[m:]
            yield ctx.report(
                extra[0],
                f"{n} KPIs but only {m} lever{'s' if m != 1 else ''}: at most {m} can be moved independently",
                related=[(k, "also needs a lever of its own") for k in first(extra[1:])],
                help="declare `responds` gains to see which KPIs compete, or add levers",
                evidence={"kpis": n, "levers": m},
            )
        return
    moved = [k.name for k in spec.kpis if edges[k.name]]
    group, levers = overdetermined(moved, edges)
    if not group:
        return
    by_name = {k.name: k for k in spec.kpis}
    head = by_name[group[0]]
    yield ctx.report(
        head,
        f"{len(group)} KPIs compete for {len(levers)} lever{'s' if len(levers) != 1 else ''} "
        f"({names(levers)}): {names(group)} cannot be moved independently",
        related=[(by_name[k], "competes for the same levers") for k in first(group[1:])],
        help="add a lever that moves one of them alone, or keep fewer of them as targets",
        evidence={"kpis": group, "levers": levers, "structural_rank": (StructureAnalysis.of(ctx.analysis) or structure_of(ctx.spec)).structural_rank},
    )


@rule(code="MS014", name="failure-level-uncovered", severity=Severity.WARNING)
def failure_level_uncovered(ctx) -> Iterator[Diagnostic]:
    """No key failure is named at one of the levels input, process, output, outcome.

    ## Why is this bad?
    Behn's second practice (seed 004): identify the key failures that would most hurt the
    mission, across inputs, processes, outputs and outcomes. A system that only watches outputs
    misses the starved input and the broken process that will show up as an outcome failure
    too late to act.

    ## Example
    ```msense
    failure outages "Customers meet outages" at outcome
    ```

    ## What to do instead
    ```msense
    failure training "Too few people trained on the platform" at input
    failure backlog  "Support queue grows faster than staffing" at process
    failure vulns    "Vulnerabilities reach production" at output
    failure outages  "Customers meet outages" at outcome
    ```
    """
    present = {f.level for f in ctx.spec.failures}
    missing = [lv for lv in LEVELS if lv not in present]
    if missing and (ctx.spec.kpis or ctx.spec.failures):
        yield ctx.report(
            spec_anchor(ctx.spec),
            f"no key failure is named at the {names(missing)} level{'s' if len(missing) > 1 else ''}",
            help=f'name what would go wrong there: `failure NAME "..." at {missing[0]}`',
            evidence={"missing_levels": missing},
        )


@rule(code="MS015", name="unguarded-failure", severity=Severity.WARNING)
def unguarded_failure(ctx) -> Iterator[Diagnostic]:
    """A key failure is named, but no KPI guards it.

    ## Why is this bad?
    Naming a key failure (seed 004, practice #2) is half the work: if no KPI watches for it,
    the failure will be noticed the way it always was, by its victims.

    ## Example
    ```msense
    failure vulns "Vulnerabilities reach production" at output
    kpi csat "Customer satisfaction" { guards outages }
    ```

    ## What to do instead
    ```msense
    kpi open_vulns "Open critical vulnerabilities" { guards vulns }
    ```
    """
    guarded = {ref.name for kpi in ctx.spec.kpis for ref in kpi.guards}
    for failure in ctx.spec.failures:
        if failure.name not in guarded:
            yield ctx.report(failure, f"no KPI guards the failure `{failure.name}`",
                             help=f"add `guards {failure.name}` to the KPI that would show it first")


@rule(code="MS016", name="no-relationship-kpis", severity=Severity.WARNING)
def no_relationship_kpis(ctx) -> Iterator[Diagnostic]:
    """Every KPI measures results; none measures relationships.

    ## Why is this bad?
    Seed 002's SERVE practices ask leaders to value results *and* relationships; seed 001 says
    trust is the missing link in performance management. A system of results only teaches
    people that relationships do not count, and erodes the trust that results depend on.

    ## Example
    ```msense
    kpi revenue "Revenue" { focus results }
    kpi margin  "Margin"  { focus results }
    ```

    ## What to do instead
    ```msense
    kpi manager_value "Value my manager brings (team survey)" { focus relationships }
    ```
    """
    kpis = ctx.spec.kpis
    if kpis and not any(k.focus == "relationships" for k in kpis):
        yield ctx.report(
            spec_anchor(ctx.spec),
            (f"all {len(kpis)} KPIs measure results; none measures relationships" if len(kpis) > 1 else f"the only KPI, `{kpis[0].name}`, measures results, not relationships"),
            help="add a KPI with `focus relationships` (trust, development, collaboration)",
        )


@rule(code="MS017", name="idle-lever", severity=Severity.WARNING)
def idle_lever(ctx) -> Iterator[Diagnostic]:
    """A lever is declared, but no KPI responds to it.

    ## Why is this bad?
    A lever is something the team controls (seed 002's inputs). If no KPI responds to it,
    either the effort it takes is invisible to the system, or the lever does not serve the
    mission. Both are worth a conversation.

    ## Example
    ```msense
    lever sec_reviews "Security reviews per release"
    ```

    ## What to do instead
    Declare the KPIs it moves (`responds sec_reviews -0.4` in `open_vulns`), or drop it.
    """
    # a lever some KPI meant but misspelt is MS002's finding (with its did-you-mean), not idle
    used = {g.name for kpi in ctx.spec.kpis for g in kpi.responds} | meant_levers(ctx.spec)
    for lever in ctx.spec.levers:
        if lever.name not in used:
            yield ctx.report(lever, f"no KPI responds to the lever `{lever.name}`",
                             help=f"add `responds {lever.name} GAIN` to the KPIs it moves, or remove it")


@rule(code="MS018", name="uncontrolled-kpi", severity=Severity.WARNING)
def uncontrolled_kpi(ctx) -> Iterator[Diagnostic]:
    """No lever moves this KPI.

    ## Why is this bad?
    A KPI that responds to no lever the team controls can only be watched, not managed: holding
    people to its target holds them to luck (seed 002: KPIs should be tightly coupled to the
    inputs that move them). It also tends to be the KPI that gets gamed, because gaming is the
    only lever left.

    ## Example
    ```msense
    kpi market_share "Market share" { target >= 0.2 by 2027-12-31 }
    ```

    ## What to do instead
    Declare what moves it (`responds campaigns +0.1`), or keep it as context without a target.
    """
    for kpi in ctx.spec.kpis:
        if not kpi.responds:
            yield ctx.report(kpi, f"no lever moves the KPI `{kpi.name}`",
                             help="add `responds LEVER GAIN`, one entry per lever that moves it")


@rule(
    code="MS019", name="disturbance-dominated-kpi", severity=Severity.WARNING,
    options={"ratio": Option(1.0, "fire when disturbance gains exceed lever gains times this")},
)
def disturbance_dominated_kpi(ctx) -> Iterator[Diagnostic]:
    """A KPI is moved more by disturbances than by the levers the team controls.

    ## Why is this bad?
    Seed 002 asks for KPIs whose optimum is insensitive to disturbances: when the season, the
    market or another team's work moves a KPI more than its own levers do, a variance says more
    about the weather than about the work, and a conversation about it feels like blame. The
    rule compares the sum of absolute declared gains (`disturbed` versus `responds`), with
    gains stated for a typical move of each lever or disturbance. Option `ratio` (default 1.0).

    ## Example
    ```msense
    kpi sales "Weekly sales" {
      responds promotions +0.2
      disturbed holiday +0.9
    }
    ```

    ## What to do instead
    Measure the part the team controls (sales per visitor instead of sales), or correct for the
    disturbance (seasonally adjusted), or say in the trigger that it is context only.
    """
    ratio = ctx.option("ratio")
    for kpi in ctx.spec.kpis:
        if not kpi.disturbed:
            continue
        dist = sum(abs(g.value) for g in kpi.disturbed)
        ctrl = sum(abs(g.value) for g in kpi.responds)
        if dist > ratio * ctrl:
            strongest = max(kpi.disturbed, key=lambda g: abs(g.value))
            yield ctx.report(
                kpi,
                f"disturbances move `{kpi.name}` more than its levers do "
                f"(|disturbed| {dist:g} against |responds| {ctrl:g})",
                related=[(strongest, f"`{strongest.name}` alone has gain {strongest.value:+g}")],
                help="measure the part the team controls, or adjust for the disturbance",
                evidence={"disturbance_gain": dist, "lever_gain": ctrl, "ratio": ratio},
            )


@rule(code="MS020", name="owner-without-lever", severity=Severity.WARNING)
def owner_without_lever(ctx) -> Iterator[Diagnostic]:
    """A KPI's owner holds none of the levers that move it.

    ## Why is this bad?
    Accountability without control breeds the fear-driven teams of seed 001: the owner is held
    to a number only someone else can move, so the honest answer to a variance is "ask them",
    and blame cascades. Seed 002: engage and develop those who can act.

    ## Example
    ```msense
    lever deploys "Deploys per week" owner "platform"
    kpi lead_time "Lead time" {
      owner "support lead"
      responds deploys -0.5
    }
    ```

    ## What to do instead
    Give the KPI to the owner of a lever that moves it, give its owner a lever, or make the
    owners of the levers share the KPI.
    """
    levers = {lv.name: lv for lv in ctx.spec.levers}
    for kpi in ctx.spec.kpis:
        if kpi.owner is None or any(g.name not in levers for g in kpi.responds):
            continue  # a lever it names is not declared (MS002): which it holds is not known yet
        movers = [levers[g.name] for g in kpi.responds if g.name in levers]
        if not any(lv.owner == kpi.owner for lv in movers):
            held = [lv for lv in movers if lv.owner]
            yield ctx.report(
                kpi,
                f"`{kpi.name}` is owned by {kpi.owner!r}, who holds none of the levers that move it",
                related=[(lv, f"owned by {lv.owner!r}") for lv in held],
                help="give the KPI to a lever's owner, or give its owner a lever",
            )


@rule(
    code="MS021", name="public-inspection", severity=Severity.WARNING,
    options={"public_audiences": Option(["team", "all-hands"], "audiences that make a conversation public")},
)
def public_inspection(ctx) -> Iterator[Diagnostic]:
    """A trigger about one person's numbers opens the conversation in public.

    ## Why is this bad?
    Seed 000: double-check each other, don't inspect. A variance in one person's series is a
    reason for a one-to-one conversation; raised in front of the team or the whole company it
    becomes public humiliation, and people learn to hide variances instead of learning from
    them. A KPI with `scope individual` is about one person; audiences `team` and `all-hands`
    are public (option `public_audiences`).

    ## Example
    ```msense
    kpi estimate_error "Estimate error per engineer" { scope individual }
    trigger off_estimate when estimate_error > 0.3 {
      ask "Why was your estimate off?"
      with all-hands
    }
    ```

    ## What to do instead
    ```msense
    trigger off_estimate when estimate_error > 0.3 {
      ask "What did we learn about estimating this kind of work?"
      with one-to-one
    }
    ```
    """
    public = set(ctx.option("public_audiences"))
    for trig in ctx.spec.triggers:
        if trig.audience not in public:
            continue
        personal = []
        for ref in trig.refs():
            found = ctx.spec.lookup(ref.name)
            if isinstance(found, KPI) and found.scope == "individual" and found not in personal:
                personal.append(found)
        if personal:
            yield ctx.report(
                trig.audience_span or trig,
                f"trigger `{trig.name}` raises one person's {names(k.name for k in personal)} "
                f"with `{trig.audience}`: a public inspection",
                related=[(k, "`scope individual`: one person's numbers") for k in first(personal)],
                help="address it `with one-to-one` (or `manager`), and ask what was learned",
            )




@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
