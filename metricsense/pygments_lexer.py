"""A Pygments lexer for msense specs (``.msense`` files and ```` ```msense ```` fences).

Registered through the ``pygments.lexers`` entry point, so ``get_lexer_by_name("msense")``,
nbconvert, Sphinx, MyST and mkdocs highlight msense with it. It colours; it does not check:
the grammar in ``grammar/metricsense.lark`` is the only definition of the language.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

DECLARATIONS = ("mission", "lever", "disturbance", "failure", "kpi", "trigger", "trust", "include", "data")
CLAUSES = ("why", "owner", "unit", "kind", "focus", "better", "scope", "target", "by", "link", "guards",
           "column", "responds", "disturbed", "lag", "review", "every", "for", "when", "ask", "with", "at",
           "managers", "team", "scale", "gap", "min_group", "open", "sql", "from", "layout", "period", "segment")
CLAUSES += ("decimal", "currency", "sheet", "range", "table")  # how numbers are written; where in a workbook
CLAUSES += ("cost", "size", "best", "noise")  # what `msense select` weighs: Juu, Wd, Jud, Wn
CONSTANTS = ("input", "process", "output", "outcome", "results", "relationships", "higher", "lower",
             "individual", "organization", "one-to-one", "manager", "leadership", "all-hands", "wide", "long",
             "periods", "days", "day", "weeks", "week", "months", "month", "quarters", "quarter", "years", "year")
OPERATORS = ("and", "or", "not", "abs", "of")
FUNCTIONS = ("change", "lag", "mean", "min", "max", "target")


class MsenseLexer(RegexLexer):
    """metricsense KPI specs."""

    name = "msense"
    aliases = ["msense", "metricsense"]
    filenames = ["*.msense"]
    mimetypes = ["text/x-msense"]

    tokens = {
        "root": [
            (r"[ \t]+", Whitespace),
            (r"\n", Whitespace),
            # a suppression is a comment that matters: shown as a special comment
            (r"#\s*msense:[^\n]*", Comment.Special),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            (r"\d{4}-\d{2}-\d{2}", Number.Other),  # dates, before numbers
            (r"\d+\.\.\d+", Number),  # scale 1..5
            (r"\d+(\.\d+)?%?", Number),
            (r"(kpi|lever|disturbance|failure|trigger|trust)(\s+)([A-Za-z_][\w-]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(OPERATORS, suffix=r"\b"), Operator.Word),
            (words(FUNCTIONS, suffix=r"(?=\s*\()"), Name.Builtin),
            (words(CLAUSES, suffix=r"\b"), Keyword),
            (words(CONSTANTS, prefix=r"(?<![\w-])", suffix=r"(?![\w-])"), Keyword.Constant),
            (r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)?", Name),
            (r"<=|>=|==|!=|[<>+\-*/]", Operator),
            (r"[{}(),\[\]]", Punctuation),
            (r".", Text),
        ],
        "string": [
            (r'\\["\\nt]', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            (r"\n", String.Double, "#pop"),  # an unclosed string ends at the line
            (r"\\", String.Double),
        ],
    }
