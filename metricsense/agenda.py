"""The conversation agenda: what the triggers and the trust gaps ask people to talk about.

Seed 003: a KPI's value is the conversation a variance sparks. Each item holds the question,
what sparked it (values, target, variance, periods) and a blank for what was learned, grouped
by audience. Built only from a report's analysis, so it shows exactly what the report may show:
trust groups below the minimum are not in the analysis, and segment names of one person's
numbers are withheld from public audiences there already.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from metricsense.evaluators.records import TriggerEvaluation, TriggersAnalysis, TrustAnalysis, TrustSignalAnalysis
from metricsense.model import AUDIENCES

NO_AUDIENCE = "anyone (no audience set)"


@dataclass
class AgendaItem:
    audience: str
    spec: str
    source: str                      # the trigger or trust signal that sparked it
    question: str
    sparked: list[str]               # what sparked it, one line each
    start: str | None = None
    end: str | None = None
    segment: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the series' values at the event's last period

    def to_dict(self) -> dict[str, Any]:
        return {"audience": self.audience, "spec": self.spec, "source": self.source, "question": self.question,
                "sparked": list(self.sparked), "start": self.start, "end": self.end, "segment": self.segment}


@dataclass
class Agenda:
    items: list[AgendaItem] = field(default_factory=list)
    since: str | None = None

    def by_audience(self) -> list[tuple[str, list[AgendaItem]]]:
        order = {a: i for i, a in enumerate((*AUDIENCES, NO_AUDIENCE))}
        groups: dict[str, list[AgendaItem]] = {}
        for item in self.items:
            groups.setdefault(item.audience, []).append(item)
        return sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "items": [i.to_dict() for i in self.items]}

    def to_markdown(self) -> str:
        return render_markdown(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def _md(text: Any) -> str:
    """Spec or data text made inert in Markdown: no HTML, no links, no emphasis (the report's own)."""
    from metricsense.reports.markdown import md_text

    return md_text(text)


def _code(text: Any) -> str:
    """A name from the spec (a trigger, a series) as a code span, shown as written."""
    from metricsense.reports.markdown import md_code

    return md_code(text)


def _n(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, float):
        # NOTE: a number of four digits or more is written whole (12345, 1250000), never as
        # 1.234e+04: a reader compares it with the spec and the data
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}" if abs(value) < 1e15 else f"{value:.6g}"
    return _md(value)


def _since_key(since: Any) -> str | None:
    if since is None:
        return None
    if isinstance(since, (_dt.date, _dt.datetime)):
        return since.isoformat()[:10]
    return str(since)


def since_problem(since: Any) -> str | None:
    """Why ``since`` is no period (`2025-13-45`, `last week`), or None when it is one."""
    from metricsense.data.periods import round_span

    key = _since_key(since)
    if key is None or round_span(key) is not None:
        return None
    return (f"{key!r} is not a period: write a date (2026-01-05), a month (2026-01), a quarter "
            "(2026-Q1), an ISO week (2026-W02), a year (2026) or a whole-number period")


def _not_before(label: str | None, since: str | None) -> bool:
    """A period at or after ``since`` by time: it ends after ``since`` starts (`2025-08-04` is after
    `2025-Q3`, the month `2025-06` is not before `2025-06-15`); whole numbers by value."""
    from metricsense.data.periods import round_span

    if since is None or label is None:
        return True
    mine, theirs = round_span(label), round_span(since)
    if mine is not None and theirs is not None and type(mine[0]) is type(theirs[0]):
        return mine[1] > theirs[0]
    try:  # whole-number periods compare as numbers
        return float(label) >= float(since)
    except ValueError:
        return label >= since


def _sides(trigger) -> tuple[str | None, str | None]:
    """The spec's text of the two sides of the trigger's first comparison (what the variance's
    numbers are), or None when there is no trigger or comparison."""
    from metricsense.expressions import expr_text, first_comparison

    cmp = first_comparison(trigger.condition) if trigger is not None else None
    if cmp is None:
        return None, None
    return expr_text(cmp.left), expr_text(cmp.right)


def _is_number(text: str | None) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _run_periods(info: TriggerEvaluation, e) -> list[str]:
    """Every period of an event, in order: the trigger's fired periods from its start to its end
    (a run is consecutive periods of the data, each one fired)."""
    fired = list(info.periods)
    if e.start in fired and e.end in fired:
        i, j = fired.index(e.start), fired.index(e.end)
        if j >= i and j - i + 1 == e.periods:
            return fired[i:j + 1]
    return [e.start] if e.start == e.end else [e.start, e.end]


def _trigger_items(root: str, name: str, info: TriggerEvaluation, since: str | None,
                   trigger=None) -> list[AgendaItem]:
    items = []
    audience = info.audience or NO_AUDIENCE
    left_text, right_text = _sides(trigger)
    for e in info.events:
        if not _not_before(e.end, since):
            continue
        # NOTE: every period the condition held in: a `for 2 periods` trigger fires in the second,
        # and the first held too (listing only the fired periods said one period, or one too few)
        held = list(getattr(e, "held", ()) or ())
        run = held if len(held) > 1 else (_run_periods(info, e) if e.periods > 1 else [e.start])
        if len(run) > 1:
            listed = ", ".join(_md(p) for p in run)
            sparked = [f"periods ({len(run)} in a row): {listed}"]
        else:
            sparked = [f"period: {_md(e.start)}"]
        if e.units:
            sparked.append(f"units: {e.units} (names withheld: one person's numbers, a public audience)")
        elif e.segment:
            sparked.append(f"unit: {_md(e.segment)}")
        last = f" in {_md(e.end)}" if len(run) > 1 else ""
        if e.values:
            sparked.append(f"values{last}: " + ", ".join(f"{_code(k)} {_n(v)}" for k, v in e.values.items()))
        if e.target is not None:
            sparked.append(f"target: {_n(e.target)}" + (f" (of {_code(e.target_of)})" if e.target_of else ""))
        v = e.variance
        if v is not None and v.by is not None:
            # NOTE: v.op is one of the grammar's comparison operators (`>=`, `<`...), never raw HTML
            if left_text is not None:
                # a side that is a number as written needs no second reading; the words say the
                # direction, so the gap is its size (`below 4.2 by 0.01`, not `by -0.01`)
                # NOTE: the words are what the two numbers were, not the operator: the first
                # comparison need not hold when the trigger fires (`not (x < 3)`, `x < 3 or y > 5`)
                right = _n(v.right) if _is_number(right_text) else f"{_code(right_text)} ({_n(v.right)})"
                if v.left is None or v.right is None or v.left == v.right:
                    sparked.append(f"variance{last}: {_code(left_text)} was {_n(v.left)}, against {right}")
                else:
                    word = "above" if v.left > v.right else "below"
                    sparked.append(f"variance{last}: {_code(left_text)} was {_n(v.left)}, {word} {right} "
                                   f"by {_n(abs(v.by))}")
            else:
                sparked.append(f"variance{last}: {_n(v.left)} {v.op} {_n(v.right)}, by {_n(v.by)}")
        items.append(AgendaItem(audience, root, name, info.ask or "What changed, and what did we learn?",
                                sparked, e.start, e.end, e.segment, dict(e.values or {})))
    return items


def _round_not_before(label: str | None, since: str | None) -> bool:
    """A survey round against ``since`` by time (``Q1 2025`` is after ``2024-12-31``), as the
    trust evaluator orders rounds; labels of different kinds compare as before."""
    from metricsense.evaluators.trust import period_key

    if since is None or label is None:
        return True
    mine, theirs = period_key(label), period_key(since)
    if mine[0] == theirs[0] == 0:
        return mine[1:4] >= theirs[1:4]
    return _not_before(label, since)


def _trust_items(root: str, name: str, info: TrustSignalAnalysis, since: str | None) -> list[AgendaItem]:
    items = []
    if not _round_not_before(info.period, since):
        return items
    for g in info.groups:  # only the groups the trust evaluator shows are in the record
        if not g.over:
            continue
        sparked = [f"period: {_md(info.period) if info.period else 'all answers'}",
                   f"group: {_md(g.group)} (manager {_md(g.manager)})",
                   f"the manager's own answer: {_n(g.managers)}; the team's mean: {_n(g.team)} (n={g.n})",
                   f"gap: {_n(g.gap)}, over the threshold of {_n(info.gap)}"]
        if g.favourable_gap is not None:
            sparked.append(f"favourable answers: manager {g.managers_favourable:.0%}, team {g.team_favourable:.0%}")
        items.append(AgendaItem(
            "manager", root, name,
            "How does each side see the value the manager brings, and what would the team like more of?",
            sparked, info.period, info.period, None))
    return items


def build(report, since: Any = None) -> Agenda:
    """The agenda of a report: every trigger event and every trust gap, at or after ``since``."""
    key = _since_key(since)
    problem = since_problem(key)
    if problem is not None:
        raise ValueError(f"since: {problem}")
    items: list[AgendaItem] = []
    for root, analysis in report.analysis.items():
        doc = getattr(report, "documents", {}).get(root)
        triggers = TriggersAnalysis.of(analysis)
        fired = triggers.fired if triggers is not None else {}
        declared = {t.name: t for t in doc.triggers} if doc is not None else {}
        order = list(declared) if doc is not None else sorted(fired)
        for name in order:
            if name in fired:
                items += _trigger_items(root, name, fired[name], key, declared.get(name))
        trust = TrustAnalysis.of(analysis)
        for name, info in (trust.signals if trust is not None else {}).items():
            items += _trust_items(root, name, info, key)
    return Agenda(items, key)


def agenda(report_or_spec: Any, since: Any = None, **check_kwargs: Any) -> Agenda:
    """The conversation agenda of a Report, or of a spec (checked first, like ``check``)."""
    report = report_or_spec
    if not hasattr(report, "analysis") or not hasattr(report, "diagnostics"):
        from metricsense.engine import check

        report = check(report_or_spec, **check_kwargs)
    return build(report, since)


def render_markdown(agenda: Agenda) -> str:
    lines = ["# Conversation agenda", ""]
    lines.append("A variance is a reason to talk, not a verdict: each item below is a number that moved past "
                 "where the team agreed to look. For each: ask the question, listen, and write down what was "
                 "learned.")
    if agenda.since:
        lines += ["", f"Since {_md(agenda.since)}."]
    lines.append("")
    if not agenda.items:
        lines += ["Nothing sparked a conversation" + (" in this period." if agenda.since else "."), ""]
        return "\n".join(lines)
    specs = sorted({i.spec for i in agenda.items})
    for audience, items in agenda.by_audience():
        lines += [f"## With {_md(audience)}", ""]
        topics: dict[tuple[str, str, str], list[AgendaItem]] = {}
        for item in items:
            topics.setdefault((item.spec, item.source, item.question), []).append(item)
        for (spec, source, question), group in topics.items():
            where = f" ({_md(spec)})" if len(specs) > 1 else ""
            lines += [f"### {_code(source)}{where}: {_md(question)}", ""]
            lines += _overview(group)
            units: dict[str | None, list[AgendaItem]] = {}
            for item in group:
                units.setdefault(item.segment, []).append(item)
            by_unit = len(units) > 1 and None not in units and any(len(v) > 1 for v in units.values())
            n = 0
            # NOTE: grouped by unit (a store, a person's assignment), the units with most events first,
            # so one unit's repeated slips read as one conversation and not as scattered items
            for unit, mine in sorted(units.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
                if by_unit:
                    lines += [f"#### {_md(unit)} ({len(mine)} time{'s' if len(mine) > 1 else ''})", ""]
                for item in mine:
                    n += 1
                    lines.append(f"{n}. sparked by:")
                    lines += [f"   - {s}" for s in item.sparked if not (by_unit and s.startswith("unit: "))]
                    lines.append("   - what we learned: ______________________________")
                if by_unit:
                    lines.append("")
            if not by_unit:
                lines.append("")
    return "\n".join(lines)


def _one_way(group: list[AgendaItem]) -> str:
    """When the events compare the two series of one paired KPI (`estimate.self`, `estimate.manager`)
    and one was above the other in most of them, say so: a gap that always leans one way is the team's, not a task's."""
    pairs = [tuple(i.values.items()) for i in group if len(i.values) == 2]
    pairs = [((a, x), (b, y)) for (a, x), (b, y) in pairs if isinstance(x, (int, float)) and isinstance(y, (int, float))]
    if len(pairs) < 5 or len({(a, b) for (a, _), (b, _) in pairs}) != 1:
        return ""
    (a, _), (b, _) = pairs[0]
    if "." not in a or a.split(".")[0] != b.split(".")[0]:
        return ""  # two sides of one KPI (`estimate.self`, `estimate.manager`), not two KPIs on their own scales
    above = sum(x > y for (_, x), (_, y) in pairs)
    below = sum(x < y for (_, x), (_, y) in pairs)
    lean, first, second = (above, a, b) if above >= below else (below, b, a)
    if lean < 0.75 * len(pairs):
        return ""
    return (f" In {lean} of {len(pairs)}, {_code(first)} was above {_code(second)}: a gap that leans one way "
            "this often is a shared habit worth one conversation with the whole team.")


def _overview(group: list[AgendaItem]) -> list[str]:
    """One line over a trigger's events: how often, for how many units, and the period in which most
    units fired together (several at once point to a shared cause: a team's conversation first)."""
    units = {i.segment for i in group if i.segment is not None}
    if len(group) < 2 or not units:
        return []
    at: dict[str, set] = {}
    for item in group:
        if item.segment is not None and item.end is not None:
            at.setdefault(item.end, set()).add(item.segment)
    line = f"{len(group)} times, for {len(units)} unit{'s' if len(units) > 1 else ''}."
    line += _one_way(group)
    if at:
        period, most = max(at.items(), key=lambda kv: (len(kv[1]), kv[0]))
        if len(most) >= 3 and len(most) >= 0.25 * len(units):
            line += (f" In {_md(period)}, {len(most)} units at once: a shared cause is likelier than {len(most)} "
                     "separate ones; start with the team.")
    return [line, ""]


class _CallableModule(type(_dt)):
    """NOTE: importing this module sets ``metricsense.agenda`` to the module, hiding the
    function of the same name in ``metricsense/__init__.py``; calling the module calls
    ``agenda()`` so ``metricsense.agenda(report)`` works either way."""

    def __call__(self, report_or_spec: Any, since: Any = None, **kwargs: Any) -> Agenda:
        return agenda(report_or_spec, since=since, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule
