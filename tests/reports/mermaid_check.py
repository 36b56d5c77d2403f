"""A checker for the Mermaid flowcharts metricsense writes, from Mermaid's own lexing rules.

Written from Mermaid's flowchart grammar (packages/mermaid/src/diagrams/flowchart/parser/flow.jison)
and its entity pass (``encodeEntities`` in mermaidAPI): the subset of the flowchart syntax the
picture uses, as a Lark grammar, plus the rules the jison lexer applies across that subset:

- a quoted string is ``"`` then anything but ``"``, then ``"`` (``<string>[^"]+``); ``"`` followed
  by a backtick opens a Markdown string instead (``<*>["][`]``);
- ``%%{`` anywhere is a directive (``detectInit``), ``%%`` at a line start a comment;
- ``#word;`` is an entity code, turned back into a character after parsing;
- ``style...:...#...;`` and ``classDef...:...#...;`` lose their last ``;`` before parsing;
- node ids are NODE_STRING characters and not a keyword (``end`` closes a subgraph).

``parse(text)`` returns (nodes: id -> decoded label, edges: [(from, arrow, label, to)], classes).
"""

from __future__ import annotations

import re

from lark import Lark

GRAMMAR = r"""
start: "flowchart" _SP DIR _NL (_statement _NL)*
_statement: _SP (node | subgraph | edge | classdef | classline)
node: ID shape
shape: STADIUM | SQUARE | ROUND | LEAN_R | LEAN_L | SUBROUTINE
STADIUM: "([" QSTR "])"
SUBROUTINE: "[[" QSTR "]]"
LEAN_R: "[/" QSTR "/]"
LEAN_L: "[\\" QSTR "\\]"
SQUARE: "[" QSTR "]"
ROUND: "(" QSTR ")"
subgraph: "subgraph" _SP ID "[" QSTR "]" _NL (_SP node _NL)* _SP "end"
edge: ID _SP? ARROW ("|" QSTR "|" _SP? | _SP) ID
ARROW: "-->" | "<---" | "<-.-" | "~~~"
classdef: "classDef" _SP ID _SP STYLE
STYLE: /[a-z\-]+:[#a-z0-9 ]+(,[a-z\-]+:[#a-z0-9 ]+)*/
classline: "class" _SP ID ("," ID)* _SP ID
QSTR: /"[^"`][^"]*"/
ID: /[A-Za-z0-9_]+/
DIR: "LR" | "TB" | "TD" | "RL" | "BT"
_SP: " "+
_NL: "\n"
"""

KEYWORDS = {"end", "subgraph", "graph", "flowchart", "flowchart-elk", "style", "class", "classDef", "click", "call",
            "href", "default", "linkStyle", "interpolate", "direction"}

_parser = Lark(GRAMMAR, parser="lalr", lexer="contextual")


def decode(label: str) -> str:
    """A label as Mermaid shows it: the entity codes turned back into characters."""
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)




def parse(text: str) -> dict:
    """Check ``text`` and return what it draws; AssertionError or a Lark error when it is not valid."""
    assert "%%" not in text, "%% is a comment or a directive"
    for line in text.splitlines():
        # the preprocessing that strips the last `;` of a style or classDef line with an entity
        assert not re.search(r"style.*:\S*#.*;", line), line
        assert not (re.search(r"classDef.*:\S*#.*;", line)), line
    tree = _parser.parse(text)
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None, str]] = []
    classes: dict[str, list[str]] = {}
    subgraphs: list[str] = []

    def label_of(token: str) -> str:
        inner = token[token.index('"') + 1: token.rindex('"')]
        # every '#' starts an entity code (#NNN;), every '<' is the one line break written
        rest = re.sub(r"#\d+;", "", inner.replace("<br/>", ""))
        assert "#" not in rest and "<" not in rest and ">" not in rest and "\n" not in rest, inner
        assert "&" not in rest and "`" not in rest, inner
        return decode(inner.replace("<br/>", "\n"))

    for item in tree.iter_subtrees_topdown():
        if item.data == "node":
            ident, shape = item.children
            assert str(ident) not in KEYWORDS, ident
            assert str(ident) not in nodes, f"node {ident} declared twice"
            nodes[str(ident)] = label_of(str(shape.children[0]))
        elif item.data == "subgraph":
            subgraphs.append(label_of(str(item.children[1])))
        elif item.data == "edge":
            parts = [str(c) for c in item.children]
            label = label_of(parts[2]) if len(parts) == 4 else None
            edges.append((parts[0], parts[1], label, parts[-1]))
        elif item.data == "classline":
            names = [str(c) for c in item.children]
            classes.setdefault(names[-1], []).extend(names[:-1])
    for a, _arrow, _label, b in edges:
        assert a in nodes and b in nodes, f"an edge names an undeclared node: {a} {b}"
    return {"nodes": nodes, "edges": edges, "classes": classes, "subgraphs": subgraphs}
