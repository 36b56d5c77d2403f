"""Read spec files (and the files they include) into one Document, with problems as diagnostics."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from metricsense.collector import paused
from metricsense.diagnostics import Problem
from metricsense.filenames import inside, unusable
from metricsense.filenames import shown as shown_name
from metricsense.model import Document, Include
from metricsense.span import Span

MAX_SPEC_BYTES = 50 * 1024 * 1024


@dataclass
class Loaded:
    document: Document | None
    problems: list[Problem] = field(default_factory=list)
    included: set[Path] = field(default_factory=set)  # resolved paths of included files


#: The folder paths are shown relative to: the working folder, or the client's working folder
#: in a worker that checks segments for it (metricsense.segments), so both show the same text.
DISPLAY_BASE: ContextVar[str | None] = ContextVar("DISPLAY_BASE", default=None)


def display_path(path: Path) -> str:
    """A path as shown to people: relative to the working folder when inside it, with /."""
    try:
        rel = os.path.relpath(path, DISPLAY_BASE.get() or os.curdir)
    except ValueError:
        return path.as_posix()
    return Path(rel).as_posix() if not rel.startswith("..") else path.as_posix()


def is_within(path: Path, roots: list[Path]) -> bool:
    """True when ``path`` (resolved: symlinks followed) lies inside one of ``roots``.

    A path that cannot be resolved (a NUL byte, a name longer than the system allows) is not.
    """
    try:
        real = path.resolve()
    except (OSError, ValueError):
        return False
    return any(inside(real, root) for root in roots)


def read_text(path: Path, shown: str, problems: list[Problem], at: Span | None = None) -> str | None:
    """A file's text; a read or decoding problem becomes MS001/MS004 with a position."""
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            problems.append(
                Problem("MS004", at or Span.point(shown),
                        f"`{shown}` is {size // (1024 * 1024)} MB, over the {MAX_SPEC_BYTES // (1024 * 1024)} MB "
                        "a spec may have; split it with `include`")
            )
            return None
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem("MS004", at or Span.point(shown), f"cannot read `{shown}`: {exc.strerror}"))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problems.append(
            Problem("MS001", Span(shown, line, column, line, column + 1),
                    f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded",
                    "save the spec as UTF-8")
        )
        return None


@paused()
def load_path(
    path: Path, *, allow_paths: list[Path] | None = None, max_depth: int = 16, text: str | None = None,
    overlay: Mapping[Path, str] | None = None,
) -> Loaded:
    """Parse ``path`` and, recursively, every file it includes, into one Document.

    ``overlay`` maps resolved paths to the text to read instead of the file (what an editor holds
    but has not saved: the language server); names and positions stay those of the files."""
    from metricsense.syntax import parse_text

    root_file = path.resolve() if text is None else Path.cwd() / "<string>"
    roots = [root_file.parent] + [p.resolve() for p in (allow_paths or [])]
    result = Loaded(None)
    statements: list = []
    suppressions: list = []
    files: list[str] = []

    def visit(file: Path, shown: str, source: str | None, stack: tuple[Path, ...], at: Span | None) -> None:
        if source is None and overlay:
            source = overlay.get(file)
        if source is None:
            source = read_text(file, shown, result.problems, at)
            if source is None:
                return
        files.append(shown)
        parsed = parse_text(source, shown)
        suppressions.extend(parsed.suppressions)
        if parsed.errors:
            result.problems.extend(parsed.errors)  # MS001 problems already
            return
        for stmt in parsed.statements:
            statements.append(stmt)
            if isinstance(stmt, Include):
                include(stmt, file, stack)

    def include(stmt: Include, parent: Path, stack: tuple[Path, ...]) -> None:
        why = unusable(stmt.path)
        if why is not None:
            result.problems.append(Problem("MS004", stmt.span, f"`{shown_name(stmt.path)}` cannot be a file name ({why})"))
            return
        target = (parent.parent / stmt.path)
        shown = display_path(target)
        if os.path.isabs(stmt.path) or not is_within(target, roots):
            result.problems.append(
                Problem("MS004", stmt.span, f"`{shown_name(stmt.path)}` is outside the folder this spec may read",
                        "move the file beside the spec, or allow its folder with `--allow-path DIR` "
                        "or `allow-paths` in the configuration")
            )
            return
        try:
            resolved = target.resolve()
            exists = resolved.is_file()
        except (OSError, ValueError) as exc:
            result.problems.append(Problem("MS004", stmt.span, f"`{shown_name(stmt.path)}` cannot be a file name: {exc}"))
            return
        if resolved in stack:
            chain = " -> ".join(display_path(p) for p in (*stack, resolved))
            result.problems.append(Problem("MS004", stmt.span, f"`{stmt.path}` includes itself: {chain}",
                                           "remove one of the includes in the cycle"))
            return
        if len(stack) >= max_depth:
            result.problems.append(
                Problem("MS004", stmt.span,
                        f"includes nest deeper than {max_depth} files at `{stmt.path}`",
                        "flatten the includes, or raise `max-include-depth` in the configuration")
            )
            return
        if not exists:
            result.problems.append(Problem("MS004", stmt.span, f"included file `{stmt.path}` does not exist",
                                           f"looked for {shown}"))
            return
        if resolved in result.included:
            return  # a diamond: the file is already part of this spec, once is enough
        result.included.add(resolved)
        visit(resolved, shown, None, (*stack, resolved), stmt.span)

    shown_root = display_path(root_file) if text is None else "<string>"
    visit(root_file, shown_root, text, (root_file,), None)
    if files and not any(p.code == "MS001" for p in result.problems):
        result.document = Document(tuple(statements), tuple(files), tuple(suppressions), shown_root)
    return result
