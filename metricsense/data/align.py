"""Series of one spec on one period index: each on calendar buckets at its own frequency, series of
different frequencies said so (MS038), and the regular calendar on which two series are compared.

A series' frequency is the unit its data clause declares (`every month`), else the unit its
period form carries (`2024-03` is a month), else the unit its own dates step by (see
``periods.infer_unit``). Its dates become the first day of their period at that unit, so a
monthly series dated at month ends and one dated at month starts share their periods.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from metricsense.data import periods as P
from metricsense.diagnostics import Problem
from metricsense.span import Span


def own_unit(observed: np.ndarray) -> str | None:
    """The calendar unit of a series' observed dates, when each falls in a period of its own."""
    unit = P.infer_unit(observed)
    if unit in P.UNITS and unit != "day":
        days = np.unique(observed) if not (np.diff(observed.view(np.int64)) > 0).all() else observed
        keys = P.bucket(days, unit)
        if (keys[1:] == keys[:-1]).any():
            return None  # every 28 days is no month: two dates would share one
    return unit


def align(raw: dict, doc) -> tuple[np.ndarray, dict, dict, str | None, list[Problem]]:
    """``raw``: name -> (periods, values, origin, segments, block, unit, value unit); returns the union of the
    series' periods, name -> (values, block) on it, name -> unit, the frequency, and problems."""
    anchor = Span.point(doc.files[0] if doc.files else doc.root)
    problems: list[Problem] = []
    kinds = {p.dtype.kind for p, *_ in raw.values() if len(p)}
    if len(kinds) > 1:
        problems.append(Problem("MS032", anchor, "some sources use dates as periods and others whole numbers; "
                                                 "they cannot be aligned"))
        raw = {k: v for k, v in raw.items() if v[0].dtype.kind == "M"}
    if not raw:
        return np.array([], dtype="datetime64[D]"), {}, {}, None, problems
    units: dict[str, str | None] = {}
    for name, (periods, values, _o, _s, _b, hint, *_value_unit) in raw.items():
        if periods.dtype.kind in "iu":
            units[name] = "period"
        elif hint is not None:
            units[name] = hint
        else:
            observed = periods[~np.isnan(values)]
            units[name] = own_unit(observed) if len(observed) >= 2 else None
    known = [u for u in units.values() if u in P.UNITS]
    for name, (periods, values, *_rest) in raw.items():
        if units[name] is None and int((~np.isnan(values)).sum()) < 2 and known:
            units[name] = P.finest(known)  # one value has no step of its own: the others' unit
    bucketed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    shared: dict[tuple, tuple] = {}  # (periods, unit) -> their buckets: the series of a long file share periods
    for name, (periods, values, origin, _s, block, _h, *_value_unit) in raw.items():
        try:
            bucketed[name] = _to_buckets(name, periods, values, block, units[name], shared)
        except ValueError as exc:
            problems.append(Problem("MS033", anchor, f"`{origin}`: {exc}"))
            units.pop(name)
    if not bucketed:
        return np.array([], dtype="datetime64[D]"), {}, {}, None, problems
    first = next(iter(bucketed.values()))[0]
    union = first
    for keys, *_ in bucketed.values():
        if keys is not union and (len(keys) != len(union) or not np.array_equal(keys, union)):
            union = np.union1d(union, keys)
    placed = {}
    for name, (keys, values, block) in bucketed.items():
        if keys is union or (len(keys) == len(union) and np.array_equal(keys, union)):
            placed[name] = (values, block)
            continue
        pos = np.searchsorted(union, keys)
        out = np.full(len(union), np.nan)
        out[pos] = values
        out_block = None
        if block is not None:
            out_block = np.full((len(union), block.shape[1]), np.nan)
            out_block[pos] = block
        placed[name] = (out, out_block)
    distinct = sorted({u for u in units.values() if u in P.UNITS}, key=P.UNITS.index)
    frequency = distinct[0] if distinct else ("period" if union.dtype.kind in "iu" else None)
    if len(distinct) > 1:
        finest = sorted((n for n, u in units.items() if u == distinct[0]))
        problems.append(_mixed(units, distinct, _data_span(doc, finest[0], anchor)))
    weekdays = _weekdays(raw, units)
    if len(set(weekdays.values())) > 1:
        problems.append(_weekdays_differ(weekdays, _data_span(doc, sorted(weekdays)[0], anchor)))
    return union, placed, units, frequency, problems


def _data_span(doc, name: str, fallback: Span) -> Span:
    """The data clause a series reads (its own, else the spec's default): where MS038 points."""
    node = doc.lookup(name) if hasattr(doc, "lookup") else None
    data = getattr(node, "data", None)
    if data is not None:
        return data.span
    return doc.data_defaults[0].span if getattr(doc, "data_defaults", None) else fallback


_DAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def _weekdays(raw: dict, units: dict) -> dict[str, int]:
    """The weekday each weekly series is dated on, for the series dated on one weekday throughout."""
    found = {}
    shared: dict[int, tuple[np.ndarray, int | None]] = {}  # the series of one file share their periods
    for name, (periods, values, *_rest) in raw.items():
        if units.get(name) != "week" or periods.dtype.kind != "M":
            continue
        if id(periods) not in shared:
            # 1970-01-01 was a Thursday: Monday is 0
            days = (periods.astype("datetime64[D]").astype(np.int64) + 3) % 7
            shared[id(periods)] = (days, int(days[0]) if len(days) and (days == days[0]).all() else None)
        days, one = shared[id(periods)]
        observed = ~np.isnan(values)
        if one is not None:  # every period on one weekday: so is every series with a value
            if observed.any():
                found[name] = one
            continue
        seen = days[observed]
        if len(seen) and (seen == seen[0]).all():
            found[name] = int(seen[0])
    return found


def _weekdays_differ(weekdays: dict[str, int], anchor: Span) -> Problem:
    """Weekly series dated on different weekdays are paired by ISO week (Monday to Sunday): a week
    dated by its first day (a Sunday) in one file and by its last (a Saturday) in another would be
    paired one week apart (found by an attack: a false MS205). Said, never guessed."""
    by_day: dict[int, list[str]] = {}
    for name, day in sorted(weekdays.items()):
        by_day.setdefault(day, []).append(name)
    said = "; ".join(f"{_DAY_NAMES[d]}: " + ", ".join(f"`{n}`" for n in names[:6]) for d, names in sorted(by_day.items()))
    return Problem("MS038", anchor,
                   f"weekly series dated on different weekdays ({said}) are paired by ISO week, Monday to "
                   "Sunday: if one file dates a week by its first day and another by its last, they are "
                   "paired one week apart",
                   help="date every weekly series the same way (the week's Monday, or `2024-W10`), or check "
                        "that each date falls in the week it stands for")


def _to_buckets(name: str, periods: np.ndarray, values: np.ndarray, block, unit: str | None, shared: dict):
    """The series on its periods at ``unit``; ValueError when two values fall in one period."""
    key = (id(periods), unit)
    if key not in shared:
        keys = P.bucket(periods, unit)
        shared[key] = (periods, keys, len(keys) >= 2 and bool((keys[1:] == keys[:-1]).any()))
    _p, keys, repeats = shared[key]
    if not repeats:
        return keys, values, block
    # Several of the source's dates in one period (a monthly series among weekly rows): at most
    # one of them may hold a value, per segment.
    uniq, start = np.unique(keys, return_index=True)
    group = np.searchsorted(uniq, keys)
    cells = block if block is not None else values[:, None]
    present = ~np.isnan(cells)
    counts = np.zeros((len(uniq), cells.shape[1]), dtype=np.int64)
    np.add.at(counts, group, present.astype(np.int64))
    if (counts > 1).any():
        g = int(np.argmax((counts > 1).any(axis=1)))
        col = int(np.argmax(counts[g] > 1))
        dates = periods[(group == g) & present[:, col]][:2]
        raise ValueError(f"`{name}` has two values in the {unit} {P.label(uniq[g], unit)} "
                         f"({P.label(dates[0])} and {P.label(dates[1])}); a period holds one value per series")
    out = np.full(cells.shape, np.nan)
    rows, cols = np.nonzero(present)
    out[group[rows], cols] = cells[rows, cols]
    out = out[:len(uniq)]
    if block is None:
        return uniq, out[:, 0], None
    with np.errstate(all="ignore"):
        n = (~np.isnan(out)).sum(axis=1)
        mean = np.where(n > 0, np.nansum(out, axis=1) / np.maximum(n, 1), np.nan)
    return uniq, mean, out


def _mixed(units: dict, distinct: list[str], anchor: Span) -> Problem:
    by_unit = {u: sorted(n for n, v in units.items() if v == u) for u in distinct}
    said = "; ".join(f"{_adjective(u)}: " + ", ".join(f"`{n}`" for n in names[:6]) +
                     (f" and {len(names) - 6} more" if len(names) > 6 else "") for u, names in by_unit.items())
    coarse = distinct[-1]
    return Problem("MS038", anchor,
                   f"series of different frequencies ({said}): each is checked on its own periods; "
                   f"where two of different frequencies are compared (correlation, gains, lags), the finer "
                   f"one is taken as its mean per {distinct[1] if len(distinct) == 2 else 'coarser period'}",
                   help=f"to compare every series {_adjective(coarse)} another way (a sum, the last value), "
                        f"export the finer series {_adjective(coarse)}")


def _adjective(unit: str) -> str:
    return {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly", "year": "yearly"}[unit]


def regular(periods: np.ndarray, columns: list[np.ndarray], units: list[str | None]) -> tuple[np.ndarray, str | None]:
    """Columns on a regular calendar at the coarsest of ``units``: one row per period from the
    first to the last (a finer series is its mean over its values in each period). Returns the
    G x n matrix and the unit. Without a calendar unit (dates every 14 days) the rows are the
    observed periods with a missing row wherever a gap is longer than 1.5 usual steps."""
    calendar = [u for u in units if u in P.UNITS]
    unit = P.coarsest(calendar) if calendar else ("period" if periods.dtype.kind in "iu" else None)
    observed = np.zeros(len(periods), dtype=bool)
    for col in columns:
        observed |= ~np.isnan(col)
    if unit in P.UNITS:
        steps = P.step_of(P.bucket(periods, unit), unit)
    else:
        raw = periods.astype(np.int64) if periods.dtype.kind in "iu" else periods.astype("datetime64[D]").astype(np.int64)
        seen = np.unique(raw[observed]) if observed.any() else np.zeros(1, dtype=np.int64)
        diffs = np.diff(seen)
        if unit == "period":  # whole numbers step by the greatest common divisor of their gaps
            step = 0
            for d in np.unique(diffs).tolist():
                step = gcd(step, int(d))
            steps = (raw - seen[0]) // max(step, 1)
        else:  # a gap longer than 1.5 usual steps is a missing period: one missing row marks it
            lower = float(np.sort(diffs)[(len(diffs) - 1) // 2]) if len(diffs) else 1.0
            extra = np.concatenate([[0], np.cumsum(diffs > 1.5 * lower)])
            rank = np.clip(np.searchsorted(seen, raw), 0, len(seen) - 1)
            steps = rank + extra[rank]
    pos_of = steps[observed]
    if not len(pos_of):  # no value at all: every period missing, as the series themselves say
        return np.full((len(periods), len(columns)), np.nan), unit
    lo, hi = int(pos_of.min()), int(pos_of.max())
    if hi - lo + 1 > max(100_000, 20 * len(periods)):
        # Too sparse for a row per period (whole numbers far apart): a missing row between two
        # periods that are not consecutive is enough to keep a change from bridging them.
        seen = np.unique(pos_of)
        ranks = np.searchsorted(seen, steps)
        ranks = np.minimum(ranks, len(seen) - 1)
        steps = ranks + np.concatenate([[0], np.cumsum(np.diff(seen) > 1)])[ranks]
        lo, hi = int(steps[observed].min()), int(steps[observed].max())
    size = hi - lo + 1
    out = np.full((size, len(columns)), np.nan)
    # NOTE: every column at once (the rows' positions are shared): a loop of np.add.at per
    # column cost a KPI regressed on 200 levers 400 calls, and 2,000 such KPIs seconds.
    rows = np.flatnonzero(observed)
    pos = steps[rows] - lo
    x = np.column_stack(columns)[rows] if columns else np.empty((len(rows), 0))
    if len(pos) < 2 or bool((np.diff(pos) > 0).all()):
        out[pos] = x  # one period per row: each value is its own mean
        return out, unit
    ok = ~np.isnan(x)
    total = np.zeros((size, len(columns)))
    count = np.zeros((size, len(columns)))
    np.add.at(total, pos, np.where(ok, x, 0.0))
    np.add.at(count, pos, ok.astype(np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        out[:] = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
    return out, unit
