"""The KPI system as a picture: one graph, drawn three ways.

mission → key failures, by level → the KPIs that guard them ← the levers and disturbances that
move them, with the declared gain on each edge (as Lightdash draws metric trees). ``build`` makes
the graph from a spec (and, when there is one, the check's analysis and findings: each KPI's
latest level against its target, each node's findings); ``mermaid`` writes it for Markdown (GitHub
and JupyterLab draw it), ``metricsense.reports.picture_svg.svg`` draws it as inline SVG for the
HTML report and the explorer's overview.

Bounded: a spec of hundreds of KPIs keeps at most ``Limits`` nodes per column (the ones with
findings or a missed target first) and gathers the rest in one "and N more" node per column, with
their edges folded into it; past ``Limits.edges`` gains, the smallest are left out and counted.
What was left out is said (``Picture.omitted``), never dropped in silence.

Every text from the spec is untrusted: the Mermaid writer keeps only plain ASCII letters, digits
and a few marks as they are and writes every other character as a Mermaid entity code (``#60;``),
so no quote, bracket, backtick, ``%%`` directive, HTML or line break reaches the diagram's syntax;
the SVG writer escapes with ``metricsense.reports.svg.esc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from metricsense.encoding import printable
from metricsense.model import LEVELS, Document

#: The columns, left to right.
COLUMNS = ("mission", "failure", "kpi", "cause")
#: The statuses a KPI can have (its latest level against its target), and a failure's.
STATUSES = ("met", "missed", "no data", "no target", "unguarded")


@dataclass(frozen=True)
class Limits:
    """At most this many nodes per column (the rest gathered in one node) and gains drawn."""

    failures: int = 24
    kpis: int = 40
    causes: int = 24
    edges: int = 160


@dataclass
class Node:
    key: str                  # a safe identifier: m, f0, k0, l0, d0, more-failure, more-kpi, more-cause
    kind: str                 # mission, failure, kpi, lever, disturbance, more
    column: int               # index in COLUMNS
    name: str = ""            # the spec's name ("" for the mission and the "more" nodes)
    label: str = ""           # the spec's label (untrusted text)
    level: str | None = None  # a failure's level, a KPI's kind
    detail: str = ""          # a KPI's target and latest level, a failure's guards
    status: str | None = None
    findings: dict[str, int] = field(default_factory=dict)  # severity -> count
    members: tuple[str, ...] = ()  # the names a "more" node stands for
    facts: tuple[str, ...] = ()    # a KPI's target and its latest level, one line each

    def title(self) -> str:
        """The node in one plain line (a tooltip, a screen reader)."""
        head = {"mission": "Mission", "failure": f"Key failure at {self.level}", "kpi": "KPI", "lever": "Lever",
                "disturbance": "Disturbance", "more": "Not drawn"}[self.kind]
        parts = [f"{head}: {self.name}" if self.name else head]
        if self.label:
            parts.append(self.label)
        if self.detail:
            parts.append(self.detail)
        if self.findings:
            parts.append("findings: " + findings_words(self.findings))
        return " — ".join(parts)


def findings_words(counts: dict[str, int]) -> str:
    """'1 error, 3 warnings'."""
    plural = {"error": "errors", "warning": "warnings", "info": "info", "hint": "hints"}
    return ", ".join(f"{n} {s if n == 1 else plural.get(s, s)}" for s, n in counts.items())


@dataclass
class Edge:
    source: str
    target: str
    kind: str                  # threat (mission→failure), guards (failure→KPI), responds, disturbed
    gain: float | None = None
    effect: str | None = None  # helps, hurts (the gain against the KPI's `better`), or None
    count: int = 1             # edges folded into one (to or from a "more" node)

    def text(self) -> str:
        if self.count > 1:
            return f"{self.count} gains" if self.kind in ("responds", "disturbed") else f"{self.count}"
        return f"{self.gain:+g}" if self.gain is not None else ""


@dataclass
class Picture:
    nodes: list[Node]
    edges: list[Edge]
    totals: dict[str, int]    # what the spec holds: failures, kpis, levers, disturbances, gains
    omitted: dict[str, int]   # what is not drawn: failures, kpis, causes (gathered), gains (left out)

    def node(self, key: str) -> Node | None:
        return next((n for n in self.nodes if n.key == key), None)

    def column(self, i: int) -> list[Node]:
        return [n for n in self.nodes if n.column == i]

    def caption(self) -> str:
        """What the picture shows, in one sentence, with what it leaves out."""
        t = self.totals
        text = (f"{t['failures']} key failure{'s' if t['failures'] != 1 else ''}, {t['kpis']} KPI"
                f"{'s' if t['kpis'] != 1 else ''}, {t['levers']} lever{'s' if t['levers'] != 1 else ''}, "
                f"{t['disturbances']} disturbance{'s' if t['disturbances'] != 1 else ''} and {t['gains']} gain"
                f"{'s' if t['gains'] != 1 else ''}")
        o = self.omitted
        left = [f"{o[k]} {w}" for k, w in (("failures", "key failures"), ("kpis", "KPIs"), ("causes", "levers and disturbances"))
                if o.get(k)]
        if left:
            text += "; gathered in \"and N more\": " + ", ".join(left)
        if o.get("gains"):
            text += f"; {o['gains']} smaller gain{'s' if o['gains'] != 1 else ''} not drawn"
        return text + "."


# ---- the graph ---------------------------------------------------------------------------------


def _num(v: float) -> str:
    return f"{v:.4g}"


def _target(kpi) -> str:
    t = kpi.target
    if t is None:
        return ""
    if t.value is not None:
        return f"target {t.comparison} {_num(t.value)}" + (f" by {t.by.isoformat()}" if t.by else "")
    return f"target \"{t.words}\"" if t.words else ""


def _meets(value: float, comparison: str | None, target: float) -> bool | None:
    ops = {">=": value >= target, ">": value > target, "<=": value <= target, "<": value < target,
           "==": value == target, "=": value == target}
    return ops.get(comparison or "")


def latest(kpi, analysis: dict | None) -> tuple[str | None, str, str]:
    """(status, target, now) of a KPI: its latest level against its target, from the check's noise
    analysis (the median of the last periods, as MS3xx reads it) or else the last value of its
    series. Status: ``met``, ``missed``, ``no target`` or ``no data``."""
    from metricsense.evaluators.records import NoiseAnalysis, TriggersAnalysis

    noise = NoiseAnalysis.of(analysis or {})
    entry = noise.kpis.get(kpi.name) if noise is not None else None
    level = getattr(entry, "level", None) if entry is not None else None
    met = None
    now = ""
    if level is not None and math.isfinite(level):
        n = getattr(entry, "level_periods", None)
        now = f"now {_num(level)}" + (f" (median of the last {n})" if n and n > 1 else "")
        met = getattr(entry, "met", None)
    else:
        level = None
        triggers = TriggersAnalysis.of(analysis or {})
        series = (triggers.series or {}).get(kpi.name) if triggers is not None else None
        points = [(p, v) for p, v in zip(series.periods, series.values) if v is not None and math.isfinite(v)] \
            if series is not None else []
        if points:
            level = points[-1][1]
            now = f"now {_num(level)} ({points[-1][0]})"
    if kpi.target is None or kpi.target.value is None:
        status = "no target"
    elif level is None:
        status = "no data"
    else:
        if met is None:
            met = _meets(level, kpi.target.comparison, kpi.target.value)
        status = "met" if met else "missed" if met is not None else "no data"
    return status, _target(kpi), now


def _effect(kpi, gain: float) -> str | None:
    better = (kpi.better or "").lower()
    if gain == 0 or better not in ("higher", "lower"):
        return None
    return "helps" if (gain > 0) == (better == "higher") else "hurts"


def findings_of(doc: Document, diagnostics) -> dict[str, list]:
    """The findings of each named statement: the diagnostics whose place (or a related place)
    lies inside the statement's lines. Keyed by name; the mission's under ``""``."""
    import bisect

    by_file: dict[str, list[tuple[int, int, str]]] = {}
    for s in doc.named():
        by_file.setdefault(s.span.file, []).append((s.span.line, s.span.end_line, s.name))
    if doc.mission is not None:
        m = doc.mission.span
        by_file.setdefault(m.file, []).append((m.line, m.end_line, ""))
    starts = {}
    for f, items in by_file.items():
        items.sort()
        starts[f] = [i[0] for i in items]
    out: dict[str, list] = {}
    for d in diagnostics or ():
        names: list[str] = []
        for p in (d.span, *(r.span for r in getattr(d, "related", ()) or ())):
            items = by_file.get(p.file)
            if not items:
                continue
            # statements do not nest: only those starting on the last start line at or before it
            k = bisect.bisect_right(starts[p.file], p.line) - 1
            first = items[k][0] if k >= 0 else None
            while k >= 0 and items[k][0] == first:
                if items[k][1] >= p.line and items[k][2] not in names:
                    names.append(items[k][2])
                k -= 1
        for name in names:
            out.setdefault(name, []).append(d)
    return out


def _counts(found: list) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sev in ("error", "warning", "info", "hint"):
        n = sum(1 for d in found if str(d.severity) == sev)
        if n:
            counts[sev] = n
    return counts


def _weight(node: Node, reach: float = 0.0) -> tuple:
    """Which nodes stay when a column is capped: errors, warnings, a missed target or a failure no
    KPI guards, then (levers and disturbances) the most gain on the KPIs kept, then spec order."""
    f = node.findings
    return (-f.get("error", 0), -f.get("warning", 0), node.status not in ("missed", "unguarded"), -reach)


def _cap(nodes: list[Node], limit: int, kind_words: str, key: str, column: int,
         reach: dict[str, float] | None = None) -> tuple[list[Node], Node | None]:
    if len(nodes) <= limit:
        return nodes, None
    reach = reach or {}
    keep = sorted(range(len(nodes)), key=lambda i: (_weight(nodes[i], reach.get(nodes[i].key, 0.0)), i))[: max(limit - 1, 1)]
    chosen = set(keep)
    kept = [nodes[i] for i in sorted(chosen)]
    rest = [n for i, n in enumerate(nodes) if i not in chosen]
    more = Node(key=key, kind="more", column=column, label=f"and {len(rest)} more {kind_words}",
                members=tuple(n.name for n in rest))
    more.findings = {}
    for n in rest:
        for s, c in n.findings.items():
            more.findings[s] = more.findings.get(s, 0) + c
    return kept, more


def build(doc: Document, analysis: dict | None = None, diagnostics=(), limits: Limits = Limits()) -> Picture:
    """The picture of ``doc``; with the check's ``analysis`` each KPI's latest status, and with its
    ``diagnostics`` each node's findings."""
    found = findings_of(doc, diagnostics)
    nodes: list[Node] = []
    if doc.mission is not None:
        nodes.append(Node(key="m", kind="mission", column=0, label=doc.mission.text,
                          detail=f"owner {doc.mission.owner}" if doc.mission.owner else "",
                          findings=_counts(found.get("", []))))
    failures = [f for level in LEVELS for f in doc.failures if f.level == level]
    failures += [f for f in doc.failures if f.level not in LEVELS]
    guarded: dict[str, list[str]] = {}
    for k in doc.kpis:
        for ref in k.guards:
            guarded.setdefault(ref.name, []).append(k.name)
    f_nodes = [Node(key=f"f{i}", kind="failure", column=1, name=f.name, label=f.label, level=f.level,
                    status=None if guarded.get(f.name) else "unguarded",
                    detail=("guarded by " + ", ".join(guarded[f.name])) if guarded.get(f.name) else "guarded by no KPI",
                    findings=_counts(found.get(f.name, [])))
               for i, f in enumerate(failures)]
    k_nodes = []
    for i, k in enumerate(doc.kpis):
        status, target, now = latest(k, analysis)
        facts = (target, now + (f": {status}" if status in ("met", "missed") else ""))
        k_nodes.append(Node(key=f"k{i}", kind="kpi", column=2, name=k.name, label=k.label or "", level=k.kind,
                            detail="; ".join(f for f in facts if f), status=status,
                            facts=tuple(f for f in facts if f), findings=_counts(found.get(k.name, []))))
    c_nodes = [Node(key=f"l{i}", kind="lever", column=3, name=lv.name, label=lv.label or "",
                    detail=f"owner {lv.owner}" if lv.owner else "", findings=_counts(found.get(lv.name, [])))
               for i, lv in enumerate(doc.levers)]
    c_nodes += [Node(key=f"d{i}", kind="disturbance", column=3, name=d.name, label=d.label or "",
                     findings=_counts(found.get(d.name, [])))
                for i, d in enumerate(doc.disturbances)]

    # every edge of the spec, by name within each kind (a name declared twice is MS003's business:
    # the first declaration is the one drawn against)
    failure_of: dict[str, Node] = {}
    cause_of: dict[tuple[str, str], Node] = {}
    for n in f_nodes:
        failure_of.setdefault(n.name, n)
    for n in c_nodes:
        cause_of.setdefault((n.kind, n.name), n)
    edges: list[Edge] = []
    if doc.mission is not None:
        edges += [Edge("m", n.key, "threat") for n in f_nodes]
    gains = 0
    for k, me in zip(doc.kpis, k_nodes):
        for ref in k.guards:
            f = failure_of.get(ref.name)
            if f is not None:
                edges.append(Edge(f.key, me.key, "guards"))
        for kind, gs in (("responds", k.responds), ("disturbed", k.disturbed)):
            for g in gs:
                src = cause_of.get(("lever" if kind == "responds" else "disturbance", g.name))
                if src is None:
                    continue  # a gain on an undeclared name is MS002's business
                gains += 1
                edges.append(Edge(src.key, me.key, kind, gain=g.value, effect=_effect(k, g.value)))
    totals = {"failures": len(f_nodes), "kpis": len(k_nodes), "levers": len(doc.levers),
              "disturbances": len(doc.disturbances), "gains": gains}

    # bounded: cap each column, fold the edges of what is gathered into its "more" node
    omitted: dict[str, int] = {}
    columns = []
    for col, (ns, limit, words, key) in enumerate(((f_nodes, limits.failures, "key failures", "more-failure"),
                                                    (k_nodes, limits.kpis, "KPIs", "more-kpi"),
                                                    (c_nodes, limits.causes, "levers and disturbances", "more-cause")),
                                                   start=1):
        reach = None
        if col == 3:  # a lever or disturbance: how much gain it has on the KPIs kept
            shown = {n.key for n in columns[1][0]}
            reach = {}
            for e in edges:
                if e.target in shown and e.gain is not None:
                    reach[e.source] = reach.get(e.source, 0.0) + abs(e.gain)
        kept, more = _cap(ns, limit, words, key, col, reach)
        if more is not None:
            omitted[COLUMNS[col] + "s" if col < 3 else "causes"] = len(more.members)
        columns.append((kept, more))
    where: dict[str, str] = {}
    for kept, more in columns:
        where.update({n.key: n.key for n in kept})
        if more is not None:
            keep_keys = {n.key for n in kept}
            for n in (*f_nodes, *k_nodes, *c_nodes):
                if n.key not in keep_keys and n.column == more.column:
                    where[n.key] = more.key
    if "m" in {n.key for n in nodes}:
        where["m"] = "m"
    folded: dict[tuple[str, str, str], Edge] = {}
    drawn: list[Edge] = []
    for e in edges:
        s, t = where[e.source], where[e.target]
        if s == e.source and t == e.target:
            drawn.append(e)
            continue
        k = (s, t, e.kind)
        if k in folded:
            folded[k].count += 1
            folded[k].gain = folded[k].effect = None  # several gains: counted, not one number
        else:
            folded[k] = Edge(s, t, e.kind, gain=e.gain, effect=e.effect)
            drawn.append(folded[k])
    gain_edges = [e for e in drawn if e.kind in ("responds", "disturbed") and e.count == 1 and e.gain is not None]
    if len(gain_edges) > limits.edges:
        keep = set(map(id, sorted(gain_edges, key=lambda e: -abs(e.gain))[: limits.edges]))
        before = len(drawn)
        drawn = [e for e in drawn if e not in gain_edges or id(e) in keep]
        omitted["gains"] = before - len(drawn)
    for kept, more in columns:
        nodes += kept
        if more is not None:
            nodes.append(more)
    return Picture(nodes=nodes, edges=drawn, totals=totals, omitted=omitted)


def of_report(report, root: str, limits: Limits = Limits()) -> Picture | None:
    """The picture of one spec of a report (None when the report holds no such document)."""
    doc = report.documents.get(root)
    if doc is None:
        return None
    files = set(doc.files) | {root}
    own = [d for d in report.diagnostics if d.span.file in files]
    return build(doc, report.analysis.get(root) or {}, own, limits)


# ---- Mermaid -----------------------------------------------------------------------------------

#: Characters written as they are in a Mermaid label; every other one becomes an entity code.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,_-+/'?!")
#: Mermaid's own line break inside a label (the only markup the writer emits).
BREAK = "<br/>"


def mermaid_text(text: object, limit: int = 60) -> str:
    """Untrusted text made inert inside a quoted Mermaid label: one line (runs of blanks and line
    breaks become one space), at most ``limit`` characters (…), and every character outside
    ``_PLAIN`` written as ``#NNN;``, which Mermaid turns back into that character (as HTML text).

    Why each matters (Mermaid's flowchart lexer, flow.jison, and its entity pass):
    a ``"`` would end the label; ``"`` then a backtick opens a Markdown string; ``%%{...}%%``
    anywhere is read as a directive (``init`` can change the security level); ``#name;`` is an
    entity; ``style...:...#...;`` and ``classDef`` lines lose their last ``;``; ``<`` starts HTML;
    a bidi override (U+202E) would reorder what is shown, so it is written as ``\\u202e`` first;
    backticks could close the Markdown fence around the diagram; brackets, pipes and braces end a
    node's shape or an edge's text."""
    s = printable(" ".join(str(text).split()))  # control and bidi characters as visible escapes
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return "".join(c if c in _PLAIN else f"#{ord(c)};" for c in s)


_SHAPES = {"mission": ('(["', '"])'), "failure": ('["', '"]'), "kpi": ('("', '")'), "lever": ('[/"', '"/]'),
           "disturbance": ('[\\"', '"\\]'), "more": ('[["', '"]]')}
_CLASSES = {
    "mission": "fill:#1f4e79,color:#ffffff,stroke:#1f4e79",
    "failure": "fill:#fdecea,stroke:#b3261e,color:#1d1d1f",
    "kpi": "fill:#ffffff,stroke:#555555,color:#1d1d1f",
    "lever": "fill:#e3f2fd,stroke:#1565c0,color:#1d1d1f",
    "disturbance": "fill:#fff3e0,stroke:#e65100,color:#1d1d1f",
    "more": "fill:#f4f4f4,stroke:#999999,stroke-dasharray:4 3,color:#1d1d1f",
    "met": "stroke:#2e7d32,stroke-width:3px",
    "missed": "stroke:#c62828,stroke-width:3px",
    "unguarded": "stroke:#c62828,stroke-dasharray:5 3",
}


def _mermaid_label(node: Node) -> str:
    if node.kind == "mission":
        return "Mission" + BREAK + mermaid_text(node.label, 90)
    if node.kind == "more":
        return mermaid_text(node.label)
    lines = [mermaid_text(node.name, 40)]
    if node.label:
        lines.append(mermaid_text(node.label, 44))
    if node.kind == "kpi":
        lines += [mermaid_text(f.replace(" (median of the last ", " (last ")) for f in node.facts]
    if node.kind == "failure" and node.status == "unguarded":
        lines.append("guarded by no KPI")
    if node.findings:
        lines.append(mermaid_text(findings_words(node.findings)))
    return BREAK.join(lines)


def mermaid(picture: Picture, direction: str = "LR") -> str:
    """The picture as a Mermaid flowchart (no fence): failures in one subgraph per level."""
    out = [f"flowchart {direction}"]
    def node_line(n: Node, indent: str = "  ") -> str:
        a, b = _SHAPES[n.kind]
        return f"{indent}{n.key.replace('-', '_')}{a}{_mermaid_label(n)}{b}"

    for n in picture.nodes:
        if n.kind != "failure" and n.column != 1:
            out.append(node_line(n))
    levels = list(dict.fromkeys(n.level for n in picture.nodes if n.kind == "failure"))
    for i, level in enumerate(levels):
        out.append(f'  subgraph level{i}["{mermaid_text(level or "no level")}"]')
        out += [node_line(n, "    ") for n in picture.nodes if n.kind == "failure" and n.level == level]
        out.append("  end")
    more = [n for n in picture.nodes if n.kind == "more" and n.column == 1]
    out += [node_line(n) for n in more]
    for e in picture.edges:
        s, t = e.source.replace("-", "_"), e.target.replace("-", "_")
        text = e.text()
        if e.kind in ("responds", "disturbed"):
            # Written KPI first, so the levers and disturbances are laid out right of the KPIs
            # they move. Mermaid has no arrowhead at a link's start (`<---` is an open link), so
            # the label points: "← +0.4" reads KPI ← lever.
            label = f'|"{mermaid_text("← " + text)}"| ' if text else " "
            out.append(f"  {t} {'<-.-' if e.kind == 'disturbed' else '<---'}{label}{s}")
        else:
            label = f'|"{mermaid_text(text)}"| ' if text else " "
            out.append(f"  {s} -->{label}{t}")
    # a lever or disturbance that moves no KPI drawn: tied to the KPI column by an invisible link,
    # so it sits with the others, not beside the mission
    anchor = next((n.key for n in picture.nodes if n.column == 2), None)
    linked = {e.source for e in picture.edges} | {e.target for e in picture.edges}
    if anchor is not None:
        out += [f"  {anchor.replace('-', '_')} ~~~ {n.key.replace('-', '_')}" for n in picture.nodes
                if n.column == 3 and n.key not in linked]
    for cls, style in _CLASSES.items():
        out.append(f"  classDef {cls} {style}")
    groups: dict[str, list[str]] = {}
    for n in picture.nodes:
        groups.setdefault(n.kind, []).append(n.key.replace("-", "_"))
        if n.status in ("met", "missed", "unguarded"):
            groups.setdefault(n.status, []).append(n.key.replace("-", "_"))
    for cls, keys in groups.items():
        out.append(f"  class {','.join(keys)} {cls}")
    return "\n".join(out) + "\n"


def summary(picture: Picture) -> dict[str, Any]:
    """Counts of what is drawn (the tests compare them with the spec)."""
    kinds: dict[str, int] = {}
    for n in picture.nodes:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    edges: dict[str, int] = {}
    for e in picture.edges:
        edges[e.kind] = edges.get(e.kind, 0) + 1
    return {"nodes": kinds, "edges": edges}


# ---- where the reports put it --------------------------------------------------------------------


def worth_drawing(doc: Document | None) -> bool:
    """A picture says something once the spec has a key failure or a KPI."""
    return doc is not None and bool(doc.failures or doc.kpis)
