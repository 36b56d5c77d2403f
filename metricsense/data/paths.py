"""A data path may not leave the folders a spec is allowed to read (MS035)."""

from __future__ import annotations

import os
from pathlib import Path

from metricsense.data.table import DataError


def _name_bytes(part: str) -> int:
    """Length of a path component in the file system's encoding (over 255: no such name exists)."""
    try:
        return len(os.fsencode(part))
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"`): no file can have that name
        return 256


def resolve_inside(raw: str, base: Path, allowed: tuple[Path, ...] | list[Path]) -> Path:
    """``raw`` resolved against ``base``; a DataError (MS035) when it lands outside ``allowed``.

    Symlinks are followed before the check, so a link out of the folder is refused too.
    """
    # NOTE: NAME_MAX (255) counts bytes of the file system's encoding, not characters: 80 emoji
    # are 320 bytes, and the later open() failed with ENAMETOOLONG inside the data plugin.
    if "\x00" in raw or any(_name_bytes(part) > 255 for part in raw.replace("\\", "/").split("/")):
        raise DataError("MS030", f"`{raw[:80]}` cannot be a file name (a NUL byte, or a name over 255 bytes or not encodable)")
    candidate = Path(raw) if os.path.isabs(raw) else base / raw
    try:
        real = candidate.resolve()
    except (OSError, ValueError) as exc:
        raise DataError("MS030", f"`{raw[:80]}` cannot be a file name: {exc}") from None
    roots = [Path(a).resolve() for a in allowed]
    if not any(real == root or root in real.parents for root in roots):
        why = "an absolute path" if os.path.isabs(raw) else "outside the spec's folder"
        raise DataError(
            "MS035",
            f"`{raw}` is {why}; allow its folder with `--allow-path DIR` or `allow-paths` in the configuration",
        )
    return candidate
