"""A segmented check of one or more specs: find each spec's segments, run them, add up what came back.

The engine makes one ``SegmentRun`` per check (``--by``); it runs in this process, in worker
processes or on a Dask cluster, and keeps either every result or only the rollup (streamed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsense.config import Config
from metricsense.diagnostics import Diagnostic, Severity
from metricsense.model import Document
from metricsense.pipeline import has_data, spec_anchor
from metricsense.registry import Registry
from metricsense.segments import batches as sb
from metricsense.segments.discover import SegmentError, check_column, discover, shown
from metricsense.segments.pools import DaskPool, WorkerError, WorkerPool, one_at_a_time, release_memory
from metricsense.segments.results import Rollup
from metricsense.segments.waiting import Decisions, Waiting
from metricsense.span import Span

__all__ = ["SegmentError", "SegmentRun"]
_SEVERITY_NAMES = {int(s): str(s) for s in Severity}


@dataclass
class SegmentRun:
    """The segmented part of one check: how to run it, and what came back (metricsense.segments)."""

    by: str
    jobs: int
    scheduler: str | None
    on_segment: Callable[[Any], None] | None
    keep: bool
    rollup: Any
    disabled: list[str]
    pm: Any
    registry: Registry
    shippable: bool  # worker processes would load the same plugins as this run
    results: list = field(default_factory=list)
    diagnostics: list = field(default_factory=list)
    suppressed: int = 0
    counts: dict = field(default_factory=dict)  # severity -> findings not kept in the report
    exit: int = 0  # the exit code the findings not kept in the report call for
    error: str | None = None
    failed: bool = False  # a worker failed (MS005), as opposed to a run that could not start
    pool: Any = None  # worker processes started early, or a Dask cluster (metricsense.segments)
    #: A streamed run's statistical findings, until the rollup's multiple-testing control.
    pending: Waiting = field(default_factory=Waiting)
    tests: dict = field(default_factory=dict)  # spec -> tests its segments' rules ran
    taken: int = 0  # results taken (a streamed result's number, as on_segment saw them)
    #: A streamed run's decisions: (result number, finding number) -> (q-value, family) kept, None dropped.
    fdr: Decisions = field(default_factory=Decisions)

    @classmethod
    def start(cls, by: str, jobs: int, scheduler: str | None, on_segment, keep: bool, disabled: Iterable[str],
              pm: Any, registry: Registry, *, hand_made: bool, data: Any) -> SegmentRun:
        """A segmented run by column ``by`` (SegmentError when the name is no plain column name).

        Worker processes start at once, while the specs are read."""
        check_column(by)
        run = cls(by, jobs, scheduler, on_segment, keep, Rollup(by), list(disabled), pm, registry,
                  not hand_made or workers_can_load(pm, disabled))
        if run.remote(data) and not run.scheduler:
            run.runner().warm()
        return run

    def discover(self, doc: Document, data: Any, allowed: list[Path]) -> tuple[list, list[Diagnostic]]:
        """The segments of ``doc``'s data, and what finding them met."""
        return discover_segments(doc, self, data, self.registry, allowed)

    def finish(self, report: Any, cfg: Config) -> None:
        """Hand the report what the segments gave: the rollup, their findings, counts and exit code.

        The spec's own findings come first, then what segments add up to, then each segment's, in
        segment order."""
        if self.keep and self.results:
            self.control(cfg)
        elif not self.keep:
            self.control_streamed(cfg)
        report.segments = self.rollup
        report.streamed_fdr = self.fdr
        report.segment_results = self.results
        report.diagnostics.extend(self.diagnostics)
        report.suppressed += self.suppressed
        report.streamed_counts = self.counts
        report.streamed_exit = self.exit
        if self.error:
            done = self.failed and self.rollup.count > 0
            report.diagnostics.append(self.registry.diagnostic(
                "MS005" if self.failed else "MS006", Span.point("<segments>"), self.error,
                "the segments checked before it are reported" if done else None))

    def control(self, cfg: Config) -> None:
        """Benjamini-Hochberg over the statistical findings of every segment of a spec: the
        family is the rollup (metricsense.fdr), its size the tests the segments' rules ran. Each
        result's findings, exit code and JSON text, and the rollup, are made again from what is kept.

        A streamed run (results not kept) is adjusted by ``control_streamed``."""
        from metricsense.fdr import decide
        from metricsense.registry import exit_code_of

        by_spec: dict[str, list] = {}
        for result in self.results:
            by_spec.setdefault(result.spec, []).append(result)
        for results in by_spec.values():
            flat = [d for r in results for d in r.diagnostics]
            decided = decide(flat, sum(r.tests for r in results), cfg.fdr_q)
            at = 0
            for r in results:
                mine = decided[at:at + len(r.diagnostics)]
                at += len(r.diagnostics)
                if any(a is not b for a, b in zip(mine, r.diagnostics)):
                    r.diagnostics = [d for d in mine if d is not None]
                    r.exit_code = exit_code_of(r.diagnostics, self.registry, cfg.fail_on)
                    r.encoded = r.encode()
        self.diagnostics = [d for r in self.results for d in r.diagnostics]
        self.rollup = Rollup(self.by)
        for r in self.results:
            self.rollup.add(r)

    def control_streamed(self, cfg: Config) -> None:
        """Benjamini-Hochberg over a streamed run's statistical findings, per spec, as ``control``:
        the segments went out with their findings unadjusted (``on_segment`` saw them so), and
        ``fdr`` says which are kept (with their q-value and family) for the writer of the spooled
        results (the CLI) to leave out the others; the counts, exit code and rollup add the kept.

        The findings wait on disk (segments.waiting) and are read back a block at a time."""
        from types import SimpleNamespace

        from metricsense.registry import exit_code_of

        self.fdr = decisions = self.pending.decide(self.tests, cfg.fdr_q)
        kinds = self.pending.kinds
        # NOTE: a whole kind at a time, each spec in the order its findings came; its kinds in the
        # order each was first kept (the rollup names a rule by its first kept finding)
        for (s, k), (_, n, results) in decisions.tally().items():
            code, name, severity, *personal = kinds[k]
            label = _SEVERITY_NAMES[severity]
            self.counts[label] = self.counts.get(label, 0) + n
            self.exit = max(self.exit, exit_code_of([SimpleNamespace(code=code, severity=Severity(severity))],
                                                    self.registry, cfg.fail_on))
            segments = self.pending.segments
            self.rollup.fire(self.pending.names[s], [segments[r] for r in results.tolist()], code, name,
                             personal=bool(personal))

    def close(self) -> None:
        """Workers and a cluster connection end with the run, however it ends."""
        if self.pool is not None:
            try:
                self.pool.close()
            except Exception as exc:  # noqa: BLE001 - the report (or the run's own error) matters more
                warnings.warn(f"metricsense: closing the segment workers failed: {exc}", RuntimeWarning, stacklevel=3)

    def remote(self, data: Any) -> bool:
        """True when workers find and check the segments, not this process."""
        # In-memory tables stay here (never shipped), and so do runs with plugins registered by
        # hand, which workers could not load.
        return data is None and self.shippable and (self.jobs > 1 or bool(self.scheduler))

    def runner(self):
        """The worker processes (started early) or the Dask cluster (connected on first use)."""
        if self.pool is None:
            self.pool = DaskPool(self.scheduler) if self.scheduler else WorkerPool(max(self.jobs, 2))
        return self.pool

    def find(self, doc: Document, data: Any, readers, allowed: list[Path]):
        """The segments of ``doc``'s data (segments.Found), or None when the workers failed."""
        if self.error:  # the workers failed on an earlier spec: nothing more is checked
            return None
        if not self.remote(data):
            return discover(doc, self.by, data, readers, allowed, Path.cwd())
        try:
            return self.runner().call(sb.discover_here, doc, self.by, tuple(allowed), Path.cwd(),
                                      tuple(self.disabled))
        except SegmentError as exc:
            self._stop(exc, f"while finding the segments of `{doc.root}`")
        return None

    def surveys(self, doc: Document, data: Any, allowed: list[Path]) -> tuple[dict | None, list[Diagnostic]]:
        """The spec's trust surveys, read whole, and what reading them met: the trust table is made
        once per survey, for the spec, never per segment (metricsense.evaluators.trust). Workers
        read them when they read the data."""
        from metricsense import pipeline

        if self.error or not any(t.data is not None for t in doc.trusts):
            return None, []
        if not self.remote(data):
            dataset, diags = pipeline.load_data(doc, data, self.registry, allowed, surveys_only=True)
            return dataset.surveys, diags
        root = Path(doc.root).parent if doc.root != "<string>" else Path.cwd()
        try:
            surveys, problems, crashes = self.runner().call(sb.surveys_here, doc, (root, *allowed), Path.cwd(),
                                                            tuple(self.disabled))
        except SegmentError as exc:
            self._stop(exc, f"while reading the surveys of `{doc.root}`")
            return None, []
        return surveys, pipeline.data_diagnostics(doc, problems, crashes, self.registry)

    def _stop(self, exc: Exception, doing: str) -> None:
        """The run cannot go on: a worker failed (MS005, saying while doing what), or it could not start."""
        if isinstance(exc, WorkerError):
            self.error, self.failed = f"{doing}: {exc}", True
        else:
            self.error = str(exc)

    def run(self, doc: Document, cfg: Config, segments, allowed, data, spec_keys, progress=None) -> None:
        remote = self.remote(data)
        try:
            jobs_iter = sb.make_jobs(doc, cfg, self.by, segments, allowed, Path.cwd(), self.disabled, data,
                                     self.runner().workers if remote else 1, spec_keys, keep_analysis=self.keep,
                                     fdr_later=True)
            if remote:
                results = self.runner().run(jobs_iter)
            else:
                manager = (self.pm, self.registry, None)
                results = (r for job in jobs_iter for r in one_at_a_time(sb.run_batch(job, manager)))
            for result in results:
                self._take(result, cfg)
                if progress is not None:
                    progress(self.rollup.specs[result.spec], len(segments), f"{doc.root}: {self.by} {result.segment}")
        except SegmentError as exc:
            self._stop(exc, f"while checking the segments of `{doc.root}`")

    def _take(self, result, cfg: Config) -> None:
        seq, self.taken = self.taken, self.taken + 1
        stat = {} if self.keep else dict(result.p_values)
        self.rollup.add(result, frozenset(stat))
        if not self.keep and self.rollup.count % 64 == 0:
            release_memory()
        self.suppressed += result.suppressed
        if self.keep:
            self.results.append(result)
            self.diagnostics.extend(result.diagnostics)
        elif not stat:
            for _, _, severity in result.brief():
                name = _SEVERITY_NAMES[severity]
                self.counts[name] = self.counts.get(name, 0) + 1
            self.exit = max(self.exit, result.exit_code)
        else:  # its statistical findings wait for the rollup's multiple-testing control
            from types import SimpleNamespace

            from metricsense.registry import exit_code_of

            brief = result.brief()
            rest = [b for i, b in enumerate(brief) if i not in stat]
            for _, _, severity in rest:
                name = _SEVERITY_NAMES[severity]
                self.counts[name] = self.counts.get(name, 0) + 1
            self.exit = max(self.exit, exit_code_of([SimpleNamespace(code=c, severity=Severity(s)) for c, _, s in rest],
                                                    self.registry, cfg.fail_on))
            self.pending.add(result.spec, seq, result.segment, stat, brief, cfg.fdr_q, result.marks())
        if not self.keep:
            self.tests[result.spec] = self.tests.get(result.spec, 0) + result.tests
        if self.on_segment is not None:
            self.on_segment(result)


def discover_segments(doc: Document, seg: SegmentRun, data: Any, registry: Registry, allowed: list[Path]):
    """The segments of a spec's data, and what finding them met (each reported once, here)."""
    by = seg.by

    first = spec_anchor(doc)
    anchor_ = doc.data_defaults[0].span if doc.data_defaults else first
    if data is None and not any(has_data(doc)):
        return [], [registry.diagnostic("MS031", anchor_, f"`{doc.root}` reads no data: there is nothing to segment "
                                f"by `{by}`", "give the spec a `data` clause, or leave `--by` out")]
    root = Path(doc.root).parent if doc.root != "<string>" else Path.cwd()
    found = seg.find(doc, data, registry.readers, [root, *allowed])
    if found is None:  # the run cannot go on (reported once, at the end)
        return [], []
    diags = [registry.from_problem(p) for p in found.problems]
    for message in found.crashes:
        diags.append(registry.diagnostic("MS005", first, f"a data source plugin crashed while finding segments: {message}"))
    if not found.with_column and not found.problems and not found.crashes:
        have = list(found.columns)
        listed = (f" (its columns: {', '.join(f'`{c}`' for c in have[:12])}{', ...' if len(have) > 12 else ''})"
                  if have else "")
        diags.append(registry.diagnostic("MS031", anchor_, f"no data source of `{doc.root}` has a column `{by}` "
                                 f"to segment by{listed}", "name a column of the data (`--by team`), or leave `--by` out"))
    elif found.with_column and not found.segments:
        diags.append(registry.diagnostic("MS031", found.with_column[0].span, f"the column `{by}` has no values: "
                                 "there are no segments to check", "fill in the column, or leave `--by` out"))
    for src, origin, rows in found.unassigned:
        diags.append(registry.diagnostic("MS036", src.span, f"{rows} row{'s' if rows != 1 else ''} of `{shown(origin)}` "
                                 f"{'have' if rows != 1 else 'has'} no `{by}`: they are in no segment, so no "
                                 "segment checks them", f"fill in `{by}` on every row, or filter those rows out"))
    return found.segments, diags


def workers_can_load(pm, disabled: Iterable[str]) -> bool:
    """True when worker processes, which load plugins from entry points, get the same plugins as
    ``pm`` (a plugin registered by hand, in this process, cannot travel to them)."""
    from metricsense.plugins import get_plugin_manager

    theirs, _ = get_plugin_manager(disabled=list(disabled))
    return {name for name, _ in pm.list_name_plugin()} <= {name for name, _ in theirs.list_name_plugin()}



