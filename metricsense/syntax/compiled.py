"""The compiled parser (metricsense._lalr) on Lark's own tables, when it can be had.

`parse(text, builder)` returns (statements, comments) or raises; the caller then parses with
Lark, which owns every error message. METRICSENSE_PUREPYTHON=1 turns the compiled parser off.
"""

from __future__ import annotations

import importlib
import os


class Token(str):
    """A terminal as the ModelBuilder methods read it (the attributes of Lark's Token)."""

    __slots__ = ("type", "value", "start_pos", "line", "column", "end_line", "end_column", "end_pos")


_parser = None  # the compiled parser, False when it is not to be had


def available() -> bool:
    return _get() is not None


def _get():
    global _parser
    if _parser is None:
        _parser = _load() or False
    return _parser or None


def _load():
    if os.environ.get("METRICSENSE_PUREPYTHON") == "1":
        return None
    try:
        _lalr = importlib.import_module("metricsense._lalr")  # the compiled driver (not the facade)
    except ImportError:
        return None
    from metricsense.syntax import tables
    from metricsense.syntax.grammar import grammar_text, lark_parser

    grammar = grammar_text()
    cached = tables.load_cached(grammar)
    if cached is not None:
        try:
            return _lalr.Parser(cached, Token)
        except Exception:  # noqa: BLE001 - a cache file that does not fit: extract the tables again
            pass
    try:
        data = tables.extract(lark_parser())
        parser = _lalr.Parser(data, Token)
    except Exception:  # noqa: BLE001 - Unsupported, or another Lark's internals: Lark parses alone
        return None
    tables.store(grammar, data)
    return parser


def callbacks_for(builder) -> list:
    """The builder's method for each rule, in the compiled parser's rule order (kept on the builder)."""
    parser = _get()
    found = builder.__dict__.get("_lalr_callbacks")
    if found is None or found[0] is not parser:
        # NOTE: a `?rule` that always has one child needs no method (None: the parse falls back
        # to Lark if it is ever asked for one).
        rows = [None if name is None else getattr(builder, name, None) for name in parser.rule_names]
        found = builder.__dict__["_lalr_callbacks"] = (parser, rows)
    return found[1]


def parse(text: str, builder) -> tuple[list, list]:
    parser = _get()
    if parser is None:
        raise RuntimeError("the compiled parser is not available")
    return parser.parse(text, callbacks_for(builder))
