"""Go to definition, find references, rename, and the outline (document symbols)."""

from __future__ import annotations

import re

from lsprotocol import types

from metricsense.model import KPI, Disturbance, Document, Failure, Include, Lever, Mission, Trigger, TrustSignal
from metricsense.lsp import names
from metricsense.lsp.positions import Files

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Words a new name may not be (statement keywords would make the spec unreadable).
RESERVED = {"mission", "lever", "disturbance", "failure", "kpi", "trigger", "trust", "include", "data", "target",
            "abs", "of", "and", "or", "not", "when", "for"}


def occurrence_at(doc: Document | None, file: str, line: int, column: int) -> names.Occurrence | None:
    return names.at(doc, file, line, column) if doc is not None else None


def definition(doc: Document, name: str, files: Files) -> list[types.Location]:
    found = doc.lookup(name)
    if found is None:
        return []
    loc = files.location(found.name_span)
    return [loc] if loc is not None else []


def references(doc: Document, name: str, files: Files, include_declaration: bool = True) -> list[types.Location]:
    out = []
    for occ in names.of_name(doc, name):
        if occ.declaration and not include_declaration:
            continue
        loc = files.location(occ.span)
        if loc is not None:
            out.append(loc)
    return out


class RenameError(ValueError):
    """A rename that would break the spec (the message says why)."""


def rename(doc: Document, name: str, new: str, files: Files) -> types.WorkspaceEdit:
    """Every declaration and use of ``name`` (across includes) renamed to ``new``."""
    if not NAME.match(new):
        raise RenameError(f"`{new}` is not a name: a letter or _, then letters, digits or _")
    if new in RESERVED:
        raise RenameError(f"`{new}` is a keyword of the language")
    if new != name and doc.lookup(new) is not None:
        raise RenameError(f"`{new}` is already declared ({doc.lookup(new).name_span})")
    changes: dict[str, list[types.TextEdit]] = {}
    for occ in names.of_name(doc, name):
        uri = files.uri(occ.span.file)
        if uri is not None:
            changes.setdefault(uri, []).append(types.TextEdit(range=files.range(occ.span), new_text=new))
    return types.WorkspaceEdit(changes=changes)


_SYMBOL_KIND = {
    Mission: types.SymbolKind.Module, Lever: types.SymbolKind.Property, Disturbance: types.SymbolKind.Event,
    Failure: types.SymbolKind.Constant, KPI: types.SymbolKind.Variable, Trigger: types.SymbolKind.Function,
    TrustSignal: types.SymbolKind.Interface, Include: types.SymbolKind.File,
}


def symbols(statements, files: Files) -> list[types.DocumentSymbol]:
    """The outline of one file: mission, levers, disturbances, failures, KPIs, triggers, trust, includes."""
    out = []
    for s in statements:
        kind = _SYMBOL_KIND.get(type(s))
        if kind is None:
            continue
        rng = files.range(s.span)
        if isinstance(s, Mission):
            name, detail, sel = "mission", s.text, rng
        elif isinstance(s, Include):
            name, detail, sel = f"include {s.path}", None, rng
        else:
            name, sel = s.name, files.range(s.name_span)
            detail = names.kind_of(s) + (f" {s.label}" if getattr(s, "label", None) else "")
        out.append(types.DocumentSymbol(name=name, detail=detail, kind=kind, range=rng, selection_range=sel))
    return out
