"""Periods: the forms an export writes them in, calendar buckets, and a series' frequency.

A period column is read into keys of one kind: ``datetime64[D]`` (the first day of the period as
written: ``2024-03`` is 2024-03-01, ``2024-Q2`` 2024-04-01, ``2024-W10`` the Monday of ISO week
10, ``2024`` 2024-01-01; a date or timestamp is its own day) or ``int64`` (whole numbers count
periods). Each form carries its *unit* (month, quarter, week, year); a full date carries none,
and the series' frequency is then inferred from its own dates (``infer_unit``). A series is put
on calendar buckets at its frequency (``bucket``), so a monthly series dated 2024-03-31 and one
dated 2024-03-01 share the period 2024-03.

Never guessed: a date with slashes or dots (``03/04/2024``) could be day-first or month-first
and needs the data clause's ``format``; mixed forms in one column (months and quarters, dates
and whole numbers) are refused. Every refusal is a DataError (MS032) naming the row and value.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricsense.data.table import DataError, Labels

#: Calendar units, finest first.
UNITS = ("day", "week", "month", "quarter", "year")
#: The typical length of each unit in days (for inferring a series' frequency from its dates).
_UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}

ACCEPTED = ("YYYY-MM-DD (a time and a zone after it are allowed), YYYY-MM, YYYY-Qn, YYYYQn, Qn YYYY, "
            "YYYY-Www, YYYY, Mon YYYY, or a whole number")

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
                  r"\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?", re.IGNORECASE | re.ASCII)
_MONTH = re.compile(r"(\d{4})-(\d{1,2})", re.ASCII)
_YEAR_QUARTER = re.compile(r"(\d{4})\s*[-/ ]?\s*Q([1-4])", re.IGNORECASE | re.ASCII)
_QUARTER_YEAR = re.compile(r"Q([1-4])\s*[-/ ]?\s*(\d{4})", re.IGNORECASE | re.ASCII)
_WEEK = re.compile(r"(\d{4})-?W(\d{2})", re.IGNORECASE | re.ASCII)
_YEAR = re.compile(r"\d{4}", re.ASCII)
_WHOLE = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_SLASHED = re.compile(r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}", re.ASCII)
_YEAR_FIRST = re.compile(r"(\d{4})([/.])(\d{1,2})\2(\d{1,2})", re.ASCII)
_MONTH_NAMES = {name: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")], 1) for name in names}
_NAMED_MONTH = re.compile(r"([A-Za-z]+)\.?\s*[- ]?\s*(\d{4})", re.ASCII)

#: An Excel serial day number counts from 1899-12-30 (Excel's 1900 leap-year bug included).
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


@dataclass(frozen=True)
class Periods:
    """A period column read: ``keys`` (datetime64[D] or int64), and ``unit``, the unit its form
    carries (``"month"`` for 2024-03, ``"period"`` for whole numbers, None for full dates)."""

    keys: np.ndarray
    unit: str | None


class _Bad(ValueError):
    """A label that is not a period; ``why`` is what the message says about it."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def parse_label(text: str, fmt: str | None = None) -> tuple[Any, str | None]:
    """One period label: ``(np.datetime64 day or int, unit)``; raises _Bad when it is not one."""
    text = text.strip()
    if not text:
        raise _Bad("blank: every row needs its period")
    if fmt is not None:
        return _with_format(text, fmt)
    m = _ISO.fullmatch(text)
    if m:
        y, mo, d, hh, mm, ss = m.groups()
        if hh is not None and (int(hh) > 23 or int(mm) > 59 or (ss is not None and int(ss) > 59)):
            raise _Bad("not a time of day")
        return np.datetime64(_date(int(y), int(mo), int(d)), "D"), None
    m = _MONTH.fullmatch(text)
    if m:
        return np.datetime64(_date(int(m[1]), int(m[2]), 1), "D"), "month"
    m = _YEAR_QUARTER.fullmatch(text) or _QUARTER_YEAR.fullmatch(text)
    if m:
        year, q = (m[1], m[2]) if m.re is _YEAR_QUARTER else (m[2], m[1])
        return np.datetime64(_date(int(year), 3 * int(q) - 2, 1), "D"), "quarter"
    m = _WEEK.fullmatch(text)
    if m:
        try:
            day = _dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            raise _Bad(f"not an ISO week (year {m[1]} has no week {m[2]})") from None
        return np.datetime64(day, "D"), "week"
    if _YEAR.fullmatch(text):
        return np.datetime64(_date(int(text), 1, 1), "D"), "year"
    if _WHOLE.fullmatch(text):
        return int(text), "period"
    m = _NAMED_MONTH.fullmatch(text)
    if m and m[1].lower() in _MONTH_NAMES:
        return np.datetime64(_date(int(m[2]), _MONTH_NAMES[m[1].lower()], 1), "D"), "month"
    m = _YEAR_FIRST.fullmatch(text)
    if m:  # 2024/01/15, 2024.01.15: year first is never day-first
        return np.datetime64(_date(int(m[1]), int(m[3]), int(m[4])), "D"), None
    if _SLASHED.fullmatch(text):
        raise _Bad("a date that could be day-first or month-first: say which with the data clause's "
                   '`format` (`format "%d/%m/%Y"` or `format "%m/%d/%Y"`)')
    raise _Bad(f"not a period ({ACCEPTED}); another form needs the data clause's `format`")


def _date(y: int, m: int, d: int) -> _dt.date:
    try:
        return _dt.date(y, m, d)
    except ValueError:
        raise _Bad("not a calendar date") from None


def _format_unit(fmt: str) -> str | None:
    if any(f in fmt for f in ("%d", "%j", "%H")):
        return None
    if any(f in fmt for f in ("%m", "%b", "%B")):
        return "month"
    return "year" if "%Y" in fmt or "%y" in fmt else None


def _with_format(text: str, fmt: str) -> tuple[Any, str | None]:
    if fmt.lower() == "excel":
        if not re.fullmatch(r"[0-9]+(\.[0-9]*)?", text, re.ASCII):
            raise _Bad("not an Excel serial day number (format \"excel\")")
        return _EXCEL_EPOCH + np.timedelta64(int(float(text)), "D"), None
    try:
        when = _dt.datetime.strptime(text, fmt)
    except ValueError:
        raise _Bad(f"not written in the period format {fmt!r}") from None
    return np.datetime64(when.date(), "D"), _format_unit(fmt)


def read_periods(values, where, column: str, fmt: str | None = None, every: str | None = None,
                 cache: dict | None = None) -> Periods:
    """The period keys of a column (text, numbers, dates or datetimes as a reader gave them).

    ``where`` names rows in messages (a Table, or Rows of one); ``fmt`` is the data clause's
    `format` (a strptime pattern, or ``"excel"`` for serial day numbers); ``every`` its `every`
    unit (``every period`` keeps four-digit whole numbers as whole numbers, not years); ``cache``
    keeps labels already parsed (the batches of one long file repeat them).
    """
    if isinstance(values, Labels):
        return _read_labels(values.labels, values.codes, where, column, fmt, every, cache)
    values = np.asarray(values)
    if fmt is not None and fmt.lower() == "excel" and values.dtype.kind in "iuf":
        return _excel(values, where, column)
    if fmt is not None and values.dtype.kind in "iuf":
        # `format "%Y%m"` on a column a reader gave as numbers: read as the digits written
        with np.errstate(invalid="ignore"):
            text = np.array([None if v != v else (str(int(v)) if float(v).is_integer() else str(v))
                             for v in values.tolist()], dtype=object)
        labels, codes = _distinct(text)
        return _read_labels(labels, codes, where, column, fmt, every)
    if values.dtype.kind == "M":
        keys = values.astype("datetime64[D]")
        missing = np.isnat(keys)
        if missing.any():
            _raise(where, column, int(np.argmax(missing)), "", "blank: every row needs its period")
        return Periods(keys, None)
    if values.dtype.kind in "iu":
        return _whole(values, where, column, every)
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (values == np.round(values))
            # NOTE: beyond 2**53 a float is not exact, and beyond 2**63 astype(int64) wraps around.
            exact = whole & (np.abs(values) <= 2**53)
        if not exact.all():
            bad = int(np.argmax(~exact))
            v = float(values[bad])
            why = ("blank: every row needs its period" if v != v else
                   "a whole number too large to be read exactly (beyond 2**53)" if whole[bad]
                   else "not a date or a whole number")
            _raise(where, column, bad, "" if v != v else repr(v), why)
        return _whole(values.astype(np.int64), where, column, every)
    # Objects: text, dates and datetimes (pandas Timestamps, datetime.date), None for blanks.
    labels, codes = _distinct(values)
    return _read_labels(labels, codes, where, column, fmt, every)


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        key = (type(v), v) if v is not None and v == v else None
        code = index.get(key)
        if code is None:
            code = index[key] = len(index)
        codes[i] = code
    labels = np.empty(len(index), dtype=object)
    for key, code in index.items():
        labels[code] = None if key is None else key[1]
    return labels, codes


def _label_key(raw, fmt: str | None) -> tuple[Any, str | None]:
    if raw is None:
        raise _Bad("blank: every row needs its period")
    if isinstance(raw, _dt.datetime):  # the date as written: a zone is never converted
        return np.datetime64(raw.date(), "D"), None
    if isinstance(raw, _dt.date):
        return np.datetime64(raw, "D"), None
    if isinstance(raw, np.datetime64):
        if np.isnat(raw):
            raise _Bad("blank: every row needs its period")
        return raw.astype("datetime64[D]"), None
    if isinstance(raw, (bool, np.bool_)):
        raise _Bad("not a period")
    if isinstance(raw, (int, np.integer)):
        return parse_label(str(int(raw)), fmt)
    if isinstance(raw, (float, np.floating)):
        if raw != raw:
            raise _Bad("blank: every row needs its period")
        if float(raw).is_integer() and abs(raw) <= 2**53:
            return parse_label(str(int(raw)), fmt)
        raise _Bad("not a date or a whole number")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "backslashreplace")
    return parse_label(str(raw), fmt)


def _read_labels(labels, codes, where, column: str, fmt: str | None, every: str | None,
                 cache: dict | None = None) -> Periods:
    """Each distinct label parsed once; code -1 (a missing value) is blank."""
    n = len(labels)
    dated = np.empty(n + 1, dtype="datetime64[D]")
    whole = np.zeros(n + 1, dtype=np.int64)  # the value of a label that is a whole number
    units: dict[str | None, int] = {}
    failed: dict[int, str] = {}
    cache = {} if cache is None else cache
    for i, raw in enumerate(labels):
        try:
            if type(raw) is str:
                got = cache.get(raw)
                if got is None:
                    got = cache[raw] = _label_key(raw, fmt)
                key, unit = got
            else:
                key, unit = _label_key(raw, fmt)
        except _Bad as exc:
            failed[i] = exc.why
            continue
        units.setdefault(unit, i)
        if unit == "period":
            whole[i] = key
        else:
            dated[i] = key
            if unit == "year" and fmt is None:
                whole[i] = int(key.astype("datetime64[Y]").astype(np.int64)) + 1970
    codes = np.asarray(codes)
    if failed or (codes < 0).any():
        bad_label = np.zeros(n + 1, dtype=bool)
        bad_label[list(failed)] = True
        bad_label[n] = True
        row = int(np.argmax(bad_label[np.where(codes < 0, n, codes)]))
        code = int(codes[row])
        shown = "" if code < 0 or labels[code] is None else str(labels[code])
        _raise(where, column, row, shown, failed.get(code, "blank: every row needs its period"))
    if not units:
        return Periods(np.empty(0, dtype="datetime64[D]"), None)
    if fmt is None and "year" in units and ("period" in units or every == "period"):
        # Four-digit whole numbers are years, unless other whole numbers in the column (or
        # `every period`) say that they count periods.
        year = units.pop("year")
        units["period"] = min(year, units.get("period", year))
    if len(units) > 1:
        (first, i), (second, j) = sorted(units.items(), key=lambda kv: kv[1])[:2]
        row = int(np.argmax(codes == j))
        kinds = sorted((_unit_name(first), _unit_name(second)), key=lambda k: k != "whole number")
        _raise(where, column, row, str(labels[j]),
               f"a {_unit_name(second)} after {str(labels[i])!r}, a {_unit_name(first)}: the column mixes "
               f"{kinds[0]}s and {kinds[1]}s in one period column (one column holds one form)")
    unit = next(iter(units))
    if unit == "period":
        if every != "period" and fmt is None:
            _refuse_dated_whole(whole[codes], where, column)
        return Periods(whole[codes], "period")
    return Periods(dated[codes], unit)


def _refuse_dated_whole(keys: np.ndarray, where, column: str) -> None:
    """MS032 for whole numbers that are dates written as digits (202401, 20240131) or Excel serial
    day numbers (45292): read as counted periods, 202412 -> 202501 would be 89 periods apart and
    every December-to-January change silently lost (found by an attack). Never guessed: the
    message names the `format` that reads them (or `every period` if they do count periods)."""
    distinct = np.unique(keys)
    if len(distinct) < 2:
        return
    lo, hi = int(distinct[0]), int(distinct[-1])
    month = distinct % 100
    if 190001 <= lo and hi <= 210012 and ((month >= 1) & (month <= 12)).all():
        form, example = "%Y%m", "YYYYMM (202401)"
    elif 19000101 <= lo and hi <= 21001231 and all(_valid_ymd(int(k)) for k in distinct):
        form, example = "%Y%m%d", "YYYYMMDD (20240131)"
    elif 20000 <= lo and hi <= 80000 and (np.median(np.diff(distinct)) in (7,) or
                                         28 <= np.median(np.diff(distinct)) <= 31 or
                                         89 <= np.median(np.diff(distinct)) <= 92):
        form, example = "excel", "an Excel serial day number (45292)"
    else:
        return
    row = int(np.argmax(keys == distinct[0]))
    _raise(where, column, row, str(int(distinct[0])),
           f"a whole number that looks like a date written as {example}: say how with `format \"{form}\"` "
           "in the data clause (or `every period` if the column counts periods)")


def _valid_ymd(key: int) -> bool:
    try:
        _dt.date(key // 10000, key // 100 % 100, key % 100)
    except ValueError:
        return False
    return True


def _unit_name(unit: str | None) -> str:
    return {None: "date", "period": "whole number"}.get(unit, unit or "date")


def _whole(values: np.ndarray, where, column: str, every: str | None) -> Periods:
    if values.dtype.kind == "u" and len(values) and values.max() >= 2**63:  # astype would wrap
        bad = int(np.argmax(values >= 2**63))
        _raise(where, column, bad, str(int(values[bad])),
               "beyond the whole numbers a period can be (-2**63 to 2**63-1)")
    keys = values.astype(np.int64)
    if every != "period":
        _refuse_dated_whole(keys, where, column)
    if len(keys) and every != "period" and keys.min() >= 1000 and keys.max() <= 9999:
        years = (keys - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        return Periods(years, "year")
    return Periods(keys, "period")


def _excel(values: np.ndarray, where, column: str) -> Periods:
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(values) & (values >= 0)
    if not ok.all():
        bad = int(np.argmax(~ok))
        _raise(where, column, bad, repr(values[bad].item()), "not an Excel serial day number (format \"excel\")")
    return Periods(_EXCEL_EPOCH + np.floor(values).astype(np.int64).astype("timedelta64[D]"), None)


def _raise(where, column: str, row: int, shown: str, why: str) -> None:
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise DataError("MS032", f"{where.where(row)}: period {shown!r} is {why}" if shown else
                    f"{where.where(row)}: period is {why}", row=row + 1, line=where.line_of(row), column=column)


def round_key(text) -> tuple:
    """A survey round's place in time: ``(0, year, month, day, unit, label)`` for a period of any
    form ``parse_label`` reads (at its first day; ``unit`` its kind: a month and the quarter that
    starts the same day are different rounds), ``(1, value, 0, 0, "period", label)`` for a whole
    number, and ``(-1, 0, 0, 0, "", label)`` for anything else (a blank, ``nan``, free text,
    ``31/12/2024``), so that such a label never sorts after a real round. The label breaks ties."""
    text = "" if text is None else str(text).strip()
    try:
        key, unit = parse_label(text)
    except _Bad:
        return (-1, 0, 0, 0, "", text)
    if unit == "period":
        return (1, key, 0, 0, "period", text)
    day = key.astype(object)
    return (0, day.year, day.month, day.day, unit or "day", text)


def round_span(text) -> tuple | None:
    """The time a round label covers, ``(first day, day after its last)`` as dates (a whole number
    ``n`` covers ``(n, n + 1)``), or None for a label that is no period."""
    text = "" if text is None else str(text).strip()
    try:
        key, unit = parse_label(text)
    except _Bad:
        return None
    if unit == "period":
        return (key, key + 1)
    day = key.astype(object)
    months = {"month": 1, "quarter": 3, "year": 12}.get(unit or "")
    if months:
        y, m = divmod(day.month - 1 + months, 12)
        return (day, _dt.date(day.year + y, m + 1, 1))
    return (day, day + _dt.timedelta(days=7 if unit == "week" else 1))


# ---- calendar buckets and frequencies --------------------------------------------------------


def bucket(keys: np.ndarray, unit: str | None) -> np.ndarray:
    """Each date's period at ``unit``, as the period's first day (weeks are ISO: Monday)."""
    if keys.dtype.kind != "M" or unit in (None, "day", "period"):
        return keys
    days = keys.astype("datetime64[D]")
    if unit == "week":
        # 1970-01-01 was a Thursday: days since then, shifted so Monday is 0.
        n = days.astype(np.int64)
        return (n - (n + 3) % 7).astype("datetime64[D]")
    if unit == "month":
        return days.astype("datetime64[M]").astype("datetime64[D]")
    if unit == "quarter":
        months = days.astype("datetime64[M]").astype(np.int64)
        return (months - months % 3).astype("datetime64[M]").astype("datetime64[D]")
    if unit == "year":
        return days.astype("datetime64[Y]").astype("datetime64[D]")
    return keys


def infer_unit(keys: np.ndarray) -> str | None:
    """The calendar unit of a series' own dates from their usual step (the lower quartile of the
    gaps between distinct dates): day, week, month, quarter or year; "period" for whole numbers; None with
    fewer than two dates or a step that is no calendar unit (every 14 days)."""
    if keys.dtype.kind in "iu":
        return "period"
    days = keys.astype("datetime64[D]").astype(np.int64)
    gaps = np.diff(days)
    if not (gaps > 0).all():  # not sorted and distinct already (the pivot's periods are)
        gaps = np.diff(np.unique(days))
    if len(gaps) < 1:
        return None
    # The lower quartile of the gaps: a series missing some periods still steps by one unit
    # between most of the others.
    gaps = np.sort(gaps)
    step = float(gaps[(len(gaps) - 1) // 4])
    for unit, days in _UNIT_DAYS.items():
        if abs(step - days) <= max(0.5, 0.1 * days):
            return unit
    return None


def coarsest(units) -> str | None:
    found = [u for u in units if u in UNITS]
    return max(found, key=UNITS.index) if found else None


def finest(units) -> str | None:
    found = [u for u in units if u in UNITS]
    return min(found, key=UNITS.index) if found else None


def step_of(keys: np.ndarray, unit: str | None) -> int:
    """The number of `unit` steps from the first period, for each (keys already bucketed)."""
    if keys.dtype.kind in "iu":
        return keys
    days = keys.astype("datetime64[D]")
    if unit == "week":
        return (days.astype(np.int64) + 3) // 7
    if unit == "month":
        return days.astype("datetime64[M]").astype(np.int64)
    if unit == "quarter":
        return days.astype("datetime64[M]").astype(np.int64) // 3
    if unit == "year":
        return days.astype("datetime64[Y]").astype(np.int64)
    return days.astype(np.int64)


def label(value: Any, unit: str | None = None) -> str:
    """A period as people write it: ``2024-03`` for a month, ``2024-Q1``, ``2024``; a date (day
    or week) as YYYY-MM-DD; a whole number as itself."""
    if isinstance(value, np.datetime64):
        day = value.astype("datetime64[D]")
        if unit == "month":
            return str(day.astype("datetime64[M]"))
        if unit == "quarter":
            month = int(day.astype("datetime64[M]").astype(np.int64))
            return f"{1970 + month // 12}-Q{month % 12 // 3 + 1}"
        if unit == "year":
            return str(day.astype("datetime64[Y]"))
        return str(day)
    return str(value)


def labels(periods: np.ndarray, unit: str | None = None) -> list[str]:
    """``label`` of every period, at once."""
    periods = np.asarray(periods)
    if periods.dtype.kind == "M":
        if unit in ("month", "quarter", "year"):
            return [label(p, unit) for p in periods]
        return np.datetime_as_string(periods.astype("datetime64[D]"), unit="D").tolist()
    return [str(v) for v in periods.tolist()]


def same_round(a: str, b: str) -> bool:
    """Two round labels name the same round: the same period in time (`Q2 2025`, `2025-Q2`), or
    the same text for labels that are not periods. A month and the quarter that starts on its
    first day are different rounds."""
    ka, kb = round_key(a), round_key(b)
    if ka[0] == -1 or kb[0] == -1:  # not periods: the same text
        return a.strip() == b.strip()
    return ka[:-1] == kb[:-1]


def overlaps(a: str, b: str) -> bool:
    """The two round labels share some time (`2025-02` lies in `Q1 2025`; a year holds its
    quarters), or may (a whole number and a period in time), or are the same text when either is
    no period. `open` excludes every round its
    label overlaps: a round still collecting answers is never reported, however it is written."""
    sa, sb = round_span(a), round_span(b)
    if sa is None or sb is None:
        return same_round(a, b)
    if type(sa[0]) is not type(sb[0]):
        # NOTE: a whole number (wave `3`, or `202506`) and a period in time (`2025-06`): nothing
        # says whether they share time, so they may (`open "2025-06"` on rounds written 202506 held
        # nothing back and the open round was shown)
        return True
    return sa[0] < sb[1] and sb[0] < sa[1]
