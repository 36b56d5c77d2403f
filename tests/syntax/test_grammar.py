"""The one Lark parser factory: the installed grammar, parsers built once, Lark imported lazily,
and no import cycle inside metricsense.syntax."""

from __future__ import annotations

import ast
import subprocess
import sys

from metricsense.syntax import suppressions
from metricsense.syntax.grammar import grammar_text, lark_parser
from support import ROOT


def test_the_grammar_is_the_repository_s():
    assert grammar_text() == (ROOT / "grammar" / "metricsense.lark").read_text("utf-8")


def test_each_parser_is_built_once():
    check, fmt = lark_parser(), lark_parser(keep_all_tokens=True)
    assert lark_parser() is check and lark_parser(keep_all_tokens=True) is fmt
    assert check is not fmt
    assert check.options.keep_all_tokens is False and fmt.options.keep_all_tokens is True
    for parser in (check, fmt):
        assert parser.options.parser == "lalr" and parser.options.propagate_positions is True


def test_every_lark_parser_reports_comments_to_the_one_buffer():
    for parser in (lark_parser(), lark_parser(keep_all_tokens=True)):
        assert parser.lexer_conf.callbacks["COMMENT"] is suppressions.capture


def test_importing_the_factory_does_not_import_lark():
    code = ("import sys\nimport metricsense.syntax.grammar, metricsense.syntax.parser\n"
            "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('lark.')))\n")
    result = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _syntax_imports() -> dict[str, set[str]]:
    """Each metricsense.syntax module and the syntax modules it imports (at any depth of the file)."""
    package = ROOT / "metricsense" / "syntax"
    names = {p.stem for p in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "metricsense.syntax":
                found |= {a.name if a.name in names else "__init__" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("metricsense.syntax."):
                found.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("metricsense.syntax.")}
        graph[path.stem] = found - {path.stem}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_cycle_inside_syntax():
    graph = _syntax_imports()
    assert {"parser", "compiled", "grammar", "fmt", "suppressions"} <= set(graph)
    assert "parser" not in graph["compiled"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
