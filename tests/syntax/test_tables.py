"""The compiled parser's tables: plain data that marshal writes, and a cache that never stops a run."""

from __future__ import annotations

import marshal

import pytest

from metricsense.syntax import tables
from metricsense.syntax.grammar import grammar_text, lark_parser


def _leaf_types(value, found=None) -> set:
    found = set() if found is None else found
    if type(value) in (tuple, list):
        for v in value:
            _leaf_types(v, found)
    else:
        found.add(type(value))
    return found


def test_the_tables_of_a_freshly_built_lark_parser_marshal_round_trip():
    """The first run after an install builds Lark's parser from the grammar (its rule names are
    lark Tokens, which marshal refuses); the tables must be plain data all the same."""
    from lark import Lark

    from metricsense.syntax import suppressions

    fresh = Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                 maybe_placeholders=True, lexer_callbacks={"COMMENT": suppressions.capture}, cache=False)
    data = tables.extract(fresh)
    assert _leaf_types(data) <= {str, int, bool, bytes, type(None)}
    assert marshal.loads(marshal.dumps(data)) == data
    # The same symbols as the shared parser's (Lark may number states and rules differently).
    assert data[:2] == tables.extract(lark_parser())[:2]


def test_plain_keeps_values_and_drops_subclasses():
    from lark import Token

    value = tables.plain((Token("RULE", "kpi"), [1, True, None, b"x"], ("a", (2,))))
    assert value == ("kpi", [1, True, None, b"x"], ("a", (2,)))
    assert type(value[0]) is str and type(value[1]) is list and value[1][1] is True
    with pytest.raises(tables.Unsupported):
        tables.plain((object(),))


def _no_tmp_left(tmp_path) -> list:
    return [p.name for p in tmp_path.rglob("*.tmp")]


def test_store_never_fails_on_tables_marshal_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = grammar_text()
    tables.store(grammar, ("kpi", object()))  # marshal: "unmarshallable object"
    assert _no_tmp_left(tmp_path) == []
    assert tables.load_cached(grammar) is None


def test_store_never_fails_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tables.os, "replace", refuse)
    tables.store(grammar_text(), ("kpi",))
    assert _no_tmp_left(tmp_path) == []
    assert tables.load_cached(grammar_text()) is None


def test_the_grammar_is_found_from_a_source_checkout(monkeypatch):
    # `python -m metricsense` inside a checkout imports the checkout's package, with no grammar_data
    from metricsense.syntax import grammar

    class Missing:
        def joinpath(self, *_):
            return self

        def read_text(self, *_):
            raise FileNotFoundError("grammar_data/metricsense.lark")

    monkeypatch.setattr(grammar.resources, "files", lambda _pkg: Missing())
    from support import ROOT

    assert grammar.grammar_text() == (ROOT / "grammar" / "metricsense.lark").read_text("utf-8")
