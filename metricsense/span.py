"""Source positions: every model node and every diagnostic carries one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A range in a source file: 1-based line and column, end inclusive of the last line."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, file: str, line: int = 1, column: int = 1) -> Span:
        return cls(file, line, column, line, column + 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        }

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def normalise_line_ends(text: str) -> str:
    """CR LF and a lone CR written as LF: one line end each, as an editor counts lines."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def split_lines(text: str) -> list[str]:
    """The lines of a text as the parser counts them (LF, CR LF or a lone CR ends a line)."""
    return normalise_line_ends(text).split("\n")
