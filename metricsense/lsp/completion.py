"""Completion from the text before the cursor: keywords where a keyword fits, declared names
where a name fits, rule codes inside `# msense: ignore[...]`, and the values of levels,
audiences and units. The text need not parse (it rarely does while typing)."""

from __future__ import annotations

import re

from lsprotocol import types

from metricsense.model import AUDIENCES, FUNCTIONS, LEVELS

STATEMENTS = ("mission", "lever", "disturbance", "failure", "kpi", "trigger", "trust", "include", "data")
CLAUSES = {
    "kpi": ("kind", "focus", "better", "unit", "owner", "scope", "target", "link", "guards", "data", "responds",
            "disturbed", "review every", "noise"),
    "trigger": ("ask", "with"),
    "trust": ("managers", "team", "scale", "data", "gap", "min_group", "open"),
    "mission": ("why", "owner"),
    "lever": ("data", "owner", "unit", "cost"),
    "disturbance": ("data", "owner", "unit", "size", "best"),
}
VALUES = {
    "kind": LEVELS, "at": LEVELS, "focus": ("results", "relationships"), "better": ("higher", "lower"),
    "scope": ("individual", "team", "organization"), "with": AUDIENCES, "layout": ("wide", "long"),
}
TIME_UNITS = ("periods", "days", "weeks", "months", "quarters", "years")
COMMON_UNITS = ("%", "points", "hours", "days", "count", "per week")
#: Which declared names fit after a clause: guards failures, responds (and a disturbance's best) levers,
#: disturbed disturbances.
NAMES_AFTER = {"guards": ("failure",), "responds": ("lever",), "disturbed": ("disturbance",), "best": ("lever",)}

_SUPPRESSION = re.compile(r"#\s*msense:\s*ignore\s*\[([^\]]*)$")
_STRINGS = re.compile(r'"([^"\\\n]|\\.)*"')


def _code(text: str) -> str:
    """``text`` with strings blanked and a trailing comment cut (brace counting sees only code)."""
    out = []
    for line in text.split("\n"):
        line = _STRINGS.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', line)
        out.append(line.split("#", 1)[0])
    return "\n".join(out)


def enclosing_block(before: str) -> str | None:
    """The statement keyword of the innermost `{` still open before the cursor, or None at top level."""
    stack: list[str] = []
    for line in _code(before).split("\n"):
        head = re.match(r"\s*(\w+)", line)
        for ch in line:
            if ch == "{":
                stack.append(head.group(1) if head else "block")
            elif ch == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _item(label: str, kind: types.CompletionItemKind, detail: str | None = None, doc: str | None = None,
          sort: str | None = None) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail, sort_text=sort,
                                documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc)
                                if doc else None)


def _keywords(words) -> list[types.CompletionItem]:
    return [_item(w, types.CompletionItemKind.Keyword) for w in words]


def _values(words) -> list[types.CompletionItem]:
    return [_item(w, types.CompletionItemKind.EnumMember) for w in words]


def _names(names: dict[str, str], kinds: tuple[str, ...] | None) -> list[types.CompletionItem]:
    kind = {"kpi": types.CompletionItemKind.Variable, "lever": types.CompletionItemKind.Property,
            "disturbance": types.CompletionItemKind.Event, "failure": types.CompletionItemKind.Constant,
            "trigger": types.CompletionItemKind.Function, "trust": types.CompletionItemKind.Interface}
    return [_item(n, kind.get(k, types.CompletionItemKind.Text), k)
            for n, k in sorted(names.items()) if kinds is None or k in kinds]


def complete(line_before: str, text_before: str, names: dict[str, str], registry, units=()) -> list[types.CompletionItem]:
    """What fits at the cursor. ``line_before`` is its line up to the cursor, ``text_before`` the
    whole text up to it; ``names`` maps declared names (across includes) to their kind."""
    sup = _SUPPRESSION.search(line_before)
    if sup is not None:
        taken = {c.strip() for c in sup.group(1).split(",")}
        rules = sorted(registry.rules.values(), key=lambda r: r.code)
        items = [_item(r.code, types.CompletionItemKind.Value, r.name, r.summary) for r in rules if r.code not in taken]
        items += [_item(r.name, types.CompletionItemKind.Value, r.code, r.summary, sort="~" + r.name)
                  for r in rules if r.name not in taken]
        return items
    blanked = _STRINGS.sub("", line_before)
    if blanked.count('"') % 2 == 1:  # inside a string: only a unit's
        return _values(sorted(set(units) | set(COMMON_UNITS))) if re.search(r'\bunit\s+"[^"]*$', line_before) else []
    if "#" in blanked:
        return []  # inside a comment
    code = _code(line_before)
    words = code.split()
    typing = bool(words) and not code.endswith((" ", "\t", ","))
    done = words[:-1] if typing else words  # the words before the one being typed
    prev = done[-1] if done else None
    if prev in VALUES:
        return _values(VALUES[prev])
    if prev is not None and prev.isdigit() and len(done) >= 2 and done[-2] in ("for", "lag", "every"):
        return _values(TIME_UNITS)
    clause = _list_clause(code)
    if clause is not None:
        return _names(names, NAMES_AFTER[clause])
    block = enclosing_block(text_before)
    head = re.match(r"\s*trigger\s+\w+\s+when\b", code)
    if head is not None and "{" not in code:
        return _names(names, ("kpi", "lever", "disturbance")) + _keywords(("target", "abs", "and", "or", "not", "for")) + \
            [_item(f, types.CompletionItemKind.Function) for f in FUNCTIONS]
    if not done:
        if block is None:
            return _keywords(STATEMENTS)
        return _keywords(CLAUSES.get(block, ()))
    return []


def _list_clause(code: str) -> str | None:
    """`guards`, `responds`, `disturbed` or `best` when the cursor is where that clause's next name goes."""
    m = re.search(r"\b(guards|responds|disturbed|best)\b([^{}]*)$", code)
    if m is None:
        return None
    rest = m.group(2)
    if not rest.strip():
        return m.group(1) if code.endswith((" ", "\t")) else None
    # After a comma (and maybe part of a name), or while typing the first name.
    if re.fullmatch(r"\s+\w*", rest) or re.search(r",\s*\w*$", rest):
        return m.group(1)
    return None
