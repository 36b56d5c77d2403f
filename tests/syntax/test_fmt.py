"""msense fmt: canonical, idempotent, keeps every comment, and never changes what a spec says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import EXAMPLES, ROOT, run_msense
from metricsense.syntax.fmt import FormatError, format_markdown, format_spec, meaning

CASES = sorted((ROOT / "tests" / "evaluators" / "cases").glob("*/*.msense"))
EXAMPLE_SPECS = sorted(EXAMPLES.rglob("*.msense"))
COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


def comments(text: str) -> list[str]:
    """Every comment's text, in order (a `#` inside a string is no comment)."""
    return [m.group(1).rstrip() for m in COMMENT.finditer(text) if m.group(1)]


def assert_formats_well(text: str, file: str = "<string>") -> str:
    out = format_markdown(text) if file.endswith(".md") else format_spec(text)
    assert meaning(out, file) == meaning(text, file)
    assert comments(out) == comments(text)
    again = format_markdown(out) if file.endswith(".md") else format_spec(out)
    assert again == out, "fmt is not idempotent"
    return out


def _parses(text: str, file: str) -> bool:
    return meaning(text, file)[0] != "errors"


@pytest.mark.parametrize("path", EXAMPLE_SPECS + CASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_real_specs(path):
    text = path.read_text("utf-8")
    if not _parses(text, str(path)):
        with pytest.raises(FormatError):
            format_spec(text)
        return
    assert_formats_well(text)


def test_markdown_example():
    path = EXAMPLES / "school-district" / "README.md"
    text = path.read_text("utf-8")
    out = assert_formats_well(text, str(path))
    prose = [ln for ln in text.splitlines() if ln and not ln.startswith(("lever", "failure", "kpi", " "))]
    assert all(ln in out.splitlines() for ln in prose[:10])


def test_canonical_layout():
    src = ('# head\nlever   a   "A"   owner "o"   # trailing\nlever bb "B"\n\n\n\nkpi k "K"{kind outcome\n'
           'responds a +0.2,bb   -1 lag 2 weeks\n  target >= -3 by 2027-01-01 }\n'
           'trigger t when mean( k , 4 ) < target - 25 % of  lag(k,1) and not (k.self>1) for 2 periods { with team }\n'
           'trust v { scale 1 .. 5 }\n')
    assert format_spec(src) == (
        '# head\nlever a  "A" owner "o"  # trailing\nlever bb "B"\n\nkpi k "K" {\n  kind outcome\n'
        '  responds a +0.2, bb -1 lag 2 weeks\n  target >= -3 by 2027-01-01\n}\n'
        'trigger t when mean(k, 4) < target - 25% of lag(k, 1) and not (k.self > 1) for 2 periods {\n'
        '  with team\n}\ntrust v {\n  scale 1..5\n}\n')


def test_comments_inside_and_suppressions_keep_their_line():
    src = ('kpi k "K" {  # on the brace\n  # before kind\n  kind outcome  # msense: ignore[MS012] reason "r"\n'
           '  responds a +1,   # after a comma\n    b +2\n  # before the end\n}\n# at the end\n')
    out = assert_formats_well(src)
    lines = out.splitlines()
    assert lines[0] == 'kpi k "K" {  # on the brace'
    assert "  # before kind" in lines and "  # before the end" in lines and lines[-1] == "# at the end"
    assert '  kind outcome  # msense: ignore[MS012] reason "r"' in lines


@pytest.mark.parametrize("depth", [1, 490, 3000, 20000])
def test_deeply_nested_parentheses_are_formatted(depth):
    # F1 (docs/robustness.md): the parser reads parentheses at any depth (they build no model
    # node), so fmt must too: it walks the parse tree with a stack, not by recursion.
    src = 'kpi a "A" { target >= 1 }\ntrigger t when ' + "( " * depth + "a" + " )" * depth + " > 1 {\n}\n"
    out = assert_formats_well(src)
    assert out == 'kpi a "A" {\n  target >= 1\n}\ntrigger t when ' + "(" * depth + "a" + ")" * depth + " > 1 {\n}\n"


def test_nesting_past_the_parsers_depth_is_refused_with_its_message():
    # `check` reports `not not ... a` 3000 deep as MS001; fmt refuses it the same way (it cannot
    # show that its layout keeps a meaning `check` cannot read) instead of a RecursionError.
    src = 'kpi a "A" { target >= 1 }\ntrigger t when ' + "not " * 3000 + "a > 1 {\n}\n"
    assert meaning(src)[0] == "errors"
    with pytest.raises(FormatError, match="does not parse: line 2: an expression nests too deeply"):
        format_spec(src)


# Issue 19 regression: nested function calls past about 244 levels (which `check` accepts) made
# fmt raise RecursionError: the meaning check walked the model recursively. Every depth `check`
# reads formats; past it, fmt refuses with the parser's message (exit 2), never a traceback.
@pytest.mark.parametrize("call", ["lag({}, 1)", "mean({}, 3)", "change({})", "abs({})", "mean(change(lag({}, 1)), 2)"])
@pytest.mark.parametrize("depth", [244, 300, 400])
def test_deeply_nested_function_calls_are_formatted(call, depth):
    inner = "a"
    for _ in range(depth // call.count("(")):
        inner = call.format(inner)
    src = "trigger t when " + inner + " > 1 {\n}\n"
    assert not meaning(src)[0] == "errors"
    assert assert_formats_well(src) == src


def test_nested_calls_past_the_parsers_depth_are_a_message_from_the_cli(tmp_path):
    (tmp_path / "deep.msense").write_text("trigger t when " + "lag(" * 3000 + "a" + ", 1)" * 3000 + " > 1 {\n}\n")
    (tmp_path / "ok.msense").write_text("trigger t when " + "change(" * 300 + "a" + ")" * 300 + " > 1 {\n}\n")
    result = run_msense("fmt", "--check", "deep.msense", "ok.msense", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "deep.msense: the spec does not parse: line 1: an expression nests too deeply" in result.stderr
    assert "ok.msense" not in result.stderr  # already canonical


# Issue 19 regression: fmt was not idempotent on a statement written over several lines (CRLF
# or LF) when a suppression stood alone on its line elsewhere in the file: the statement was
# re-laid out without its alignment columns, so only the second run aligned it.
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_fmt_is_idempotent_on_a_statement_over_lines(eol):
    src = eol.join(['mission "M"', "lever deploys", '"Deploys per week"', 'lever idle "Idle"  ',
                    '# msense: ignore[MS017] reason "kept"', 'kpi c "C" { responds deploys +0.2 }', ""])
    once = format_spec(src)
    assert format_spec(once) == once
    assert 'lever deploys "Deploys per week"\nlever idle    "Idle"\n' in once
    md = eol.join(["# KPIs", "", "```msense", *src.split(eol)[:-1], "```", ""])
    once = format_markdown(md)
    assert format_markdown(once) == once and "lever idle    " in once


def _verdicts(text: str):
    """What `check` reports and how many diagnostics suppressions hid, positions aside."""
    import metricsense

    report = metricsense.check(text, config={})
    return sorted((d.code, d.message) for d in report.diagnostics), report.suppressed


F5_CASES = {
    # a statement over two lines, a suppression at the end of each (the campaign's input)
    "failure": ('failure a "F" # msense: ignore[MS015] reason "r"\nat input # msense: ignore[MS014] reason "r"\n',
                'failure a "F"  # msense: ignore[MS015] reason "r"\n  at input  # msense: ignore[MS014] reason "r"\n'),
    # a one-line block: the suppression applies to the KPI and its gain, so the block stays on its line
    "one-line block": ('lever l "L"\nkpi k "K" { responds l +1 }   # msense: ignore[MS011, MS013] reason "r"\n',
                       'lever l "L"\nkpi k "K" { responds l +1 }  # msense: ignore[MS011, MS013] reason "r"\n'),
    # two statements on one suppressed line stay together
    "two statements": ('lever a "A" lever b "B"  # msense: ignore[MS017] reason "r"\nkpi k "K" { }\n',
                       'lever a "A" lever b "B"  # msense: ignore[MS017] reason "r"\nkpi k "K" {\n}\n'),
    # an own-line suppression inside a statement applies to the next line, which stays apart
    "own line": ('lever l "L"\nkpi k\n# msense: ignore[MS011] reason "r"\n"K" { responds l +1 }\n',
                 'lever l "L"\nkpi k\n  # msense: ignore[MS011] reason "r"\n  "K" { responds l +1 }\n'),
    # alone on its line before a blank line inside a statement: it applies to nothing, and still does
    "before a blank line": ('kpi m\n# msense: ignore[MS011] reason "r"\n\n"M" { }\n',
                            'kpi m\n  # msense: ignore[MS011] reason "r"\n\n  "M" {\n}\n'),
    # a suppression in a clause written over lines: the gain it names stays on its own line
    "clause": ('lever a "A"\nkpi k "K" {\n  responds a +1,\n  zz +2 # msense: ignore[MS002] reason "r"\n}\n',
               'lever a "A"\nkpi k "K" {\n  responds a +1,\n    zz +2  # msense: ignore[MS002] reason "r"\n}\n'),
}


@pytest.mark.parametrize("label", sorted(F5_CASES))
def test_suppressions_keep_applying_to_the_same_nodes(label):
    # F5 (docs/robustness.md): fmt refused (or, where the meaning check could not see it, changed)
    # specs whose suppressed lines it joined or split.
    src, want = F5_CASES[label]
    out = assert_formats_well(src)
    assert out == want
    assert _verdicts(out) == _verdicts(src)


def test_the_campaign_input_of_f5_formats():
    src = (ROOT / "tests" / "fuzz" / "corpus" / "F5-suppression-in-multiline-statement.msense").read_text("utf-8")
    assert _verdicts(assert_formats_well(src)) == _verdicts(src)


def test_the_meaning_sees_what_a_suppression_applies_to():
    # The same suppression after a one-line block, and after that block laid out over lines: the
    # first applies to the KPI (its name starts on that line), the second to nothing.
    one = 'kpi k "K" { }  # msense: ignore[MS011] reason "r"\n'
    laid_out = 'kpi k "K" {\n}  # msense: ignore[MS011] reason "r"\n'
    assert meaning(one)[0] == meaning(laid_out)[0]
    assert meaning(one) != meaning(laid_out)
    assert _verdicts(one) != _verdicts(laid_out)  # and check agrees: MS011 is reported for one only


def _unquoted_spaces(text: str) -> list[int]:
    out, quoted, escaped = [], False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            out.append(i)
    return out


SUPPRESSIONS = st.sampled_from(['# msense: ignore[MS011] reason "r"', "# msense: ignore[MS017]",
                                '# msense: ignore[MS013, MS002] reason "x"', '# msense: ignore[MS015] reason "y"'])


@st.composite
def broken_statements(draw):
    """A generated statement written over several lines, with suppressions at some line ends."""
    text = draw(statement())
    spaces = _unquoted_spaces(text)
    cuts = sorted(draw(st.sets(st.sampled_from(spaces), max_size=4))) if spaces else []
    pieces, last = [], 0
    for cut in cuts + [len(text)]:
        pieces.append(text[last:cut])
        last = cut + 1
    lines = [p + (draw(st.sampled_from(["", " "])) + draw(SUPPRESSIONS) if draw(st.booleans()) else "")
             for p in pieces]
    # between lines: a line break, a blank line, or a suppression alone on its line (before a
    # line, a blank line or another comment)
    joints = [draw(st.sampled_from(["\n", "\n", "\n\n", "\n{s}\n", "\n{s}\n\n", "\n{s}\n# c\n"])).format(
        s=draw(SUPPRESSIONS)) for _ in lines[1:]]
    body = lines[0] + "".join(j + ln for j, ln in zip(joints, lines[1:]))
    return 'lever a "A"\nlever b "B"\n' + body + "\n"


@settings(max_examples=int(os.environ.get("MSENSE_FMT_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(broken_statements())
def test_property_suppressions_in_statements_over_lines(text):
    if not _parses(text, "<string>"):
        return
    out = assert_formats_well(text)
    assert _verdicts(out) == _verdicts(text)


def test_does_not_parse():
    with pytest.raises(FormatError):
        format_spec('kpi k {\n  target 4.5\n}\n')


# ---- property test over generated specs ------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "csat", "lead_time", "kind", "team", "x1"])
LABELS = st.sampled_from(['"A label"', '"with # hash"', '"esc \\" quote"', '"<b>&amp;</b>"', '""'])
NUMS = st.sampled_from(["0", "1", "0.25", "4.5", "100", "1e3", "2.5E-2"])
SIGNS = st.sampled_from(["", "+", "-"])
WS = st.sampled_from([" ", "  ", "\t", " \t "])
COMMENTS = st.sampled_from(["# c", "#", "# msense: ignore[MS017] reason \"kept\"", "# ü, { } \"q\"",
                            "# msense: ignore[MS012]", "#   spaced   "])
UNITS = st.sampled_from(["period", "weeks", "month", "quarters", "day"])


@st.composite
def expr(draw, depth=0):
    atoms = [draw(NUMS), draw(NAMES), "target", f"target({draw(NAMES)})", f"{draw(NUMS)}%",
             f"{draw(NUMS)}% of {draw(NAMES)}", f"{draw(NAMES)}.self", f"abs({draw(NAMES)})",
             f"mean({draw(NAMES)}, {draw(st.integers(1, 9))})"]
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(atoms))
    left, right = draw(expr(depth + 1)), draw(expr(depth + 1))
    op = draw(st.sampled_from(["+", "-", "*", "/", "<", ">=", "==", "and", "or"]))
    form = draw(st.sampled_from(["{l} {op} {r}", "({l}{op}{r})", "-{l}", "not {l} {op} {r}", "( {l} )"]))
    return form.format(l=left, r=right, op=op)


@st.composite
def clause(draw):
    n = draw(NAMES)
    return draw(st.sampled_from([
        f"kind {draw(st.sampled_from(['input', 'process', 'output', 'outcome']))}",
        f"focus {draw(st.sampled_from(['results', 'relationships']))}",
        f"better {draw(st.sampled_from(['higher', 'lower']))}",
        f"unit {draw(LABELS)}", f"owner {draw(LABELS)}", f"scope {draw(st.sampled_from(['team', 'individual']))}",
        f"target {draw(st.sampled_from(['>=', '<', '==']))} {draw(SIGNS)}{draw(NUMS)} by 2027-06-30",
        f"target {draw(LABELS)}", f"link {draw(LABELS)}", f"guards {n}, {draw(NAMES)}",
        f'data "d.csv" column {draw(LABELS)} layout long every week',
        f"responds {n} {draw(SIGNS)}{draw(NUMS)} lag {draw(st.integers(1, 5))} {draw(UNITS)},{draw(NAMES)} -{draw(NUMS)}",
        f"disturbed {n} {draw(SIGNS)}{draw(NUMS)}", f"review every {draw(st.integers(1, 4))} {draw(UNITS)}",
    ]))


@st.composite
def statement(draw):
    n, lab = draw(NAMES), draw(LABELS)
    ws = draw(WS)
    clauses = draw(st.lists(clause(), max_size=5))
    sep = draw(st.sampled_from(["\n", "\n  ", " ", "\n\n    "]))
    block = "{" + sep + sep.join(c + draw(st.sampled_from(["", "  " + draw(COMMENTS)])) if sep != " " else c
                                 for c in clauses) + "\n}"
    return draw(st.sampled_from([
        f"mission {lab}", f"mission {lab} {{{sep}why {lab}{sep}owner {lab}\n}}",
        f"lever{ws}{n}{ws}{lab}{ws}owner {lab}", f"lever {n}", f'lever {n} {lab} {{ data "m.csv" column "c" }}',
        f"disturbance {n}{ws}{lab}", f"failure {n} {lab}{ws}at {draw(st.sampled_from(['input', 'outcome']))}",
        f"kpi {n} {lab} {block}", f"kpi {n} {{}}",
        f"trigger {n} when {draw(expr())} for {draw(st.integers(1, 3))} periods {{ ask {lab}\n with team }}",
        f"trigger {n} when {draw(expr())} {{}}",
        f"trust {n} {{{sep}managers {lab}{sep}scale 1..5{sep}gap > {draw(NUMS)}{sep}min_group 5\n}}",
        'include "x.msense"', 'data "d.csv" column "c"', 'data sql "SELECT 1" from "sqlite:///k.db"',
    ]))


@st.composite
def spec(draw):
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 3)) == 0:
            parts.append(draw(COMMENTS))
        stmt = draw(statement())
        if draw(st.booleans()):
            stmt += draw(WS) + draw(COMMENTS)
        parts.append(stmt)
        parts.append(draw(st.sampled_from(["", "", "\n", "\n\n\n", "   "])))
    return "\n".join(parts) + draw(st.sampled_from(["", "\n", "\n# tail"]))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec())
def test_property_generated_specs(text):
    if not _parses(text, "<string>"):
        with pytest.raises(FormatError):
            format_spec(text)
        return
    assert_formats_well(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec(), st.sampled_from(["", "  "]))
def test_property_markdown_fences(text, indent):
    body = "\n".join(indent + ln if ln else "" for ln in text.split("\n"))
    md = f"# Title\n\nSome *prose* | with a pipe.\n\n{indent}```msense\n{body}\n{indent}```\n\nAfter.\n"
    if not _parses(md, "x.md"):
        return
    out = assert_formats_well(md, "x.md")
    assert out.startswith("# Title\n\nSome *prose* | with a pipe.\n") and out.endswith("\nAfter.\n")


# ---- command line ----------------------------------------------------------------------------


def test_cli_check_diff_and_rewrite(tmp_path):
    messy = tmp_path / "m.msense"
    messy.write_text('lever   a "A"\nkpi k "K" { responds a +1 }\n', "utf-8")
    tidy = tmp_path / "t.msense"
    tidy.write_text(format_spec(messy.read_text("utf-8")), "utf-8")
    result = run_msense("fmt", "--check", str(tidy))
    assert result.returncode == 0, result.stderr
    result = run_msense("fmt", "--check", str(messy), str(tidy))
    assert result.returncode == 1 and "would reformat" in result.stderr
    assert messy.read_text("utf-8").startswith("lever   a")
    result = run_msense("fmt", "--diff", str(messy))
    assert result.returncode == 1  # a change to show: as --check, exit 1
    assert "-lever   a \"A\"" in result.stdout and "+lever a \"A\"" in result.stdout and result.stdout.startswith("---")
    result = run_msense("fmt", str(messy))
    assert result.returncode == 0 and messy.read_text("utf-8") == tidy.read_text("utf-8")


def test_cli_refuses_broken_spec(tmp_path):
    bad = tmp_path / "bad.msense"
    bad.write_text("kpi {\n", "utf-8")
    result = run_msense("fmt", str(bad))
    assert result.returncode == 2 and "does not parse" in result.stderr
    assert bad.read_text("utf-8") == "kpi {\n"


def test_cli_folder_and_markdown(tmp_path):
    (tmp_path / "doc.md").write_text("Intro\n\n```msense\nlever   a  \"A\"\n```\n", "utf-8")
    (tmp_path / "plain.md").write_text("no spec   here\n", "utf-8")
    result = run_msense("fmt", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "doc.md").read_text("utf-8") == 'Intro\n\n```msense\nlever a "A"\n```\n'
    assert (tmp_path / "plain.md").read_text("utf-8") == "no spec   here\n"
    assert Path(tmp_path / "doc.md").exists()


def test_the_starter_and_the_examples_are_already_canonical():
    """`msense fmt --check` passes on what the project ships, so the pre-commit hook does too."""
    from support import EXAMPLES, ROOT, run_msense

    files = [str(ROOT / "metricsense" / "starter.msense"), str(EXAMPLES)]
    result = run_msense("fmt", "--check", *files, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
