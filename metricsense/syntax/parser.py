"""Parse .msense text (or the ```msense fences of a Markdown file) into model statements.

Two parsers, one grammar. The compiled parser (metricsense._lalr, see syntax/compiled.py) runs
Lark's own LALR table and contextual lexer in C and builds the model on each reduce; it needs no
`import lark` once its tables are cached. Whenever it cannot finish (a syntax error, anything
unexpected) the text is parsed again by Lark itself, built once, lazily, from the grammar
installed inside the package with its tables cached on disk: Lark's errors, hints and recovery
are the only ones. Both build the model with the same ModelBuilder methods and positions.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import resources

from metricsense.model import Suppression
from metricsense.span import Span
from metricsense.syntax import compiled
from metricsense.syntax.transformer import ModelBuilder, lark_transformer

_lock = threading.RLock()
_parser = None  # the Lark parser, built on first use
_builder: ModelBuilder | None = None  # its transformer
_fast_builder = ModelBuilder()  # the compiled parser's
_comments: list = []

# Where parsing resumes after an error: a line that starts, at column 1, with a statement keyword.
_RESUME = re.compile(r"^(mission|lever|disturbance|failure|kpi|trigger|trust|include|data)\b", re.M)
MAX_ERRORS = 50


def grammar_text() -> str:
    """The grammar, as installed inside the package (wheel and editable install alike)."""
    return resources.files("metricsense").joinpath("grammar_data").joinpath("metricsense.lark").read_text("utf-8")


def _collect_comment(token):
    if "msense:" in token:
        _comments.append(token)
    return token


def lark_parser():
    """The shared Lark LALR parser (built on first use; tables cached between runs)."""
    global _parser, _builder
    with _lock:
        if _parser is None:
            _builder = lark_transformer()
            _parser = _build({})
    return _parser



def _build(kwargs):
    from lark import Lark

    options = dict(
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _collect_comment},
        cache=True,
    )
    try:
        return Lark(grammar_text(), **options, **kwargs)
    except Exception:
        if not kwargs:
            raise
        # NOTE: an incompatible lark-cython must never stop a parse: fall back to pure Lark.
        return Lark(grammar_text(), **options)


@dataclass(frozen=True)
class ParseResult:
    statements: list
    suppressions: list[Suppression]
    errors: list  # of metricsense.syntax.errors.SyntaxProblem


#: The opening line of an msense fence in Markdown: ```msense or ~~~msense, nothing after the
#: language but spaces (so ```msense-output is not a spec).
FENCE_OPEN = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*msense[ \t\r]*$", re.M)


def markdown_to_spec(text: str) -> str:
    """Keep the lines inside ```msense fences, blank out every other line (line numbers kept)."""
    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
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
    if file.endswith(".md"):
        text = markdown_to_spec(text)
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # a BOM keeps its column so positions stay right
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
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
                suppressions = [s for s in (_suppression(tok, text, file) for tok in comments) if s]
                return ParseResult(statements, suppressions, [])
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
    with _lock:
        assert _builder is not None
        _builder.file = file
        source = text
        while True:
            _comments.clear()
            tree = None
            try:
                tree = parser.parse(source)
                statements.extend(_builder.transform(tree))
                raw_comments.extend(_comments)
                break
            except UnexpectedInput as exc:
                raw_comments.extend(c for c in _comments if c.start_pos < exc.pos_in_stream)
                problems.append(errors.describe(exc, text, file, parser))
            except (errors.SpecValueError, VisitError, RecursionError) as exc:
                if tree is not None:
                    # NOTE: the text parsed; only values are wrong, or a condition nests deeper
                    # than the transformer can recurse. Resuming at the next line that starts with
                    # a keyword could land inside a block (`data` is a clause too) and report a
                    # `}` that is fine: read each statement on its own instead.
                    problems.extend(_value_problems(tree, file))
                    raw_comments.extend(_comments)
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
    suppressions = [s for s in (_suppression(tok, text, file) for tok in raw_comments) if s]
    return ParseResult(statements if not problems else [], suppressions, problems)


def _value_problem(exc: Exception, file: str):
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
    return errors.SyntaxProblem(Span(file, line, 1, line, 2), f"this statement cannot be read: {inner}")


def _too_deep(span: Span):
    from metricsense.syntax import errors

    return errors.SyntaxProblem(span, "an expression nests too deeply to read (thousands of levels)",
                                "split the condition, or write it without the repeated operators")


def _value_problems(tree, file: str) -> list:
    """The value problems of a parsed text, statement by statement (all of them, in order)."""
    from lark.exceptions import VisitError

    from metricsense.syntax import errors

    found: list = []
    for stmt in tree.children:
        try:
            _builder.transform(stmt)
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


_SUPPRESS = re.compile(
    r"#\s*msense:\s*ignore\s*\[(?P<codes>[^\]]*)\]\s*(?:reason\s+\"(?P<reason>(?:[^\"\\]|\\.)*)\")?"
)


def _suppression(tok, text: str, file: str) -> Suppression | None:
    match = _SUPPRESS.match(tok)
    if not match:
        return None
    codes = tuple(c.strip() for c in match.group("codes").split(",") if c.strip())
    reason = match.group("reason")
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    own_line = not text[line_start : tok.start_pos].strip()
    target = tok.line + 1 if own_line else tok.line
    span = Span(file, tok.line, tok.column, tok.end_line, tok.end_column)
    return Suppression(codes, reason.strip() if reason and reason.strip() else None, target, span)
