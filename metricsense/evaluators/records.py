"""The records of the built-in evaluators: the data contract reports, widgets and segments read.

Each evaluator family stores one record under its name in a spec's analysis and registers the
type in its own module; readers import the types from here, never from a family module. The JSON
shape of each record (``to_json``) is the one documented in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from metricsense.analysis import Record, plain

# ---- trust ----------------------------------------------------------------------------------
# What may be shown of a trust survey, decided once, by the trust evaluator: a group below the
# minimum (or suppressed so that none can be worked out by subtraction) never enters a record.


@dataclass(frozen=True)
class ShownGroup:
    """One group (a manager and their team) large enough to be shown."""

    group: str
    manager: str
    managers: float | None           # the manager's own mean answer
    team: float | None               # the team's mean answer
    gap: float | None                # managers - team
    n: int                           # team respondents
    managers_favourable: float | None
    team_favourable: float | None
    favourable_gap: float | None
    over: bool                       # |gap| over the signal's threshold

    def to_json(self) -> dict[str, Any]:
        return {**plain(self), "suppressed": False}


@dataclass(frozen=True)
class TrustTotal:
    """All groups together, given only when no hidden group can be worked out from it."""

    n: int
    managers: float | None           # the shown groups' managers only
    team: float | None
    gap: float | None


@dataclass(frozen=True)
class TrustSignalAnalysis:
    """One trust signal: its settings, its latest period, the shown groups, and how many are not shown.

    The counts of groups not shown are None in a segment's result (a segment may be one group).
    """

    scale: tuple[int, int]
    gap: float
    min_group: int
    period: str | None
    groups: tuple[ShownGroup, ...]
    suppressed: int | None           # groups not shown, of which
    below_minimum: int | None        # below min_group, and
    secondary: int | None            # suppressed so that none can be worked out by subtraction
    total: TrustTotal | None

    def to_json(self) -> dict[str, Any]:
        # The report's shape: hidden groups are anonymous placeholders after the shown ones.
        out: dict[str, Any] = {"scale": list(self.scale), "gap": self.gap, "min_group": self.min_group,
                               "period": self.period, "groups": [g.to_json() for g in self.groups]}
        if self.suppressed is not None:
            out["groups"] += [{"suppressed": True} for _ in range(self.suppressed)]
            out.update(suppressed=self.suppressed, below_minimum=self.below_minimum, secondary=self.secondary)
        out["total"] = plain(self.total)
        return out


@dataclass(frozen=True)
class TrustAnalysis(Record):
    """The trust evaluator's record (MS5xx): per signal with survey data, what may be shown."""

    name: ClassVar[str] = "trust"
    signals: Mapping[str, TrustSignalAnalysis]

    def to_json(self) -> dict[str, Any]:
        return {"signals": {k: s.to_json() for k, s in self.signals.items()}}

    def in_segment(self) -> TrustAnalysis:
        """Without the counts of groups not shown: a segment may be one group."""
        return replace(self, signals={k: replace(s, suppressed=None, below_minimum=None, secondary=None)
                                      for k, s in self.signals.items()})


# ---- triggers -------------------------------------------------------------------------------
# The conversation evaluator (MS6xx): each KPI's series, and where each trigger fired.


@dataclass(frozen=True)
class KpiSeries:
    """A KPI's values over the data's periods (None where missing), and its numeric target."""

    periods: tuple[str, ...]
    values: tuple[float | None, ...]
    target: float | None


@dataclass(frozen=True)
class Variance:
    """The trigger's first comparison at the last period of an event: left op right, by left - right."""

    left: float | None
    op: str
    right: float | None
    by: float | None


@dataclass(frozen=True)
class TriggerEvent:
    """One run of periods where a trigger fired (for one unit, or for ``units`` units unnamed)."""

    start: str
    end: str
    periods: int
    segment: str | None
    values: Mapping[str, float | None]
    target: float | None
    target_of: str | None
    variance: Variance | None = None
    units: int | None = None         # set when names are withheld: how many units fired then

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "periods": self.periods,
                               "segment": self.segment}
        if self.units is not None:
            out["units"] = self.units
        out.update(values=dict(self.values), target=self.target, target_of=self.target_of)
        if self.variance is not None:
            out["variance"] = plain(self.variance)
        return out


@dataclass(frozen=True)
class TriggerEvaluation:
    """One trigger on the data: its status, and when evaluated, where and how often it fired."""

    kpi: str | None
    audience: str | None
    ask: str | None
    periods: tuple[str, ...]         # the periods where it fired (on any unit)
    status: str                      # "evaluated", or "not evaluated: why"
    for_periods: int | None = None
    units: int | None = None         # units of a segmented series, else None
    evaluable: int | None = None     # (unit-)periods where the condition is known
    fired: int | None = None         # (unit-)periods where it fired
    share: float | None = None
    events: tuple[TriggerEvent, ...] = ()

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kpi": self.kpi, "audience": self.audience, "ask": self.ask,
                               "periods": list(self.periods), "status": self.status}
        if self.evaluated:
            out.update(for_periods=self.for_periods, units=self.units, evaluable=self.evaluable,
                       fired=self.fired, share=self.share, events=[e.to_json() for e in self.events])
        return out


@dataclass(frozen=True)
class TriggersAnalysis(Record):
    """The conversation evaluator's record: KPI series (None in a segment's result) and triggers."""

    name: ClassVar[str] = "triggers"
    series: Mapping[str, KpiSeries] | None
    fired: Mapping[str, TriggerEvaluation]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.series is not None:
            out["series"] = {k: plain(s) for k, s in self.series.items()}
        out["fired"] = {k: t.to_json() for k, t in self.fired.items()}
        return out

    def in_segment(self) -> TriggersAnalysis:
        """Without the series: an echo of the segment's own data, and most of the bytes."""
        return replace(self, series=None)


# ---- data -----------------------------------------------------------------------------------
# The data plugin's summary: what was read, from where, over which periods.


@dataclass(frozen=True)
class SeriesSummary:
    source: str
    observed: int
    missing: int
    first: str | None = None         # the first and last period with a value (None: no value)
    last: str | None = None
    segments: int | None = None      # segments of a long series, None when not segmented

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "observed": self.observed, "missing": self.missing}
        if self.first is not None:
            out.update(first=self.first, last=self.last)
        if self.segments is not None:
            out["segments"] = self.segments
        return out


@dataclass(frozen=True)
class SurveySummary:
    source: str


@dataclass(frozen=True)
class DataSummary(Record):
    """The data read for a spec: its periods, and per series and survey where it came from."""

    name: ClassVar[str] = "data"
    periods: int
    first: str | None
    last: str | None
    frequency: str | None
    series: Mapping[str, SeriesSummary]
    surveys: Mapping[str, SurveySummary]

    def to_json(self) -> dict[str, Any]:
        return {"periods": self.periods, "first": self.first, "last": self.last, "frequency": self.frequency,
                "series": {k: s.to_json() for k, s in self.series.items()},
                "surveys": {k: plain(s) for k, s in self.surveys.items()}}
