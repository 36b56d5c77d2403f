"""MS403's spread comparison per KPI (``_variance``) and the same for many KPIs at once
(``variances``): a KPI system of thousands of plain series with the same periods observed and the
same split has one grid, one pair of windows and one design of the spread-break regression, so
their tests are a few matrix operations over all of them instead of one small regression each.
``variances`` gives what ``_variance`` gives for each KPI, to rounding (the same medians, the
same regression by other arithmetic: tests/evaluators/test_distortion_many.py, rel 1e-9).
NumPy only, imported inside functions.
"""

from __future__ import annotations

from metricsense.evaluators.common import own_values, row_medians
from metricsense.evaluators.distortion_stats import break_design, paired_spread_test, spread_break_test, whole_cycles
from metricsense.evaluators.records import VarianceTest
from metricsense.evaluators.serial import median

#: The status of a KPI whose windows hold less than a year on a side.
SHORT = ("less than a whole year on each side of the target (seasons and the target "
         "cannot be told apart)")


def _windows(data, row: int, after, observed, unit: str | None):
    """The rows compared before and after the split: for weekly, monthly or quarterly data, the
    same whole number of years on each side next to the split (so each side holds every season
    equally often); None (and why) when a side has less than a whole year."""
    import numpy as np

    rows = np.flatnonzero(observed)
    before, later = rows[rows < row], rows[rows >= row]
    cycle, _ = whole_cycles(unit, len(before), len(later))
    if cycle is None or data.periods.dtype.kind != "M" or not len(before) or not len(later):
        return ~after & observed, after & observed, None
    day = data.periods.astype("datetime64[D]").astype(np.int64).astype(float)
    step = median(np.diff(day[rows])) if len(rows) > 1 else 1.0  # float(np.median(...)), to the bit
    split = day[later[0]]
    span = min(split - day[before[0]], day[later[-1]] + step - split)
    years = int((span + step / 2) // 365.25)
    if years < 1:
        return None, None, 0
    lo, hi = split - years * 365.25 - step / 2, split + years * 365.25 - step / 2
    return observed & ~after & (day >= lo), observed & after & (day < hi), years


def _variance(s, data, row: int, after, unit: str | None, min_periods: int) -> VarianceTest | None:
    """MS403's comparison: the spread as it is and relative to the level (logs, when every value is
    positive); a fall must show on both scales (the larger p-value and ratio are reported)."""
    import numpy as np

    block = s.by_segment if s.by_segment is not None else s.values[:, None]
    observed = ~np.isnan(block).all(axis=1)
    wb, wa, years = _windows(data, row, after, observed, unit)
    cycle = whole_cycles(unit, 0, 0)[0] if years else None
    if wb is None:
        return {"status": SHORT, "years": 0}
    positive = bool(np.nanmin(block) > 0)
    scales = [("as is", block)] + ([("relative to the level", np.log(block))] if positive else [])
    found = []
    for name, vals in scales:
        if s.by_segment is not None:
            with np.errstate(all="ignore"):
                med = np.nanmedian(np.where(observed[:, None], vals, 0.0), axis=1)
            dev = vals - med[:, None]
            db, da = dev[wb], dev[wa]
            vb_all, va_all = db[~np.isnan(db)], da[~np.isnan(da)]
            test = paired_spread_test(db, da) if min(len(vb_all), len(va_all)) >= min_periods else None
            what = "spread across units around each period's median"
        else:
            grid, rows = own_values(data.periods, vals[:, 0])
            d = np.diff(grid[:, 0])  # NaN across a missing period
            side = np.full(len(rows), -1)
            side[rows >= 0] = np.where(wb[rows[rows >= 0]], 0, np.where(wa[rows[rows >= 0]], 1, -1))
            inb, ina = (side[:-1] == 0) & (side[1:] == 0), (side[:-1] == 1) & (side[1:] == 1)
            vb_all, va_all = d[inb], d[ina]
            vb_all, va_all = vb_all[~np.isnan(vb_all)], va_all[~np.isnan(va_all)]
            use = (inb | ina) & ~np.isnan(d)
            when = np.arange(1, len(d) + 1, dtype=float)  # a change's period on the series' own grid
            test = spread_break_test(d[use], when[use], ina[use], cycle) \
                if min(len(vb_all), len(va_all)) >= min_periods else None
            what = "period-to-period changes"
        if test is None or test.get("p") is None:
            return None
        vb, va = float(np.var(vb_all, ddof=1)), float(np.var(va_all, ddof=1))
        found.append({"of": what, "scale": name, "before": vb, "after": va, "ratio": (va / vb) if vb > 0 else None,
                      "n_before": len(vb_all), "n_after": len(va_all), **test})
    if any(f["ratio"] is None for f in found):
        return None
    worst = max(found, key=lambda f: (f["p"], f["ratio"]))
    out: VarianceTest = {**worst, "ratio": max(f["ratio"] for f in found), "years": years,
                         "p_by_scale": {f["scale"]: f["p"] for f in found}}
    return out


def variances(data, items, min_periods: int) -> dict:
    """``_variance`` of many plain series (``items``: (name, series, split row)), by groups that
    share the periods observed, the split and the calendar unit: name -> what ``_variance``
    gives. A group of one, or one whose changes are not finite where they should be, is left out
    (the caller runs ``_variance`` on it)."""
    import numpy as np

    groups: dict[tuple, list] = {}
    for name, s, row in items:
        if s.by_segment is None:
            key = (int(row), (~np.isnan(s.values)).tobytes(), data.unit_of(name))
            groups.setdefault(key, []).append((name, s))
    out: dict = {}
    for (row, _, unit), members in groups.items():
        if len(members) > 1:
            out.update(_group(data, row, unit, members, min_periods))
    return out


def _group(data, row: int, unit: str | None, members: list, min_periods: int) -> dict:
    """``_variance`` for plain series with one pattern of observed periods and one split."""
    import numpy as np

    names = [name for name, _ in members]
    V = np.array([s.values for _, s in members], dtype=float).T  # periods x KPIs
    observed = ~np.isnan(V[:, 0])
    after = np.arange(len(data.periods)) >= row
    wb, wa, years = _windows(data, row, after, observed, unit)
    if wb is None:
        return {name: {"status": SHORT, "years": 0} for name in names}
    cycle = whole_cycles(unit, 0, 0)[0] if years else None
    grid, rows = own_values(data.periods, V)
    side = np.full(len(rows), -1)
    side[rows >= 0] = np.where(wb[rows[rows >= 0]], 0, np.where(wa[rows[rows >= 0]], 1, -1))
    inb, ina = (side[:-1] == 0) & (side[1:] == 0), (side[:-1] == 1) & (side[1:] == 1)
    positive = np.nanmin(V, axis=0) > 0
    scales = [("as is", np.diff(grid, axis=0), np.ones(len(names), dtype=bool))]
    if positive.any():
        with np.errstate(all="ignore"):
            scales.append(("relative to the level", np.diff(np.log(grid), axis=0), positive))
    gap = np.isnan(scales[0][1][:, 0])
    for _, d, cols in scales:
        if not (np.isnan(d[:, cols]) == gap[:, None]).all() or np.isinf(d[:, cols]).any():
            return {}  # not one pattern of changes: each on its own
    inb, ina = inb & ~gap, ina & ~gap
    nb, na = int(inb.sum()), int(ina.sum())
    if min(nb, na) < min_periods:
        return {name: None for name in names}
    use = inb | ina
    when = np.arange(1, len(gap) + 1, dtype=float)[use]  # a change's period on the series' own grid
    found: list[list] = [[] for _ in names]
    for scale, d, cols in scales:
        test = _breaks(d[use][:, cols].T, when, ina[use], cycle)
        if test is None:
            return {name: None for name in names}
        vb, va = np.var(d[inb][:, cols], axis=0, ddof=1), np.var(d[ina][:, cols], axis=0, ddof=1)
        with np.errstate(all="ignore"):
            ratio = np.where(vb > 0, va / np.where(vb > 0, vb, 1.0), np.nan)
        for q, c in enumerate(np.flatnonzero(cols).tolist()):
            p = test["p"][q]
            found[c].append(None if not np.isfinite(p) else {
                "of": "period-to-period changes", "scale": scale, "before": float(vb[q]), "after": float(va[q]),
                "ratio": float(ratio[q]) if vb[q] > 0 else None, "n_before": nb, "n_after": na,
                "t": float(test["t"][q]), "df": test["df"], "step": float(test["step"][q]), "p": float(p)})
    out: dict = {}
    for name, tests in zip(names, found):
        if any(f is None for f in tests) or any(f["ratio"] is None for f in tests):
            out[name] = None
            continue
        worst = max(tests, key=lambda f: (f["p"], f["ratio"]))
        out[name] = {**worst, "ratio": max(f["ratio"] for f in tests), "years": years,
                     "p_by_scale": {f["scale"]: f["p"] for f in tests}}
    return out


def _breaks(d, times, after, cycle: int | None, power: float = 2.0 / 3.0) -> dict | None:
    """``spread_break_test`` for many series (rows of ``d``) on the same times and sides: t, step
    and p per row (p NaN where the test gives none), df; None where it gives none for all."""
    import numpy as np

    from metricsense.evaluators.distortion_batch import t_sf_many

    side = np.asarray(after, dtype=bool)
    z = np.empty_like(d)
    for s in (False, True):
        m = side == s
        if m.sum() < 3:
            return None
        # np.median(d[:, m], axis=1) as row_medians has it: the same but for a zero's sign, which abs drops
        z[:, m] = np.abs(d[:, m] - row_medians(d[:, m])[:, None]) ** power
    design = break_design(times, side, cycle)
    if design is None:
        return None
    X, XtX_inv = design
    n, k = X.shape
    b = (XtX_inv @ (X.T @ z.T)).T  # rows x 3
    e = z - b @ X.T
    lev = np.einsum("ij,jk,ik->i", X, XtX_inv, X)
    # HC3: [(X'X)^-1 X' diag(e^2 / (1 - lev)^2) X (X'X)^-1]_22 = sum_t (X a)_t^2 e_t^2 / (1 - lev_t)^2
    h = X @ XtX_inv[:, 2]
    var = ((e / np.maximum(1.0 - lev, 1e-12)) ** 2) @ (h * h)
    with np.errstate(all="ignore"):
        t = np.where(var > 0, -b[:, 2] / np.sqrt(var), np.nan)
        p = np.where(np.isfinite(t), t_sf_many(t, n - k), np.nan)
    return {"t": t, "df": n - k, "step": b[:, 2], "p": p}
