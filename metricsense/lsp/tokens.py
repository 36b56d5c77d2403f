"""Semantic tokens: keywords, declared names (declarations marked), values, strings, numbers,
comments and operators, lexed from the text (it need not parse)."""

from __future__ import annotations

import re

from metricsense.lsp.completion import CLAUSES, STATEMENTS, VALUES
from metricsense.lsp.positions import utf16_len
from metricsense.model import FUNCTIONS

TOKEN_TYPES = ["keyword", "variable", "string", "number", "comment", "operator", "enumMember", "function"]
TOKEN_MODIFIERS = ["declaration"]

KEYWORDS = set(STATEMENTS) | {w for ws in CLAUSES.values() for clause in ws for w in clause.split()} | {
    "at", "when", "for", "by", "lag", "every", "column", "period", "layout", "segment", "sql", "from", "target",
    "abs", "of", "and", "or", "not"}
_VALUE_WORDS = {w for ws in VALUES.values() for w in ws} | {
    "period", "periods", "day", "days", "week", "weeks", "month", "months", "quarter", "quarters", "year", "years"}
_DECLARES = {"lever", "disturbance", "failure", "kpi", "trigger", "trust"}

_LEXER = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<number>\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?%?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:-[a-z]+)*)
  | (?P<operator>>=|<=|==|!=|[<>+\-*/]|\.\.)
""", re.X)


def tokens(text: str, names: set[str]) -> list[tuple[int, int, int, int, int]]:
    """(line, start, length, type, modifiers) per token, in order; positions in UTF-16 units."""
    out = []
    prev_word = None
    for line_no, line in enumerate(text.split("\n")):
        for m in _LEXER.finditer(line):
            kind = m.lastgroup
            value = m.group()
            mods = 0
            if kind == "word":
                if prev_word in _DECLARES and prev_word != value:
                    kind, mods = "variable", 1
                elif value in FUNCTIONS and line[m.end():m.end() + 1] == "(":
                    kind = "function"
                elif value in _VALUE_WORDS and prev_word is not None and value not in names and (
                        prev_word in VALUES or prev_word.isdigit() or prev_word in ("every", "lag", "for")):
                    kind = "enumMember"
                elif value in names:
                    kind = "variable"
                elif value in KEYWORDS:
                    kind = "keyword"
                else:
                    kind = None
                prev_word = value
            elif kind == "number":
                prev_word = value if value.isdigit() else prev_word
            if kind is None:
                continue
            start = utf16_len(line[: m.start()]) if not line.isascii() else m.start()
            length = utf16_len(value) if not value.isascii() else len(value)
            out.append((line_no, start, length, TOKEN_TYPES.index(kind), mods))
    return out


def encode(found: list[tuple[int, int, int, int, int]]) -> list[int]:
    """The LSP's relative encoding: deltas of line and start, then length, type, modifiers."""
    data: list[int] = []
    last_line = last_start = 0
    for line, start, length, kind, mods in found:
        delta_line = line - last_line
        delta_start = start - last_start if delta_line == 0 else start
        data += [delta_line, delta_start, length, kind, mods]
        last_line, last_start = line, start
    return data
