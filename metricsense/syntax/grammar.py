"""The grammar, and the Lark parsers built from it: lazily, once each, their tables cached by Lark.

`import lark` happens only here (and in the Lark-only paths of errors, transformer and fmt), on
first use: a valid spec read by the compiled parser never imports Lark.
"""

from __future__ import annotations

import threading
from importlib import resources

from metricsense.syntax import suppressions

_lock = threading.Lock()
_parsers: dict[bool, object] = {}  # keep_all_tokens -> the Lark parser


def grammar_text() -> str:
    """The grammar, as installed inside the package (wheel and editable install alike).

    NOTE: `python -m metricsense` run inside a source checkout imports the checkout's package
    folder (it shadows the installed one), which has no grammar_data: the grammar is then read
    from the checkout's own `grammar/` folder, where the build takes it from."""
    try:
        return resources.files("metricsense").joinpath("grammar_data").joinpath("metricsense.lark").read_text("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        from pathlib import Path

        checkout = Path(__file__).resolve().parents[2] / "grammar" / "metricsense.lark"
        if checkout.is_file():
            return checkout.read_text("utf-8")
        raise RuntimeError("metricsense's grammar is missing from this installation: reinstall it "
                           "(pip install --force-reinstall metricsense), or run from outside a source "
                           "checkout so the installed package is the one imported") from None


def lark_parser(*, keep_all_tokens: bool = False):
    """The shared Lark LALR parser (built on first use; Lark caches its tables between runs).

    ``keep_all_tokens=True`` is the formatter's: punctuation and keywords stay in the tree.
    Both report their comments to the one comment buffer (`suppressions.capture`).
    """
    with _lock:
        parser = _parsers.get(keep_all_tokens)
        if parser is None:
            from lark import Lark

            options = dict(parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True,
                           lexer_callbacks={"COMMENT": suppressions.capture}, cache=True)
            if keep_all_tokens:
                # NOTE: only when set: Lark's cache file is named by the options passed.
                options["keep_all_tokens"] = True
            parser = _parsers[keep_all_tokens] = Lark(grammar_text(), **options)
        return parser
