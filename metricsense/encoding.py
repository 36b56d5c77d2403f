"""The one JSON encoder: how every report, finding and segment result becomes JSON text.

One non-finite rule (``finite``: NaN and infinities become null, NumPy values plain numbers),
one fallback for values JSON has no type for (``json_default``), and the pieces a streaming
writer needs (``json_pieces``, ``json_list``) so that a large report never sits in memory whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from json.encoder import c_make_encoder
from json.encoder import encode_basestring as _encode_string  # the C encoder's, with ensure_ascii=False
from typing import Any


def dumps(value: Any) -> str:
    """One line of JSON (a finding or a segment's result), non-finite numbers as null: the text of
    ``json.dumps(finite(value), ensure_ascii=False, default=json_default)``, in one pass of the C
    encoder (see ``_line``)."""
    return _line(value)


def _c_line():
    """The standard library's C encoder for one line (``", "`` and ``": "``), made once: json.dumps
    with options makes an encoder for every call, about 5 us, and ``finite`` walked the value in
    Python before it. NaN and infinities are written as the tokens ``NaN`` and ``Infinity`` here
    and made null by ``_nulls``."""
    if c_make_encoder is None:  # a Python without the C accelerator
        encode = json.JSONEncoder(ensure_ascii=False, allow_nan=True, default=json_default).encode
        return encode
    encoder = c_make_encoder(None, json_default, _encode_string, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encoder(value, 0))


# A JSON string (skipped: a name may be "NaN"), or one of the non-finite number tokens.
_NON_FINITE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|(-?Infinity|NaN)')


def _nulls(text: str) -> str:
    """JSON text from ``_c_line`` with each non-finite number token written as null."""
    if "NaN" not in text and "Infinity" not in text:
        return text
    return _NON_FINITE.sub(lambda m: "null" if m.group(1) else m.group(0), text)


def _line(value: Any) -> str:
    return _nulls(_raw_line(value))


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
    elif kind is not dict and kind is not list and kind is not tuple and _converts(value):
        _indent_into(_shallow(value), pad, out)  # a record, a NumPy value, a dict or list of another kind
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


def _converts(value: Any) -> bool:
    """Whether ``finite`` gives another value for ``value`` at its top (not only inside it): a
    float of another type (np.float64), a record, a NumPy value, a dict or list subclass."""
    return (isinstance(value, (float, dict, list, tuple)) or getattr(type(value), "__json__", None) is not None
            or (hasattr(value, "tolist") and type(value).__module__.startswith("numpy")))


def _shallow(value: Any) -> Any:
    """``finite(value)`` at the top only: a record as its JSON form, a NumPy value as plain numbers
    and lists, a tuple or a list subclass as a list, a dict subclass as a dict, a non-finite float
    as None (the parts inside are converted as they are reached)."""
    while True:
        if isinstance(value, float):
            return float(value) if value == value and value not in _INFINITIES else None
        as_json = getattr(type(value), "__json__", None)
        if as_json is not None:
            value = as_json(value)
            continue
        if isinstance(value, dict):
            return value if type(value) is dict else dict(value)
        if isinstance(value, (list, tuple)):
            return value if type(value) is list else list(value)
        if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
            value = value.tolist()
            continue
        return value


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
    size and fast, where the indenting encoder is pure Python and wrote a number per line.

    The text is that of ``finite(value)``, made without that walk: each part is converted as it
    is reached (``_shallow``) and non-finite numbers become null as each line is encoded."""
    out: list[str] = []
    _rows_into(value, level, depth, out)
    return iter(out)


def _rows_into(value: Any, level: int, depth: int, out: list[str]) -> None:
    value = _shallow(value)
    if depth > 0 and isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        pad = "\n" + "  " * (level + 1)
        sep = "{" + pad
        for k, v in value.items():
            out.append(sep + _encode_string(k) + ": ")
            _rows_into(v, level + 1, depth - 1, out)
            sep = "," + pad
        out.append("\n" + "  " * level + "}")
    else:
        _lines_into(value, level, out)


def _lines_into(value: Any, level: int, out: list[str]) -> None:
    value = _plain_value(value)
    _emit(value, _node(value), level, out)


def _plain_value(value: Any) -> Any:
    kind = type(value)
    return value if kind is dict or kind is list or kind in _PLAIN else _shallow(value)


def _node(value: Any) -> Any:
    """How ``value`` (converted by ``_shallow``) is written: its one-line text (a str) when that
    fits in ``LINE`` (a value that is no container, or an empty one, always), else a list of its
    items' (key text, value, node), or None when its items are to be looked at as they are written.

    A container that probably fits is encoded whole; one that probably does not (``_guess``) is
    made of its items' texts, each encoded once: a KPI's distortion entry of three thousand
    characters was encoded whole, then its divergence tests whole, then each test."""
    if not isinstance(value, (dict, list)) or not value:
        return _line(value)
    is_dict = isinstance(value, dict)
    if (7 if is_dict else 3) * len(value) > LINE:  # each entry takes at least 7 characters, an item 3
        return None
    if _guess(value) <= LINE or (is_dict and not all(type(k) is str for k in value)):
        text = _line(value)
        return text if len(text) <= LINE else None
    parts = []
    size = 0
    for k, v in (value.items() if is_dict else ((None, v) for v in value)):
        v = _plain_value(v)
        node = _node(v)
        key = None if k is None else _encode_string(k)
        parts.append((key, v, node))
        if type(node) is str:  # on one line: 2 brackets, and each item with its ", " (one less)
            size += len(node) + (2 if key is None else len(key) + 4)
        else:
            size = LINE + 1
    if size > LINE:
        return parts
    if is_dict:
        return "{" + ", ".join(key + ": " + node for key, _v, node in parts) + "}"
    return "[" + ", ".join(node for _k, _v, node in parts) + "]"


def _emit(value: Any, node: Any, level: int, out: list[str]) -> None:
    if type(node) is str:
        out.append(node)
        return
    pad = "\n" + "  " * (level + 1)
    if node is None:  # the items as they come
        is_dict = isinstance(value, dict)
        items = value.items() if is_dict else ((None, v) for v in value)
        parts = ((None if k is None else _encode_string(k) if type(k) is str else json.dumps(k, ensure_ascii=False),
                  v, _UNSEEN) for k, v in items)
    else:
        is_dict = node[0][0] is not None
        parts = node
    sep = ("{" if is_dict else "[") + pad
    for key, v, part in parts:
        out.append(sep + key + ": " if is_dict else sep)
        if part is _UNSEEN:
            _lines_into(v, level + 1, out)
        else:
            _emit(v, part, level + 1, out)  # None: known not to fit, its items as they come
        sep = "," + pad
    out.append("\n" + "  " * level + ("}" if is_dict else "]"))


_UNSEEN = object()  # an item whose node is not made yet


def _guess(value: dict | list, stop: int = LINE) -> int:
    """About how long ``value`` is on one line (a number 18 characters), looking no further once
    past ``stop``: only to choose how to encode it, never what is written."""
    size = 2
    is_dict = isinstance(value, dict)
    for item in (value.values() if is_dict else value):
        kind = type(item)
        if kind is str:
            size += len(item) + 4
        elif kind is dict or kind is list or kind is tuple:
            size += _guess(item, stop - size) + 2
        else:
            size += 20
        if is_dict:
            size += 10
        if size > stop:
            break
    return size


#: Values ``_shallow`` leaves as they are (a non-finite float is made null as its line is written).
_PLAIN = frozenset((str, int, float, bool, type(None)))


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


_raw_line = _c_line()
