"""The compiled parser (metricsense._lalr on Lark's own tables) against Lark itself: the same
model, spans included, the same suppressions, and Lark's errors wherever the text is not valid."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from metricsense.syntax import compiled, tables
from metricsense.syntax.grammar import grammar_text, lark_parser
from metricsense.syntax.parser import _prepare, parse_text, parse_text_with_lark
from metricsense.syntax.transformer import ModelBuilder
from support import EXAMPLES, ROOT

pytestmark = pytest.mark.skipif(not compiled.available(), reason="metricsense._lalr is not built")

SPECS = sorted(
    p for base in (EXAMPLES, ROOT / "tests") for p in base.rglob("*")
    if p.suffix in (".msense", ".md") and p.is_file()
)


def _compiled(text: str, file: str = "t.msense"):
    """The compiled parser alone: raises where parse_text would hand the text to Lark."""
    builder = ModelBuilder()
    builder.file = file
    return compiled.parse(_prepare(text, file), builder)


def _plain_values(node, path="doc"):
    """Every string in the model is a plain str (no token leaks out of the parser)."""
    if isinstance(node, str):
        assert type(node) is str, f"{path} is a {type(node).__name__}"
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _plain_values(getattr(node, f.name), f"{path}.{f.name}")
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _plain_values(item, f"{path}[{i}]")


def assert_same(text: str, file: str = "t.msense", *, must_compile: bool | None = None):
    fast = parse_text(text, file)
    lark = parse_text_with_lark(text, file)
    assert fast == lark
    _plain_values(fast.statements)
    try:
        _compiled(text, file)
        took = True
    except Exception:
        took = False
    if must_compile is not None:
        assert took is must_compile
    if lark.errors:
        assert not took, "the compiled parser accepted text Lark rejects"
    return fast, took


def test_the_specs_in_the_repository_parse_the_same():
    assert len(SPECS) > 50
    compiled_count = 0
    for path in SPECS:
        text = path.read_text("utf-8", errors="replace")
        _result, took = assert_same(text, str(path.relative_to(ROOT)))
        compiled_count += took
    # Nearly all are valid; the compiled parser must have parsed those itself.
    assert compiled_count >= len(SPECS) * 0.7


def test_the_examples_are_parsed_by_the_compiled_parser():
    for path in sorted(EXAMPLES.rglob("*.msense")):
        assert_same(path.read_text("utf-8"), str(path), must_compile=True)


@pytest.mark.parametrize("text", [
    'lever kind "Kind"\nlever review\nkpi target "T" { kind outcome }\n',  # keywords as names
    'kpi a { target >= 4.5 by 2027-06-30 }\n',  # DATE over NUMBER
    'kpi a { target >= 2027 }\ntrust t { scale 1..5 gap >= 0.5 }\n',
    'trigger t when target(a.b) - 0.3 < -abs(x) * 2 and not (y > 1 or z < 2%) for 3 periods {\n'
    '  ask "why?"\n  with team\n}\n',
    'trigger t when change(a, 2) > 5% of target { ask "q" }\ntrigger u when f() > 1 { }\n',
    '# msense: ignore[MS013] reason "two levers are enough"\nkpi a { }  # msense: ignore[MS011]\n',
    'kpi cafe_free "\u00e9t\u00e9 \U0001f600" { unit "\u20ac" owner "x" }\nkpi b { link "\u00e9" }\n',
    '\ufeffmission "m"\r\nlever l "L"\r\n',
    'data "d.csv" period "p" layout long every week\nlever l { data sql "select 1" from "sqlite:///x" }\n',
    '',
    '# only a comment',
    '   \n\n',
])
def test_constructs_parse_the_same(text):
    assert_same(text, must_compile=True)


KEYWORDS = ("mission lever kpi trigger trust include data kind focus unit owner scope target link guards "
            "responds review every by lag sql from column period layout when for ask with or and not of "
            "abs team scale gap at input output results higher individual wide one-to-one weeks").split()
PLACES = ['lever {w} "L"\n', 'kpi {w} {{ kind outcome }}\n', 'kpi a {{ guards {w}, b responds {w} +0.1 }}\n',
          'trigger t when {w} > 1 {{ }}\n', 'trigger t when a.{w} > target({w}) {{ }}\n',
          'trigger t when {w}(a, 2) > 1 {{ }}\n', 'failure {w} "x" at input\n', 'trust {w} {{ team "q" }}\n',
          'kpi a {{ responds b 1 lag 2 {w} }}\n', 'kpi a {{ scope {w} }}\n', 'trigger t when a > 1 {{ with {w} }}\n']


def test_keywords_in_every_place_parse_the_same():
    """A keyword is a name where only a name fits and reserved where the keyword fits too."""
    valid = 0
    for place in PLACES:
        for word in KEYWORDS:
            result, took = assert_same(place.format(w=word))
            valid += took
    assert 0 < valid < len(PLACES) * len(KEYWORDS)  # some places take the keyword, some refuse it


def test_a_markdown_spec_keeps_the_lines_of_the_markdown_file():
    text = "# Title\n\nprose\n\n```msense\nlever l \"L\"\nkpi a { responds l +0.2 }\n```\n"
    fast, _ = assert_same(text, "doc.md", must_compile=True)
    assert fast.statements[1].span.line == 7


@pytest.mark.parametrize("text", [
    "kpi a {",  # end of file inside a block
    'kpi "a" { }',  # a label where the name goes
    "lever l @",  # a character no terminal matches
    'kpi a { review every 99999999999999 weeks }',  # a value the model cannot hold
    "kpi a { kind outcome }\nkpi b { kind sideways }\nkpi c { kind output }\n",  # recovery
])
def test_bad_input_is_left_to_lark(text):
    result, took = assert_same(text, must_compile=False)
    assert result.errors and not took


def test_deep_nesting_is_left_to_lark():
    deep = "trigger t when " + "not " * 3000 + "a > 1 { }\n"
    long_sum = "trigger t when " + " + ".join(["a"] * 3000) + " > 1 { }\n"
    for text in (deep, long_sum):
        result, took = assert_same(text, must_compile=False)
        assert "nests too deeply" in result.errors[0].message


def test_the_tables_round_trip_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    grammar = grammar_text()
    data = tables.extract(lark_parser())
    assert tables.load_cached(grammar) is None
    tables.store(grammar, data)
    assert tables.load_cached(grammar) == data
    assert tables.load_cached(grammar + "\n// changed") is None
    (path,) = (tmp_path / "metricsense").iterdir()
    path.write_bytes(path.read_bytes()[:40])  # a truncated file is ignored, not trusted
    assert tables.load_cached(grammar) is None


def test_the_tables_are_lark_s():
    terminals, _nts, actions, start, end, state_lexer, lexers, rules, ws_skip, ignore, comment = (
        tables.extract(lark_parser()))
    table = lark_parser().parser.parser.parser.parse_table
    assert len(state_lexer) == len(table.states)
    assert ws_skip and [terminals[i] for i in ignore] == ["COMMENT", "WS"] and [terminals[i] for i in comment] == ["COMMENT"]
    # Where a name fits, a keyword is read as a NAME (`lever kind`), except where the keyword fits
    # too: in an expression, `target` is TARGET (Lark's "unless" callback on NAME).
    name, target = terminals.index("NAME"), terminals.index("TARGET")
    unless_name = [dict(words) for _mres, unless in lexers for t, words in unless if t == name]
    assert unless_name and all(d.get("target") == target for d in unless_name)
    assert not any("kind" in d for d in unless_name)
    assert any(r[3] == "kpi" for r in rules)


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "METRICSENSE_PUREPYTHON"} | env
    return subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, env=full, cwd=ROOT)


def test_a_valid_spec_parses_without_importing_lark():
    parse_text('kpi warm { kind outcome }\n')  # the tables are cached by now
    code = (
        "import sys\nfrom metricsense.syntax import parse_text\n"
        "r = parse_text(open('metricsense/starter.msense').read(), 'starter.msense')\n"
        "assert r.statements and not r.errors\n"
        "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('lark.')))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    bad = _run("from metricsense.syntax import parse_text\nprint(parse_text('kpi a {', 'x').errors[0].span)")
    assert bad.returncode == 0 and bad.stdout.strip() == "x:1:8", bad.stdout + bad.stderr


def test_purepython_turns_the_compiled_parser_off():
    code = (
        "import sys\nfrom metricsense.syntax import compiled, parse_text\n"
        "assert not compiled.available()\n"
        "r = parse_text('lever l \"L\"\\nkpi a { responds l +0.2 }\\n', 'x')\n"
        "assert len(r.statements) == 2 and not r.errors\n"
        "assert 'metricsense._lalr' not in sys.modules\n"
        "print('lark' in sys.modules)\n"
    )
    result = _run(code, METRICSENSE_PUREPYTHON="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
