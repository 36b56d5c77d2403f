"""The trigger-condition interpreter: types, target resolution and NumPy evaluation over periods.

A condition is the expression tree the grammar built (``model.Expr``); nothing is ever handed
to Python's ``eval``. Every value is a float array of shape (periods, units): one unit for a
plain series, one per segment (a task, a class) when a series the condition reads is segmented.
Booleans are floats too, in three-valued (Kleene) logic: 1.0 true, 0.0 false, NaN unknown. A
comparison with a missing value is unknown, ``not unknown`` is unknown, and only a known true
can fire, so missing data never fires a trigger and is never filled.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from metricsense.diagnostics import Problem, anchor
from metricsense.names import listed as few
from metricsense.model import (
    FUNCTIONS,
    KPI,
    Binary,
    Call,
    Disturbance,
    Document,
    Expr,
    Lever,
    Number,
    Percent,
    Ref,
    TargetRef,
    walk_expr,
    Trigger,
    Unary,
)

NUMBER, BOOL = "number", "condition"
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
ARITHMETIC = ("+", "-", "*", "/")
LOGIC = ("and", "or")


def _problem(code: str, node: object, message: str, help: str | None = None) -> Problem:
    """A type or name problem in a condition (MS603 which target?, MS604 a type error), at ``node``."""
    return Problem(code, anchor(node), message, help)


def series_name(ref: Ref) -> str:
    """The data series a reference reads: `csat`, or `estimate.self` for a paired series."""
    return ".".join(ref.parts)


def read_refs(expr: Expr) -> Iterator[Ref]:
    """The series references a condition reads, in source order (not those naming a target)."""
    if isinstance(expr, Ref):
        yield expr
    elif isinstance(expr, Binary):
        yield from read_refs(expr.left)
        yield from read_refs(expr.right)
    elif isinstance(expr, Unary):
        yield from read_refs(expr.operand)
    elif isinstance(expr, Call):
        for a in expr.args:
            yield from read_refs(a)
    elif isinstance(expr, Percent) and expr.of is not None:
        yield from read_refs(expr.of)


def kpis_read(trigger: Trigger, spec: Document) -> list[KPI]:
    """The KPIs a trigger's condition reads (a paired `estimate.self` reads `estimate`)."""
    return list(_facts(trigger, spec)[0])


def _kpis_read(trigger: Trigger, spec: Document) -> list[KPI]:
    out: list[KPI] = []
    for ref in read_refs(trigger.condition):
        found = spec.lookup(ref.name)
        if isinstance(found, KPI) and found not in out:
            out.append(found)
    return out


def _needs_default_target(expr: Expr) -> list[Expr]:
    """Nodes that mean "the target of the KPI the condition reads": bare `target`, bare `25%`."""
    return [node for node in walk_expr(expr) if isinstance(node, (TargetRef, Percent)) and node.of is None]


def default_target(trigger: Trigger, spec: Document) -> tuple[KPI | None, list[Problem]]:
    """The KPI whose target a bare `target` (or a bare `25%`) means, and MS603 problems if unclear."""
    kpi, problems = _facts(trigger, spec)[1]
    return kpi, list(problems)


def _default_target(trigger: Trigger, spec: Document, read: list[KPI]) -> tuple[KPI | None, list[Problem]]:
    uses = _needs_default_target(trigger.condition)
    with_target = [k for k in read if k.target is not None and k.target.value is not None]
    if not uses:
        return (with_target[0] if len(with_target) == 1 else None), []
    if len(with_target) == 1:
        return with_target[0], []
    problems = []
    for node in uses:
        what = "`target`" if isinstance(node, TargetRef) else f"`{_fmt(node.value)}%` (of the target)"
        if with_target:
            listed = few([k.name for k in with_target], last=", ")
            problems.append(_problem(
"MS603", node, f"{what} in trigger `{trigger.name}` is ambiguous: the condition reads "
                               f"{len(with_target)} KPIs with targets ({listed})",
                f"name the KPI: `target({with_target[0].name})`"
                + ("" if isinstance(node, TargetRef) else f" or `{_fmt(node.value)}% of target({with_target[0].name})`"),
            ))
        else:
            which = few([k.name for k in read], last=", ") if read else "no KPI"
            problems.append(_problem(
"MS603", node, f"{what} in trigger `{trigger.name}` has no target to mean: the condition "
                               f"reads {which}, and no KPI it reads has a numeric target",
                "give the KPI a target (`target >= 4.5 by 2027-06-30`), or write the number",
            ))
    return None, problems


def _fmt(value: float) -> str:
    return f"{value:g}"


# ---- static types ----------------------------------------------------------------------------


def type_problems(trigger: Trigger, spec: Document) -> list[Problem]:
    """MS604 problems: a comparison used as a number, a number used as a condition, bad arguments."""
    return list(_facts(trigger, spec)[2])


#: What ``kpis_read``, ``default_target`` and ``type_problems`` say of the last spec's triggers
#: (by id), as _GRIDS keeps its grids: each depends on the trigger and the (frozen) spec alone, and
#: the evaluators and rules asked for each several times per trigger.
_FACTS: list = [None]


def _facts(trigger: Trigger, spec: Document) -> tuple[tuple, tuple, tuple]:
    """(KPIs read, (default target's KPI, MS603 problems), MS604 problems) of ``trigger`` in ``spec``."""
    kept = _memo(_FACTS, spec)
    hit = kept.get(id(trigger))
    if hit is not None and hit[0] is trigger:
        return hit[1]
    read = _kpis_read(trigger, spec)
    kpi, problems = _default_target(trigger, spec, read)
    out = (tuple(read), (kpi, tuple(problems)), tuple(_type_problems(trigger, spec)))
    _keep(kept, id(trigger), (trigger, out), 1)
    return out


def _type_problems(trigger: Trigger, spec: Document) -> list[Problem]:
    problems: list[Problem] = []

    def infer(node: Expr) -> str | None:
        """The node's type; None where an error below already explains it (no cascades)."""
        if isinstance(node, (Number, Ref)):
            return NUMBER
        if isinstance(node, Percent):
            if node.of is not None:
                want(node.of, NUMBER, f"`{_fmt(node.value)}% of` needs a number")
            return NUMBER
        if isinstance(node, TargetRef):
            if node.of is not None:
                found = spec.lookup(node.of.name)
                if isinstance(found, (Lever, Disturbance)):
                    kind = "lever" if isinstance(found, Lever) else "disturbance"
                    problems.append(_problem("MS604", node, f"`target({node.of.name})`: `{node.of.name}` is a "
                                                           f"{kind}, and only KPIs have targets"))
                elif len(node.of.parts) > 1:
                    problems.append(_problem("MS604", node, f"`target({series_name(node.of)})`: a target belongs "
                                                           f"to the KPI, write `target({node.of.name})`"))
            return NUMBER
        if isinstance(node, Unary):
            if node.op == "not":
                want(node.operand, BOOL, "`not` needs a condition (a comparison)")
                return BOOL
            word = "abs" if node.op == "abs" else f"unary `{node.op}`"
            want(node.operand, NUMBER, f"{'`abs`' if node.op == 'abs' else word} needs a number")
            return NUMBER
        if isinstance(node, Call):
            if node.func not in FUNCTIONS or len(node.args) != FUNCTIONS[node.func]:
                for a in node.args:
                    infer(a)
                return NUMBER  # MS002 reports unknown functions and wrong arity
            series, k = node.args
            want(series, NUMBER, f"`{node.func}` reads a number series as its first argument")
            if not (isinstance(k, Number) and k.value >= 1 and float(k.value).is_integer()):
                problems.append(_problem(
"MS604", k, f"`{node.func}(x, k)`: k counts periods, so it must be a whole number of at least 1",
                    f"for example `{node.func}(x, 4)`"))
            return NUMBER
        if isinstance(node, Binary):
            if node.op in LOGIC:
                want(node.left, BOOL, f"`{node.op}` joins conditions (comparisons)")
                want(node.right, BOOL, f"`{node.op}` joins conditions (comparisons)")
                return BOOL
            if node.op in COMPARISONS:
                want(node.left, NUMBER, f"`{node.op}` compares numbers")
                want(node.right, NUMBER, f"`{node.op}` compares numbers")
                return BOOL
            want(node.left, NUMBER, f"`{node.op}` needs numbers on both sides")
            want(node.right, NUMBER, f"`{node.op}` needs numbers on both sides")
            return NUMBER
        return None

    def want(node: Expr, kind: str, why: str) -> None:
        got = infer(node)
        if got is None or got == kind:
            return
        if kind == NUMBER:
            problems.append(_problem("MS604", node, f"{why}, but this is a condition (true or false)",
                                    "compare numbers, then join conditions with `and`/`or`"))
        else:
            problems.append(_problem("MS604", node, f"{why}, but this is a number",
                                    "compare it with something: `x > 0.3`"))

    root = infer(trigger.condition)
    if root == NUMBER:
        problems.append(_problem("MS604", trigger.condition,
                                f"the condition of trigger `{trigger.name}` is a number, not a comparison",
                                "say when it fires: `x > target`, `abs(x - y) > 25% of y`"))
    return problems


# ---- evaluation --------------------------------------------------------------------------------


class EvalError(Exception):
    """Evaluation could not proceed (a type error or a missing series); no firing is computed."""


@dataclass
class Inputs:
    """The series a condition reads, aligned as (periods, units), and the targets it may name."""

    arrays: dict[str, np.ndarray]          # series name -> (T, U) or (T, 1)
    units: tuple[str, ...]                 # segment names ("" when not segmented)
    targets: Mapping[str, float]           # KPI name -> target value
    default_target: float | None           # what bare `target` and bare `25%` mean


def gather(trigger: Trigger, spec: Document, series: Callable[[str], object]) -> tuple[Inputs | None, list[str]]:
    """Align the series ``trigger`` reads (``series(name)`` returns a data Series or None).

    Returns (inputs, missing series names). Segmented series are aligned on the union of
    their segment names; unsegmented ones broadcast over every unit.
    """
    import numpy as np

    names: list[str] = []
    for ref in read_refs(trigger.condition):
        n = series_name(ref)
        if n not in names:
            names.append(n)
    found, missing = {}, []
    for n in names:
        s = series(n)
        if s is None:
            missing.append(n)
        else:
            found[n] = s
    if missing:
        return None, missing
    segments = sorted({seg for s in found.values() if getattr(s, "by_segment", None) is not None
                       for seg in s.segments})
    arrays: dict[str, np.ndarray] = {}
    for n, s in found.items():
        block = getattr(s, "by_segment", None)
        if segments and block is not None:
            pos = {seg: i for i, seg in enumerate(s.segments)}
            out = np.full((block.shape[0], len(segments)), np.nan)
            for j, seg in enumerate(segments):
                if seg in pos:
                    out[:, j] = block[:, pos[seg]]
            arrays[n] = out
        else:
            arrays[n] = np.asarray(s.values, dtype=float).reshape(-1, 1)
    # NOTE: only the targets the condition names (`target(x)`): every KPI's, for each of a
    # thousand triggers, made gathering quadratic in the KPIs.
    named = {node.of.name for node in walk_expr(trigger.condition) if isinstance(node, TargetRef) and node.of is not None}
    targets = {}
    for name in named:
        k = spec.lookup(name)
        if isinstance(k, KPI) and k.target is not None and k.target.value is not None:
            targets[name] = float(k.target.value)
    kpi, _ = default_target(trigger, spec)
    default = float(kpi.target.value) if kpi is not None and kpi.target is not None and kpi.target.value is not None \
        else None
    return Inputs(arrays, tuple(segments) if segments else ("",), targets, default), []


def evaluate(expr: Expr, inputs: Inputs, periods: int) -> np.ndarray:
    """The expression's value as a (periods, units) float array (conditions: 1.0, 0.0 or NaN)."""
    import numpy as np

    shape = (periods, len(inputs.units))

    def full(value: float) -> np.ndarray:
        return np.full(shape, float(value))

    def ev(node: Expr) -> np.ndarray:
        if isinstance(node, Number):
            return full(node.value)
        if isinstance(node, Ref):
            arr = inputs.arrays[series_name(node)]
            return arr if arr.shape == shape else np.broadcast_to(arr, shape)  # read, never written
        if isinstance(node, TargetRef):
            name = node.of.name if node.of is not None else None
            value = inputs.targets.get(name) if name is not None else inputs.default_target
            if value is None:
                raise EvalError(f"no target for `{name or 'target'}`")
            return full(value)
        if isinstance(node, Percent):
            if node.of is None:
                if inputs.default_target is None:
                    raise EvalError("no target for a bare percentage")
                return full(node.value / 100.0 * inputs.default_target)
            return node.value / 100.0 * ev(node.of)
        if isinstance(node, Unary):
            x = ev(node.operand)
            if node.op == "-":
                return -x
            if node.op == "+":
                return x
            if node.op == "abs":
                return np.abs(x)
            return 1.0 - x  # not: NaN stays unknown
        if isinstance(node, Call):
            if node.func not in FUNCTIONS or len(node.args) != 2:
                raise EvalError(f"`{node.func}` is not a trigger function")
            x = ev(node.args[0])
            k = node.args[1]
            if not (isinstance(k, Number) and k.value >= 1 and float(k.value).is_integer()):
                raise EvalError(f"`{node.func}`: k must be a whole number of at least 1")
            return window(node.func, x, int(k.value))
        if isinstance(node, Binary):
            a, b = ev(node.left), ev(node.right)
            op = node.op
            if op in LOGIC:
                # Kleene logic: unknown as 0.5, and = min, or = max.
                fa, fb = np.where(np.isnan(a), 0.5, a), np.where(np.isnan(b), 0.5, b)
                r = np.minimum(fa, fb) if op == "and" else np.maximum(fa, fb)
                return np.where(r == 0.5, np.nan, r)
            with np.errstate(all="ignore"):
                if op in ARITHMETIC:
                    if op == "+":
                        r = a + b
                    elif op == "-":
                        r = a - b
                    elif op == "*":
                        r = a * b
                    else:
                        r = np.where(b == 0, np.nan, a / np.where(b == 0, 1.0, b))  # x/0 is unknown
                    return np.where(np.isfinite(r), r, np.nan)
                cmp = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                       "==": np.equal, "!=": np.not_equal}[op](a, b)
            return np.where(np.isnan(a) | np.isnan(b), np.nan, cmp.astype(float))
        raise EvalError(f"cannot evaluate {type(node).__name__}")

    return np.array(ev(expr), dtype=float, copy=True)


def window(func: str, x: np.ndarray, k: int) -> np.ndarray:
    """change/lag/mean/min/max over the last k periods (axis 0); an incomplete window is NaN."""
    import numpy as np

    t = x.shape[0]
    if func in ("lag", "change"):
        lagged = np.full_like(x, np.nan)
        if k < t:
            lagged[k:] = x[:-k]
        return lagged if func == "lag" else x - lagged
    out = np.full_like(x, np.nan)
    if k > t:
        return out
    view = np.lib.stride_tricks.sliding_window_view(x, k, axis=0)  # (t-k+1, U, k)
    # NaN anywhere in the window makes the result NaN (pandas rolling with min_periods=k).
    reduce = {"mean": np.mean, "min": np.min, "max": np.max}[func]
    out[k - 1:] = reduce(view, axis=-1)
    return out


def firing(condition: np.ndarray, n: int) -> np.ndarray:
    """Where the condition was (known) true for the last ``n`` consecutive periods, per unit."""
    import numpy as np

    held = condition == 1.0  # NaN (unknown) never holds
    if n <= 1:
        return held
    # held at t and at each of the n - 1 periods before it (never before the first period)
    out = held.copy()
    out[: n - 1] = False
    for j in range(1, min(n, len(held))):
        out[j:] &= held[:-j]
    return out


def runs(fired: np.ndarray) -> list[tuple[int, int, int]]:
    """(unit, first, last) for every maximal run of fired periods, by unit then period."""
    import numpy as np

    out = []
    if not fired.any():  # no run at all (most triggers, most of the time)
        return out
    padded = np.vstack([np.zeros((1, fired.shape[1]), bool), fired, np.zeros((1, fired.shape[1]), bool)])
    edges = np.diff(padded.astype(np.int8), axis=0)
    for u in range(fired.shape[1]):
        starts = np.flatnonzero(edges[:, u] == 1)
        ends = np.flatnonzero(edges[:, u] == -1) - 1
        out.extend((u, int(s), int(e)) for s, e in zip(starts, ends))
    return out


#: The grammar's binding levels (or < and < not < comparison < sum < product < unary < atom).
_LEVEL = {"or": 1, "and": 2, "not": 3, **{op: 4 for op in COMPARISONS}, "+": 5, "-": 5, "*": 6, "/": 6}
_UNARY, _ATOM = 7, 8


def _number_text(value: float) -> str:
    """A number as written: the shortest text that reads back as the same float (`1250000`,
    `0.1234567`, `1e+20`), never rounded as `:g` would (`1.25e+06`)."""
    if value != value or value in (float("inf"), float("-inf")):
        return "1e999"  # NOTE: only an overflowing literal reads as infinity; NaN cannot be written
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _level(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return _LEVEL.get(expr.op, _ATOM)
    if isinstance(expr, Unary) and expr.op != "abs":
        return _LEVEL["not"] if expr.op == "not" else _UNARY
    return _ATOM


def expr_text(expr: Expr) -> str:
    """An expression as the spec would write it (`abs(estimate.self - estimate.manager)`), for
    saying what a number is; parentheses only where the grammar needs them (and around what `not`
    negates, for the reader), so the text parses back to the same expression."""

    def at_least(node: Expr, level: int) -> str:
        text = expr_text(node)
        return f"({text})" if _level(node) < level else text

    if isinstance(expr, Number):
        return _number_text(expr.value)
    if isinstance(expr, Percent):
        return f"{_number_text(expr.value)}%" + (f" of {at_least(expr.of, _ATOM)}" if expr.of is not None else "")
    if isinstance(expr, Ref):
        return ".".join(expr.parts)
    if isinstance(expr, TargetRef):
        return "target" + (f"({expr_text(expr.of)})" if expr.of is not None else "")
    if isinstance(expr, Call):
        return f"{expr.func}({', '.join(expr_text(a) for a in expr.args)})"
    if isinstance(expr, Unary):
        if expr.op == "abs":
            return f"abs({expr_text(expr.operand)})"
        if expr.op == "not":
            inner = expr_text(expr.operand)
            return f"not ({inner})" if isinstance(expr.operand, Binary) else f"not {at_least(expr.operand, 3)}"
        return f"{expr.op}{at_least(expr.operand, _UNARY)}"
    if isinstance(expr, Binary):
        level = _LEVEL.get(expr.op, _ATOM)
        # every operator is left-associative except comparisons, which do not chain: the left side
        # binds at the operator's own level (a comparison's one tighter), the right side tighter
        left = level + 1 if expr.op in COMPARISONS else level
        return f"{at_least(expr.left, left)} {expr.op} {at_least(expr.right, level + 1)}"
    return str(expr)


def first_comparison(expr: Expr) -> Binary | None:
    """The first comparison of a condition, depth first: its two sides measure the variance."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Binary):
            if node.op in COMPARISONS:
                return node
            stack += (node.right, node.left)
        elif isinstance(node, Unary):
            stack.append(node.operand)
    return None


def periods_for(duration, frequency: str | None) -> int:
    """`for N periods` in periods; `for 2 weeks` on weekly data is 2, on daily data 14."""
    import numpy as np

    if duration is None:
        return 1
    if duration.unit == "period" or frequency in (None, "period"):
        return max(1, int(duration.count))
    from metricsense.model import UNIT_DAYS

    step = UNIT_DAYS.get(frequency)
    days = UNIT_DAYS.get(duration.unit)
    if step is None or days is None:
        return max(1, int(duration.count))
    return max(1, int(np.ceil(duration.count * days / step - 1e-9)))


def own_grid(periods: np.ndarray, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The trigger's own periods, as positions into ``periods`` (-1 for a missing period).

    Series of different frequencies share one period index (a monthly pulse among weekly
    KPIs is NaN three weeks in four), so "for 2 periods" and ``change(x, 1)`` count the periods
    of the series the condition reads: the rows where any of them has a value. A gap in those
    rows longer than one and a half of their usual step is a missing period, kept as a
    missing (never filled) row so a run cannot jump over it.
    """
    import numpy as np

    if not arrays:
        return np.arange(len(periods))
    present = np.zeros(len(periods), dtype=bool)
    for arr in arrays.values():
        present |= ~np.isnan(arr).all(axis=1)
    key = np.packbits(present).tobytes()  # the grid depends on nothing else: made once per pattern
    kept = _memo(_GRIDS, periods)
    rows = kept.get(key)
    if rows is None:
        rows = _own_rows(periods, present, np)
        _keep(kept, key, rows, len(rows))
    return rows.copy()


#: Memos of one object (the last period index, data set), each [(weak reference, entries)]; the
#: pair is replaced whole, so a thread never reads or fills another object's entries (Dask runs
#: segments in threads). Nothing more is kept past MEMO_CELLS values (a long series' grids are
#: made each time).
_GRIDS: list = [None]
MEMO_CELLS = 1 << 23
_CELLS = object()  # the entries' key for the values they hold


def _memo(memo: list, owner) -> dict:
    """The entries kept for ``owner`` (new and empty when it is not the last one's)."""
    entry = memo[0]
    if entry is not None and entry[0]() is owner:
        return entry[1]
    kept: dict = {_CELLS: 0}

    def gone(dead, memo=memo):  # the owner was freed: so is what was kept for it
        if memo[0] is not None and memo[0][0] is dead:
            memo[0] = None

    try:
        memo[0] = (weakref.ref(owner, gone), kept)
    except TypeError:  # not weakly referable: these entries are the caller's alone
        pass
    return kept


def _keep(kept: dict, key, value, cells: int) -> None:
    if kept[_CELLS] + cells <= MEMO_CELLS:
        kept[key] = value
        kept[_CELLS] += cells


def _own_rows(periods, present, np):
    rows = np.flatnonzero(present)
    if len(rows) < 3:
        return rows
    p = periods[rows]
    pos = p.astype("datetime64[D]").astype(np.int64) if p.dtype.kind == "M" else p.astype(np.int64)
    gaps = np.diff(pos)
    step = float(np.sort(gaps)[(len(gaps) - 1) // 2])  # the lower median: robust with few periods
    if step <= 0:
        return rows
    missing = np.maximum(np.rint(gaps / step).astype(np.int64) - 1, 0)
    missing[gaps <= 1.5 * step] = 0
    if not missing.any():
        return rows
    out = []
    for i, r in enumerate(rows):
        out.append(r)
        if i < len(missing) and missing[i]:
            out.extend([-1] * int(missing[i]))
    return np.array(out, dtype=np.int64)


def on_grid(inputs: Inputs, rows: np.ndarray) -> Inputs:
    """The inputs restricted to the trigger's own periods (missing rows all NaN)."""
    import numpy as np

    arrays = {}
    real = rows >= 0
    every = len(rows) and bool(real[0]) and rows[-1] == len(rows) - 1 and bool(real.all())  # rows 0..T-1
    for name, arr in inputs.arrays.items():
        if every and len(arr) == len(rows):
            arrays[name] = np.array(arr, dtype=float)  # a copy, as the rows taken in order
            continue
        out = np.full((len(rows), arr.shape[1]), np.nan)
        out[real] = arr[rows[real]]
        arrays[name] = out
    return Inputs(arrays, inputs.units, inputs.targets, inputs.default_target)


def grid_frequency(periods: np.ndarray, rows: np.ndarray) -> str | None:
    """The frequency of the trigger's own periods (day, week, month, ...)."""
    from metricsense.data.periods import infer_unit

    real = rows[rows >= 0]
    return infer_unit(periods[real]) if len(real) >= 2 else None


# ---- a trigger on its own periods, shared by the evaluators that read it -----------------------


@dataclass(frozen=True)
class OnGrid:
    """A trigger on its own periods (``prepared``): what the conversation and noise analyses both
    start from. Its arrays are read-only: every evaluator of the data set sees the same ones."""

    problems: bool                   # type or target problems (MS603, MS604): not evaluated
    inputs: Inputs | None            # None: a series it reads has no data (``missing``)
    missing: tuple[str, ...] = ()
    rows: np.ndarray | None = None   # own_grid's positions into the data's periods (-1: missing)
    n: int = 1                       # `for N periods`, in its own periods
    cond: np.ndarray | None = None   # the condition on those rows (None: ``error``)
    error: str | None = None         # the EvalError's message
    fired: np.ndarray | None = None  # firing(cond, n) on the real rows
    known: np.ndarray | None = None  # cond known on the real rows


_PREPARED: list = [None]  # the last data set's triggers (OnGrid by id), as _GRIDS


def prepared(trigger: Trigger, spec: Document, data) -> OnGrid:
    """``trigger`` gathered (``gather``), put on its own periods (``own_grid``, ``on_grid``),
    its condition evaluated and where it fired (``firing``), as the evaluators did each for
    themselves; made once per trigger, spec and data set (the last data set's kept, up to
    MEMO_CELLS values)."""
    import numpy as np

    kept = _memo(_PREPARED, data)
    hit = kept.get(id(trigger))
    if hit is not None and hit[0] is trigger and hit[1] is spec:
        return hit[2]
    out = _prepare(trigger, spec, data, kept, np)
    cells = (sum(a.size for a in out.inputs.arrays.values()) if out.inputs is not None else 0) + \
        (3 * out.cond.size if out.cond is not None else 0)
    _keep(kept, id(trigger), (trigger, spec, out), cells)
    return out


def _prepare(trigger: Trigger, spec: Document, data, kept: dict, np) -> OnGrid:
    if type_problems(trigger, spec) or default_target(trigger, spec)[1]:
        return OnGrid(problems=True, inputs=None)
    inputs, missing = gather(trigger, spec, data.series)
    if inputs is None:
        return OnGrid(problems=False, inputs=None, missing=tuple(missing))
    rows = own_grid(data.periods, inputs.arrays)
    key = ("frequency", rows.tobytes())  # infer_unit looks at every period: once per grid
    frequency = kept.get(key, ())
    if frequency == ():
        frequency = grid_frequency(data.periods, rows)
        _keep(kept, key, frequency, len(rows))
    inputs = on_grid(inputs, rows)
    n = periods_for(trigger.duration, frequency)
    frozen = [rows, *inputs.arrays.values()]
    try:
        cond = evaluate(trigger.condition, inputs, len(rows))
    except EvalError as exc:
        out = OnGrid(problems=False, inputs=inputs, rows=rows, n=n, error=str(exc))
    else:
        real = (rows >= 0)[:, None]
        out = OnGrid(problems=False, inputs=inputs, rows=rows, n=n, cond=cond,
                     fired=firing(cond, n) & real, known=~np.isnan(cond) & real)
        frozen += [cond, out.fired, out.known]
    for arr in frozen:
        if isinstance(arr, np.ndarray) and arr.base is None:
            arr.flags.writeable = False
    return out
