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
from contextlib import contextmanager
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
    #: Trust groups hidden in this segment (MS502, per trust signal). Never shown per segment:
    #: the client reports them summed over segments, naming none (a segment may be one group).
    withheld: list[Diagnostic] = field(default_factory=list)
    #: The findings and the result as JSON text, made where the segment was checked (so the
    #: client, one process for every worker, only writes them): ([finding, ...], result).
    encoded: tuple[list[str], str] | None = None

    # NOTE: a worker sends its findings packed (one pickle within the pickle) with a brief of
    # each (code, name, severity): the client, one process for every worker, counts and writes
    # JSON from those and the encoded text, and unpickles the findings only if it reads them.
    def __getstate__(self) -> dict[str, Any]:
        import pickle

        state = dict(self.__dict__)
        if "diagnostics" in state:
            state["_brief"] = self.brief()
            state["_packed"] = pickle.dumps(state.pop("diagnostics"), protocol=pickle.HIGHEST_PROTOCOL)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __copy__(self) -> SegmentResult:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the findings of a result that has not unpacked them.
        packed = self.__dict__.get("_packed")
        if name != "diagnostics" or packed is None:
            raise AttributeError(name)
        import pickle

        found = pickle.loads(packed)
        self.__dict__["diagnostics"] = found
        del self.__dict__["_packed"]
        return found

    def brief(self) -> list[tuple[str, str, int]]:
        """(code, name, severity) of each finding, without unpacking them."""
        if "diagnostics" not in self.__dict__ and "_brief" in self.__dict__:
            return self.__dict__["_brief"]
        return [(d.code, d.name, int(d.severity)) for d in self.diagnostics]

    def encode(self) -> tuple[list[str], str]:
        import json

        from metricsense.engine import finite, json_default

        def dumps(value) -> str:
            return json.dumps(value, ensure_ascii=False, allow_nan=False, default=json_default)

        return [dumps(finite(d.to_dict())) for d in self.diagnostics], dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``analysis`` is already JSON-safe: made so where it was computed)."""
        counts: dict[str, int] = {}
        for d in self.diagnostics:
            counts[d.code] = counts.get(d.code, 0) + 1
        return {"spec": self.spec, "segment": self.segment, "diagnostics": len(self.diagnostics),
                "codes": dict(sorted(counts.items())), "suppressed": self.suppressed,
                "exit_code": self.exit_code, "analysis": self.analysis}


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
        brief = result.brief()
        for code in sorted({code for code, _, _ in brief}):
            self.fired.setdefault((result.spec, code), []).append(result.segment)
        for code, name, _ in brief:
            self.names.setdefault(code, name)

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
    data: Any = None  # in-memory tables (runs in this process only: never shipped to workers)
    #: (code, span, message) of the spec's own findings: not repeated in every segment.
    spec_keys: frozenset = frozenset()
    #: False when the client streams results as JSON text: the analysis then travels only as
    #: that text, not also as objects to unpickle.
    keep_analysis: bool = True


# ---- finding the segments ------------------------------------------------------------------------


def check_column(by: str) -> str:
    if not _IDENTIFIER.match(by or ""):
        raise SegmentError(f"`--by {by}`: a segment column is a plain name (letters, digits, _), "
                           "as in `--by team`")
    return by


def shown(label: str) -> str:
    """A segment name as printed for people: control characters escaped, never sent raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in label)


def _sort_key(label: str) -> tuple:
    """Numbers first, by value (store 2 before store 10), then text; "nan" and "inf" are text."""
    if re.fullmatch(r"-?\d+(\.\d+)?", label):
        return (0, float(label), label)
    return (1, 0.0, label)


@dataclass
class Found:
    """What finding the segments met: the segments, and what a person should hear about."""

    segments: list[tuple[str, Any]]
    problems: list = field(default_factory=list)  # DataProblem
    crashes: list[str] = field(default_factory=list)
    with_column: list = field(default_factory=list)  # the sources (DataSource) that have it
    unassigned: list = field(default_factory=list)  # (DataSource, origin, rows without a value)


def discover(doc: Document, by: str, data: Any, readers, allowed: list[Path], base: Path) -> Found:
    """The segments of ``doc``'s data, sorted, as (label, raw value) pairs.

    Each source is asked only for the distinct values of the column (a reader may push that
    down: `SELECT DISTINCT`); files are read one column at a time, batch by batch, so memory does
    not grow with the rows. A raw value keeps its type (text, whole or decimal number), so a
    database compares it with the column as stored.
    """
    import numpy as np

    from metricsense.data.dataset import DataProblem, _Builder
    from metricsense.data.readers import DISTINCT_ROWS
    from metricsense.data.table import DataError, Labels, column_labels, find_column

    b = _Builder(doc, data, readers, [Path(a) for a in allowed], base)
    values: dict[str, Any] = {}
    found = Found([])
    for src in b.sources().values():
        try:
            missing, origin, seen = 0, "?", False
            for table in b.batches(src, columns=(by,), distinct=by):
                origin = table.origin
                name = find_column(table.columns, by)
                if name is None:
                    break  # a source every segment shares
                seen = True
                column = table.columns[name]
                if DISTINCT_ROWS in table.columns:  # one row per value, with its number of rows
                    empty = column_labels(column) == ""
                    missing += int(np.nansum(np.asarray(table.columns[DISTINCT_ROWS], dtype=float)[empty]))
                    column = column[~empty] if not isinstance(column, Labels) else column
                # NOTE: distinct values first, then labels: a Python string per row would make
                # the client's memory grow with the data, which segmented runs must not do.
                if isinstance(column, Labels):
                    missing += int((column.codes < 0).sum())
                    codes = np.unique(column.codes[column.codes >= 0]).astype(np.int32)
                    labels, numeric = column_labels(Labels(codes, column.labels)), False
                else:
                    column = np.asarray(column)
                    numeric = column.dtype.kind in "iuf"
                    if column.dtype.kind == "f":
                        missing += int(np.isnan(column).sum())
                        column = np.unique(column[~np.isnan(column)])
                    elif numeric:
                        column = np.unique(column)
                    labels = column_labels(column)
                    if not numeric:
                        missing += int((labels == "").sum())
                        labels = np.unique(labels)
                for label in labels[labels != ""].tolist():
                    if label not in values:
                        values[label] = (int(label) if re.fullmatch(r"-?\d+", label) else float(label)) \
                            if numeric else label
            if seen:
                found.with_column.append(src)
                if missing:
                    found.unassigned.append((src, origin, missing))
        except DataError as exc:
            found.problems.append(DataProblem(exc.code, src.span, exc.message))
        except Exception as exc:  # a reader plugin that crashed
            found.crashes.append(f"{type(exc).__name__}: {exc}")
    found.segments = [(label, values[label]) for label in sorted(values, key=_sort_key)]
    return found


@contextmanager
def _paths_shown_from(base: Path) -> Iterator[None]:
    """Paths in messages relative to ``base`` (the client's working folder), as the client shows them."""
    from metricsense.loader import DISPLAY_BASE

    token = DISPLAY_BASE.set(str(base))
    try:
        yield
    finally:
        DISPLAY_BASE.reset(token)


def discover_here(doc: Document, by: str, allowed: tuple[Path, ...], base: Path,
                  disabled: tuple[str, ...]) -> Found:
    """``discover`` in a worker, with its own readers (so the client never opens the data)."""
    with _paths_shown_from(base):
        return discover(doc, by, None, _manager(disabled)[1].readers, list(allowed), base)


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
    with _paths_shown_from(job.base):
        return _run_batch(job, manager)


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


def _run_part(shared: BatchJob, values: tuple, labels: tuple) -> list[SegmentResult]:
    """run_batch for these segments of a job whose other parts were sent once (a Dask task)."""
    return run_batch(replace(shared, values=values, labels=labels))


def _run_batch(job: BatchJob, manager) -> list[SegmentResult]:
    from metricsense.data.dataset import _Builder
    from metricsense.data.table import RowFilter, find_column
    from metricsense.engine import evaluate_segment, exit_code_of, finite

    pm, registry, _ = manager or _manager(job.disabled)
    root = Path(job.doc.root).parent if job.doc.root != "<string>" else job.base
    allowed = [root, *(Path(a) for a in job.allowed)]
    b = _Builder(job.doc, job.data, registry.readers, allowed, job.base, RowFilter(job.by, job.values))
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
    out = []
    for value, label in zip(job.values, job.labels):
        mine = {**prefetched, **{key: per[label] for key, per in split.items()}}
        diags, analysis, suppressed = evaluate_segment(job.doc, job.config, registry, pm, job.data, allowed,
                                                       job.base, RowFilter(job.by, (value,)), mine, job.spec_keys)
        withheld = [d for d in diags if d.code == "MS502"]
        tagged = [_tag(d, job.by, label) for d in diags if d.code != "MS502"]
        # JSON-safe here, in the worker: plain lists and numbers travel back cheaply, and the
        # client (one process for every worker) does no per-number work.
        result = SegmentResult(job.doc.root, label, tagged, finite(_lean(analysis)), suppressed, 0, withheld)
        result.exit_code = exit_code_of(tagged, registry, job.config.fail_on)
        result.encoded = result.encode()
        if not job.keep_analysis:
            result.analysis = {}
        out.append(result)
    return out


def _lean(analysis: dict[str, Any]) -> dict[str, Any]:
    """A segment's analysis as reported: without the echo of its input series (`triggers.series`,
    which the HTML report draws for a whole spec: most of the bytes, and the data is the user's
    own), and without the count of trust groups it hides (a segment may be one group). Every
    other computed number stays."""
    for spec in analysis.values():
        if not isinstance(spec, dict):
            continue
        triggers = spec.get("triggers")
        if isinstance(triggers, dict):
            triggers.pop("series", None)
        for signal in ((spec.get("trust") or {}).get("signals") or {}).values():
            if isinstance(signal, dict):
                for key in ("suppressed", "below_minimum", "secondary"):
                    signal.pop(key, None)
                signal["groups"] = [g for g in signal.get("groups") or () if not g.get("suppressed")]
    return analysis


def _tag(d: Diagnostic, by: str, label: str) -> Diagnostic:
    return replace(d, message=f"[{by}={shown(label)}] {d.message}", segment=label)


# ---- scheduling ---------------------------------------------------------------------------------


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


_DIED = ("a worker process died before its segments were checked; from a Python script, call "
         "metricsense.check(..., jobs=N) under `if __name__ == \"__main__\":`")


def _warm() -> None:
    """Run in each worker as soon as it starts: the imports and plugins every batch needs."""
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    import metricsense.data.readers  # noqa: F401
    import metricsense.engine  # noqa: F401
    import metricsense.kernels  # noqa: F401

    _manager(())


class WorkerPool:
    """Worker processes for segments, started at once (``warm``): they import and load plugins
    while this process is still reading the spec."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = jobs
        # NOTE: spawn, not fork: the parent may hold BLAS and Arrow threads, which fork does not copy.
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_one_thread_per_worker)
        self.warming: list = []

    def warm(self) -> None:
        self.warming = [self.pool.submit(_warm) for _ in range(self.workers)]

    def _result(self, fut) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return fut.result()
        except BrokenProcessPool:
            raise WorkerError(_DIED) from None
        except Exception as exc:
            raise WorkerError(f"a worker process failed: {type(exc).__name__}: {exc}") from None

    def _submit(self, fn: Callable, *args: Any) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool.submit(fn, *args)
        except BrokenProcessPool:
            raise WorkerError(_DIED) from None

    def call(self, fn: Callable, *args: Any) -> Any:
        """fn(*args) in a worker."""
        return self._result(self._submit(fn, *args))

    def run(self, jobs_iter: Iterable[BatchJob], window: int | None = None) -> Iterator[SegmentResult]:
        yield from _ordered(lambda job: self._submit(run_batch, job), self._result, jobs_iter,
                            window or 2 * self.workers)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class WorkerError(SegmentError):
    """A worker (a process, or a task on a cluster) failed: the run is incomplete (MS005)."""


def _one_thread_per_worker() -> None:
    """Segments are the parallelism: each worker runs BLAS and OpenMP on one thread (as Dask's
    nanny does for its workers), or small problems pay for threads fighting over the cores.
    Runs before the worker imports NumPy or the kernel, which read these once, on loading."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


_ADDRESS = re.compile(r"(?:(tcp|tls|ws|wss|ucx|inproc)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?/?\Z")


def check_scheduler(address: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a Dask scheduler address such as tcp://10.0.0.5:8786."""
    match = _ADDRESS.match(address or "")
    if not match or (match.group(1) in (None, "tcp", "tls") and match.group(3) is None):
        raise SegmentError(f"`--scheduler {address}`: expected a Dask scheduler address such as "
                           "tcp://10.0.0.5:8786")
    return match.group(1) or "tcp", match.group(2).strip("[]"), int(match.group(3)) if match.group(3) else None


class DaskPool:
    """The workers of an existing Dask cluster (connected on creation), used like WorkerPool."""

    def __init__(self, address: str) -> None:
        import socket

        scheme, host, port = check_scheduler(address)
        try:
            from distributed import Client
        except ImportError:
            raise SegmentError("`--scheduler` needs Dask: pip install 'metricsense[dask]'") from None
        if scheme in ("tcp", "tls") and port is not None:
            # NOTE: a quick look first: Dask's client retries a refused connection until its
            # timeout, then complains on standard error as it is collected.
            try:
                socket.create_connection((host, port), timeout=5).close()
            except OSError as exc:
                raise SegmentError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None
        self.client = None
        try:
            self.client = Client(address, timeout="10s", set_as_default=False)
            self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        except Exception as exc:
            if self.client is not None:
                self.client.close()
            raise SegmentError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}") from None

    def _result(self, fut) -> Any:
        try:
            return fut.result()
        except Exception as exc:
            raise WorkerError(f"a task on the Dask cluster failed: {type(exc).__name__}: {exc}") from None

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """What fails while handing work to the cluster, as a WorkerError."""
        try:
            yield
        except Exception as exc:
            raise WorkerError(f"a task could not be sent to the Dask cluster: {type(exc).__name__}: {exc}") from None

    def call(self, fn: Callable, *args: Any) -> Any:
        with self._sending():
            fut = self.client.submit(fn, *args, pure=False)
        return self._result(fut)

    def run(self, jobs_iter: Iterable[BatchJob], window: int | None = None) -> Iterator[SegmentResult]:
        # NOTE: the jobs of one run share everything but their segments: the spec and the rest go
        # to the cluster once (scattered), and a task carries only its segments. Sent whole
        # with each task, they cost the client memory that grew with the number of tasks.
        shared: list = []

        def submit(job: BatchJob):
            with self._sending():
                if not shared:
                    # NOTE: no broadcast: a worker fetches it for its first task (Dask's memory
                    # manager would drop broadcast copies anyway).
                    shared.append(self.client.scatter(replace(job, values=(), labels=()), hash=False))
                return self.client.submit(_run_part, shared[0], job.values, job.labels, pure=False)

        try:
            yield from _ordered(submit, self._result, jobs_iter, window or 2 * self.workers)
        finally:
            shared.clear()  # the scattered spec is released with its future

    def close(self) -> None:
        self.client.close()


def make_jobs(doc: Document, config: Any, by: str, segments: list[tuple[str, Any]], allowed: list[Path],
              base: Path, disabled: Iterable[str], data: Any, workers: int,
              spec_keys: frozenset = frozenset(), keep_analysis: bool = True) -> Iterator[BatchJob]:
    at = 0
    for size in batch_sizes(len(segments), workers):
        part = segments[at:at + size]
        at += size
        yield BatchJob(doc, config, by, tuple(v for _, v in part), tuple(label for label, _ in part),
                       tuple(allowed), base, tuple(disabled), data, spec_keys, keep_analysis)


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim, as Dask's workers do).

    NOTE: results arrive as large pickles, unpickled on the executor's thread and freed on this
    one; glibc keeps such memory in its arenas, so without this the client's resident size
    grows with the number of segments although nothing is kept."""
    global _TRIM
    if _TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None


def rollup_text(rollup: Rollup, limit: int = 8) -> list[str]:
    """The per-rule summary of a segmented run, for people."""
    lines = [f"Segments by `{rollup.by}`: {rollup.count} checked."]
    for item in rollup.rules():
        names = [shown(n) for n in item["segments"]]
        listed = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"  {item['code']} {item['name']}: {item['fired']} of {item['of']} segments ({listed})")
    return lines
