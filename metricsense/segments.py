"""Per-segment evaluation: the same spec, checked once per team, store or region.

`msense check SPEC --by team` finds the distinct values of the column `team` in the spec's data
sources, then runs every evaluator once per value on that segment's rows only. Sources without
the column (data every segment shares) are read whole for each segment.

Work is cut into batches of segments. A batch is one task: it reads each source once, keeping
only its segments' rows (pushed down to the storage where the reader can: Parquet row groups
and partitions, a SQL ``WHERE ... IN``), splits them per segment and evaluates each. Tasks run
in this process, in worker processes (``jobs``) or on a Dask cluster (``scheduler``): each reads
its own rows, so the data never passes through the client, and results come back in segment
order whatever the order tasks finish in. At most a few batches are in flight at once, so the
client's memory does not grow with the number of segments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from metricsense.diagnostics import Diagnostic
from metricsense.model import Document

#: A segment column is a plain identifier: it may be quoted into SQL (never spliced raw).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SegmentError(Exception):
    """A segmented run that cannot start: a bad column name, an unreachable scheduler."""


@dataclass
class SegmentResult:
    """One segment's findings and analysis (diagnostics already carry the segment)."""

    spec: str
    segment: str
    diagnostics: list[Diagnostic]
    analysis: dict[str, Any]
    suppressed: int = 0
    exit_code: int = 0  # what this segment's findings alone call for (set by the engine)

    def to_dict(self) -> dict[str, Any]:
        from metricsense.engine import finite

        counts: dict[str, int] = {}
        for d in self.diagnostics:
            counts[d.code] = counts.get(d.code, 0) + 1
        out: dict[str, Any] = {"spec": self.spec, "segment": self.segment,
                               "diagnostics": len(self.diagnostics), "codes": dict(sorted(counts.items())),
                               "suppressed": self.suppressed, "exit_code": self.exit_code}
        out["analysis"] = finite(self.analysis)
        return out


@dataclass
class Rollup:
    """Per spec and rule, the segments it fired in (in segment order)."""

    by: str
    count: int = 0
    fired: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    specs: dict[str, int] = field(default_factory=dict)

    def add(self, result: SegmentResult) -> None:
        self.count += 1
        self.specs[result.spec] = self.specs.get(result.spec, 0) + 1
        for code in sorted({d.code for d in result.diagnostics}):
            self.fired.setdefault((result.spec, code), []).append(result.segment)
        for d in result.diagnostics:
            self.names.setdefault(d.code, d.name)

    def rules(self) -> list[dict[str, Any]]:
        return [{"spec": spec, "code": code, "name": self.names.get(code, ""), "fired": len(segs),
                 "of": self.specs.get(spec, 0), "segments": list(segs)}
                for (spec, code), segs in sorted(self.fired.items())]


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
    data: Any = None  # in-memory tables (serial runs only: they are never shipped to workers)
    #: (code, span, message) of the spec's own findings: not repeated in every segment.
    spec_keys: frozenset = frozenset()


# ---- finding the segments ------------------------------------------------------------------------


def check_column(by: str) -> str:
    if not _IDENTIFIER.match(by or ""):
        raise SegmentError(f"`--by {by}`: a segment column is a plain name (letters, digits, _), "
                           "as in `--by team`")
    return by


def _sort_key(label: str) -> tuple:
    """Numbers first, by value (store 2 before store 10), then text; "nan" and "inf" are text."""
    if re.fullmatch(r"-?\d+(\.\d+)?", label):
        return (0, float(label), label)
    return (1, 0.0, label)


def discover(doc: Document, by: str, data: Any, readers, allowed: list[Path], base: Path):
    """The segments of ``doc``'s data: [(label, raw value)] sorted, and the problems met.

    Returns (segments, problems, crashes, has_column). Each source is asked only for the
    distinct values of the column (a reader may push that down: `SELECT DISTINCT`).
    """
    import numpy as np

    from metricsense.data.dataset import DataProblem, _Builder, source_key
    from metricsense.data.table import DataError, Labels, column_labels

    b = _Builder(doc, data, readers, [Path(a) for a in allowed], base)
    series, surveys = b.needs()
    sources = {}
    for need in (*series, *surveys):
        sources.setdefault(source_key(need.source), need.source)
    found: dict[str, Any] = {}
    problems, crashes, has_column = [], [], False
    for src in sources.values():
        try:
            memory = b.memory_table(src)
            if memory is not None:
                tables: Iterable = [memory]
            else:
                reader, req = b.request(src)
                result = reader(replace(req, columns=(by,), distinct=by))
                tables = [result] if not isinstance(result, Iterable) or hasattr(result, "columns") else result
            for table in tables:
                if by not in table.columns:
                    break  # a source every segment shares
                has_column = True
                column = table.columns[by]
                # NOTE: distinct values first, then labels: a Python string per row would make the
                # client's memory grow with the data, which segmented runs must not do.
                if isinstance(column, Labels):
                    codes = np.unique(column.codes[column.codes >= 0])
                    column, numeric = Labels(codes.astype(np.int32), column.labels), False
                else:
                    column = np.asarray(column)
                    numeric = column.dtype.kind in "iuf"
                    column = np.unique(column[~np.isnan(column)]) if column.dtype.kind == "f" else np.unique(column)
                labels = column_labels(column)
                for label in labels[labels != ""].tolist():
                    if label not in found:
                        found[label] = int(label) if numeric and re.fullmatch(r"-?\d+", label) else label
        except DataError as exc:
            problems.append(DataProblem(exc.code, src.span, exc.message))
        except Exception as exc:  # a reader plugin that crashed
            crashes.append(f"{type(exc).__name__}: {exc}")
    ordered = sorted(found, key=_sort_key)
    return [(label, found[label]) for label in ordered], problems, crashes, has_column


# ---- running one batch (in a worker, or here) --------------------------------------------------

_MANAGERS: dict[tuple[str, ...], Any] = {}


def _manager(disabled: tuple[str, ...]):
    """The plugin manager and registry of this process, made once per set of disabled plugins."""
    if disabled not in _MANAGERS:
        from metricsense.engine import build_registry
        from metricsense.plugins import get_plugin_manager

        pm, problems = get_plugin_manager(disabled=list(disabled))
        _MANAGERS[disabled] = (pm, build_registry(pm), problems)
    return _MANAGERS[disabled]


def run_batch(job: BatchJob, manager=None) -> list[SegmentResult]:
    """Read the batch's rows once per source, split them per segment, and check each segment."""
    import numpy as np

    from metricsense.data.dataset import _Builder, source_key
    from metricsense.data.table import DataError, RowFilter, column_labels
    from metricsense.engine import evaluate_segment

    from metricsense.loader import DISPLAY_BASE

    token = DISPLAY_BASE.set(str(job.base))
    try:
        return _run_batch(job, manager)
    finally:
        DISPLAY_BASE.reset(token)


def _run_batch(job: BatchJob, manager) -> list[SegmentResult]:
    import numpy as np

    from metricsense.data.dataset import _Builder, source_key
    from metricsense.data.table import DataError, RowFilter, column_labels
    from metricsense.engine import evaluate_segment

    pm, registry, _ = manager or _manager(job.disabled)
    readers = registry.readers
    allowed = [Path(a) for a in job.allowed]
    root = Path(job.doc.root).parent if job.doc.root != "<string>" else job.base
    where = RowFilter(job.by, job.values)
    b = _Builder(job.doc, job.data, readers, [root, *allowed], job.base, where)
    series, surveys = b.needs()
    sources = {}
    for need in (*series, *surveys):
        sources.setdefault(source_key(need.source), need.source)
    split: dict[tuple, dict[str, list]] = {}  # source -> segment label -> its tables
    shared: dict[tuple, list] = {}
    for key, src in sources.items():
        try:
            tables = list(b.batches(src))
        except DataError:
            continue  # each segment reads it again and reports the problem itself
        except Exception:
            continue  # a crashed reader: reported per segment, as in a plain check
        segmented = [t for t in tables if job.by in t.columns]
        if not segmented:
            shared[key] = tables
            continue
        per: dict[str, list] = {label: [] for label in job.labels}
        for t in segmented:
            labels = column_labels(t.columns[job.by])
            order = np.argsort(labels, kind="stable")
            ordered = labels[order]
            for label in job.labels:
                lo = np.searchsorted(ordered, label, side="left")
                hi = np.searchsorted(ordered, label, side="right")
                if hi > lo:
                    mask = np.zeros(t.rows, dtype=bool)
                    mask[order[lo:hi]] = True
                    per[label].append(t.take(mask))
        split[key] = per
    out = []
    for value, label in zip(job.values, job.labels):
        prefetched = dict(shared)
        for key, per in split.items():
            prefetched[key] = per[label]
        one = RowFilter(job.by, (value,))
        diags, analysis, suppressed = evaluate_segment(job.doc, job.config, registry, pm, job.data,
                                                       [root, *allowed], job.base, one, prefetched)
        tagged = [_tag(d, job.by, label) for d in diags if (d.code, d.span, d.message) not in job.spec_keys]
        out.append(SegmentResult(job.doc.root, label, tagged, _lean(analysis), suppressed))
    return out


def _lean(analysis: dict[str, Any]) -> dict[str, Any]:
    """A segment's analysis without the echo of its input series (`triggers.series`, which the
    HTML report draws for a whole spec): it is most of the bytes, and the data is the user's own.
    Every computed number stays."""
    for spec in analysis.values():
        triggers = spec.get("triggers") if isinstance(spec, dict) else None
        if isinstance(triggers, dict):
            triggers.pop("series", None)
    return analysis


def _tag(d: Diagnostic, by: str, label: str) -> Diagnostic:
    return replace(d, message=f"[{by}={label}] {d.message}", segment=label)


# ---- scheduling ---------------------------------------------------------------------------------


def batches_of(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def batch_size(n: int, workers: int) -> int:
    """Segments per task: enough tasks to keep every worker busy, few enough to amortise reading."""
    if workers <= 1:
        return max(1, min(32, n))
    return max(1, min(32, -(-n // (workers * 4))))


def run(jobs_iter: Iterable[BatchJob], *, jobs: int = 1, scheduler: str | None = None,
        window: int | None = None) -> Iterator[SegmentResult]:
    """Run the batch jobs serially, in ``jobs`` processes or on a Dask scheduler; results in order."""
    if scheduler:
        yield from _run_dask(jobs_iter, scheduler, window)
    elif jobs > 1:
        yield from _run_processes(jobs_iter, jobs, window)
    else:
        for job in jobs_iter:
            yield from run_batch(job)


def _ordered(submit: Callable[[BatchJob], Any], result: Callable[[Any], list], jobs_iter: Iterable[BatchJob],
             window: int) -> Iterator[SegmentResult]:
    """Keep at most ``window`` tasks in flight and hand results back in submission order."""
    from collections import deque

    pending: deque = deque()
    it = iter(jobs_iter)
    for job in it:
        pending.append(submit(job))
        if len(pending) >= window:
            break
    while pending:
        done = result(pending.popleft())
        nxt = next(it, None)
        if nxt is not None:
            pending.append(submit(nxt))
        yield from done


def _run_processes(jobs_iter: Iterable[BatchJob], jobs: int, window: int | None) -> Iterator[SegmentResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # NOTE: spawn, not fork: the parent may hold BLAS and Arrow threads, which fork does not copy.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread_per_worker) as pool:
        yield from _ordered(lambda job: pool.submit(run_batch, job), lambda fut: fut.result(),
                            jobs_iter, window or 2 * jobs)


def _one_thread_per_worker() -> None:
    """Segments are the parallelism: each worker runs BLAS and OpenMP on one thread (as Dask's
    nanny does for its workers), or small problems pay for threads fighting over the cores.
    Runs before the worker imports NumPy or the kernel, which read these once, on loading."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def _run_dask(jobs_iter: Iterable[BatchJob], address: str, window: int | None) -> Iterator[SegmentResult]:
    try:
        from distributed import Client
    except ImportError:
        raise SegmentError("`--scheduler` needs Dask: pip install 'metricsense[dask]'") from None
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except Exception as exc:
        raise SegmentError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}") from None
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield from _ordered(lambda job: client.submit(run_batch, job, pure=False), lambda fut: fut.result(),
                            jobs_iter, window or 2 * workers)
    finally:
        client.close()


def make_jobs(doc: Document, config: Any, by: str, segments: list[tuple[str, Any]], allowed: list[Path],
              base: Path, disabled: Iterable[str], data: Any, size: int,
              spec_keys: frozenset = frozenset()) -> Iterator[BatchJob]:
    for part in batches_of(segments, size):
        yield BatchJob(doc, config, by, tuple(v for _, v in part), tuple(label for label, _ in part),
                       tuple(allowed), base, tuple(disabled), data, spec_keys)


def rollup_text(rollup: Rollup, limit: int = 8) -> list[str]:
    """The per-rule summary of a segmented run, for people."""
    lines = [f"Segments by `{rollup.by}`: {rollup.count} checked."]
    for item in rollup.rules():
        names = item["segments"]
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"  {item['code']} {item['name']}: {item['fired']} of {item['of']} segments ({shown})")
    return lines

