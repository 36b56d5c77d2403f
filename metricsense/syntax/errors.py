"""Syntax errors in plain words: where, what was found, what was expected, and a hint."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metricsense.diagnostics import Problem
from metricsense.model import AUDIENCES, LEVELS
from metricsense.span import Span

if TYPE_CHECKING:
    from lark import Lark
    from lark.exceptions import UnexpectedInput


#: The code every syntax problem is reported under.
CODE = "MS001"


def syntax_problem(span: Span, message: str, help: str | None = None) -> Problem:
    """A syntax problem: MS001 at ``span``, with an optional hint as its help."""
    return Problem(CODE, span, message, help)


class SpecValueError(Exception):
    """Raised while building the model for a value the grammar accepts but no one can mean."""

    def __init__(self, message: str, line: int, column: int, end_column: int) -> None:
        super().__init__(message)
        self.message, self.line, self.column, self.end_column = message, line, column, end_column


def value_problem(exc: SpecValueError, file: str) -> Problem:
    return syntax_problem(Span(file, exc.line, exc.column, exc.line, exc.end_column), exc.message)


# Labelled examples (lark's match_examples): an error in the same parser state gets the hint.
# Lark compares parser states including the stack depth, so each example is expanded: `{KPI}`
# into a KPI head with and without a label and an earlier clause, `{TRUST}` likewise, and every
# example with and without an earlier statement.
_HEADS = {
    "{KPI}": ("kpi a {", 'kpi a "A" {', "kpi a { kind outcome", 'kpi a "A" { kind outcome'),
    "{TRUST}": ("trust t {", 'trust t { team "q"'),
    "{TRIGGER}": ("trigger t when a < 1", "trigger t when a < 1 for 2 periods"),
}
SYNTAX_ERRORS: dict[str, list[str]] = {
    "write the comparison and the date: `target >= 4.5 by 2027-06-30`": [
        "{KPI} target 4.5 }",
        "{KPI} target by 2027-01-01 }",
    ],
    "put `by` before the date: `target >= 4.5 by 2027-06-30`": [
        "{KPI} target >= 4.5 2027-06-30 }",
        '{KPI} target "better" 2027-06-30 }',
    ],
    'name it with a bare word, then its label: `kpi csat "Customer satisfaction" {`': [
        'kpi "csat" {',
        'lever "deploys"',
        'failure "outages"',
        'disturbance "holiday"',
    ],
    'a KPI\'s clauses go in a block: `kpi csat "Customer satisfaction" { kind outcome }`': [
        'kpi a "A" kind outcome',
        "kpi a kind outcome",
    ],
    'say at which level the failure shows: `failure outages "Customers meet outages" at outcome`': [
        'failure f "F" kpi',
        'failure f "F"',
    ],
    "compare with `==`, not `=`": [
        "trigger t when a = 1",
        "{KPI} target = 1 }",
    ],
    'a trigger\'s question and audience go in a block: `{ ask "..." with team }`': [
        '{TRIGGER} ask "x"',
        "{TRIGGER} with team",
    ],
    "write the duration with its unit: `for 2 periods`": [
        "trigger t when a < 1 for 2 {",
    ],
    "write the scale as a range: `scale 1..5`": [
        "{TRUST} scale 1 }",
        "{TRUST} scale 1 5 }",
        "{TRUST} scale 1-5 }",
    ],
    "give each lever its gain: `responds deploys +0.2, support_hours +0.6`": [
        "{KPI} responds deploys }",
        "{KPI} responds deploys, x }",
        "{KPI} disturbed holiday }",
    ],
    "separate names with commas: `guards outages, vulns`": [
        "{KPI} guards x y }",
    ],
}


def _expand(examples: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for label, texts in examples.items():
        expanded = []
        for text in texts:
            variants = [text]
            for key, heads in _HEADS.items():
                if key in text:
                    variants = [v.replace(key, h) for v in variants for h in heads]
            expanded += variants + ['mission "m"\n' + v for v in variants]
        out[label] = expanded
    return out


_EXAMPLES = _expand(SYNTAX_ERRORS)

_FRIENDLY = {
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "INT": "a whole number",
    "DATE": "a date (YYYY-MM-DD)",
    "CMP": "a comparison (>=, <=, >, <, ==, !=)",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*` or `/`",
    "LEVEL": "a level (input, process, output or outcome)",
    "FOCUS": "a focus (results or relationships)",
    "BETTER": "a direction (higher or lower)",
    "SCOPE": "a scope (individual, team or organization)",
    "LAYOUT": "a layout (wide or long)",
    "AUDIENCE": "an audience (one-to-one, team, manager, leadership or all-hands)",
    "UNIT": "a unit (periods, days, weeks, months, quarters or years)",
    "$END": "the end of the file",
}
_STATEMENTS = ("mission", "lever", "disturbance", "failure", "kpi", "trigger", "trust", "include", "data")


def _terminal_words(parser: Lark) -> dict[str, str]:
    words = {}
    for term in parser.terminals:
        if term.pattern.type == "str":
            words[term.name] = f"`{term.pattern.value}`"
    return words


def expected_words(expected, parser: Lark) -> str:
    """'a name, `{` or the end of the file': the expected terminals in plain words."""
    words = _terminal_words(parser)
    names = set(expected)
    parts: list[str] = []
    keyword_values = {words[n].strip("`"): n for n in names if n in words}
    if all(k in keyword_values for k in _STATEMENTS):
        parts.append("a statement (" + ", ".join(_STATEMENTS) + ")")
        for k in _STATEMENTS:
            names.discard(keyword_values[k])
    for name in sorted(names, key=lambda n: (n == "$END", n not in words, words.get(n, _FRIENDLY.get(n, n)))):
        parts.append(words.get(name) or _FRIENDLY.get(name) or name.lower())
    if not parts:
        return "nothing more here"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _found(exc: UnexpectedInput, text: str) -> str:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if not ch:
            return "end of the file"
        # an invisible one (a no-break space pasted from a document) by its code point
        return f"character `{ch}`" if ch.isprintable() and ch.strip() else f"invisible character U+{ord(ch):04X}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return "end of the file"
        value = str(exc.token)
        if len(value) > 40:
            value = value[:37] + "..."
        return f"`{value}`"
    return "end of the file"


def _open_block(text: str) -> tuple[int, int, str] | None:
    """(line, column, keyword) of the innermost `{` left open at the end of ``text``."""
    stack: list[tuple[int, int, str]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        clean = re.sub(r'"([^"\\\n]|\\.)*"', lambda m: " " * len(m.group()), line)
        clean = clean.split("#", 1)[0]
        for col, ch in enumerate(clean, 1):
            if ch == "{":
                head = re.match(r"\s*(\w+)", clean)
                stack.append((lineno, col, head.group(1) if head else "block"))
            elif ch == "}" and stack:
                stack.pop()
    return stack[-1] if stack else None


#: The clauses whose value is one word of a fixed list, the list's terminal, and its words in order.
_VALUE_OF = {"kind": "LEVEL", "at": "LEVEL", "focus": "FOCUS", "better": "BETTER", "scope": "SCOPE",
             "with": "AUDIENCE", "layout": "LAYOUT"}
_VALUES = {"LEVEL": LEVELS, "AUDIENCE": AUDIENCES, "FOCUS": ("results", "relationships"),
           "BETTER": ("higher", "lower"), "SCOPE": ("individual", "team", "organization"), "LAYOUT": ("wide", "long")}
_WORD_CHAR = re.compile(r"[A-Za-z0-9_-]")


def _glued_word(exc, text: str) -> tuple[int, str, str] | None:
    """(start, word, clause) when the error is inside a word that began as a clause's value:
    `kind outcomes` lexes `outcome` and then fails at `s`, but the mistake is the whole word."""
    pos = getattr(exc, "pos_in_stream", None)
    if pos is None or not 0 < pos <= len(text) or not _WORD_CHAR.match(text[pos:pos + 1] or " "):
        return None
    start = pos
    while start > 0 and _WORD_CHAR.match(text[start - 1]):
        start -= 1
    end = pos
    while end < len(text) and _WORD_CHAR.match(text[end]):
        end += 1
    if start == pos:
        return None
    before = re.search(r"([A-Za-z_]+)[ \t]+$", text[:start])
    if before is None or before.group(1) not in _VALUE_OF:
        return None
    return start, text[start:end], before.group(1)


def _did_you_mean(word: str, candidates) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def describe(exc: UnexpectedInput, text: str, file: str, parser: Lark) -> Problem:
    """Turn a Lark error into an MS001 Problem with a span, plain words and maybe a hint (its help)."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None) or 1
    end_column = column + 1
    at_end = isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    )
    if isinstance(exc, UnexpectedToken) and not at_end:
        end_column = (exc.token.end_column or column + 1) if exc.token.end_line == exc.token.line else column + 1
    if line < 0 or column < 0 or at_end:
        # Lark reports the end of input at the last token; point just past the text instead.
        lines = text.rstrip("\n").split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        end_column = column + 1
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or set()
    message = f"unexpected {_found(exc, text)}; expected {expected_words(expected, parser)}"
    if isinstance(exc, UnexpectedCharacters) and text[exc.pos_in_stream : exc.pos_in_stream + 1] == '"':
        message = "this string is never closed: a string ends with `\"` on the same line"
    if isinstance(exc, UnexpectedToken) and not at_end and "RBRACE" in expected and column == 1:
        block = _open_block(text[: exc.token.start_pos])
        if block is not None and str(exc.token) in _STATEMENTS:
            message = (
                f"the `{block[2]}` block opened at line {block[0]}, column {block[1]} is not closed "
                f"before this `{exc.token}`; expected {expected_words(expected, parser)}"
            )
    if at_end:
        block = _open_block(text)
        if block is not None:
            message = (
                f"the file ends inside the `{block[2]}` block opened at line {block[0]}, column {block[1]}; "
                f"expected {expected_words(expected, parser)}"
            )
    hint = None
    try:
        hint = exc.match_examples(parser.parse, _EXAMPLES, use_accepts=True)
    except Exception:  # NOTE: a hint is a courtesy; never let finding one fail the report
        hint = None
    glued = None if at_end else _glued_word(exc, text)
    if glued is not None:
        start, word, clause = glued
        values = _VALUES[_VALUE_OF[clause]]
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        end_column = column + len(word)
        message = f"unexpected `{word}`; expected one of {', '.join(values)}"
        hint = hint or _did_you_mean(word, values)
    elif isinstance(exc, UnexpectedToken) and not at_end and re.fullmatch(r"[A-Za-z_][\w-]*", str(exc.token)):
        words = _terminal_words(parser)
        keywords = [words[n].strip("`") for n in expected if n in words]
        hint = hint or _did_you_mean(str(exc.token), keywords)
    return syntax_problem(Span(file, line, column, line, end_column), message, hint)
