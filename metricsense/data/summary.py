"""The data plugin's analysis record: what was read for a spec, from where, over which periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from metricsense.analysis import Record, plain


@dataclass(frozen=True)
class SeriesSummary:
    source: str
    observed: int
    missing: int
    first: str | None = None         # the first and last period with a value (None: no value)
    last: str | None = None
    segments: int | None = None      # segments of a long series, None when not segmented
    unit: str | None = None          # `%` or a currency symbol the values were written with

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "observed": self.observed, "missing": self.missing}
        if self.first is not None:
            out.update(first=self.first, last=self.last)
        if self.segments is not None:
            out["segments"] = self.segments
        if self.unit is not None:
            out["unit"] = self.unit
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
