"""A data path may not leave the folders a spec is allowed to read (MS035)."""

from __future__ import annotations

import os
from pathlib import Path

from metricsense.data.table import DataError


def resolve_inside(raw: str, base: Path, allowed: tuple[Path, ...] | list[Path]) -> Path:
    """``raw`` resolved against ``base``; a DataError (MS035) when it lands outside ``allowed``.

    Symlinks are followed before the check, so a link out of the folder is refused too.
    """
    if "\x00" in raw or any(len(part) > 255 for part in raw.replace("\\", "/").split("/")):
        raise DataError("MS030", f"`{raw[:80]}` cannot be a file name (a NUL byte, or a name over 255 characters)")
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
