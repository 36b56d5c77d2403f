"""The Pygments lexer, found through the pygments.lexers entry point."""

from __future__ import annotations

from support import EXAMPLES, require


def test_entry_point_finds_the_lexer():
    require("pygments")
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    from metricsense.pygments_lexer import MsenseLexer

    assert isinstance(get_lexer_by_name("msense"), MsenseLexer)
    assert isinstance(get_lexer_for_filename("kpis.msense"), MsenseLexer)


def test_examples_lex_without_errors_and_round_trip():
    require("pygments")
    from pygments.token import Comment, Error, Keyword, Name, Number, String

    from metricsense.pygments_lexer import MsenseLexer

    for path in sorted(EXAMPLES.rglob("*.msense")):
        text = path.read_text("utf-8")
        tokens = list(MsenseLexer().get_tokens(text))
        # NOTE: the lexer ends the last line with a newline when the file does not.
        assert "".join(v for _, v in tokens) == (text if text.endswith("\n") else text + "\n"), path
        assert not [v for t, v in tokens if t in Error], path
    tokens = list(MsenseLexer().get_tokens(
        'kpi csat "Customer satisfaction" { target >= 4.5 by 2027-06-30 }  # msense: ignore[MS011] reason "x"\n'))
    kinds = {v: t for t, v in tokens}
    assert kinds["kpi"] in Keyword and kinds["csat"] in Name and kinds['"'] in String
    assert kinds["2027-06-30"] in Number and kinds["4.5"] in Number
    assert any(t in Comment.Special for t, _ in tokens)


def test_fenced_blocks_highlight_in_nbconvert_style_html():
    require("pygments")
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    html = highlight('lever deploys "Deploys per week" owner "platform"\n', get_lexer_by_name("msense"), HtmlFormatter())
    assert '<span class="kd">lever</span>' in html and '<span class="nv">deploys</span>' in html
