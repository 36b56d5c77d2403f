"""Where batches run: worker processes here (``WorkerPool``) or a Dask cluster (``DaskPool``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from metricsense.segments.batches import BatchJob, manager, run_batch, run_part
from metricsense.segments.discover import SegmentError
from metricsense.segments.results import SegmentResult


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
        yield from one_at_a_time(done)


def one_at_a_time(results: list) -> Iterator[SegmentResult]:
    """A batch's results in order, each let go of once taken: a batch's 32 results (their
    analysis as JSON text, some 100 KB each) are not all held until its last is written."""
    results.reverse()
    while results:
        yield results.pop()


_DIED = ("a worker process died before its segments were checked; from a Python script, call "
         "metricsense.check(..., jobs=N) under `if __name__ == \"__main__\":`")


def _warm() -> None:
    """Run in each worker as soon as it starts: the imports and plugins every batch needs."""
    import numpy  # noqa: F401
    import pyarrow  # noqa: F401

    import metricsense.data.readers  # noqa: F401
    import metricsense.kernels  # noqa: F401
    import metricsense.pipeline  # noqa: F401

    manager(())


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
                return self.client.submit(run_part, shared[0], job.values, job.labels, pure=False)

        try:
            yield from _ordered(submit, self._result, jobs_iter, window or 2 * self.workers)
        finally:
            shared.clear()  # the scattered spec is released with its future

    def close(self) -> None:
        self.client.close()


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
