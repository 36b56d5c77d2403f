"""Hover: a rule's explanation on its code or name, a declaration's summary on a name."""

from __future__ import annotations

from lsprotocol import types

from metricsense.diagnostics import CODE_PATTERN
from metricsense.model import KPI, Disturbance, Document, Failure, Gain, Lever, Target, Trigger, TrustSignal
from metricsense.lsp.names import kind_of


def rule_markdown(rule) -> str:
    """A rule as `msense explain` shows it, in Markdown."""
    head = f"**{rule.code}** `{rule.name}` ({rule.severity})\n\n{rule.summary}"
    return head + (f"\n\n{rule.explanation}" if rule.explanation else "")


def rule_hover(registry, word: str):
    """The rule a word names (a code such as MS013, or a kebab-case name), or None."""
    if not (CODE_PATTERN.match(word.upper()) or "-" in word):
        return None
    return registry.get(word)


def _num(x: float) -> str:
    return f"{x:g}"


def target_text(t: Target) -> str:
    what = f"{t.comparison} {_num(t.value)}" if t.value is not None else f'"{t.words}"' if t.words else "?"
    return what + (f" by {t.by.isoformat()}" if t.by else "")


def _gains(gains: tuple[Gain, ...]) -> str:
    return ", ".join(f"`{g.name}` {g.value:+g}" + (f" (lag {g.lag.count} {g.lag.unit}s)" if g.lag else "")
                     for g in gains)


def _moved_by(doc: Document, name: str, attr: str) -> list[str]:
    return [f"`{k.name}` {g.value:+g}" for k in doc.kpis for g in getattr(k, attr) if g.name == name]


def _label(node) -> str:
    label = getattr(node, "label", None)
    return f' "{label}"' if label else ""


def declaration_markdown(node, doc: Document, analysis: dict | None = None) -> str:
    """What hovering a declared name shows: its kind, label, and what ties it to the rest."""
    lines = [f"**{kind_of(node)}** `{node.name}`{_label(node)}"]
    if isinstance(node, KPI):
        facts = [f"{k} {v}" for k, v in (("kind", node.kind), ("focus", node.focus), ("better", node.better),
                                         ("scope", node.scope)) if v]
        if node.unit:
            facts.append(f'unit "{node.unit}"')
        if facts:
            lines.append(" · ".join(facts))
        lines.append(f"target {target_text(node.target)}" if node.target else "no target")
        if node.link:
            lines.append(f"link: {node.link}")
        if node.responds:
            lines.append(f"responds to {_gains(node.responds)}")
        if node.disturbed:
            lines.append(f"disturbed by {_gains(node.disturbed)}")
        if node.guards:
            lines.append("guards " + ", ".join(f"`{g.name}`" for g in node.guards))
        if node.noise is not None:
            lines.append(f"noise {_num(node.noise.value)} typical moves (declared, for `msense select`)")
        lines += _noise_lines(node, analysis)
    elif isinstance(node, Lever):
        if node.owner:
            lines.append(f'owner "{node.owner}"')
        moves = _moved_by(doc, node.name, "responds")
        lines.append("moves " + ", ".join(moves) if moves else "moves no KPI")
        if node.cost is not None:
            lines.append(f"cost {_num(node.cost.value)} of being off its best setting (for `msense select`)")
    elif isinstance(node, Disturbance):
        hits = _moved_by(doc, node.name, "disturbed")
        lines.append("disturbs " + ", ".join(hits) if hits else "disturbs no KPI")
        if node.size is not None:
            lines.append(f"size {_num(node.size.value)} typical moves (for `msense select`)")
        if node.best:
            lines.append("best lever response " + _gains(node.best))
    elif isinstance(node, Failure):
        lines.append(f"at {node.level}")
        guards = [f"`{k.name}`" for k in doc.kpis if any(g.name == node.name for g in k.guards)]
        lines.append("guarded by " + ", ".join(guards) if guards else "no KPI guards it")
    elif isinstance(node, Trigger):
        if node.duration:
            lines.append(f"for {node.duration.count} {node.duration.unit}s")
        if node.ask:
            lines.append(f"ask: {node.ask}")
        if node.audience:
            lines.append(f"with {node.audience}")
    elif isinstance(node, TrustSignal):
        for what in ("managers", "team"):
            if getattr(node, what):
                lines.append(f"{what}: {getattr(node, what)}")
        if node.scale:
            lines.append(f"scale {node.scale[0]}..{node.scale[1]}")
        if node.gap is not None:
            lines.append(f"gap > {_num(node.gap)}")
        if node.min_group is not None:
            lines.append(f"min_group {node.min_group}")
    lines.append(f"declared at {node.name_span}")
    return "\n\n".join(lines)


def _noise_lines(kpi: KPI, analysis: dict | None) -> list[str]:
    """The level and noise of a KPI's series, when the data was read (the noise analysis)."""
    noise = (analysis or {}).get("noise")
    entry = getattr(noise, "kpis", {}).get(kpi.name) if noise is not None else None
    if entry is None or getattr(entry, "changes", None) is None:
        return []
    out = []
    if entry.level is not None:
        out.append(f"data: level {_num(entry.level)} (median of the last {entry.level_periods} periods)")
    if entry.noise is not None:
        out.append(f"noise {_num(entry.noise)} per period (robust, from {entry.changes} changes)")
    if entry.target_gap is not None and entry.gap_in_noise is not None:
        out.append(f"target gap {_num(entry.target_gap)} = {entry.gap_in_noise:.1f} × noise")
    return out


def hover(markdown: str, rng: types.Range | None = None) -> types.Hover:
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown), range=rng)
