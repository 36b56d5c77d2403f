"""A batch of segments, one task: read each source once, split its rows per segment, check each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from metricsense.analysis import Record
from metricsense.diagnostics import Diagnostic
from metricsense.model import Document
from metricsense.segments.discover import Found, discover, paths_shown_from, shown
from metricsense.segments.results import SegmentResult, text_keys


@dataclass
class BatchJob:
    """One task: a batch of segments of one spec, with all a worker needs to read and check them."""

    doc: Document
    config: Any
    by: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    allowed: tuple[Path, ...]
    base: Path
    disabled: tuple[str, ...] = ()
    data: Any = None  # in-memory tables (runs in this process only: never shipped to workers)
    #: (code, span, message) of the spec's own findings: not repeated in every segment.
    spec_keys: frozenset = frozenset()
    #: False when the client streams results as JSON text: the analysis then travels only as
    #: that text, not also as objects to unpickle.
    keep_analysis: bool = True
    #: True when the client adjusts the statistical findings over every segment (a `--by`
    #: run: SegmentRun); False adjusts each segment's here, over itself.
    fdr_later: bool = False


# ---- running one batch (in a worker, or here) --------------------------------------------------

_MANAGERS: dict[tuple[str, ...], Any] = {}


def manager(disabled: tuple[str, ...]):
    """The plugin manager and registry of this process, made once per set of disabled plugins."""
    if disabled not in _MANAGERS:
        from metricsense.plugins import get_plugin_manager
        from metricsense.registry import build_registry

        pm, problems = get_plugin_manager(disabled=list(disabled))
        _MANAGERS[disabled] = (pm, build_registry(pm), problems)
    return _MANAGERS[disabled]


def discover_here(doc: Document, by: str, allowed: tuple[Path, ...], base: Path,
                  disabled: tuple[str, ...]) -> Found:
    """``discover`` in a worker, with its own readers (so the client never opens the data)."""
    with paths_shown_from(base):
        return discover(doc, by, None, manager(disabled)[1].readers, list(allowed), base)


def surveys_here(doc: Document, allowed: tuple[Path, ...], base: Path, disabled: tuple[str, ...]):
    """The spec's trust surveys read whole, in a worker (so the client never opens the data):
    (name -> Survey, problems, crashed readers)."""
    from metricsense.data.dataset import build

    with paths_shown_from(base):
        dataset, problems, crashes = build(doc, None, manager(disabled)[1].readers, list(allowed), base,
                                           surveys_only=True)
    return dataset.surveys, problems, crashes


def run_batch(job: BatchJob, plugins=None) -> list[SegmentResult]:
    """Read the batch's rows once per source, split them per segment, and check each segment."""
    with paths_shown_from(job.base):
        return _run_batch(job, plugins)


def _split(tables: list, column: str, labels: tuple[str, ...]) -> dict[str, list]:
    """Each segment's rows of ``tables`` (one sort per table, then a slice per segment)."""
    import numpy as np

    from metricsense.data.table import column_labels, find_column

    per: dict[str, list] = {label: [] for label in labels}
    for t in tables:
        row_labels = column_labels(t.columns[find_column(t.columns, column)])
        order = np.argsort(row_labels, kind="stable")
        ordered = row_labels[order]
        for label in labels:
            lo, hi = np.searchsorted(ordered, label, side="left"), np.searchsorted(ordered, label, side="right")
            if hi > lo:
                mask = np.zeros(t.rows, dtype=bool)
                mask[order[lo:hi]] = True
                per[label].append(t.take(mask))
    return per


def run_part(shared: BatchJob, values: tuple, labels: tuple) -> list[SegmentResult]:
    """run_batch for these segments of a job whose other parts were sent once (a Dask task)."""
    return run_batch(replace(shared, values=values, labels=labels))


def _run_batch(job: BatchJob, plugins) -> list[SegmentResult]:
    from metricsense import pipeline
    from metricsense.data.dataset import Builder
    from metricsense.data.table import RowFilter, find_column
    from metricsense.encoding import finite
    from metricsense.fdr import p_value_of
    from metricsense.registry import exit_code_of

    pm, registry, _ = plugins or manager(job.disabled)
    root = Path(job.doc.root).parent if job.doc.root != "<string>" else job.base
    allowed = [root, *(Path(a) for a in job.allowed)]
    b = Builder(job.doc, job.data, registry.readers, allowed, job.base, RowFilter(job.by, job.values),
                limits=(job.config.max_rows, job.config.query_timeout))
    prefetched: dict[tuple, Any] = {}  # source -> its tables (shared), or segment -> tables
    split: dict[tuple, dict[str, list]] = {}
    for key, src in b.sources().items():
        try:
            tables = list(b.batches(src))
        except Exception:  # noqa: BLE001 - each segment reads it again and reports the problem
            continue
        if any(find_column(t.columns, job.by) is not None for t in tables):
            split[key] = _split(tables, job.by, job.labels)
        else:
            prefetched[key] = tables
    rules = pipeline.selected_rules(registry, job.config)
    cfg = job.config
    person = one_person(job.doc, job.by)
    out = []
    for value, label in zip(job.values, job.labels):
        mine = {**prefetched, **{key: per[label] for key, per in split.items()}}
        checked = pipeline.check_spec(job.doc, registry=registry, pm=pm, cfg=cfg, rules=rules,
                                      data=job.data, allowed=allowed, base=job.base,
                                      where=RowFilter(job.by, (value,)), prefetched=mine, spec_keys=job.spec_keys,
                                      fdr=not job.fdr_later)
        diags = pipeline.finish(checked.diagnostics, registry, job.config)
        analysis, suppressed = {job.doc.root: checked.analysis}, checked.suppressed
        # A segment reads no survey (data.dataset), so it has no trust record and no MS5xx
        # finding about groups: the trust table is made once, for the spec (engine.check).
        tagged = [_tag(d, job.by, label, person) for d in diags]
        # JSON-safe here, in the worker: plain lists and numbers travel back cheaply, and the
        # client (one process for every worker) does no per-number work.
        result = SegmentResult(job.doc.root, label, tagged, finite(_lean(analysis, cfg.analysis)), suppressed, 0,
                               tests=checked.tests,
                               p_values=[(i, p) for i, d in enumerate(tagged) if (p := p_value_of(d)) is not None],
                               person=person)
        result.exit_code = exit_code_of(tagged, registry, job.config.fail_on)
        result.encoded = result.encode()
        if job.fdr_later:
            result.find_evidence_ends()
            # only a result with findings is ever read back (held, or with a personal one)
            result.text_keys = bool(tagged) and text_keys(result.analysis)
        if not job.keep_analysis:
            result.analysis = {}
        out.append(result)
    return out


def _lean(analysis: dict[str, Any], form: str = "full") -> dict[str, Any]:
    """A segment's analysis as reported: what each record keeps for one segment (``in_segment``:
    the triggers record leaves out the echo of the segment's own series), in the report's
    ``form`` (`--analysis`: a record's ``compact()`` or ``to_json()``). A plugin's plain value
    stays whole."""
    from metricsense.report import compact_value

    def one(value: Any) -> Any:
        value = value.in_segment() if isinstance(value, Record) else value
        return compact_value(value) if form == "compact" else value

    return {spec: {name: one(value) for name, value in found.items()}
            if isinstance(found, dict) else found for spec, found in analysis.items()}


def _tag(d: Diagnostic, by: str, label: str, personal: bool = False) -> Diagnostic:
    return replace(d, message=f"[{by}={shown(label)}] {d.message}", segment=label, personal=bool(d.personal or personal))


def one_person(doc: Any, by: str) -> bool:
    """A segment by ``by`` is one person's numbers when a `scope individual` KPI reads a source
    segmented by that column (its units are people, seed 000): every finding of such a segment
    names a person with their numbers (`[person=bob] trigger ... fires in 72% of the periods`),
    and is marked personal (shown only to a reader who asked, the rollup naming none)."""
    folded = by.casefold()
    for k in doc.kpis:
        if k.scope != "individual":
            continue
        sources = (k.data,) if k.data is not None else tuple(doc.data_defaults)
        if any(getattr(s, "segment", None) and s.segment.casefold() == folded for s in sources):
            return True
    return False


def batch_sizes(n: int, workers: int) -> Iterator[int]:
    """Segments per task: up to 32, shrinking to 4 towards the end with several workers (guided)."""
    # NOTE: guided scheduling: a task takes at most half a worker's share of what is left, so
    # workers finish within a few segments of each other, not one waiting out the other's last
    # 32. The floor of 4 bounds the extra tasks (and reads) to about 4 per worker.
    left = n
    while left > 0:
        size = 32 if workers <= 1 else max(4, min(32, -(-left // (workers * 2))))
        size = min(size, left)
        yield size
        left -= size


def make_jobs(doc: Document, config: Any, by: str, segments: list[tuple[str, Any]], allowed: list[Path],
              base: Path, disabled: Iterable[str], data: Any, workers: int,
              spec_keys: frozenset = frozenset(), keep_analysis: bool = True,
              fdr_later: bool = False) -> Iterator[BatchJob]:
    at = 0
    for size in batch_sizes(len(segments), workers):
        part = segments[at:at + size]
        at += size
        yield BatchJob(doc, config, by, tuple(v for _, v in part), tuple(label for label, _ in part),
                       tuple(allowed), base, tuple(disabled), data, spec_keys, keep_analysis, fdr_later)
