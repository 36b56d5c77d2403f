"""A data path may not leave the folders a spec is allowed to read (MS035)."""

from __future__ import annotations

import os
from pathlib import Path

from metricsense.data.table import DataError
from metricsense.filenames import inside, shown, unusable


def resolve_inside(raw: str, base: Path, allowed: tuple[Path, ...] | list[Path]) -> Path:
    """``raw`` resolved against ``base``; a DataError (MS035) when it lands outside ``allowed``.

    Symlinks are followed before the check, so a link out of the folder is refused too.
    """
    why = unusable(raw)
    if why is not None:
        raise DataError("MS030", f"`{shown(raw)}` cannot be a file name ({why})")
    candidate = Path(raw) if os.path.isabs(raw) else base / raw
    try:
        real = candidate.resolve()
    except (OSError, ValueError) as exc:
        raise DataError("MS030", f"`{shown(raw)}` cannot be a file name: {exc}") from None
    roots = [Path(a).resolve() for a in allowed]
    if not any(inside(real, root) for root in roots):
        why = "an absolute path" if os.path.isabs(raw) else "outside the spec's folder"
        raise DataError(
            "MS035",
            f"`{shown(raw)}` is {why}; allow its folder with `--allow-path DIR` or `allow-paths` in the configuration",
        )
    return candidate
