"""Between metricsense positions (Span: 1-based line and character column, end exclusive) and
LSP positions (0-based line, UTF-16 code units), and between span file names and URIs."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lsprotocol import types

from metricsense.span import Span, split_lines

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def to_utf16(line: str, column: int) -> int:
    """The UTF-16 offset of 0-based character ``column`` in ``line``."""
    if line.isascii():
        return column
    return utf16_len(line[:column]) + max(0, column - len(line))


def from_utf16(line: str, units: int) -> int:
    """The 0-based character column at UTF-16 offset ``units`` in ``line``."""
    if line.isascii():
        return units
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + (units - count)


class Lines:
    """The lines of one file's text, for converting columns."""

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)

    def line(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def position(self, line: int, column: int) -> types.Position:
        """The LSP position of 1-based ``line`` and ``column``."""
        text = self.line(line - 1)
        return types.Position(line=max(line - 1, 0), character=to_utf16(text, max(column - 1, 0)))

    def range(self, span: Span) -> types.Range:
        return types.Range(start=self.position(span.line, span.column), end=self.position(span.end_line, span.end_column))

    def column(self, pos: types.Position) -> int:
        """The 1-based character column of an LSP position."""
        return from_utf16(self.line(pos.line), pos.character) + 1

    def offset(self, pos: types.Position) -> int:
        """The character offset of an LSP position in the text (lines joined by one newline)."""
        return sum(len(x) + 1 for x in self.lines[: pos.line]) + self.column(pos) - 1

    def word_at(self, pos: types.Position) -> tuple[str, Span] | None:
        """The word (a name, a keyword, a rule code or a kebab-case rule name) under the cursor."""
        text = self.line(pos.line)
        col = self.column(pos) - 1
        for m in WORD.finditer(text):
            if m.start() <= col <= m.end():
                return m.group(), Span("", pos.line + 1, m.start() + 1, pos.line + 1, m.end() + 1)
        return None

    def end(self) -> types.Position:
        last = len(self.lines) - 1
        return types.Position(line=last, character=utf16_len(self.lines[last]))


def span_path(file: str) -> Path | None:
    """The absolute path a span's file name stands for (names are shown relative to the working folder)."""
    if file.startswith("<"):
        return None
    return Path(os.path.normpath(os.path.join(os.getcwd(), file)))


def path_to_uri(path: Path) -> str:
    return path.absolute().as_uri()


def uri_to_path(uri: str) -> Path | None:
    """The file a `file:` URI names; None for other schemes (an unsaved editor buffer)."""
    if not uri.startswith("file:"):
        return None
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
        path = path[1:]
    return Path(os.path.normpath(path))


#: jupyter-lsp's folder (under the Jupyter server's root) for the documents it makes of notebooks.
VIRTUAL_DOCUMENTS = ".virtual_documents"


def document_path(uri: str) -> Path | None:
    """The file a document stands for: ``uri_to_path``, except that a notebook cell's document
    under jupyter-lsp's ``.virtual_documents/`` stands beside its notebook (where the `%%msense`
    cell reads its includes and data when it runs)."""
    path = uri_to_path(uri)
    if path is None or VIRTUAL_DOCUMENTS not in path.parts[:-1]:
        return path
    parts = list(path.parts)
    del parts[len(parts) - 2 - parts[-2::-1].index(VIRTUAL_DOCUMENTS)]  # the last such folder
    return Path(*parts)


class Files:
    """Span file names as URIs and lines: an editor's text when the file is open, else the disk's."""

    def __init__(self, texts: dict[Path, str], buffers: dict[str, tuple[str, str]] | None = None,
                 uris: dict[Path, str] | None = None) -> None:
        self.texts = texts  # resolved path -> the editor's text
        self.buffers = buffers or {}  # span file name ("<string>") -> (uri, text) of an unsaved buffer
        self.uris = uris or {}  # resolved path -> the URI of the document standing for it (notebook cells)
        self._read: dict[str, Lines] = {}

    def uri(self, file: str) -> str | None:
        if file in self.buffers:
            return self.buffers[file][0]
        path = span_path(file)
        if path is not None and self.uris and path.resolve() in self.uris:
            return self.uris[path.resolve()]
        return path_to_uri(path) if path is not None else None

    def lines(self, file: str) -> Lines:
        if file in self.buffers:
            return Lines(self.buffers[file][1])
        if file not in self._read:
            path = span_path(file)
            text = self.texts.get(path.resolve()) if path is not None else None
            if text is None and path is not None:
                try:
                    text = path.read_text("utf-8", errors="replace")
                except OSError:
                    text = ""
            self._read[file] = Lines(text or "")
        return self._read[file]

    def range(self, span: Span) -> types.Range:
        return self.lines(span.file).range(span)

    def location(self, span: Span) -> types.Location | None:
        uri = self.uri(span.file)
        return types.Location(uri=uri, range=self.range(span)) if uri is not None else None
