"""The only place that knows about Lark: text in, model statements and problems out."""

from metricsense.syntax.parser import ParseResult, markdown_to_spec, parse_text

__all__ = ["ParseResult", "markdown_to_spec", "parse_text"]
