"""`msense fmt`: one canonical layout for .msense specs (and ```msense fences in Markdown).

Keeps every comment, never changes meaning, and is idempotent. The layout:
- one statement per line, a block's clauses one per line indented two spaces, `}` on its own line;
- single spaces between tokens, none inside `f(x, k)`, `a.b`, `1..5`, `25%`, `+0.2`;
- blank lines kept where the author put them, at most one in a row, none just inside `{` and `}`;
- runs of one-line `lever`, `disturbance` and `failure` statements aligned in columns;
- a comment at the end of a line stays there (two spaces before `#`); a comment on its own line
  stays before what followed it;
- the tokens of a line a suppression applies to stay together on a line of their own (a
  statement written over lines keeps that line apart, indented one more level; a one-line
  block stays on one line), so the suppression applies to the same nodes as before.

Every result is parsed again and compared with the original (spans aside, but with the nodes
each suppression applies to): a formatting that would change meaning raises FormatError
instead of being written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass

from lark import Token, Tree
from lark.exceptions import LarkError

from metricsense.span import Span
from metricsense.syntax import suppressions
from metricsense.syntax.grammar import lark_parser
from metricsense.syntax.parser import parse_text

INDENT = "  "
_ALIGNED = {"lever", "disturbance", "failure"}


class FormatError(Exception):
    """The text does not parse, or formatting it would change its meaning."""


def _normalise(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---- tokens with their spacing ---------------------------------------------------------------


@dataclass
class _Piece:
    tok: Token
    glue: bool  # no space before this piece


def _pieces(node, parent: str = "") -> list[_Piece]:
    """The tokens of a subtree in order, each marked with whether a space goes before it.

    An explicit stack, not recursion: a condition may nest parentheses thousands deep (the
    parser accepts any depth of them), deeper than Python's recursion limit.
    """
    out: list[_Piece] = []
    # A frame: the node's children, the next child's index, the node's rule, whether the next
    # child is glued to what precedes it, where its pieces start in `out`, and whether the
    # parent glues this node's first piece.
    stack: list[list] = []

    def push(n, rule_of_token: str, glued: bool) -> None:
        children = n.children if isinstance(n, Tree) else [n]
        rule = n.data if isinstance(n, Tree) else rule_of_token
        stack.append([children, 0, rule, False, len(out), glued])

    push(node, parent, False)
    while stack:
        frame = stack[-1]
        children, i, rule = frame[0], frame[1], frame[2]
        if i == len(children):
            stack.pop()
            if frame[5] and len(out) > frame[4]:
                out[frame[4]].glue = True
            continue
        frame[1] = i + 1
        child = children[i]
        if child is None:
            continue
        if isinstance(child, Tree):
            glued, frame[3] = frame[3], False
            push(child, child.data, glued)
            continue
        v = str(child)
        glue = frame[3] or v in (",", ")", "%", "..") or (v == "." and rule == "ref")
        if v == "(" and rule in ("call", "target_ref", "abs_"):
            glue = True
        out.append(_Piece(child, glue))
        frame[3] = (v in ("(", "..") or (v == "." and rule == "ref")
                    or (child.type == "ADD_OP" and rule in ("neg", "signed_number", "target_number")))
    return out


def _join(pieces: list[_Piece]) -> str:
    text = ""
    for i, p in enumerate(pieces):
        text += ("" if i == 0 or p.glue else " ") + str(p.tok)
    return text


# ---- lines -----------------------------------------------------------------------------------


@dataclass
class _Line:
    indent: int
    pieces: list[_Piece] = field(default_factory=list)
    comment: str | None = None  # a comment on its own line
    trailing: str | None = None
    first: int = 0  # original line of its first item
    last: int = 0  # original line of its last item
    opens: bool = False  # ends with `{`
    closes: bool = False  # is `}`
    columns: list[str] | None = None  # a one-line statement that may be aligned
    keyword: str | None = None

    def text(self, widths: dict[int, int] | None = None) -> str:
        if self.comment is not None:
            body = self.comment
        elif self.columns is not None and widths:
            cols = [c.ljust(widths[i]) if i in widths and i < len(self.columns) - 1 else c
                    for i, c in enumerate(self.columns)]
            body = " ".join(cols)
        else:
            body = _join(self.pieces)
        if self.trailing is not None:
            body += "  " + self.trailing
        return INDENT * self.indent + body


def _block(stmt: Tree):
    """(header pieces, clause subtrees, `{` token, `}` token) of a statement; no block: clauses None."""
    kids = [c for c in stmt.children if c is not None]
    for i, c in enumerate(kids):
        if isinstance(c, Tree) and c.data in ("mission_body", "item_body", "lever_body", "disturbance_body"):
            inner = [x for x in c.children if x is not None]
            head = Tree(stmt.data, kids[:i])
            return head, inner[1:-1], inner[0], inner[-1], kids[i + 1:]
        if isinstance(c, Token) and c == "{":
            close = max(j for j, x in enumerate(kids) if isinstance(x, Token) and x == "}")
            return Tree(stmt.data, kids[:i]), kids[i + 1:close], c, kids[close], kids[close + 1:]
    return stmt, None, None, None, []


def _code_line(indent: int, pieces: list[_Piece]) -> _Line:
    toks = [p.tok for p in pieces]
    return _Line(indent, pieces, first=min(t.line for t in toks), last=max(t.end_line for t in toks))


def _layout(tree: Tree) -> list[_Line]:
    lines: list[_Line] = []
    for stmt in tree.children:
        head, clauses, lbrace, rbrace, after = _block(stmt)
        if clauses is None:
            line = _code_line(0, _pieces(stmt, stmt.data))
            if stmt.data in _ALIGNED:
                line.keyword = stmt.data
                kids = [c for c in stmt.children if c is not None]
                cols = [_join(_pieces(kids[0], stmt.data)), _join(_pieces(kids[1], stmt.data))]
                rest = kids[2:]
                if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
                    cols.append(str(rest[0]))
                    rest = rest[1:]
                    line.keyword += ":label"
                if rest:
                    cols.append(_join(_pieces(Tree(stmt.data, rest), stmt.data)))
                line.columns = cols
            lines.append(line)
            continue
        header = _pieces(head, stmt.data) + [_Piece(lbrace, False)]
        hl = _code_line(0, header)
        hl.opens = True
        lines.append(hl)
        for clause in clauses:
            lines.append(_code_line(1, _pieces(clause, clause.data if isinstance(clause, Tree) else stmt.data)))
        cl = _code_line(0, [_Piece(rbrace, False)] + _pieces(Tree(stmt.data, after), stmt.data))
        cl.closes = True
        lines.append(cl)
    return lines


def _attach(lines: list[_Line], comments: list[Token], text: str) -> list[_Line]:
    """Place comments: trailing ones after their line, own-line ones before the next token."""
    index = {}  # id of token -> line number in `lines`
    order: list[Token] = []
    for n, line in enumerate(lines):
        for p in line.pieces:
            index[id(p.tok)] = n
            order.append(p.tok)
    order.sort(key=lambda t: t.start_pos)
    starts = [t.start_pos for t in order]
    before: dict[int, list[Token]] = {}
    trailing: dict[int, list[Token]] = {}
    tail: list[Token] = []
    import bisect

    for c in comments:
        k = bisect.bisect_left(starts, c.start_pos)
        prev = order[k - 1] if k > 0 else None
        line_start = text.rfind("\n", 0, c.start_pos) + 1
        own_line = not text[line_start:c.start_pos].strip()
        if not own_line and prev is not None:
            trailing.setdefault(index[id(prev)], []).append(c)
        elif k < len(order):
            before.setdefault(index[id(order[k])], []).append(c)
        else:
            tail.append(c)
    out: list[_Line] = []
    for n, line in enumerate(lines):
        moved = sorted(before.get(n, []), key=lambda t: t.start_pos)
        ends = sorted(trailing.get(n, []), key=lambda t: t.start_pos)
        # NOTE: only one comment fits at the end of a line; the others go just above it, where
        # a suppression still applies to the same line.
        moved += ends[1:]
        indent = line.indent + (1 if line.closes else 0)
        out += [_Line(indent, comment=_clean(c), first=c.line, last=c.line) for c in moved]
        if ends:
            line.trailing = _clean(ends[0])
            line.last = max(line.last, ends[0].line)
        out.append(line)
    out += [_Line(0, comment=_clean(c), first=c.line, last=c.line) for c in tail]
    return out


def _suppressed_lines(comments: list[Token], text: str) -> tuple[set[int], list[int]]:
    """The lines suppressions apply to: a comment's own, or the next when it is alone on its
    line (the parser's rule, syntax/suppressions.py `suppression`); and where those alone on their
    line are (offsets, in order)."""
    lines, alone = set(), []
    for c in comments:
        if suppressions.PATTERN.match(str(c)):
            own_line = suppressions.alone_on_its_line(c, text)
            lines.add(c.line + 1 if own_line else c.line)
            if own_line:
                alone.append(c.start_pos)
    return lines, alone


def _keep_suppressed_lines(lines: list[_Line], targeted: set[int], alone: list[int]) -> list[_Line]:
    """Give the tokens of each line a suppression applies to an output line of their own.

    A suppression applies to the nodes that start on its line. The layout joins a statement or
    clause written over several lines, and splits a block written on one line into one clause
    per line; either would change what the suppression applies to (the nodes of the joined
    lines, or only those of the clause it ends up after). So the tokens of a targeted line stay
    together, and apart from the others: a continuation line is indented one more level, and a
    one-line block stays on one line. A suppression alone on its line inside a statement also
    breaks it there (``alone``: their offsets), so it stays before the line it applies to even
    when that line holds no token (a blank line: it then applies to nothing, as written).
    """
    import bisect

    split: list[_Line] = []
    for line in lines:
        rows = [p.tok.line for p in line.pieces]
        if len(set(rows)) < 2 or not (targeted.intersection(rows) or alone):
            split.append(line)
            continue
        groups: list[list[_Piece]] = []
        for p, row, prev in zip(line.pieces, rows, [None, *line.pieces[:-1]]):
            prev_row = prev.tok.line if prev is not None else None
            between = prev is not None and bisect.bisect_left(alone, p.tok.start_pos) > bisect.bisect_left(
                alone, prev.tok.end_pos)
            if groups and not between and (row == prev_row or (row not in targeted and prev_row not in targeted)):
                groups[-1].append(p)
            else:
                groups.append([p])
        if len(groups) == 1:
            # NOTE: nothing to split: keep the line as laid out (its alignment columns too), or a
            # statement written over several lines loses its alignment on the first run only.
            split.append(line)
            continue
        for i, pieces in enumerate(groups):
            seg = _code_line(line.indent + (1 if i else 0), pieces)
            seg.opens = line.opens and i == len(groups) - 1
            seg.closes = line.closes and i == 0
            split.append(seg)
    out: list[_Line] = []
    for line in split:
        row = line.pieces[0].tok.line if line.pieces else None
        prev = out[-1] if out else None
        if (prev is not None and row in targeted and prev.pieces and line.first == line.last == row
                and prev.first == prev.last == row):
            first = _Piece(line.pieces[0].tok, False)
            merged = _code_line(prev.indent, prev.pieces + [first] + line.pieces[1:])
            merged.opens, merged.closes = line.opens, prev.closes
            out[-1] = merged
        else:
            out.append(line)
    return out


def _clean(comment: Token) -> str:
    return str(comment).rstrip()


def _render(lines: list[_Line]) -> str:
    # Alignment runs: consecutive one-line statements of one kind, no blank line or comment between.
    widths_of: dict[int, dict[int, int]] = {}
    run: list[int] = []

    def close_run():
        if len(run) > 1:
            cols = [lines[i].columns for i in run]
            widths = {1: max(len(c[1]) for c in cols)}
            if lines[run[0]].keyword.endswith(":label"):
                widths[2] = max(len(c[2]) for c in cols if len(c) > 3) if any(len(c) > 3 for c in cols) else 0
            for i in run:
                widths_of[i] = widths
        run.clear()

    blank_before = [False] * len(lines)
    for n in range(1, len(lines)):
        prev, line = lines[n - 1], lines[n]
        blank_before[n] = (line.first - prev.last > 1 and not prev.opens and not line.closes)
    for n, line in enumerate(lines):
        if line.keyword is None or blank_before[n] or (run and lines[run[-1]].keyword != line.keyword):
            close_run()
        if line.keyword is not None:
            run.append(n)
    close_run()
    out: list[str] = []
    for n, line in enumerate(lines):
        if blank_before[n] and out:
            out.append("")
        out.append(line.text(widths_of.get(n)).rstrip())
    return "\n".join(out) + "\n" if out else ""


def format_spec(text: str, *, check: bool = True) -> str:
    """The canonical layout of one spec's text. Raises FormatError when it does not parse."""
    text = _normalise(text)
    parser = lark_parser(keep_all_tokens=True)
    with suppressions.collecting() as collected:
        try:
            tree = parser.parse(text)
        except LarkError as exc:
            # the checker's own words (MS001: the line, the column, what was expected), not Lark's
            errors = parse_text(text).errors
            if errors:
                first = errors[0]
                raise FormatError(f"the spec does not parse (line {first.span.line}, column {first.span.column}): "
                                  f"{first.message}") from None
            raise FormatError(f"the spec does not parse: {str(exc).strip().splitlines()[0]}") from None
        comments = list(collected)
    lines = _layout(tree)
    targeted, alone = _suppressed_lines(comments, text)
    if targeted:
        lines = _keep_suppressed_lines(lines, targeted, alone)
    result = _render(_attach(lines, comments, text))
    if check:
        parsed = parse_text(text)
        if parsed.errors:
            # NOTE: what `check` cannot read (a condition nested past the parser's depth), fmt
            # cannot show it keeps the meaning of: refuse it, as a syntax error is refused.
            first = parsed.errors[0]
            raise FormatError(f"the spec does not parse: line {first.span.line}: {first.message}")
        if _meaning_of(parsed) != meaning(result):
            raise FormatError(_CHANGED)
    return result


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*msense(?![\w-])")


def format_markdown(text: str) -> str:
    """Format every ```msense fence of a Markdown text; everything else is left as it is."""
    text = _normalise(text)
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        m = _FENCE.match(lines[i])
        i += 1
        if not m:
            continue
        indent, fence = m.group("indent"), m.group("fence")
        body: list[str] = []
        while i < len(lines):
            s = lines[i].strip()
            if s.startswith(fence[0] * len(fence)) and not s.strip(fence[0]):
                break
            body.append(lines[i])
            i += 1
        closed = i < len(lines)
        if closed and all(not b.strip() or b.startswith(indent) for b in body) and any(b.strip() for b in body):
            try:
                new = format_spec("\n".join(b[len(indent):] for b in body)).rstrip("\n").split("\n")
                body = [indent + b if b else "" for b in new]
            except FormatError:
                pass  # a fence that does not parse alone (or at all) is kept as written
        out += body
        if closed:
            out.append(lines[i])
            i += 1
    result = "\n".join(out)
    _same_meaning(text, result, "x.md")
    return result


def format_file_text(text: str, name: str) -> str:
    return format_markdown(text) if name.endswith(".md") else format_spec(text)


# ---- meaning ---------------------------------------------------------------------------------


class _Mark:
    """An opening or closing mark in a flattened model value (never equal to a value of the model)."""

    __slots__ = ("what",)

    def __init__(self, what) -> None:
        self.what = what

    def __eq__(self, other) -> bool:
        return isinstance(other, _Mark) and other.what == self.what

    def __hash__(self) -> int:
        return hash(("_Mark", self.what))

    def __repr__(self) -> str:
        return f"<{self.what!r}>"


_END = _Mark("end")


def _is_record(value) -> bool:
    return is_dataclass(value) and not isinstance(value, type)


def without_spans(value) -> tuple:
    """A model value with every Span (and line number of a suppression) taken out, for comparing:
    flattened in pre-order (a mark opens each dataclass, list and dict, another closes it).

    An explicit stack, not recursion: a condition may nest function calls as deep as the parser
    reads them (about 490 levels), and each level is several Python frames deep in a recursive
    walk, and nested tuples compared with ``==`` recurse as well. A flat tuple does neither."""
    out: list = []
    stack: list = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Mark):
            out.append(v)
        elif isinstance(v, Span):
            out.append(None)
        elif _is_record(v):
            out.append(_Mark(type(v).__name__))
            parts = [getattr(v, f.name) for f in fields(v) if f.name != "line" and not f.name.endswith("span")]
            stack.append(_END)
            stack.extend(reversed(parts))
        elif isinstance(v, (list, tuple)):
            out.append(_Mark(("seq", len(v))))
            stack.append(_END)
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            out.append(_Mark(("map", len(v))))
            stack.append(_END)
            for k, item in reversed(list(v.items())):
                stack.append(item)
                stack.append(_Mark(("key", k)))
        else:
            out.append(v)
    return tuple(out)


def _spans(value):
    """(path, Span) of every span in a model value; the path names the node without positions.
    An explicit stack, as in without_spans."""
    stack: list = [(value, ())]
    while stack:
        v, path = stack.pop()
        if isinstance(v, Span):
            yield path, v
        elif _is_record(v):
            stack.extend((getattr(v, f.name), path + (f.name,)) for f in reversed(fields(v)))
        elif isinstance(v, (list, tuple)):
            stack.extend((item, path + (i,)) for i, item in reversed(list(enumerate(v))))


def meaning(text: str, file: str = "<string>"):
    """What a spec says, or its syntax errors: its statements without positions, and its
    suppressions, each with the nodes it applies to (those whose span starts on its line:
    a diagnostic points at a node's name or start), in no particular order."""
    return _meaning_of(parse_text(text, file))


def _meaning_of(result):
    if result.errors:
        return ("errors", len(result.errors))
    starts: dict[int, list] = {}
    for path, sp in _spans(result.statements):
        starts.setdefault(sp.line, []).append(path)
    suppressions = sorted(((s.codes, s.reason or "", s.reason is None, tuple(sorted(starts.get(s.line, ()), key=repr)))
                           for s in result.suppressions), key=repr)
    return without_spans(result.statements), tuple(suppressions)


_CHANGED = "formatting would change the spec's meaning (a bug in msense fmt: please report it)"


def _same_meaning(before: str, after: str, file: str) -> None:
    if meaning(before, file) != meaning(after, file):
        raise FormatError(_CHANGED)
