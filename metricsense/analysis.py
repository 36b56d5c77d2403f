"""Analysis records: what an evaluator computes for one spec, typed, and read by field.

An evaluator's ``metricsense_analyze`` hook puts one record under its name in the spec's
analysis (``analysis["trust"] = TrustAnalysis(...)``); the plugin registers the record's type
under that name (``metricsense_register_analyses``), as it registers its rules. Rules read the
record through ``ctx.analysis``, reports, the explorer and segments through its fields: nothing
reads string keys of another evaluator's dict. The JSON report writes ``to_json()``, the stable
shape documented in docs/reports.md, or by default its ``compact()`` form.

A record is a frozen dataclass deriving from ``Record``. ``to_json`` writes its fields in order
(records inside records too); a record whose JSON shape differs from its fields overrides it.
``in_segment`` is what one segment's result keeps of it (by default all of it).
"""

from __future__ import annotations

import functools
from dataclasses import fields, is_dataclass
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """The base of every analysis record (subclasses are frozen dataclasses)."""

    #: The key it is stored under in a spec's analysis, and in the JSON report's ``analysis``.
    name: ClassVar[str] = ""

    @classmethod
    def of(cls: type[R], analysis: Any) -> R | None:
        """This record in a spec's analysis, or None when the evaluator did not run or found nothing."""
        value = analysis.get(cls.name) if isinstance(analysis, dict) else None
        return value if isinstance(value, cls) else None

    def to_json(self) -> Any:
        """The JSON form: the fields in order, records and tuples inside it converted too."""
        return fields_json(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # NOTE: `name = "x"` without ClassVar would become a dataclass field: say so at once.
        if "name" in getattr(cls, "__annotations__", {}) and "ClassVar" not in str(cls.__annotations__["name"]):
            raise TypeError(f"{cls.__name__}.name must be a ClassVar[str] (the record's key), not a field")

    def compact(self) -> Any:
        """The compact JSON form the report writes by default (``--analysis compact``): linear in
        the KPIs and findings, a matrix as the entries that matter. By default ``to_json()``; a
        record that grows faster (a KPI x KPI matrix, a test per pair) overrides it, leaving out
        those keys and adding new ones for what it keeps (a key present means what it means in
        ``to_json()``). ``--analysis full`` writes ``to_json()``."""
        return self.to_json()

    def __json__(self) -> Any:  # how metricsense.encoding writes any record
        return self.to_json()

    def public(self) -> Record:
        """What a reader who did not ask for findings about named persons (``--show-personal``)
        may see of it: all of it, unless the record names people (the trust record's groups)."""
        return self

    def in_segment(self) -> Record:
        """What one segment's result keeps (a record may leave out what a segment must not show)."""
        return self


def fields_json(value: Any) -> dict[str, Any]:
    """A dataclass's fields in order, each in its JSON form (what ``to_json`` writes by default)."""
    return {name: plain(getattr(value, name)) for name in _field_names(type(value))}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    # NOTE: dataclasses.fields() builds its tuple anew on every call: once per record written,
    # tens of thousands of times for a large report.
    return tuple(f.name for f in fields(cls))


_LEAVES = frozenset((str, int, float, bool, type(None)))


def plain(value: Any) -> Any:
    """``value`` with every record (or dataclass) inside it turned into its JSON form.

    Anything with a ``to_json`` method (a record, or a dataclass a record holds) is written by it."""
    # NOTE: plain values, dicts, lists and tuples first, by exact type (none has a to_json): a
    # 2,000-KPI distortion record holds 250,000 tests of 19 numbers, and the checks below cost
    # about 15 us a value (2 minutes of the JSON report's 2.5 under a profiler).
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    to_json = getattr(value, "to_json", None)
    if callable(to_json) and not isinstance(value, type):
        return to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return fields_json(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
