"""Lark's own LALR tables and contextual lexer, in a compact form the compiled parser runs on.

Everything here is read off the Lark parser built from grammar/metricsense.lark: the parse table,
the terminals each parser state's lexer tries (in Lark's order, as Lark's own regexes), which
keywords a name-like terminal turns into (Lark's "unless" callbacks), and how each rule shapes its
children (filtered tokens, inlined `_rules`, `?rule` single children, `[ ]` placeholders). Nothing
of the syntax is written down a second time. The tables are cached on disk (marshal), keyed by the
grammar text and the installed Lark, so a parse needs no `import lark` once they exist.
"""

from __future__ import annotations

import marshal
from array import array
import os
import zlib
from importlib.util import find_spec

#: Bumped whenever the layout below changes (old cache files are then ignored).
FORMAT = 2

# Rule flags (kept in step with ext/_lalr.pyx).
EXPAND1 = 1  # a `?rule` alternative without alias: one child is returned as it is
INLINE = 2  # a `_rule`: its children are spliced into the parent's


class Unsupported(Exception):
    """The Lark parser uses a feature the compiled parser does not reproduce."""


def lark_stamp() -> str:
    """Which Lark is installed (where, and its package file's size and time), without importing it."""
    spec = find_spec("lark")
    if spec is None or not spec.origin:
        return "none"
    st = os.stat(spec.origin)
    return f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}"


def cache_path(grammar: str, stamp: str) -> str | None:
    """One file per grammar and Lark installation (venvs sharing a home keep their own)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    key = zlib.crc32(stamp.encode("utf-8"), zlib.crc32(grammar.encode("utf-8")))
    return os.path.join(base, "metricsense", f"lalr-{FORMAT}-{key:08x}.marshal")


def load_cached(grammar: str) -> tuple | None:
    """The tables for this grammar and this Lark, if a cache file holds them."""
    stamp = lark_stamp()
    path = cache_path(grammar, stamp)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not (isinstance(data, tuple) and len(data) == 4 and data[0] == FORMAT):
        return None
    if data[1] != grammar or data[2] != stamp:
        return None
    return data[3]


def store(grammar: str, tables: tuple) -> None:
    """Write the tables to the cache file; a cache that cannot be written is skipped, never fatal."""
    stamp = lark_stamp()
    path = cache_path(grammar, stamp)
    if path is None:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            marshal.dump((FORMAT, grammar, stamp, tables), fh)
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError):
        # NOTE: an unwritable cache (or tables marshal refuses) only costs the next start-up the
        # table extraction; the half-written file must not stay behind.
        try:
            os.remove(tmp)
        except OSError:
            pass


def extract(lark_parser) -> tuple:
    """The compact tables of a Lark LALR parser with the contextual lexer and positions.

    Returns (terminals, nonterminals, actions, start_state, end_state, state_lexer, lexers,
    rules, ws_skip). Raises Unsupported when the parser uses anything the compiled parser
    cannot reproduce exactly (the Lark path is then used for every parse).
    """
    from lark.lexer import ContextualLexer, PatternStr
    from lark.parse_tree_builder import (
        ChildFilterLALR,
        ChildFilterLALR_NoPlaceholders,
        ExpandSingleChild,
        PropagatePositions,
    )
    from lark.parsers.lalr_analysis import Shift

    opts = lark_parser.options
    if opts.parser != "lalr" or opts.propagate_positions is not True or opts.transformer is not None:
        raise Unsupported("needs LALR, propagate_positions=True and no embedded transformer")
    if opts.postlex is not None or opts.g_regex_flags or opts.regex or opts.use_bytes:
        raise Unsupported("postlex, regex flags, the regex module and bytes are not reproduced")
    lexer = lark_parser.parser.lexer
    if type(lexer) is not ContextualLexer:
        raise Unsupported("needs the contextual lexer")
    table = lark_parser.parser.parser.parser.parse_table
    if list(table.start_states) != ["start"]:
        raise Unsupported("one start symbol only")

    terminals = sorted(t.name for t in lark_parser.terminals)
    term_id = {name: i for i, name in enumerate(terminals)}
    term_id["$END"] = len(terminals)
    terminals.append("$END")
    rules = [rule for rule, _chain in lark_parser._parse_tree_builder.rule_builders]
    nonterminals = sorted({r.origin.name for r in rules})
    nt_id = {name: len(terminals) + i for i, name in enumerate(nonterminals)}
    rule_id = {rule: i for i, rule in enumerate(rules)}
    nsym = len(terminals) + len(nonterminals)

    # Actions: 0 error, k > 0 shift to state k - 1 (also the goto of a nonterminal), k < 0 reduce
    # by rule -k - 1. States are Lark's (IntParseTable numbers them 0..n-1).
    states = sorted(table.states)
    if states != list(range(len(states))):
        raise Unsupported("parse states are not numbered 0..n-1")
    actions = [0] * (len(states) * nsym)
    for state, row in table.states.items():
        for sym, (action, arg) in row.items():
            sid = term_id[sym] if sym in term_id else nt_id[sym]
            actions[state * nsym + sid] = arg + 1 if action is Shift else -(rule_id[arg] + 1)

    # One lexer per distinct set of accepted terminals, exactly as Lark's contextual lexer scans.
    ignore = set(lark_parser.lexer_conf.ignore)
    user_callbacks = dict(lark_parser.lexer_conf.callbacks)
    if not set(user_callbacks) <= ignore:
        raise Unsupported("lexer callbacks only on ignored terminals")
    lexers: list = []
    lexer_index: dict[int, int] = {}
    state_lexer = []
    for state in states:
        basic = lexer.lexers[state]
        if id(basic) not in lexer_index:
            scanner = basic.scanner  # builds the scanner and the callbacks
            mres = []
            for mre in scanner._mres:
                groups = [(index, term_id[name]) for name, index in mre.groupindex.items() if name in term_id]
                mres.append((mre.pattern, mre.flags, groups))
            unless = []
            for name, callback in basic.callback.items():
                if name in user_callbacks and callback is user_callbacks[name]:
                    continue
                inner = getattr(callback, "scanner", None)
                if inner is None or name in user_callbacks:
                    raise Unsupported(f"callback on {name}")
                words = []
                for t in inner.terminals:
                    if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                        raise Unsupported(f"keyword {t.name} has flags")
                    words.append((t.pattern.value, term_id[t.name]))
                unless.append((term_id[name], words))
            lexer_index[id(basic)] = len(lexers)
            lexers.append((mres, unless))
        state_lexer.append(lexer_index[id(basic)])

    # Whitespace is skipped in C when the only ignored terminals are common.WS and a comment
    # that cannot start with a whitespace character (so no terminal is tried at a blank).
    by_name = {t.name: t for t in lark_parser.terminals}
    ws_skip = (
        "WS" in ignore and by_name["WS"].pattern.to_regexp() == "(?:[ \t\x0c\r\n])+"
        and not any(_may_start_with_blank(t.pattern.to_regexp()) for t in lark_parser.terminals if t.name != "WS")
    )
    comment_ids = [term_id[n] for n in sorted(ignore) if n in user_callbacks]
    ignore_ids = [term_id[n] for n in sorted(ignore)]

    rule_rows = []
    for rule, chain in lark_parser._parse_tree_builder.rule_builders:
        flags = 0
        include = None  # None: keep every child as it is
        append_none = 0
        for w in chain:
            func = getattr(w, "func", w)
            if w is ExpandSingleChild:
                flags |= EXPAND1
            elif func is ChildFilterLALR:
                include = [(i, bool(x), n) for i, x, n in w.args[0]]
                append_none = w.args[1]
            elif func is ChildFilterLALR_NoPlaceholders:
                include = [(i, bool(x), 0) for i, x in w.args[0]]
            elif w is not PropagatePositions:
                raise Unsupported(f"tree builder step {func!r}")
        name = rule.alias or rule.options.template_source or rule.origin.name
        if rule.origin.name.startswith("_") and not rule.alias:
            if flags & EXPAND1:
                raise Unsupported(f"inlined rule {name} with a single-child expansion")
            flags |= INLINE
        if flags & EXPAND1 and include and any(x for _i, x, _n in include):
            raise Unsupported(f"{name}: single-child expansion over an inlined rule")
        if include is not None:
            for i, expand, _n in include:
                sym = rule.expansion[i]
                if expand and not (not sym.is_term and sym.name.startswith("_")):
                    raise Unsupported(f"{name}: splices a child that is not an inlined rule")
        rule_rows.append((nt_id[rule.origin.name], len(rule.expansion), flags, name,
                          None if include is None else tuple(include), append_none))

    start = table.start_states["start"]
    end = table.end_states["start"]
    # The action table as native ints in bytes: marshal loads 30,000 small ints far slower.
    return plain((tuple(terminals), tuple(nonterminals), array("i", actions).tobytes(), start, end,
                  tuple(state_lexer), tuple(lexers), tuple(rule_rows), bool(ws_skip), tuple(ignore_ids),
                  tuple(comment_ids)))


def plain(value):
    """The value rebuilt of exact str, int, bool, bytes, None, tuples and lists (what marshal writes).

    NOTE: a Lark parser built from the grammar (no cache of Lark's yet: the first run after an
    install) names its rules with lark Token objects, a str subclass marshal refuses; the same
    parser loaded from Lark's cache names them with plain str.
    """
    kind = type(value)
    if value is None or kind in (bool, str, int, bytes):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(plain(v) for v in value) if kind in (tuple, list) else tuple(plain(v) for v in value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise Unsupported(f"{kind.__name__} in the tables")


_BLANKS = " \t\f\r\n"


def _may_start_with_blank(regexp: str) -> bool:
    """Whether a terminal's regex could match text that starts with a whitespace character."""
    import re._parser as sre  # NOTE: CPython's regex parser; anything it does not name is "maybe"

    return _first_may_blank(sre.parse(regexp), sre) is not False


def _first_may_blank(items, sre):
    """True if the first character may be blank, False if not, None if the items may match ''."""
    import re._constants as c
    for op, av in items:
        if op is c.LITERAL:
            return chr(av) in _BLANKS
        if op is c.NOT_LITERAL or op is c.ANY:
            return True
        if op is c.IN:
            negate = any(o is c.NEGATE for o, _ in av)
            hit = any(_in_item_may_blank(o, a, c) for o, a in av if o is not c.NEGATE)
            return True if negate else hit
        if op is c.AT:
            continue
        if op is c.SUBPATTERN:
            first = _first_may_blank(av[-1], sre)
        elif op is c.BRANCH:
            firsts = [_first_may_blank(b, sre) for b in av[1]]
            first = True if True in firsts else (None if None in firsts else False)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            first = _first_may_blank(av[2], sre)
            if av[0] == 0 and first is False:
                first = None
        else:
            return True
        if first is not None:
            return first
    return None


def _in_item_may_blank(op, av, c) -> bool:
    if op is c.LITERAL:
        return chr(av) in _BLANKS
    if op is c.RANGE:
        return any(av[0] <= ord(b) <= av[1] for b in _BLANKS)
    if op is c.CATEGORY and av in (c.CATEGORY_DIGIT, c.CATEGORY_WORD):
        return False
    return True  # categories (\s, \w, ...) and anything else: assume it may
