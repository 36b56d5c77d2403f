"""Suppression comments: the one comment buffer Lark's lexer fills, and what a comment suppresses.

`# msense: ignore[MS013, MS017] reason "..."` applies to its own line, or to the next line when
it stands alone on its line. The compiled parser collects its comments itself; every Lark parse
(check and fmt alike) collects them here, through the lexer callback `capture` (as miniwdl's
`WDL/_parser.py` does), one parse at a time under `collecting()`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from metricsense.model import Suppression
from metricsense.span import Span

#: A suppression comment (matched at the comment's start).
PATTERN = re.compile(
    r"#\s*msense:\s*ignore\s*\[(?P<codes>[^\]]*)\]\s*(?:reason\s+\"(?P<reason>(?:[^\"\\]|\\.)*)\")?"
)

_lock = threading.RLock()
_buffer: list = []  # the COMMENT tokens of the Lark parse under way


def capture(token):
    """Lark's lexer callback for COMMENT: keep the token for the parse under way."""
    _buffer.append(token)
    return token


@contextmanager
def collecting() -> Iterator[list]:
    """The comment buffer, empty, for one parse at a time (the caller may clear it between parses)."""
    with _lock:
        _buffer.clear()
        try:
            yield _buffer
        finally:
            _buffer.clear()


def alone_on_its_line(tok, text: str) -> bool:
    """Whether nothing but blanks comes before the comment on its line."""
    line_start = text.rfind("\n", 0, tok.start_pos) + 1
    return not text[line_start : tok.start_pos].strip()


def suppression(tok, text: str, file: str) -> Suppression | None:
    """The Suppression a comment token declares, or None when it is an ordinary comment."""
    match = PATTERN.match(tok)
    if not match:
        return None
    codes = tuple(c.strip() for c in match.group("codes").split(",") if c.strip())
    reason = match.group("reason")
    target = tok.line + 1 if alone_on_its_line(tok, text) else tok.line
    span = Span(file, tok.line, tok.column, tok.end_line, tok.end_column)
    return Suppression(codes, reason.strip() if reason and reason.strip() else None, target, span)


def suppressions(tokens, text: str, file: str) -> list[Suppression]:
    """The suppressions among comment tokens, in order."""
    return [s for s in (suppression(tok, text, file) for tok in tokens) if s]
