"""The records of the built-in evaluators: the data contract reports, widgets and segments read.

Each evaluator family stores one record under its name in a spec's analysis and registers the
type in its own module; readers import the types from here, never from a family module. The JSON
shape of each record (``to_json``) is the one documented in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypedDict

from metricsense.analysis import Record, fields_json, plain
from metricsense.data.summary import DataSummary, SeriesSummary, SurveySummary  # noqa: F401 - named here too
from metricsense.evaluators.matrices import Matrix, counts, floats

# ---- structure ------------------------------------------------------------------------------
# What the spec says, counted before any data is read (MS0xx).


@dataclass(frozen=True)
class StructureAnalysis(Record):
    """Counts of the spec's statements and the structural rank of its `responds` graph."""

    name: ClassVar[str] = "structure"

    kpis: int
    levers: int
    disturbances: int
    failures: Mapping[str, int]       # per level (input, process, output, outcome)
    kpis_by_kind: Mapping[str, int]   # per level
    declared_gains: int               # `responds` entries on declared levers
    structural_rank: int              # a maximum matching of KPIs to the levers that move them
    triggers: int
    trust_signals: int


# ---- correlation ----------------------------------------------------------------------------
# The KPI correlation matrix at the default options (MS1xx).


@dataclass(frozen=True)
class CorrelationAnalysis(Record):
    """The correlation of the KPIs with data, on period-to-period changes or levels."""

    name: ClassVar[str] = "correlation"

    basis: str                          # "changes" or "levels"
    method: str                         # "pearson" or "spearman"
    kpis: tuple[str, ...]
    matrix: Matrix                      # KPI x KPI, None where a pair has too few shared periods
    n: Matrix                           # shared periods per pair
    effective_number: float | None      # participation ratio of the usable KPIs
    effective_of: int                   # how many KPIs it is computed on
    effective_kpis: tuple[str, ...]

    def __post_init__(self) -> None:
        # NOTE: held as arrays, read as rows of lists (matrices.py): at 10,000 KPIs nested lists
        # of r and n took 4 GB. Lists given (a test, a reader of old code) are stored the same way.
        object.__setattr__(self, "matrix", floats(self.matrix))
        object.__setattr__(self, "n", counts(self.n))

    def compact(self) -> dict[str, Any]:
        from metricsense.evaluators import compact

        return compact.correlation(self)


# ---- gain -----------------------------------------------------------------------------------
# The gain matrix (KPIs x levers), declared by `responds` or estimated from data (MS2xx).


@dataclass(frozen=True)
class EstimatedGains(Record):
    """Standardised least-squares gains of KPI changes on lever changes."""

    kpis: tuple[str, ...]
    levers: tuple[str, ...]
    matrix: list[list[float | None]]
    se: list[list[float | None]]        # standard errors
    n: list[int]                        # periods used per KPI
    lag: int
    lags: Mapping[str, Mapping[str, int]] | None = None   # per KPI, each lever's lag in periods
    controls: Mapping[str, list[str]] | None = None       # per KPI, the declared disturbances held fixed
    conditioning: Mapping[str, Any] | None = None         # bootstrap of the estimated matrix (no declarations)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        for key in ("lags", "controls", "conditioning"):
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True)
class GainAnalysis(Record):
    """The gain matrix with its conditioning, rank, relative gain array and suggested pairing."""

    name: ClassVar[str] = "gain"

    kpis: tuple[str, ...]
    levers: tuple[str, ...]
    matrix: Matrix                                # KPI x lever, None where not finite
    source: str                                   # "declared" or "estimated"
    condition_number: float | None
    scaled_condition_number: float | None         # after Ruiz equilibration
    minimized_condition_number: float | None      # square, full rank, up to MINIMIZED_MAX KPIs
    rank: int
    singular_values: list[float | None]
    rga: Matrix
    suggested_pairing: Mapping[str, str]          # KPI -> lever
    rga_number: float | None
    estimated: EstimatedGains | None = None       # estimates beside declared gains, with data

    def __post_init__(self) -> None:
        # NOTE: arrays read as rows of lists (matrices.py), as the correlation record's: at 10,000
        # KPIs x 1,000 levers the two as nested lists held 640 MB
        object.__setattr__(self, "matrix", floats(self.matrix))
        object.__setattr__(self, "rga", floats(self.rga))

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.estimated is None:
            del out["estimated"]  # the key is absent, not null, when nothing was estimated
        return out

    def compact(self) -> dict[str, Any]:
        from metricsense.evaluators import compact

        return compact.gain(self)


# ---- noise ----------------------------------------------------------------------------------
# Targets, triggers and reviews against each series' normal variation (MS3xx). The per-trigger
# and per-comparison results are mappings whose keys depend on how far the evaluation got (their
# "status"); they are typed below, and only the noise rules read them.


class ComparisonNoise(TypedDict, total=False):
    """One comparison of a trigger condition against the noise (keys in this order, as far as it got)."""

    status: str
    threshold: float
    op: str
    values: str                 # "levels" or "changes"
    noise: float | None
    observed: int
    units: int
    units_past: int
    level: float | None
    distance: float | None
    distance_in_noise: float | None
    rate: float                 # false-alarm rate per period


class TriggerNoise(TypedDict, total=False):
    """One trigger's false-alarm rate (keys in this order, as far as it got)."""

    trigger: str
    for_periods: int
    join: str                   # "and" or "or"
    comparisons: list[ComparisonNoise]
    status: str
    rate: float
    rate_per_run: float
    kpis: list[str]


@dataclass(frozen=True)
class LagNoise(Record):
    """How long a lever takes to move a KPI: declared, or estimated from data."""

    days: float | None
    source: str                      # "declared" or "estimated"
    periods: int | None = None       # the estimate only: lag in periods, its correlation and n
    correlation: float | None = None
    n: int | None = None
    p_value: float | None = None     # the estimate only: corrected for the search over lags

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.source != "estimated":
            for key in ("periods", "correlation", "n", "p_value"):
                del out[key]
        elif self.p_value is None:
            del out["p_value"]
        return out


@dataclass(frozen=True)
class ReviewNoise(Record):
    """A KPI's review cadence and its levers' lags, in days."""

    every_days: float | None
    lags: Mapping[str, LagNoise]


@dataclass(frozen=True)
class KpiNoise(Record):
    """One KPI's noise, level and target gap (with data), review and triggers.

    The data part is present when ``changes`` is not None, the target part when ``target`` is
    not None; either may be absent (a KPI with a review and no data has only ``review``).
    """

    noise: float | None = None         # 1.4826 x MAD of the period-to-period changes
    changes: int | None = None         # how many changes went into it
    level: float | None = None         # median of the last `level_periods` values
    level_periods: int | None = None
    segments: int | None = None
    target: float | None = None
    comparison: str | None = None
    target_gap: float | None = None    # target - level
    gap_in_noise: float | None = None  # |gap| / noise
    met: bool | None = None
    review: ReviewNoise | None = None
    triggers: Mapping[str, TriggerNoise] | None = None
    spread: float | None = None        # sd of the KPI's own moves over `horizon` periods (MS301)
    horizon: int | None = None         # the review cadence, in periods
    model: Mapping[str, Any] | None = None  # how the spread was measured: method, moves, mean_move, df
    p_value: float | None = None       # H0: |gap| >= ratio x spread (chi-square on the moves' spread)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.changes is not None:
            out.update(noise=self.noise, changes=self.changes, level=self.level,
                       level_periods=self.level_periods, segments=self.segments)
        if self.target is not None:
            out.update(target=self.target, comparison=self.comparison, target_gap=self.target_gap,
                       gap_in_noise=self.gap_in_noise, met=self.met)
            if self.spread is not None:
                out.update(spread=self.spread, horizon=self.horizon, model=self.model, p_value=self.p_value)
        if self.review is not None:
            out["review"] = self.review.to_json()
        if self.triggers is not None:
            out["triggers"] = plain(self.triggers)
        return out


@dataclass(frozen=True)
class PerKpi(Record):
    """A record that is one entry per KPI; JSON: KPI name -> entry."""

    kpis: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {k: e.to_json() for k, e in self.kpis.items()}


@dataclass(frozen=True)
class NoiseAnalysis(PerKpi):
    """Per KPI (with data or a review), its noise entry (a KpiNoise)."""

    name: ClassVar[str] = "noise"

    def compact(self) -> dict[str, Any]:
        from metricsense.evaluators import compact

        return compact.noise(self)


#: ``analysis["noise_options"]``: rule code -> the noise analysis under that rule's options, when
#: they differ from the defaults the ``noise`` record is computed with.
NoiseOptions = dict[str, NoiseAnalysis]


# ---- distortion -----------------------------------------------------------------------------
# Campbell's law looked for in the data (MS4xx): bunching at the target, output and outcome
# diverging, variance collapsing. Each test's result is a mapping keyed by how far it got.


class BunchingTest(TypedDict, total=False):
    """McCrary's density test at the target (keys in this order, as far as it got)."""

    n: int
    cutoff: float
    meets: str                  # "above" or "below"
    status: str
    bin: float
    support_step: float | None
    boundary: float
    bandwidth: float
    f_below: float | None
    f_above: float | None
    bins_used: list[int]
    theta: float
    se: float
    z: float
    p: float
    units: int | None
    clusters: int                # units (or runs of periods) in the jackknife
    df: int
    named: list                  # [unit, values just past, values just short], the largest excess first


class VarianceTest(TypedDict, total=False):
    """The spread of a KPI's changes before and after its target was set (MS403): a fall at the
    target beyond any trend (absolute deviations regressed on a trend and a step at the split, HC3
    errors; ``step``, ``t``, ``df``, ``p``), on the values as they are and relative to their level."""

    of: str
    before: float
    after: float
    ratio: float | None
    n_before: int
    n_after: int
    t: float
    df: int
    F: float
    p: float | None
    status: str
    scale: str                   # "as is" or "relative to the level" (the larger p of the two)
    years: int | None            # whole years on each side (seasonal data)
    units: int
    p_by_scale: dict


class DivergenceTest(TypedDict, total=False):
    """An outcome's mean prediction residual from its output after the target was set."""

    basis: str | None  # why this outcome: "guards", "levers" or "every outcome" (distortion.outcomes_for)
    n_before: int
    n_after: int
    status: str
    intercept: float
    slope: float
    residual_sd: float
    mean_residual: float
    se: float
    t: float
    df: int
    rho: float
    r1: float
    t_iid: float
    output_change: float
    outcome_change: float
    p: float | None
    p_iid: float | None
    theory_holds: bool


@dataclass(frozen=True)
class KpiDistortion(Record):
    """One KPI's distortion tests, split where its target was set (or why it could not be split)."""

    set: str | None = None             # the first "after" period
    set_from: str | None = None        # "target_set", "since" or "midpoint"
    bunching: BunchingTest | None = None
    variance: VarianceTest | None = None
    divergence: Mapping[str, DivergenceTest] | None = None  # per outcome KPI
    status: str | None = None          # why there is no split (then nothing else is set)

    def to_json(self) -> dict[str, Any]:
        if self.set is None:
            return {"status": self.status}
        out: dict[str, Any] = {"set": self.set, "set_from": self.set_from}
        for key in ("bunching", "variance", "divergence"):
            value = getattr(self, key)
            if value is not None:
                out[key] = plain(value)
        return out

    def compact(self) -> dict[str, Any]:
        from metricsense.evaluators import compact

        return compact.distortion(self)


@dataclass(frozen=True)
class DistortionAnalysis(PerKpi):
    """Per KPI with data, its distortion tests (a KpiDistortion)."""

    name: ClassVar[str] = "distortion"

    def compact(self) -> dict[str, Any]:
        return {k: e.compact() for k, e in self.kpis.items()}


#: ``analysis["distortion_options"]``: rule code -> the distortion analysis under that rule's
#: `target_set` or `min_periods`, when they differ from the defaults.
DistortionOptions = dict[str, DistortionAnalysis]


# ---- trust ----------------------------------------------------------------------------------
# What may be shown of a trust survey, decided once per survey, for the whole spec, by the trust
# evaluator: a group below the minimum (or suppressed so that none can be worked out by
# subtraction) never enters a record, and no segment has one.


@dataclass(frozen=True)
class ShownGroup:
    """One group (a manager and their team) large enough to be shown."""

    group: str
    manager: str
    managers: float | None           # the manager's own mean answer
    team: float | None               # the team's mean answer
    gap: float | None                # managers - team
    n: int                           # team respondents in the round: distinct `respondent`
                                     # (or `respondent_id`) values, else one per answer row
    managers_favourable: float | None
    team_favourable: float | None
    favourable_gap: float | None
    over: bool                       # |gap| over the signal's threshold

    def to_json(self) -> dict[str, Any]:
        return {**fields_json(self), "suppressed": False}


@dataclass(frozen=True)
class TrustTotal:
    """All groups together, given only when no hidden group can be worked out from it."""

    n: int
    managers: float | None           # the shown groups' managers only
    team: float | None
    gap: float | None


@dataclass(frozen=True)
class TrustSignalAnalysis:
    """One trust signal: its settings, its latest round, the shown groups, and how many are not shown.

    Made once per survey, for the whole spec, whatever the run (segments never make one).
    """

    scale: tuple[int, int]
    gap: float
    min_group: int
    period: str | None
    groups: tuple[ShownGroup, ...]
    suppressed: int | None           # groups not shown: below_minimum + secondary
    below_minimum: int | None        # groups below min_group
    secondary: int | None            # shown-size groups left out because they share respondents with
                                     # another shown group and the two would give away fewer than
                                     # min_group (evaluators.trust.secondary_suppression); 0 when
                                     # groups share no respondent
    total: TrustTotal | None
    #: Groups large enough to show but left out of this copy: each names its manager, so they are
    #: shown only to a reader who asked (`--show-personal`; the agenda's manager section has them).
    not_named: int = 0
    #: Later rounds not reported: no group in them reached min_group (counted, never named).
    unreported_rounds: int = 0
    #: The round the spec declares still open (`open "..."`) when the survey holds answers to it.
    open_round: str | None = None

    def to_json(self) -> dict[str, Any]:
        # The report's shape: hidden groups are anonymous placeholders after the shown ones.
        out: dict[str, Any] = {"scale": list(self.scale), "gap": self.gap, "min_group": self.min_group,
                               "period": self.period, "groups": [g.to_json() for g in self.groups]}
        if self.suppressed is not None:
            out["groups"] += [{"suppressed": True} for _ in range(self.suppressed)]
            out.update(suppressed=self.suppressed, below_minimum=self.below_minimum, secondary=self.secondary)
        out["total"] = plain(self.total)
        if self.not_named:
            out["not_named"] = self.not_named
        if self.unreported_rounds:
            out["unreported_rounds"] = self.unreported_rounds
        if self.open_round is not None:
            out["open_round"] = self.open_round
        return out


@dataclass(frozen=True)
class TrustAnalysis(Record):
    """The trust evaluator's record (MS5xx): per signal with survey data, what may be shown."""

    name: ClassVar[str] = "trust"
    signals: Mapping[str, TrustSignalAnalysis]

    def to_json(self) -> dict[str, Any]:
        return {"signals": {k: s.to_json() for k, s in self.signals.items()}}

    def public(self) -> TrustAnalysis:
        """Without the groups: each names a manager and their gap (a finding about one person)."""
        if not any(s.groups for s in self.signals.values()):
            return self  # NOTE: the same object: a report's public copy is its own public copy
        return replace(self, signals={k: replace(s, groups=(), not_named=s.not_named + len(s.groups))
                                      for k, s in self.signals.items()})

    def in_segment(self) -> TrustAnalysis:
        """Never in a segment: a segment reads no survey (one table per survey, made for the
        spec: metricsense.evaluators.trust). Should one be there anyway, nothing of it is kept."""
        return replace(self, signals={})


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
    # every period the condition held in, from the first of the `for N periods` that made it fire
    # (N - 1 before ``start``) to ``end``; empty when the trigger needs one period
    held: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "periods": self.periods,
                               "segment": self.segment}
        if self.units is not None:
            out["units"] = self.units
        if self.held:
            out["held"] = list(self.held)
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

    def compact(self) -> dict[str, Any]:
        """Without the series (an echo of the data: `--analysis full` writes them), each trigger
        with its latest events."""
        from metricsense.evaluators import compact

        return {"fired": {k: compact.trigger(t) for k, t in self.fired.items()}}


# ---- data -----------------------------------------------------------------------------------
# The data plugin's summary is the data package's own record (metricsense.data.summary), imported
# above so readers find every built-in record type in this one module.
