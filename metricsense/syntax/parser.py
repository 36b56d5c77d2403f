"""Parse .msense text (or the ```msense fences of a Markdown file) into model statements.

Two parsers, one grammar. The compiled parser (metricsense._lalr, see syntax/compiled.py) runs
Lark's own LALR table and contextual lexer in C and builds the model on each reduce; it needs no
`import lark` once its tables are cached. Whenever it cannot finish (a syntax error, anything
unexpected) the text is parsed again by Lark itself (the shared parser of syntax/grammar.py):
Lark's errors, hints and recovery are the only ones. Both build the model with the same
ModelBuilder methods and positions, and read suppressions with syntax/suppressions.py.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from metricsense.diagnostics import Problem
from metricsense.model import Suppression
from metricsense.span import Span, normalise_line_ends, split_lines
from metricsense.syntax import compiled, suppressions
from metricsense.syntax.grammar import lark_parser
from metricsense.syntax.transformer import ModelBuilder, lark_transformer

_lock = threading.RLock()
_builder: ModelBuilder | None = None  # the Lark parser's transformer, built on first use
_fast_builder = ModelBuilder()  # the compiled parser's

# Where parsing resumes after an error: a line that starts, at column 1, with a statement keyword.
_RESUME = re.compile(r"^(mission|lever|disturbance|failure|kpi|trigger|trust|include|data)\b", re.M)
MAX_ERRORS = 50


def _lark_builder() -> ModelBuilder:
    global _builder
    if _builder is None:
        _builder = lark_transformer()
    return _builder


@dataclass(frozen=True)
class ParseResult:
    statements: list
    suppressions: list[Suppression]
    errors: list[Problem]  # MS001, each with a span


#: The opening line of an msense fence in Markdown: ```msense or ~~~msense, nothing after the
#: language but spaces (so ```msense-output is not a spec).
FENCE_OPEN = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*msense[ \t\r]*$", re.M)


def markdown_to_spec(text: str) -> str:
    """Keep the lines inside ```msense fences, blank out every other line (line numbers kept)."""
    out: list[str] = []
    fence: str | None = None
    for line in split_lines(text):
        stripped = line.lstrip()
        if fence is None:
            match = FENCE_OPEN.match(line)
            if match:
                fence = match.group(1)
            out.append("")
        elif stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _prepare(text: str, file: str) -> str:
    # NOTE: line ends first: a fence is found line by line, and a Markdown file with CR-only
    # (or CRLF) line ends must have its fences found, at the lines an editor shows.
    text = normalise_line_ends(text)
    if file.endswith(".md"):
        text = markdown_to_spec(text)
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # a BOM keeps its column so positions stay right
    return text


def parse_text(text: str, file: str = "<string>") -> ParseResult:
    """Parse one file's text. Syntax errors are collected (recovering at the next statement)."""
    text = _prepare(text, file)
    with _lock:
        if compiled.available():
            _fast_builder.file = file
            try:
                statements, comments = compiled.parse(text, _fast_builder)
            except Exception:  # noqa: BLE001 - Lark parses it again and owns every error
                pass
            else:
                return ParseResult(statements, suppressions.suppressions(comments, text, file), [])
        return _parse_with_lark(text, file)


def parse_text_with_lark(text: str, file: str = "<string>") -> ParseResult:
    """parse_text with Lark alone (what the compiled parser is tested against)."""
    return _parse_with_lark(_prepare(text, file), file)


def _parse_with_lark(text: str, file: str) -> ParseResult:
    from lark.exceptions import UnexpectedInput, VisitError

    from metricsense.syntax import errors

    parser = lark_parser()
    problems: list = []
    statements: list = []
    raw_comments: list = []
    offset = 0
    with _lock, suppressions.collecting() as comments:
        builder = _lark_builder()
        builder.file = file
        source = text
        while True:
            comments.clear()
            tree = None
            try:
                tree = parser.parse(source)
                statements.extend(builder.transform(tree))
                raw_comments.extend(comments)
                break
            except UnexpectedInput as exc:
                raw_comments.extend(c for c in comments if c.start_pos < exc.pos_in_stream)
                problems.append(errors.describe(exc, text, file, parser))
            except (errors.SpecValueError, VisitError, RecursionError) as exc:
                if tree is not None:
                    # NOTE: the text parsed; only values are wrong, or a condition nests deeper
                    # than the transformer can recurse. Resuming at the next line that starts with
                    # a keyword could land inside a block (`data` is a clause too) and report a
                    # `}` that is fine: read each statement on its own instead.
                    problems.extend(_value_problems(builder, tree, file))
                    raw_comments.extend(comments)
                    break
                problems.append(_value_problem(exc, file))
            if len(problems) >= MAX_ERRORS:
                break
            # Resume at the next line that starts a statement, after the error's line.
            err_line = problems[-1].span.line
            resume_at = _line_start(text, err_line + 1)
            match = _RESUME.search(text, resume_at) if resume_at is not None else None
            if match is None or match.start() <= offset:
                break
            offset = match.start()
            # Blank everything before the resume point but keep newlines: positions stay exact.
            head = text[:offset]
            source = re.sub(r"[^\n]", " ", head) + text[offset:]
            statements.clear()  # NOTE: a file with syntax errors yields no model, only diagnostics
    return ParseResult(statements if not problems else [], suppressions.suppressions(raw_comments, text, file), problems)


def _value_problem(exc: Exception, file: str) -> Problem:
    """The problem a model-building exception (SpecValueError, or VisitError around one) reports."""
    from lark.exceptions import VisitError

    from metricsense.syntax import errors

    if isinstance(exc, RecursionError):
        return _too_deep(Span(file, 1, 1, 1, 2))
    inner = exc.orig_exc if isinstance(exc, VisitError) else exc
    if isinstance(inner, errors.SpecValueError):
        return errors.value_problem(inner, file)
    meta = getattr(getattr(exc, "obj", None), "meta", None)
    line = getattr(meta, "line", 1) if meta is not None and not getattr(meta, "empty", True) else 1
    return errors.syntax_problem(Span(file, line, 1, line, 2), f"this statement cannot be read: {inner}")


def _too_deep(span: Span) -> Problem:
    from metricsense.syntax import errors

    return errors.syntax_problem(span, "an expression nests too deeply to read (thousands of levels)",
                                 "split the condition, or write it without the repeated operators")


def _value_problems(builder: ModelBuilder, tree, file: str) -> list[Problem]:
    """The value problems of a parsed text, statement by statement (all of them, in order)."""
    from lark.exceptions import VisitError

    from metricsense.syntax import errors

    found: list = []
    for stmt in tree.children:
        try:
            builder.transform(stmt)
        except (errors.SpecValueError, VisitError) as exc:
            found.append(_value_problem(exc, file))
        except RecursionError:
            # NOTE: Lark's tree transformer recurses; thousands of nested `not`, `-` or `(`
            # exhaust the stack. No reader of a KPI spec nests that deep.
            meta = stmt.meta
            found.append(_too_deep(Span(file, meta.line, meta.column, meta.line, meta.column + 1)))
        if len(found) >= MAX_ERRORS:
            break
    return found


def _line_start(text: str, line: int) -> int | None:
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos)
        if pos < 0:
            return None
        pos += 1
    return pos

