"""Per-segment evaluation: the same spec, checked once per team, store or region.

`msense check SPEC --by team` finds the distinct values of the column `team` in the spec's data
sources (``discover``), then runs the pipeline once per value on that segment's rows only.
Sources without the column (data every segment shares) are read whole for each segment.

Work is cut into batches of segments (``batches``). A batch is one task: it reads each source
once, keeping only its segments' rows (pushed down to the storage where the reader can: Parquet
row groups and partitions, a SQL ``WHERE ... IN``), splits them per segment and checks each.
Tasks run in this process, in worker processes or on a Dask cluster (``pools``): each reads its
own rows, so the data never passes through the client, and results (``results``) come back in
segment order whatever the order tasks finish in. ``run`` is what the engine drives.

Nothing here imports the engine: segments call the pipeline, as the engine does.
"""

from __future__ import annotations

from metricsense.segments.batches import BatchJob, batch_sizes, discover_here, make_jobs, run_batch
from metricsense.segments.discover import Found, SegmentError, check_column, discover, shown
from metricsense.segments.pools import DaskPool, WorkerError, WorkerPool, check_scheduler, release_memory
from metricsense.segments.results import Rollup, SegmentResult, rollup_text

__all__ = [
    "BatchJob", "DaskPool", "Found", "Rollup", "SegmentError", "SegmentResult", "WorkerError", "WorkerPool",
    "batch_sizes", "check_column", "check_scheduler", "discover", "discover_here", "make_jobs", "release_memory",
    "rollup_text", "run_batch", "shown",
]
