"""The spec model: frozen dataclasses built by the parser, read by every rule.

Nothing here validates: unknown references, duplicates and missing parts are reported by rules.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from types import MappingProxyType
from typing import Union

from metricsense.span import Span

LEVELS = ("input", "process", "output", "outcome")
AUDIENCES = ("one-to-one", "team", "manager", "leadership", "all-hands")
#: Functions a trigger condition may call, with how many arguments each takes.
#: change(x, k): x minus x k periods ago; lag(x, k): x k periods ago; mean/min/max(x, k):
#: over the last k periods.
FUNCTIONS = {"change": 2, "lag": 2, "mean": 2, "min": 2, "max": 2}


@dataclass(frozen=True)
class NameRef:
    """A use of a declared name (in `guards`, `responds`, `disturbed`)."""

    name: str
    span: Span


#: Days in each calendar unit of a duration (`lag 2 weeks`, `for 3 months`): a month is a twelfth
#: of a year, so 3 months are exactly a quarter.
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}


@dataclass(frozen=True)
class Duration:
    count: int
    unit: str  # period, day, week, month, quarter or year (singular)
    span: Span


@dataclass(frozen=True)
class DataSource:
    """Where a series comes from: a file (`data "x.csv"`) or a query (`data sql "..." from "url"`)."""

    kind: str  # "file" or "sql"
    path: str | None
    query: str | None
    url: str | None
    column: str | None
    period: str | None
    layout: str | None
    segment: str | None
    frequency: str | None
    span: Span
    # How numbers are written (`decimal ","`, `currency "$"`) and, in a workbook, where the table
    # is (`sheet "KPIs"`, `range "B3:F40"` or `table "Sales"`): see metricsense.data.numbers, .excel.
    decimal: str | None = None
    currency: str | None = None
    sheet: str | None = None
    cells: str | None = None
    table: str | None = None
    #: `format "%d/%m/%Y"`: how the period column writes its periods (a strptime pattern, or
    #: "excel" for serial day numbers); None: the forms metricsense reads by itself.
    period_format: str | None = None


@dataclass(frozen=True)
class Mission:
    text: str
    why: str | None
    owner: str | None
    span: Span


@dataclass(frozen=True)
class Declared:
    """A number declared for `msense select` (`cost 2`, `size 2`, `noise 0.2`), with its clause's span."""

    value: float
    span: Span


@dataclass(frozen=True)
class Lever:
    name: str
    label: str | None
    owner: str | None
    unit: str | None
    data: DataSource | None
    span: Span
    name_span: Span
    #: `cost 2`: how costly it is to be off this lever's best setting (a diagonal of Juu); None: 1.
    cost: Declared | None = None
    #: clauses given more than once (the later ones; only the last counts): MS009
    repeated: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True)
class Disturbance:
    name: str
    label: str | None
    unit: str | None
    data: DataSource | None
    span: Span
    name_span: Span
    #: `size 2`: the disturbance's usual size in typical moves (a diagonal of Wd); None: 1.
    size: Declared | None = None
    #: `best support_hours +0.5`: how the best lever settings move when it moves by one (gives
    #: Jud); empty: they do not move.
    best: tuple[Gain, ...] = ()
    #: clauses given more than once (the later ones; only the last counts): MS009
    repeated: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True)
class Failure:
    name: str
    label: str
    level: str
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Target:
    """`target >= 4.5 by 2027-06-30 since 2025-01-01`, or the vaguer `target "improve"`.

    ``since`` is the date the target took effect (the distortion rules split on it)."""

    comparison: str | None
    value: float | None
    words: str | None
    by: _dt.date | None
    span: Span
    since: _dt.date | None = None


@dataclass(frozen=True)
class Gain:
    """A declared effect: `responds deploys +0.2 lag 2 weeks`."""

    name: str
    value: float
    lag: Duration | None
    span: Span


@dataclass(frozen=True)
class KPI:
    name: str
    label: str | None
    kind: str | None
    focus: str | None
    better: str | None
    unit: str | None
    owner: str | None
    scope: str | None
    target: Target | None
    link: str | None
    guards: tuple[NameRef, ...]
    data: DataSource | None
    responds: tuple[Gain, ...]
    disturbed: tuple[Gain, ...]
    review: Duration | None
    repeated: tuple[tuple[str, Span], ...]  # clauses given more than once (the later ones)
    span: Span
    name_span: Span
    #: `noise 0.2`: the KPI's noise in typical moves (a diagonal of Wn); None: from its data.
    noise: Declared | None = None


# ---- trigger expressions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float
    span: Span


@dataclass(frozen=True)
class Percent:
    """`25%` (of the target) or `25% of x`."""

    value: float
    of: Expr | None
    span: Span


@dataclass(frozen=True)
class Ref:
    """A series: `csat`, or a paired series `estimate.self`."""

    parts: tuple[str, ...]
    span: Span

    @property
    def name(self) -> str:
        return self.parts[0]


@dataclass(frozen=True)
class TargetRef:
    """`target` (of the trigger's KPI) or `target(kpi)`."""

    of: Ref | None
    span: Span


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+", "not", "abs"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / < <= > >= == != and or
    left: Expr
    right: Expr
    span: Span


Expr = Union[Number, Percent, Ref, TargetRef, Call, Unary, Binary]


def walk_expr(expr: Expr) -> Iterator[Expr]:
    """Every node of an expression, depth first, the root first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Binary):
            stack += (node.right, node.left)
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Call):
            stack += reversed(node.args)
        elif isinstance(node, Percent) and node.of is not None:
            stack.append(node.of)
        elif isinstance(node, TargetRef) and node.of is not None:
            stack.append(node.of)


@dataclass(frozen=True)
class Trigger:
    name: str
    condition: Expr
    duration: Duration | None
    ask: str | None
    audience: str | None
    span: Span
    name_span: Span
    audience_span: Span | None = None

    def refs(self) -> list[Ref]:
        """The series the condition reads, in source order."""
        return [n for n in walk_expr(self.condition) if isinstance(n, Ref)]


@dataclass(frozen=True)
class TrustSignal:
    name: str
    managers: str | None
    team: str | None
    scale: tuple[int, int] | None
    data: DataSource | None
    gap: float | None
    min_group: int | None
    span: Span
    name_span: Span
    #: A round still collecting answers (`open "2025-Q3"`): never reported, see evaluators.trust.
    open_round: str | None = None


@dataclass(frozen=True)
class Include:
    path: str
    span: Span


@dataclass(frozen=True)
class Suppression:
    """`# msense: ignore[MS013, MS017] reason "..."`: applies to its own line, or the next one."""

    codes: tuple[str, ...]
    reason: str | None
    line: int  # the line it suppresses
    span: Span


Statement = Union[Mission, Lever, Disturbance, Failure, KPI, Trigger, TrustSignal, Include, DataSource]


@dataclass(frozen=True)
class Document:
    """A whole spec: the statements of a file and of every file it includes, in order."""

    statements: tuple[Statement, ...]
    files: tuple[str, ...]
    suppressions: tuple[Suppression, ...] = ()
    root: str = "<string>"

    # NOTE: the indexes below are derived from the frozen fields only, once per Document (a
    # cached_property is no field: `replace()` makes a new Document that computes its own).

    @cached_property
    def _by_type(self) -> Mapping[type, tuple]:
        """The statements of each type, in source order."""
        groups: dict[type, list] = {}
        for s in self.statements:
            groups.setdefault(type(s), []).append(s)
        return MappingProxyType({kind: tuple(found) for kind, found in groups.items()})

    @cached_property
    def _by_name(self) -> Mapping[str, Statement]:
        """The first statement declaring each name."""
        index: dict[str, Statement] = {}
        for s in self.named():
            index.setdefault(s.name, s)
        return MappingProxyType(index)

    def _of(self, kind: type) -> tuple:
        return self._by_type.get(kind, ())

    def __getstate__(self) -> dict:
        """Only the fields (pickle, copy): the indexes are computed again where they are read."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def missions(self) -> tuple[Mission, ...]:
        return self._of(Mission)

    @property
    def mission(self) -> Mission | None:
        return self.missions[0] if self.missions else None

    @property
    def levers(self) -> tuple[Lever, ...]:
        return self._of(Lever)

    @property
    def disturbances(self) -> tuple[Disturbance, ...]:
        return self._of(Disturbance)

    @property
    def failures(self) -> tuple[Failure, ...]:
        return self._of(Failure)

    @property
    def kpis(self) -> tuple[KPI, ...]:
        return self._of(KPI)

    @property
    def triggers(self) -> tuple[Trigger, ...]:
        return self._of(Trigger)

    @property
    def trusts(self) -> tuple[TrustSignal, ...]:
        return self._of(TrustSignal)

    @property
    def includes(self) -> tuple[Include, ...]:
        return self._of(Include)

    @property
    def data_defaults(self) -> tuple[DataSource, ...]:
        return self._of(DataSource)

    def named(self) -> Iterator[Lever | Disturbance | Failure | KPI | Trigger | TrustSignal]:
        """Every statement that declares a name, in source order."""
        for s in self.statements:
            if hasattr(s, "name_span"):
                yield s

    def lookup(self, name: str):
        """The first statement declaring ``name``, or None."""
        return self._by_name.get(name)
