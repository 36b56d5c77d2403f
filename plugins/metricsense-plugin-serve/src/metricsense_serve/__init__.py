"""metricsense-plugin-serve: is the KPI system balanced, and are its targets ambitious?

Rules (prefix SRV), after seed 002's SERVE practices and seed 004's specific targets:

- SRV001 no-development-kpis: no KPI measures how people develop (Engage and develop others).
- SRV002 no-innovation-kpis: no KPI measures reinvention (Reinvent continuously).
- SRV003 results-relationships-imbalance: results outweigh relationships, or the other way
  round, by more than a ratio (Value results and relationships).
- SRV004 target-against-direction: a target that rewards getting worse.
- SRV005 too-many-key-results: one key failure carries more targets than anyone can pursue.
- SRV006 target-already-met: the data shows the target is already met: no deficit to close.

How a KPI is recognised as a development or innovation KPI: its name, label and link are
matched against a keyword list (options ``keywords`` and ``fields``; see ``matcher``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from metricsense import Diagnostic, Option, Severity, hookimpl, rule

__version__ = "0.1.0"

#: The plugin API this plugin needs; metricsense refuses it with a clear message if older.
METRICSENSE_API = 1

# ---- recognising kinds of KPI ------------------------------------------------------------------

#: Words that mark a KPI about people's development. Not the bare word "development": in most
#: KPI systems it means software development ("development lead time"), which is a result.
DEVELOPMENT_KEYWORDS = [
    "train*", "learn*", "competenc*", "skill*", "upskill*",
    "mentor*", "coach*", "onboard*", "career*", "certif*", "knowledge sharing", "study time",
    "people development", "personal development", "professional development", "growth plan*",
]

#: Words that mark a KPI about reinvention: experiments, new ideas, improvements tried.
INNOVATION_KEYWORDS = [
    "innovat*", "experiment*", "prototyp*", "hypothes*", "pilot", "new idea*", "reinvent*",
    "a/b test*", "discovery", "kaizen", "improvement", "retrospective action*", "new product*",
    "new service*", "new feature*", "exploration", "explore*", "hackathon*", "patent*",
]

FIELDS = ("name", "label", "link", "unit", "owner")


def matcher(keywords: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for a keyword list.

    A keyword matches a whole word, with an optional plural ``s``/``es``; a trailing ``*``
    matches any ending (``innovat*``: innovation, innovative); several words match as a phrase
    whatever separates them (``knowledge sharing`` matches ``knowledge_sharing``).
    """
    parts = []
    for raw in keywords:
        word = raw.strip().lower()
        if not word.rstrip("*"):
            continue
        prefix = word.endswith("*")
        body = r"[\s_\-]+".join(re.escape(w) for w in word.rstrip("*").split())
        parts.append(rf"(?<![a-z0-9]){body}" + (r"[a-z0-9]*" if prefix else r"(?:s|es)?(?![a-z0-9])"))
    if not parts:
        return re.compile(r"(?!x)x")  # an empty list matches nothing
    return re.compile("|".join(parts), re.IGNORECASE)


def kpi_text(kpi, fields: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(field, text) for the KPI fields the keywords are matched against."""
    for name in fields:
        if name not in FIELDS:
            raise ValueError(f"option `fields` names {name!r}; expected some of {', '.join(FIELDS)}")
        value = getattr(kpi, name, None)
        if value:
            yield name, value.replace("_", " ") if name == "name" else value


def first_match(kpi, pattern: re.Pattern[str], fields: Iterable[str]) -> tuple[str, str] | None:
    """(field, matched word) of the first keyword found in the KPI, or None."""
    for name, text in kpi_text(kpi, fields):
        found = pattern.search(text)
        if found:
            return name, found.group(0)
    return None


def names(items: Iterable[str]) -> str:
    quoted = [f"`{i}`" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def spec_anchor(spec):
    """Where a whole-spec finding points: the mission, else the first KPI."""
    return spec.mission if spec.mission is not None else spec.kpis[0]


def _missing_kind(ctx, what: str, practice: str, help: str) -> Iterator[Diagnostic]:
    """The shared logic of SRV001 and SRV002: no KPI matches the keywords of a kind."""
    kpis = ctx.spec.kpis
    if len(kpis) < ctx.option("min_kpis"):
        return
    pattern = matcher(ctx.option("keywords"))
    fields = ctx.option("fields")
    if any(first_match(k, pattern, fields) for k in kpis):
        return
    # Key failures that name the gap (`failure training "Too few people trained" at input`)
    # are evidence that the authors know it matters, and point at where a KPI belongs.
    known = [f for f in ctx.spec.failures if pattern.search(f.label or "")]
    yield ctx.report(
        spec_anchor(ctx.spec),
        f"none of the {len(kpis)} KPIs measures {what} (seed 002: {practice})",
        related=[(f, f"failure `{f.name}` is about {what}, yet no KPI measures it") for f in known],
        help=help,
        evidence={"kpis": len(kpis), "fields": list(fields)},
    )


def _option_lists(keywords: list[str]) -> dict[str, Option]:
    return {
        "keywords": Option(list(keywords), "words that mark such a KPI (`*` matches any ending)"),
        "fields": Option(["name", "label"], f"KPI fields searched, among {', '.join(FIELDS)}"),
        "min_kpis": Option(3, "stay silent on specs with fewer KPIs than this"),
    }


# ---- the rules ---------------------------------------------------------------------------------


@rule(code="SRV001", name="no-development-kpis", severity=Severity.WARNING,
      options=_option_lists(DEVELOPMENT_KEYWORDS))
def no_development_kpis(ctx) -> Iterator[Diagnostic]:
    """No KPI measures how people develop.

    ## Why is this bad?
    Seed 002's SERVE practices ask leaders to *engage and develop others*: "hire the right
    people and support their development", with "time and resources for competence development
    and training". A KPI system is a statement of what counts. When every KPI is a result, the
    hours spent learning, mentoring and onboarding look like waste, and they are the first to
    go when the numbers dip; yet they are what lets people be "self-motivated rather than
    dependent on others for direction". Seed 004 (#6) names the same thing: build the
    organization's operational capacity, people and training included.

    A KPI counts as a development KPI when its name, label or link contains one of the
    `keywords` (training, learning, skills, mentoring, coaching, onboarding, career, ...). The
    bare word "development" does not count: it usually means software development.

    ## Example
    ```msense
    kpi lead_time  "Lead time for changes" { focus results }
    kpi change_fail "Change failure rate"  { focus results }
    kpi uptime     "Availability"          { focus results }
    ```

    ## What to do instead
    ```msense
    kpi learning_time "Hours per person spent learning, per month" {
      kind input
      focus relationships
      link "People who grow build and run better services, and stay"
    }
    ```
    If your team uses other words, add them: `[tool.metricsense.rules.SRV001] keywords = [...]`.
    """
    yield from _missing_kind(
        ctx, "people's development", "engage and develop others",
        "add an input KPI for training, learning or mentoring time, or name yours in `keywords`",
    )


@rule(code="SRV002", name="no-innovation-kpis", severity=Severity.WARNING,
      options=_option_lists(INNOVATION_KEYWORDS))
def no_innovation_kpis(ctx) -> Iterator[Diagnostic]:
    """No KPI measures reinvention: experiments, new ideas, improvements tried.

    ## Why is this bad?
    Seed 002: *reinvent continuously*. "Without innovation, the competitive pressures will crush
    us ... innovation must be on every leader's agenda." Innovation means trying things that may
    not work, and it takes time; a KPI system that measures only the efficiency of today's work
    makes that time look like a loss, so experiments stop. Seed 004 (#11) adds that learning
    from results accomplishes little unless you act on it and change something.

    A KPI counts as an innovation KPI when its name, label or link contains one of the
    `keywords` (innovation, experiment, prototype, hypothesis, pilot, improvement, ...).

    ## Example
    ```msense
    kpi csat   "Customer satisfaction" { focus results }
    kpi uptime "Availability"          { focus results }
    kpi margin "Margin"                { focus results }
    ```

    ## What to do instead
    ```msense
    kpi experiments "Experiments run with customers per quarter" {
      kind process
      link "What we try with customers tells us what they will love next"
    }
    ```
    Count what was tried and learned, not only what succeeded: a failed experiment is a result.
    """
    yield from _missing_kind(
        ctx, "innovation", "reinvent continuously",
        "add a KPI for experiments run or improvements tried, or name yours in `keywords`",
    )


@rule(code="SRV003", name="results-relationships-imbalance", severity=Severity.WARNING,
      options={"ratio": Option(3.0, "largest tolerated ratio of results KPIs to relationships KPIs (and back)"),
               "min_kpis": Option(3, "stay silent on specs with fewer KPIs than this")})
def results_relationships_imbalance(ctx) -> Iterator[Diagnostic]:
    """Results KPIs outnumber relationships KPIs (or the other way round) beyond a ratio.

    ## Why is this bad?
    Seed 002: *value results and relationships*. "Managing based on measurements alone will
    tip the balance of focus heavily towards results over relationships, but without healthy
    relationships we cannot reliably drive results over time." One relationships KPI among ten
    results KPIs is a token: in every review it is outvoted. The reverse also holds: "results
    matter", and a system of relationships only never says whether the work served its mission.

    KPIs with `focus relationships` are relationships KPIs; every other KPI (`focus results`
    or no `focus`) counts as a results KPI. A spec with no relationships KPI at all is MS016's
    finding, not this one. Option `ratio` (default 3): the largest tolerated ratio either way.

    ## Example
    ```msense
    kpi csat       "Customer satisfaction" { focus results }
    kpi uptime     "Availability"          { focus results }
    kpi lead_time  "Lead time"             { focus results }
    kpi change_fail "Change failure rate"  { focus results }
    kpi manager_value "Value my manager brings" { focus relationships }
    ```

    ## What to do instead
    Add relationships KPIs where results depend on them (trust between teams that hand work
    to each other, help received from adjacent teams, people's development), or keep fewer
    results as targets and watch the others without one.
    """
    kpis = ctx.spec.kpis
    if len(kpis) < ctx.option("min_kpis"):
        return
    ratio = ctx.option("ratio")
    rel = [k for k in kpis if k.focus == "relationships"]
    res = [k for k in kpis if k.focus != "relationships"]
    evidence = {"results": len(res), "relationships": len(rel), "ratio": ratio}
    if rel and len(res) > ratio * len(rel):
        yield ctx.report(
            spec_anchor(ctx.spec),
            f"{len(res)} KPIs measure results and only {len(rel)} measure{'s' if len(rel) == 1 else ''} "
            f"relationships ({len(res) / len(rel):.1f} to 1, more than {ratio:g} to 1)",
            related=[(k, "a relationships KPI, outnumbered") for k in rel],
            help="add relationships KPIs (trust, collaboration, development), or keep fewer results as targets",
            evidence=evidence,
        )
    elif rel and (not res or len(rel) > ratio * len(res)):
        yield ctx.report(
            spec_anchor(ctx.spec),
            f"{len(rel)} KPIs measure relationships and {len(res) or 'none'} "
            f"measure{'s' if len(res) == 1 else ''} results: results matter too",
            related=[(k, "the only results KPI") for k in res],
            help="add a results KPI that says whether the mission is being served",
            evidence=evidence,
        )


_AGAINST = {"higher": ("<", "<="), "lower": (">", ">=")}


@rule(code="SRV004", name="target-against-direction", severity=Severity.WARNING)
def target_against_direction(ctx) -> Iterator[Diagnostic]:
    """A target points the opposite way from the KPI's `better` direction.

    ## Why is this bad?
    Seed 004 (#3): establish a specific performance target *for closing the identified
    deficit*. A KPI that is better higher with `target <= 80` is met by getting worse: the
    target caps ambition (or the `better` is wrong), and the team is rewarded for holding back,
    the distortion seed 004 (#9) asks leaders to check for.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {
      better higher
      target <= 4.5 by 2027-06-30
    }
    ```

    ## What to do instead
    ```msense
    kpi csat "Customer satisfaction" {
      better higher
      target >= 4.5 by 2027-06-30
    }
    ```
    If the KPI has an upper limit (a budget, a load that must not grow), say so with
    `better lower`, or keep it as a guard without `better`.
    """
    for kpi in ctx.spec.kpis:
        target = kpi.target
        if target is None or target.comparison is None or kpi.better not in _AGAINST:
            continue
        if target.comparison in _AGAINST[kpi.better]:
            yield ctx.report(
                target.span,
                f"`{kpi.name}` is better {kpi.better}, but its target `{target.comparison} {target.value:g}` "
                f"is met by getting {'lower' if kpi.better == 'higher' else 'higher'}",
                related=[(kpi, f"declared `better {kpi.better}`")],
                help=f"write `target {'>=' if kpi.better == 'higher' else '<='} {target.value:g}`, "
                     f"or correct `better`",
            )


@rule(code="SRV005", name="too-many-key-results", severity=Severity.WARNING,
      options={"max_key_results": Option(5, "most KPIs with a target that may guard one key failure")})
def too_many_key_results(ctx) -> Iterator[Diagnostic]:
    """One key failure is guarded by more KPIs with targets than anyone can pursue.

    ## Why is this bad?
    A key failure is an objective; the KPIs that guard it with a target are its key results.
    Seed 004 (#2, #3) asks for *a specific* target for closing each identified deficit; OKR
    practice keeps three to five key results per objective. Past that, attention is split,
    every review has a number that went the wrong way, and (seed 002) the targets compete for
    the same levers. Seed 004 (#10) does want many indicators: watched, not targeted.

    Counts, per failure, the KPIs that `guards` it and have a `target`. Option
    `max_key_results` (default 5).

    ## Example
    ```msense
    failure slow_changes "Changes wait weeks" at process
    kpi lead_time  "Lead time"       { target <= 24 by 2026-12-31  guards slow_changes }
    kpi cycle_time "PR cycle time"   { target <= 8 by 2026-12-31   guards slow_changes }
    # ... four more, each with a target
    ```

    ## What to do instead
    Keep the two or three that best say whether the failure is closing as key results, and
    watch the others without a target (their `data` still feeds triggers and the report).
    """
    most = ctx.option("max_key_results")
    for failure in ctx.spec.failures:
        krs = [k for k in ctx.spec.kpis if k.target is not None and any(g.name == failure.name for g in k.guards)]
        if len(krs) > most:
            yield ctx.report(
                failure,
                f"failure `{failure.name}` has {len(krs)} key results (KPIs with a target guarding it), "
                f"more than {most}",
                related=[(k, "a key result") for k in krs],
                help="keep a few as targets and watch the others without one",
                evidence={"key_results": [k.name for k in krs], "max_key_results": most},
            )


_MET = {">=": lambda v, t: v >= t, ">": lambda v, t: v > t, "<=": lambda v, t: v <= t, "<": lambda v, t: v < t}


@rule(code="SRV006", name="target-already-met", severity=Severity.INFO,
      options={"window": Option(3, "how many of the latest observed periods must already meet the target")})
def target_already_met(ctx) -> Iterator[Diagnostic]:
    """The data shows a KPI has met its target in every one of the latest periods.

    ## Why is this bad?
    Seed 004 (#3): a target closes an *identified deficit*. A target the KPI already meets
    closes nothing: it is a floor, not an objective, and it tells the team that the current
    level is enough (seed 002: *see the future*; a target is where we are going, not where we
    are). Seed 004 (#11): act on what you learn and ratchet performance up another notch.

    Reads the KPI's series (only when the spec has data): if each of the latest `window`
    observed values (default 3) meets the target, the target is already met.

    ## Example
    ```msense
    kpi uptime "Availability" {
      better higher
      target >= 99.0 by 2027-06-30   # the last three months were 99.4, 99.6 and 99.5
      data "kpis.csv"
    }
    ```

    ## What to do instead
    Raise the target to the level you are aiming for, or, if the level is right and must be
    held, say so: keep the KPI as a guard with a trigger on a dip instead of a target.
    """
    if ctx.data is None:
        return
    window = ctx.option("window")
    for kpi in ctx.spec.kpis:
        target = kpi.target
        if target is None or target.value is None or target.comparison not in _MET:
            continue
        series = ctx.data.series(kpi.name)
        if series is None:
            continue
        observed = [float(v) for v in series.values.tolist() if v == v]  # NaN != NaN: missing
        latest = observed[-window:]
        if len(latest) < window:
            continue
        if all(_MET[target.comparison](v, target.value) for v in latest):
            yield ctx.report(
                target.span,
                f"`{kpi.name}` already meets its target `{target.comparison} {target.value:g}` in each of "
                f"the latest {window} periods ({', '.join(f'{v:g}' for v in latest)})",
                help="raise the target to where you are going, or keep the level with a trigger instead",
                evidence={"latest": latest, "target": target.value},
            )


RULES = (
    no_development_kpis, no_innovation_kpis, results_relationships_imbalance,
    target_against_direction, too_many_key_results, target_already_met,
)


@hookimpl
def metricsense_register_rules(register):
    """Register the SRV rules (the only hook this plugin implements)."""
    for r in RULES:
        register(r)


__all__ = ["METRICSENSE_API", "RULES", "__version__", "matcher"]
