"""Syntax errors name the whole word that is wrong, and say which word was meant."""

from __future__ import annotations

import pytest

from metricsense.syntax.parser import parse_text


@pytest.mark.parametrize("text, word, expected, meant", [
    ("kpi a {\n  kind outcomes\n}\n", "outcomes", "one of input, process, output, outcome", "outcome"),
    ("trigger t when a < 1 {\n  with teams\n}\n", "teams",
     "one of one-to-one, team, manager, leadership, all-hands", "team"),
    ('failure f "F" at inputs\n', "inputs", "one of input, process, output, outcome", "input"),
])
def test_a_value_with_letters_too_many_is_named_whole(text, word, expected, meant):
    [error] = parse_text(text, "x.msense").errors
    assert error.message == f"unexpected `{word}`; expected {expected}"
    line = text.split("\n")[error.span.line - 1]
    assert line[error.span.column - 1: error.span.end_column - 1] == word
    assert error.help == f"did you mean `{meant}`?"


@pytest.mark.parametrize("text, meant", [
    ("kip a {\n}\n", "kpi"),
    ("kpi a {\n  beter higher\n}\n", "better"),
    ("kpi a {\n  respond x +1\n}\n", "responds"),
])
def test_a_misspelt_keyword_gets_a_did_you_mean(text, meant):
    [error] = parse_text(text, "x.msense").errors
    assert error.help == f"did you mean `{meant}`?"


def test_no_did_you_mean_when_nothing_is_close():
    [error] = parse_text("kpi a {\n  zzz\n}\n", "x.msense").errors
    assert error.help is None
