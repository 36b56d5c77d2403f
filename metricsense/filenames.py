"""File names a spec gives (`data "..."`, `include "..."`): refused before the file system is
asked when no file can have them, and shown shortened in messages.

A name of half a million parts (`a/a/a/.../x.csv`) took over a minute to resolve: Python's
realpath copies the rest of the path at every part, and `root in path.parents` builds every
parent. No such path can be opened (Linux refuses 4,096 bytes or more), so it is refused at
once, in time linear in its length.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Linux's PATH_MAX: open() refuses a path of this many bytes or more (ENAMETOOLONG).
PATH_MAX = 4096
#: Linux's NAME_MAX: one part of a path may have at most this many bytes.
NAME_MAX = 255
#: How much of a file name a message quotes.
SHOWN = 80


def unusable(raw: str) -> str | None:
    """Why no file can have the name ``raw`` (a NUL byte, too long, a part too long, not
    encodable), or None. Reads nothing from the file system."""
    if "\x00" in raw:
        return "a NUL byte"
    try:
        size = len(os.fsencode(raw))
    except UnicodeEncodeError:  # a lone surrogate (`"\ud800"`): no file can have that name
        return "a character no file name can hold"
    if size >= PATH_MAX:
        return f"a path of {size:,} bytes, over the {PATH_MAX - 1:,} a file name can have"
    # NOTE: NAME_MAX counts bytes of the file system's encoding, not characters: 80 emoji are
    # 320 bytes, and a later open() failed with ENAMETOOLONG.
    if any(len(os.fsencode(part)) > NAME_MAX for part in raw.replace("\\", "/").split("/")):
        return f"a name over {NAME_MAX} bytes"
    return None


def shown(raw: str, limit: int = SHOWN) -> str:
    """``raw`` for a message: at most ``limit`` characters, an ellipsis where it was cut."""
    return raw if len(raw) <= limit else raw[:limit] + "…"


def inside(real: Path, root: Path) -> bool:
    """``real`` is ``root`` or lies under it (both resolved); linear in the depth, where
    ``root in real.parents`` builds every parent."""
    return real == root or real.is_relative_to(root)
