"""Suppression comments: the one comment buffer, and the line each suppression applies to."""

from __future__ import annotations

import pytest

from metricsense.syntax import suppressions
from metricsense.syntax.fmt import format_spec
from metricsense.syntax.grammar import lark_parser
from metricsense.syntax.parser import parse_text, parse_text_with_lark

SPEC = (
    "# an ordinary comment\n"
    "lever deploys  # msense: ignore[MS017]\n"
    '# msense: ignore[MS013, MS011] reason "known"\n'
    "kpi a { kind outcome }\n"
)


def _comments(text: str, **kw) -> list[str]:
    with suppressions.collecting() as buffer:
        lark_parser(**kw).parse(text)
        return [str(t) for t in buffer]


@pytest.mark.parametrize("keep_all_tokens", [False, True])
def test_the_buffer_holds_every_comment_of_a_parse(keep_all_tokens):
    assert _comments(SPEC, keep_all_tokens=keep_all_tokens) == [
        "# an ordinary comment", "# msense: ignore[MS017]", '# msense: ignore[MS013, MS011] reason "known"']


def test_the_buffer_starts_empty_and_is_emptied_after():
    suppressions.capture("# left over")
    with suppressions.collecting() as buffer:
        assert buffer == []
        suppressions.capture("# mine")
        assert buffer == ["# mine"]
    assert suppressions._buffer == []


def test_a_suppression_applies_to_its_own_line_or_the_next():
    lark = parse_text_with_lark(SPEC, "s.msense").suppressions
    assert [(s.codes, s.reason, s.line, s.span.line) for s in lark] == [
        (("MS017",), None, 2, 2), (("MS013", "MS011"), "known", 4, 3)]
    assert lark[0].span.column == 16 and lark[0].span.file == "s.msense"
    assert parse_text(SPEC, "s.msense").suppressions == lark  # the compiled parser's, where built


def test_an_ordinary_comment_suppresses_nothing():
    assert parse_text_with_lark("# msense: fine\nlever x\n").suppressions == []


def test_the_suppressions_of_a_text_with_a_syntax_error_come_before_it():
    result = parse_text_with_lark("lever x  # msense: ignore[MS017]\nkpi {\n# msense: ignore[MS011]\n")
    assert result.errors and [s.codes for s in result.suppressions] == [("MS017",)]


def test_fmt_keeps_the_lines_suppressions_apply_to():
    out = format_spec("kpi a {  # msense: ignore[MS011]\n kind outcome }\n# just a note\nlever  b\n")
    assert out == "kpi a {  # msense: ignore[MS011]\n  kind outcome\n}\n# just a note\nlever b\n"
