"""Malformed specs: exit 2, the right line and column, plain words, a hint where one fits."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import metricsense
from metricsense.cli import cli
from metricsense.syntax.errors import SYNTAX_ERRORS

# (label, spec text, [(line, column, words the message must contain)], hint fragment or None)
MALFORMED = [
    ("target-without-comparison", 'kpi csat "C" {\n  target 4.5\n}\n', [(2, 10, "a comparison")], "comparison and the date"),
    ("date-without-by", 'kpi csat "C" {\n  target >= 4.5 2027-06-30\n}\n', [(2, 17, "`by`")], "put `by`"),
    ("quoted-name", 'kpi "csat" {\n}\n', [(1, 5, "a name")], "bare word"),
    ("kpi-without-block", 'kpi a "A" kind outcome\n', [(1, 11, "`{`")], "go in a block"),
    ("failure-without-level", 'failure f "F"\n', [(1, 14, "`at`")], "which level"),
    ("unknown-level", 'failure f "F" at sometimes\n', [(1, 18, "a level (input, process, output or outcome)")], None),
    ("single-equals", "trigger t when a = 1 {\n}\n", [(1, 18, "unexpected character `=`")], "`==`"),
    ("trigger-without-block", 'trigger t when a < 1 ask "x"\n', [(1, 22, "`ask`")], "in a block"),
    ("duration-without-unit", "trigger t when a < 1 for 2 {\n}\n", [(1, 28, "a unit")], "for 2 periods"),
    ("scale-without-range", "trust t {\n  scale 1 5\n}\n", [(2, 11, "`..`")], "scale 1..5"),
    ("gain-missing", "kpi a {\n  responds deploys\n}\n", [(3, 1, "a number")], "its gain"),
    ("names-without-comma", "kpi a {\n  guards x y\n}\n", [(2, 12, "`,`")], "commas"),
    ("unclosed-kpi", "kpi a {\n  kind outcome\n", [(2, 15, "block opened at line 1, column 7")], None),
    ("unclosed-mission", 'mission "M" {\n  why "x"\n\nlever a "A"\n', [(4, 1, "`mission` block opened at line 1")], None),
    ("owner-without-string", 'lever a "A" owner\n', [(1, 18, "a quoted string")], None),
    ("unknown-focus", "kpi a {\n  focus people\n}\n", [(2, 9, "results or relationships")], None),
    ("unknown-direction", "kpi a {\n  better up\n}\n", [(2, 10, "higher or lower")], None),
    ("unknown-audience", "trigger t when a > 1 {\n  with everyone\n}\n", [(2, 8, "one-to-one")], None),
    ("unit-unquoted", "kpi a {\n  unit points\n}\n", [(2, 8, "a quoted string")], None),
    ("unterminated-string", 'mission "unterminated\n', [(1, 9, "never closed")], None),
    ("malformed-date", "kpi a {\n  target >= 4.5 by 2027-6-30\n}\n", [(2, 20, "a date (YYYY-MM-DD)")], None),
    ("word-as-number", "kpi a { target >= four by 2027-06-30 }\n", [(1, 19, "a number")], None),
    ("include-unquoted", "include missing.msense\n", [(1, 9, "a quoted string")], None),
    ("data-without-source", "data\n", [(1, 5, "`sql`")], None),
    ("column-without-name", 'kpi a {\n  data "x.csv" column\n}\n', [(3, 1, "a quoted string")], None),
    ("unknown-scope", "kpi a {\n  scope someone\n}\n", [(2, 9, "individual, team or organization")], None),
    ("unbalanced-paren", "trigger t when (a > 1 {\n}\n", [(1, 23, "`)`")], None),
    ("missing-operand", "trigger t when a > {\n}\n", [(1, 20, "a name or a number")], None),
    ("duration-in-words", "trigger t when a > 1 for two periods {\n}\n", [(1, 26, "a whole number")], None),
    ("review-without-count", "kpi a {\n  review every week\n}\n", [(2, 16, "a whole number")], None),
    ("min-group-in-words", "trust t {\n  min_group five\n}\n", [(2, 13, "a whole number")], None),
    ("unknown-layout", 'lever a "A" { data "x.csv" layout tall }\n', [(1, 35, "wide or long")], None),
    ("lag-in-words", "kpi a {\n  responds x +0.2 lag two\n}\n", [(2, 23, "a whole number")], None),
    ("stray-character", 'mission "M"\n@\n', [(2, 1, "a statement (mission, lever")], None),
    ("two-errors-both-reported", "kpi a { }\nkpi b {\n  target 3\n}\nkpi c {\n  kind sideways\n}\n",
     [(3, 10, "a comparison"), (6, 8, "a level")], None),
    ("double-owner", 'lever a "A"\nlever b "B" owner "x" owner "y"\n', [(2, 23, "`owner`")], None),
    ("trigger-without-when", "trigger t {\n}\n", [(1, 11, "`when`")], None),
    ("nul-byte", 'mission "M"\x00\n', [(1, 12, "unexpected")], None),
    ("not-utf8", None, [(1, 10, "not UTF-8")], None),
]


@pytest.mark.parametrize(("label", "text", "where", "hint"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec(tmp_path, label, text, where, hint):
    spec = tmp_path / "bad.msense"
    if text is None:
        spec.write_bytes(b'mission "\xff\xfe"\n')
    else:
        spec.write_text(text, encoding="utf-8", newline="")
    report = metricsense.check(spec, config={})
    errors = [d for d in report.diagnostics if d.code == "MS001"]
    assert report.exit_code == 2
    assert [(d.span.line, d.span.column) for d in errors] == [(line, col) for line, col, _ in where]
    for d, (_, _, words) in zip(errors, where):
        assert words in d.message
        assert "__ANON" not in d.message and "$END" not in d.message
    if hint:
        assert errors[0].help and hint in errors[0].help
    # The command line says the same, with the caret, and never a traceback.
    result = CliRunner().invoke(cli, ["check", str(spec), "--config", str(_empty_config(tmp_path))])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"bad.msense:{where[0][0]}:{where[0][1]}" in result.output
    assert "^" in result.output


def _empty_config(tmp_path):
    cfg = tmp_path / "msense.toml"
    cfg.write_text("")
    return cfg


def test_there_are_at_least_thirty_malformed_specs():
    assert len(MALFORMED) >= 30


@pytest.mark.parametrize("label", sorted(SYNTAX_ERRORS))
def test_every_hint_label_is_reachable(label):
    """Each labelled example, parsed alone, produces its own hint (one test per label)."""
    example = SYNTAX_ERRORS[label][0]
    example = example.replace("{KPI}", "kpi a {").replace("{TRUST}", "trust t {").replace(
        "{TRIGGER}", "trigger t when a < 1"
    )
    report = metricsense.check(example + "\n", config={})
    (error,) = [d for d in report.diagnostics if d.code == "MS001"]
    assert error.help == label


@pytest.mark.parametrize("core", ["not " * 3000 + "a > 1", "- " * 3000 + "a > 1", " + ".join(["a"] * 3000) + " > 1"],
                         ids=["not", "negation", "sum"])
def test_nesting_past_the_parsers_depth_points_at_its_statement(core):
    # F1: the transformer recurses, so thousands of nested operators are MS001, on the trigger.
    from metricsense.syntax.parser import parse_text

    text = 'mission "M"\nkpi a "A" { target >= 1 }\ntrigger ok when a > 1 {\n}\n  trigger t when ' + core + " {\n}\n"
    (problem,) = parse_text(text, "x.msense").errors
    assert "nests too deeply" in problem.message
    assert (problem.span.line, problem.span.column) == (5, 3)


def test_a_value_problem_inside_a_block_is_the_only_problem():
    # F19 (docs/robustness.md), found by the grammar fuzz: after a value problem the parser
    # resumed at the next line starting with a keyword, here the `data` clause inside the block,
    # and reported its `}` as unexpected. A text that parses is now read statement by statement.
    from metricsense.syntax.parser import parse_text

    text = 'trust a { scale 0 .. 99999999999999999999 \ndata "" } \nkpi b { review every 1 week }\n'
    (problem,) = parse_text(text, "x.msense").errors
    assert "too large" in problem.message and (problem.span.line, problem.span.column) == (1, 22)
    three = ('kpi a { review every 9999999999 weeks }\nlever l "L"\nkpi b {\n  data "d.csv"\n'
             '  review every 99999999999 days\n}\nkpi c { review every 2 weeks }\n')
    assert [(p.span.line, "too large" in p.message) for p in parse_text(three, "x.msense").errors] == [(1, True), (5, True)]


def test_syntax_problems_are_the_one_problem_type(tmp_path):
    """A syntax error is a metricsense.diagnostics.Problem under MS001 (its hint is its help),
    and the loader hands on the parser's problems as they are."""
    from metricsense.diagnostics import Problem
    from metricsense.loader import load_path
    from metricsense.syntax.parser import parse_text

    text = 'kpi a "A" {\n  target 4.5\n}\n'
    (problem,) = parse_text(text, "x.msense").errors
    assert type(problem) is Problem and problem.code == "MS001" and problem.related == ()
    assert problem.help and "target >= 4.5 by" in problem.help
    value = parse_text('kpi a { review every 99999999999 days }\n', "x.msense").errors
    assert [(type(p), p.code, p.help) for p in value] == [(Problem, "MS001", None)]
    spec = tmp_path / "x.msense"
    spec.write_text(text)
    assert [type(p) for p in load_path(spec).problems] == [Problem]
    assert not hasattr(metricsense.syntax, "SyntaxProblem")


def test_a_number_too_large_for_a_float_is_an_error_not_infinity():
    # `target >= 1e400` was read as infinity and checked as such; every number in a spec is one
    # path (targets, expressions, percents, gaps, gains, cost/size/noise), each points at itself.
    from metricsense.syntax.parser import parse_text

    cases = {
        'kpi a "A" {\n  target >= 1e400\n}\n': (2, 13),
        'kpi a "A" {\n  responds l +2e308\n}\nlever l "L"\n': (2, 15),
        'kpi a "A" { target >= 1 }\ntrigger t when a > 9e999 {\n}\n': (2, 20),
        'kpi a "A" { target >= 1 }\ntrigger t when a > 1e309% of a {\n}\n': (2, 20),
        'lever l "L" {\n  cost 1e500\n}\n': (2, 8),
    }
    for text, where in cases.items():
        problems = parse_text(text, "x.msense").errors
        assert len(problems) == 1, (text, problems)
        assert "too large" in problems[0].message, problems[0].message
        assert (problems[0].span.line, problems[0].span.column) == where, (text, problems[0].span)
    # the largest finite double still reads as itself
    done = parse_text('kpi a "A" {\n  target >= 1.7e308\n}\n', "x.msense")
    assert not done.errors and done.statements[0].target.value == 1.7e308
