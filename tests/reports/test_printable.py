"""Text from the data (a survey group's name) reaches terminals, CI logs and XML escaped, never raw."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import metricsense
from metricsense.reports import printable

# Attack regression: a group name holding a newline, ESC colour codes and a forged workflow
# command was printed raw by the text and GitHub formats, and made the JUnit file unreadable.
EVIL = 'Evil\n::error file=x,line=1::INJECTED\x1b[31mRED\x1b[0m\x00 <b>|`'


def _report(tmp_path):
    rows = ["period,group,manager_id,role,question,score"]
    for i in range(6):
        name = EVIL.replace('"', '""')
        rows.append(f'2024-06-30,"{name}",m1,{"manager" if i == 0 else "team"},{"managers" if i == 0 else "team"},'
                    f'{5 if i == 0 else 2}')
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "k.msense").write_text('mission "M"\ntrust v {\n managers "q"\n team "q"\n scale 1..5\n'
                                       ' data "s.csv"\n gap > 1.0\n min_group 5\n}\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    assert [d.code for d in report.diagnostics] == ["MS501"]  # the group is shown: its name is in the finding
    return report


def test_printable_escapes_control_characters_and_keeps_the_rest():
    assert printable("Beta ü 😀 <b>") == "Beta ü 😀 <b>"
    assert printable("a\nb\x1b[31m\x00\t") == "a\\nb\\x1b[31m\\x00\\t"


def test_text_github_and_junit_write_no_control_character(tmp_path):
    from metricsense.reports.github import render_github
    from metricsense.reports.junit import render_junit
    from metricsense.reports.text import render_text

    report = _report(tmp_path)
    for name, text in (("text", render_text(report)), ("github", render_github(report))):
        assert "\x1b" not in text and "\x00" not in text, name
        assert not any(line.startswith("::error file=x") for line in text.splitlines()), name
        assert "INJECTED\\x1b[31mRED" in text, name
    assert "Evil%0A::error" in render_github(report)  # GitHub's own escape for a newline
    junit = render_junit(report)
    root = ET.fromstring(junit.split("\n", 1)[1])  # parses: no character XML 1.0 forbids
    assert "INJECTED\\x1b[31mRED" in ET.tostring(root, encoding="unicode")


# Issue 19, found by the extended fuzzing: the text report printed the spec's source line raw, so
# a NUL or an ESC sequence in a spec reached the terminal or the CI log. The line is shown with
# escapes, and the caret still points at the token.
def test_text_shows_a_source_line_with_escapes_and_the_caret_in_place():
    import metricsense
    from metricsense.reports.text import render_text

    text = render_text(metricsense.check('mission "M"\nlever idle "I"  # \x1b[2J\x07\x00\n', config={}))
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text, text
    lines = text.splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("2 | "))
    shown, caret = lines[row], lines[row + 1]
    assert shown == '2 | lever idle "I"  # \\x1b[2J\\x07\\x00'
    assert shown.index("idle") == caret.index("^") and caret.count("^") == len("idle")
    # a finding on the character itself: the caret covers its escape
    text = render_text(metricsense.check('mission "M"\nlever \x1b[31m x "X"\n', config={}))
    lines = text.splitlines()
    row = next(i for i, ln in enumerate(lines) if ln.startswith("2 | "))
    assert lines[row] == '2 | lever \\x1b[31m x "X"' and lines[row + 1].index("^") == lines[row].index("\\x1b")
    assert lines[row + 1].count("^") == 4


# Attack regression (A9): a BEL or a right-to-left override in a name reached the HTML raw.
def test_html_writes_control_and_bidi_characters_as_escapes():
    from metricsense.reports.svg import esc

    assert esc("a\x07b\u202ec <b>") == "a\\x07b\\u202ec &lt;b&gt;"
    assert esc("Beta ü 😀") == "Beta ü 😀"
