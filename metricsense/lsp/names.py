"""Where each declared name is declared and used, across a spec's includes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from metricsense.model import (
    KPI, Disturbance, Document, Failure, Lever, Ref, Trigger, TrustSignal, walk_expr,
)
from metricsense.span import Span

KINDS = {KPI: "kpi", Lever: "lever", Disturbance: "disturbance", Failure: "failure", Trigger: "trigger",
         TrustSignal: "trust"}

#: A declaration at the start of a line (what completion offers while the text does not parse).
DECLARATION = re.compile(r"^[ \t]*(lever|disturbance|failure|kpi|trigger|trust)[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.M)


@dataclass(frozen=True)
class Occurrence:
    name: str
    span: Span  # the name itself
    declaration: bool
    node: object  # the declaring statement, or the statement the use is in


def _name_span(span: Span, name: str) -> Span:
    """The span of ``name`` at the start of ``span`` (a gain `deploys +0.2`, a series `estimate.self`)."""
    return Span(span.file, span.line, span.column, span.line, span.column + len(name))


def occurrences(doc: Document) -> list[Occurrence]:
    """Every declaration and every use of a name, in source order per statement."""
    out: list[Occurrence] = []
    for s in doc.named():
        out.append(Occurrence(s.name, s.name_span, True, s))
        if isinstance(s, KPI):
            for ref in s.guards:
                out.append(Occurrence(ref.name, _name_span(ref.span, ref.name), False, s))
            for gain in (*s.responds, *s.disturbed):
                out.append(Occurrence(gain.name, _name_span(gain.span, gain.name), False, s))
        elif isinstance(s, Trigger):
            for node in walk_expr(s.condition):
                if isinstance(node, Ref):
                    out.append(Occurrence(node.name, _name_span(node.span, node.name), False, s))
    return out


def at(doc: Document, file: str, line: int, column: int) -> Occurrence | None:
    """The occurrence under 1-based (line, column) of ``file``."""
    for occ in occurrences(doc):
        sp = occ.span
        if sp.file == file and sp.line == line and sp.column <= column <= sp.end_column:
            return occ
    return None


def of_name(doc: Document, name: str) -> list[Occurrence]:
    return [o for o in occurrences(doc) if o.name == name]


def kind_of(node) -> str:
    return KINDS.get(type(node), "name")


INCLUDE = re.compile(r'^[ \t]*include[ \t]+"([^"\\\n]+)"', re.M)


def declared_in_text(text: str) -> dict[str, str]:
    """name -> kind for every declaration a text starts a line with (it need not parse)."""
    return {m.group(2): m.group(1) for m in DECLARATION.finditer(text)}


def declared_with_includes(text: str, path, read, limit: int = 64) -> dict[str, str]:
    """declared_in_text for ``text`` and the files it includes, followed by their `include` lines
    (relative to ``path``, a file); ``read(path)`` gives a file's text or None."""
    found = declared_in_text(text)
    if path is None:
        return found
    seen = {path}
    todo = [(path, text)]
    while todo and len(seen) < limit:
        here, body = todo.pop()
        for m in INCLUDE.finditer(body):
            target = (here.parent / m.group(1)).resolve()
            if target in seen:
                continue
            seen.add(target)
            other = read(target)
            if other is not None:
                for name, kind in declared_in_text(other).items():
                    found.setdefault(name, kind)
                todo.append((target, other))
    return found
