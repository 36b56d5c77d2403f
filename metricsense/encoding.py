"""The one JSON encoder: how every report, finding and segment result becomes JSON text.

One non-finite rule (``finite``: NaN and infinities become null, NumPy values plain numbers),
one fallback for values JSON has no type for (``json_default``), and the pieces a streaming
writer needs (``json_pieces``, ``json_list``) so that a large report never sits in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _encode_string  # the C encoder's, with ensure_ascii=False
from typing import Any


def dumps(value: Any) -> str:
    """One line of JSON (a finding or a segment's result), non-finite numbers as null."""
    return json.dumps(finite(value), ensure_ascii=False, allow_nan=False, default=json_default)


def json_value(value: Any, level: int) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, default=json_default)
    return text.replace("\n", "\n" + "  " * level)


def json_indented(value: Any, level: int) -> str:
    """``json_value(finite(value), level)``, the same text, made in one pass.

    The indenting encoder of the standard library is pure Python (a generator per container),
    and ``finite`` walks the value once more before it: together about 50 us a finding, seconds
    for a report of 100,000 findings. This writes the indented text directly, the C encoder's
    string escaping for each string; anything but plain JSON values (a record, an array, a date,
    a key that is not a string) goes the usual way for that part."""
    out: list[str] = []
    _indent_into(value, "\n" + "  " * level, out)
    return "".join(out)


def _indent_into(value: Any, pad: str, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        out.append(float.__repr__(value) if value == value and value not in _INFINITIES else "null")
    elif kind is dict and all(type(k) is str for k in value):
        if not value:
            out.append("{}")
            return
        inner = pad + "  "
        sep = "{" + inner
        for k, v in value.items():
            out.append(sep)
            out.append(_encode_string(k))
            out.append(": ")
            _indent_into(v, inner, out)
            sep = "," + inner
        out.append(pad + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = pad + "  "
        sep = "[" + inner
        for v in value:
            out.append(sep)
            _indent_into(v, inner, out)
            sep = "," + inner
        out.append(pad + "]")
    else:
        out.append(json_value(finite(value), pad.count(" ") // 2))


_INFINITIES = (float("inf"), float("-inf"))


def json_pieces(value: Any, level: int) -> Iterator[str]:
    """``json_value(value, level)``, the same text, in pieces (list item by list item)."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        pad = "\n" + "  " * (level + 1)
        sep = "{"
        for k, v in value.items():
            yield sep + pad + json.dumps(k, ensure_ascii=False) + ": "
            yield from json_pieces(v, level + 1)
            sep = ","
        yield "\n" + "  " * level + "}"
    elif isinstance(value, list) and value:
        pad = "\n" + "  " * (level + 1)
        sep = "["
        for v in value:
            yield sep + pad
            yield from json_pieces(v, level + 1)
            sep = ","
        yield "\n" + "  " * level + "]"
    else:
        yield json_value(value, level)


#: The longest line ``json_rows`` writes a container on; a longer one gets a line per item.
LINE = 2000


def json_rows(value: Any, level: int, depth: int) -> Iterator[str]:
    """``value`` indented as ``json_value`` for ``depth`` levels of objects; below, each container
    on one line when it fits in ``LINE`` characters, else one line per item (and so on down):
    the compact analysis (a KPI's noise entry, a correlation pair, a trigger per line). Linear in
    size and fast, where the indenting encoder is pure Python and wrote a number per line."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value) and depth > 0:
        pad = "\n" + "  " * (level + 1)
        sep = "{"
        for k, v in value.items():
            yield sep + pad + json.dumps(k, ensure_ascii=False) + ": "
            yield from json_rows(v, level + 1, depth - 1)
            sep = ","
        yield "\n" + "  " * level + "}"
    else:
        yield from _lines(value, level)


def _lines(value: Any, level: int) -> Iterator[str]:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=json_default)
    if len(text) <= LINE or not isinstance(value, (dict, list)) or not value:
        yield text
        return
    pad = "\n" + "  " * (level + 1)
    is_dict = isinstance(value, dict)
    yield "{" if is_dict else "["
    sep = ""
    for item in (value.items() if is_dict else value):
        yield sep + pad
        if is_dict:
            yield json.dumps(item[0], ensure_ascii=False) + ": "
            item = item[1]
        yield from _lines(item, level + 1)
        sep = ","
    yield "\n" + "  " * level + ("}" if is_dict else "]")


def json_list(items: Iterable[Any], level: int, compact: bool = False) -> Iterator[str]:
    pad = "  " * (level + 1)
    empty = True
    for item in items:
        # A segment's finding is one line, like a segment's result (see json_chunks); text is
        # JSON encoded already, in the worker that checked the segment.
        if isinstance(item, str):
            text = item
        elif compact or (isinstance(item, dict) and "segment" in item):
            text = json.dumps(item, ensure_ascii=False, allow_nan=False, default=json_default)
        else:
            text = json_indented(item, level + 1)
        yield ("[\n" if empty else ",\n") + pad + text
        empty = False
    yield "[]" if empty else "\n" + "  " * level + "]"


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN), recursively.

    NumPy scalars and arrays become plain numbers and lists on the way.
    """
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    as_json = getattr(type(value), "__json__", None)
    if as_json is not None:  # an analysis record
        return finite(as_json(value))
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
        return finite(value.tolist())
    return value


def finite_lists(array: Any) -> Any:
    """A NumPy array (any shape) as nested lists of floats, None where it is not finite: what
    ``finite`` gives, made with one pass in NumPy (``finite`` walks every number in Python,
    seconds for a 2,000 x 2,000 matrix)."""
    import numpy as np

    a = np.asarray(array, dtype=float)
    ok = np.isfinite(a)
    if ok.all():
        return a.tolist()
    out = np.where(ok, a, 0.0).tolist()
    if a.ndim == 0:
        return out if bool(ok) else None
    for index in zip(*np.nonzero(~ok)):
        row = out
        for i in index[:-1]:
            row = row[i]
        row[index[-1]] = None
    return out


def json_default(value: Any) -> Any:
    """How the JSON report writes values JSON has no type for (arrays, sets, dates, records)."""
    as_json = getattr(type(value), "__json__", None)
    if as_json is not None:  # an analysis record (metricsense.analysis.Record)
        return finite(as_json(value))
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def printable(text: str, keep: str = "") -> str:
    """Text for a terminal, a log or an XML file: control and other unprintable characters (a
    data value's ESC sequence or newline) written as escapes (``\\x1b``, ``\\n``), never raw.

    ``keep`` names characters the format escapes its own way (GitHub's ``%0A`` for a newline)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else c.encode("unicode_escape").decode("ascii") for c in text)
