"""Each feature module on its own, without a client."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lsprotocol import types
from lsp_helpers import MAIN, pos, workspace

from metricsense.lsp import actions, completion, hover, names, navigation, tokens
from metricsense.lsp.checker import Checker
from metricsense.lsp.positions import Files, Lines, from_utf16, to_utf16


@pytest.fixture(scope="module")
def checker():
    return Checker()


@pytest.fixture
def checked(checker, tmp_path):
    main, parts = workspace(tmp_path)
    return main, parts, checker.check(main, MAIN, version=1)


def labels(items):
    return [i.label for i in items]


# ---- positions -----------------------------------------------------------------------------

def test_utf16_columns_count_astral_characters_twice():
    line = 'kpi a "😀 x" {'
    assert to_utf16(line, 9) == 10 and from_utf16(line, 10) == 9
    assert to_utf16("plain", 3) == 3 and from_utf16("plain", 3) == 3


# ---- checker -------------------------------------------------------------------------------

def test_checker_reads_includes_and_the_editors_unsaved_text(checker, tmp_path):
    main, parts = workspace(tmp_path)
    unsaved = parts.read_text().replace("lever support_hours", "lever support_time")
    result = checker.check(main, MAIN, overlay={parts.resolve(): unsaved})
    undefined = [d for d in result.diagnostics if d.code == "MS002"]
    assert {d.message for d in undefined} == {"`support_hours` is not declared; a lever expected here"}
    assert {Path(d.span.file).name for d in undefined} == {"main.msense", "parts.msense"}
    assert result.document is not None and result.document.lookup("support_time") is not None


def test_checker_syntax_error_keeps_this_files_statements_empty(checker, tmp_path):
    main, _ = workspace(tmp_path)
    result = checker.check(main, MAIN.replace("kind outcome", "kind"))
    assert result.document is None and [d.code for d in result.diagnostics] == ["MS001"]


def test_checker_reports_a_bad_configuration(checker, tmp_path):
    main, _ = workspace(tmp_path)
    (tmp_path / "msense.toml").write_text("selekt = []\n")
    result = checker.check(main, MAIN)
    assert "MS006" in [d.code for d in result.diagnostics]


def test_checker_markdown_positions_are_the_markdown_files(checker, tmp_path):
    md = tmp_path / "spec.md"
    text = "# Our KPIs\n\nSome prose.\n\n```msense\nlever idle \"Nobody pulls it\"\n```\n"
    result = checker.check(md, text)
    idle = [d for d in result.diagnostics if d.code == "MS017"][0]
    assert (idle.span.line, idle.span.column) == (6, 7)


# ---- names, hover, navigation ---------------------------------------------------------------

def test_occurrences_cover_guards_gains_and_trigger_conditions(checked):
    main, _, result = checked
    found = {(o.name, o.declaration) for o in names.occurrences(result.document)}
    assert {("outages", False), ("deploys", False), ("support_hours", False), ("csat", False),
            ("csat", True), ("support_hours", True)} <= found


def test_hover_texts(checked, checker):
    _, _, result = checked
    doc = result.document
    text = hover.declaration_markdown(doc.lookup("deploys"), doc)
    assert "moves `csat` +0.2" in text and 'owner "platform"' in text
    assert "guarded by `csat`" in hover.declaration_markdown(doc.lookup("outages"), doc)
    assert hover.rule_hover(checker.registry, "MS013").name == "more-kpis-than-levers"
    assert hover.rule_hover(checker.registry, "idle-lever").code == "MS017"
    assert hover.rule_hover(checker.registry, "deploys") is None


def test_hover_shows_what_select_weighs():
    import metricsense

    doc = metricsense.load('lever a "A" { cost 2 }\ndisturbance d { size 3 best a +0.5 }\n'
                           'kpi k { responds a +1 disturbed d +1 noise 0.2 }\n')
    assert "cost 2" in hover.declaration_markdown(doc.lookup("a"), doc)
    shown = hover.declaration_markdown(doc.lookup("d"), doc)
    assert "size 3" in shown and "`a` +0.5" in shown
    assert "noise 0.2" in hover.declaration_markdown(doc.lookup("k"), doc)


def test_rename_refuses_keywords_and_non_names(checked):
    _, _, result = checked
    files = Files({})
    with pytest.raises(navigation.RenameError, match="keyword"):
        navigation.rename(result.document, "deploys", "kpi", files)
    with pytest.raises(navigation.RenameError, match="not a name"):
        navigation.rename(result.document, "deploys", "2fast", files)


def test_symbols_are_this_files_outline(checked):
    _, _, result = checked
    files = Files({})
    syms = navigation.symbols([s for s in result.statements if s.span.file == result.shown], files)
    assert [(s.name, s.kind) for s in syms][-2:] == [("csat", types.SymbolKind.Variable),
                                                     ("csat_dip", types.SymbolKind.Function)]


# ---- completion ----------------------------------------------------------------------------

DECLARED = {"csat": "kpi", "deploys": "lever", "season": "disturbance", "outages": "failure"}


@pytest.mark.parametrize("line, text, expected", [
    ("", "", {"mission", "kpi", "lever", "include"}),
    ("  ", 'kpi a {\n  ', {"kind", "target", "responds", "link"}),
    ("  ", 'trigger t when a < 1 {\n  ', {"ask", "with"}),
    ("  ", 'trust t {\n  ', {"managers", "scale", "min_group"}),
    ("  kind ", 'kpi a {\n  kind ', {"input", "process", "output", "outcome"}),
    ('failure f "F" at ', 'failure f "F" at ', {"input", "outcome"}),
    ("  better ", 'kpi a {\n  better ', {"higher", "lower"}),
    ("  responds ", 'kpi a {\n  responds ', {"deploys"}),
    ("  responds deploys +1, ", 'kpi a {\n  responds deploys +1, ', {"deploys"}),
    ("  disturbed se", 'kpi a {\n  disturbed se', {"season"}),
    ("  guards ", 'kpi a {\n  guards ', {"outages"}),
    ("trigger t when ", "trigger t when ", {"csat", "deploys", "season", "target", "abs", "mean"}),
    ("trigger t when csat < 1 for 2 ", "trigger t when csat < 1 for 2 ", {"periods", "weeks"}),
    ('  unit "', 'kpi a {\n  unit "', {"points", "%"}),
    ("  ", 'kpi a {\n  ', {"noise"}),
    ("  ", 'lever x "X" {\n  ', {"cost", "data", "owner"}),
    ("  ", 'disturbance d {\n  ', {"size", "best"}),
    ("  best ", 'disturbance d {\n  best ', {"deploys"}),
])
def test_completion_fits_the_place(checker, line, text, expected):
    got = set(labels(completion.complete(line, text, DECLARED, checker.registry)))
    assert expected <= got
    if expected <= set(DECLARED):
        assert got == expected  # only names of the kind the clause takes


def test_completion_offers_nothing_inside_strings_and_comments(checker):
    assert completion.complete('kpi a "Cust', 'kpi a "Cust', DECLARED, checker.registry) == []
    assert completion.complete("# a note ", "# a note ", DECLARED, checker.registry) == []


def test_completion_in_a_suppression_leaves_out_codes_already_named(checker):
    got = labels(completion.complete("# msense: ignore[MS013, ", "", DECLARED, checker.registry))
    assert "MS013" not in got and "MS017" in got and "idle-lever" in got


def test_declared_names_follow_includes_of_an_unparsed_text(tmp_path):
    main, parts = workspace(tmp_path)
    broken = MAIN.replace("kind outcome", "kind")
    found = names.declared_with_includes(broken, main.resolve(), lambda p: p.read_text() if p.exists() else None)
    assert found["support_hours"] == "lever" and found["csat"] == "kpi"


# ---- code actions --------------------------------------------------------------------------

def test_suppress_goes_above_with_indentation_or_joins_the_suppression_there():
    lines = Lines('kpi a {\n  responds x +1\n}\n# msense: ignore[MS013] reason "r"\nlever b\n')
    new = actions.suppress("MS002", 1, lines)
    assert new["text"] == '  # msense: ignore[MS002] reason ""\n' and new["cursor"] == [1, 34, 1, 34]
    joined = actions.suppress("MS017", 4, lines)
    assert joined["text"] == ", MS017" and joined["range"][:2] == [3, 22]


def test_fixes_did_you_mean_link_stub_and_target_date(checker, tmp_path):
    main, _ = workspace(tmp_path)
    text = MAIN.replace('  link "Satisfied customers are the mission itself"\n', "").replace(
        "target >= 4.5 by 2027-06-30", "target >= 4.5").replace("guards outages", "guards outage")
    result = checker.check(main, text)
    lines = Lines(text)
    by_code = {d.code: actions.fixes(d, lines, result.document, dt.date(2026, 5, 1)) for d in result.diagnostics}
    assert by_code["MS002"][0]["text"] == "outages"
    assert by_code["MS011"][0]["text"] == '  link ""\n'
    date = by_code["MS012"][0]
    assert date["text"] == " by 2027-12-31"
    at = pos(text, "target >= 4.5", offset=len("target >= 4.5"))
    assert date["range"][:2] == [at.line, at.character]


# ---- semantic tokens -----------------------------------------------------------------------

def test_tokens_classify_keywords_names_values_and_declarations():
    text = 'kpi csat "C" {\n  kind outcome # note\n  responds deploys +0.2\n}\n'
    found = tokens.tokens(text, {"csat", "deploys"})
    kinds = [(text.split("\n")[line][start:start + n], tokens.TOKEN_TYPES[t], m) for line, start, n, t, m in found]
    assert ("kpi", "keyword", 0) in kinds and ("csat", "variable", 1) in kinds
    assert ("outcome", "enumMember", 0) in kinds and ("deploys", "variable", 0) in kinds
    assert ('"C"', "string", 0) in kinds and ("# note", "comment", 0) in kinds and ("0.2", "number", 0) in kinds
    data = tokens.encode(found)
    assert data[:5] == [0, 0, 3, tokens.TOKEN_TYPES.index("keyword"), 0] and data[5:7] == [0, 4]


def test_the_check_as_you_type_is_structure_only_and_open_and_save_run_everything(checker):
    from support import EXAMPLES

    spec = EXAMPLES / "customer-love" / "customer-love.msense"
    fast = checker.check(spec, spec.read_text("utf-8"))
    full = checker.check(spec, spec.read_text("utf-8"), data=True)
    assert {d.code[:3] for d in fast.diagnostics} == {"MS0"} and "gain" not in fast.analysis
    assert full.data and {"MS101", "MS204", "MS301"} <= {d.code for d in full.diagnostics}


# Attack regressions (the cold attack on msense lsp)
def test_stale_or_malformed_fixes_are_not_offered():
    from lsprotocol import types

    from metricsense.lsp import actions
    from metricsense.lsp.positions import Lines
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    registry = build_registry(get_plugin_manager(entrypoints=False)[0])
    lines = Lines('mission "M"\nfailure outages "O" at outcome\nkpi k "K" { guards outage }\n')
    good = {"title": "Replace with `outages`", "range": [2, 19, 2, 25], "text": "outages", "line": lines.line(2)}

    def diag(line, fixes):
        rng = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=3))
        return types.Diagnostic(range=rng, message="x", code="MS002", source="msense", data={"fixes": fixes})

    titles = [a.title for a in actions.actions("file:///a.msense", [diag(2, [good])], lines, registry, False)]
    assert "Replace with `outages`" in titles
    moved = Lines('# a new line\n' + "\n".join(lines.lines))  # the finding's line moved down: its data did not
    assert not [a for a in actions.actions("file:///a.msense", [diag(2, [good])], moved, registry, False)
                if a.title.startswith("Replace")]
    broken = [{"text": "outages"}, {"title": "t", "range": [50, 0, 50, 3], "text": "x", "line": ""}]
    assert not [a for a in actions.actions("file:///a.msense", [diag(2, broken)], lines, registry, False)
                if a.title.startswith(("Replace", "t"))]
    assert actions.actions("file:///a.msense", [diag(50, [])], lines, registry, False) == []  # past the end


def test_words_in_comments_and_strings_are_no_names():
    from metricsense.lsp.features import _in_comment_or_string

    line = 'failure outages "meet csat" at outcome  # csat deploys'
    assert not _in_comment_or_string(line, line.index("outages"))
    assert _in_comment_or_string(line, line.index("csat")) and _in_comment_or_string(line, line.rindex("csat"))
    assert not _in_comment_or_string(line, line.index("outcome"))
