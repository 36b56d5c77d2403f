"""One spec, start to end: data -> analyze -> rules -> suppress -> filter.

The engine calls ``check_spec`` for each spec of a check, and segments call it for each segment
(with the rows of that segment, and the spec's own findings to leave out). Every evaluator runs in
isolation: a crash or a run past its time budget is a finding (MS005), never the end of a check.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from metricsense.analysis import Record
from metricsense.collector import frozen
from metricsense.config import Config
from metricsense.diagnostics import Diagnostic, EvalContext, Rule, Severity
from metricsense.encoding import finite, json_default
from metricsense.model import Document
from metricsense.registry import Registry
from metricsense.span import Span

@dataclass
class Checked:
    """What one spec (or one segment of it) gave: findings kept, its analysis, how many were suppressed."""

    diagnostics: list[Diagnostic]
    analysis: dict[str, Any]
    suppressed: int
    #: (code, span, message) of every finding before suppression (a segment leaves these out).
    keys: frozenset
    #: Hypothesis tests the rules ran (``EvalContext.tests``): the multiple-testing family's size.
    tests: int = 0


def check_spec(doc: Document, *, registry: Registry, pm: Any, cfg: Config, rules: list[Rule],
               data: Any = None, load: bool = True, allowed: list[Path] = (), base: Path | None = None,
               where: Any = None, prefetched: Any = None, found: Iterable[Diagnostic] = (),
               spec_keys: frozenset = frozenset(), progress: Callable[[int, int, str], None] | None = None,
               surveys: Any = None, analyses_of_rules: bool = False, fdr: bool = True) -> Checked:
    """Read ``doc``'s data (when ``load``), run every analysis and rule, and apply its suppressions.

    ``surveys`` are the trust surveys read whole when this pass reads no data (the spec's own
    pass of a segmented run, ``SegmentRun.surveys``): their one table is made here, once, and
    never per segment (a segment's check, ``where``, reads no survey).

    ``analyses_of_rules=True`` runs only the analyses of the plugins whose ``rules`` run (the
    language server's check as you type runs the structure rules without the gain matrices).

    ``fdr=False`` leaves the statistical findings unadjusted (a segment of a ``--by`` run whose
    family is the whole rollup: ``SegmentRun.finish`` adjusts them); otherwise Benjamini-Hochberg
    at ``cfg.fdr_q`` is applied over this spec's statistical findings (metricsense.fdr).

    ``found`` are findings made before (loading the spec, finding its segments): they are suppressed
    like the rest. Findings whose (code, span, message) is in ``spec_keys`` (the spec's own, when
    this is one segment) are left out before suppressions are counted. Severity overrides and
    select/ignore are applied by ``finish``, once over every spec's findings.
    """
    found = list(found)
    analysis: dict[str, Any] = {}
    dataset = None
    with frozen():
        if load:
            dataset, data_diags = load_data(doc, data, registry, list(allowed), base=base, where=where,
                                            prefetched=prefetched, limits=(cfg.max_rows, cfg.query_timeout))
            found.extend(data_diags)
            if where is None:
                surveys = dataset.surveys
        only = {r.plugin for r in rules} if analyses_of_rules else None
        counts: dict[str, int] = {}
        found.extend(run_rules(doc, rules, cfg, dataset, analysis, registry, pm, progress, surveys, only, counts))
    # NOTE: the family is what the user will see: rules left out by `ignore` (or not chosen by
    # `select`) ran, but neither their tests nor their findings count in it.
    dropped = left_out(registry, cfg)
    tests = sum(n for code, n in counts.items() if code not in dropped)
    if fdr:
        from metricsense.fdr import control

        found = control([d for d in found if d.code not in dropped], tests, cfg.fdr_q)
    if spec_keys:
        found = [d for d in found if d.key not in spec_keys]
    keys = frozenset(d.key for d in found)
    kept, suppressed = apply_suppressions(doc, found, registry)
    if spec_keys:
        kept = [d for d in kept if d.key not in spec_keys]  # MS007 for the spec's comments
    return Checked(kept, analysis, suppressed, keys, tests)


def finish(diagnostics: Iterable[Diagnostic], registry: Registry, cfg: Config) -> list[Diagnostic]:
    """select/ignore and severity overrides, then sorted, each finding once."""
    return dedupe(sorted(filter_and_override(list(diagnostics), registry, cfg), key=Diagnostic.sort_key))


def has_data(doc: Document) -> Iterator[bool]:
    yield bool(doc.data_defaults)
    for node in (*doc.kpis, *doc.levers, *doc.disturbances, *doc.trusts):
        yield node.data is not None


def spec_anchor(doc: Document) -> Span:
    """Where findings about the spec as a whole point: the start of its first file."""
    return Span.point(doc.files[0] if doc.files else doc.root)


def load_data(doc: Document, data: Any, registry: Registry, allowed: list[Path], *,
              base: Path | None = None, where=None, prefetched=None, limits=None,
              surveys_only: bool = False):
    """Read the spec's data; every problem is a diagnostic, a crashed reader is MS005."""
    from metricsense.data.dataset import build

    root = Path(doc.root).parent if doc.root != "<string>" else (base or Path.cwd())
    dataset, problems, crashes = build(doc, data, registry.readers, [root, *allowed], base,
                                       where=where, prefetched=prefetched, limits=limits, surveys_only=surveys_only)
    return dataset, data_diagnostics(doc, problems, crashes, registry)


def data_diagnostics(doc: Document, problems, crashes, registry: Registry) -> list[Diagnostic]:
    """What reading a spec's data met, as findings: problems, and a crashed reader as MS005."""
    diags = [registry.from_problem(p) for p in problems]
    for plugin, message in crashes:
        diags.append(registry.diagnostic("MS005", spec_anchor(doc), f"data source plugin {plugin!r} crashed: {message}",
                                         "the other sources and evaluators still ran"))
    return diags


def selected_rules(registry: Registry, cfg: Config) -> list[Rule]:
    chosen = registry.rules.values()
    if cfg.select:
        codes = {r.code for ref in cfg.select for r in registry.matching(ref)}
        chosen = [r for r in chosen if r.code in codes]
    return [r for r in chosen if r.func is not None]


def left_out(registry: Registry, cfg: Config) -> set[str]:
    """The codes `ignore` and `select` leave out of the report (never an `always` rule's)."""
    ignored = {r.code for ref in cfg.ignore for r in registry.matching(ref)}
    if cfg.select:
        chosen = {r.code for ref in cfg.select for r in registry.matching(ref)}
        ignored |= {code for code in registry.rules if code not in chosen}
    return {code for code in ignored if not (registry.rules.get(code) and registry.rules[code].always)}


def filter_and_override(diags: list[Diagnostic], registry: Registry, cfg: Config) -> list[Diagnostic]:
    ignored = {r.code for ref in cfg.ignore for r in registry.matching(ref)}
    selected = {r.code for ref in cfg.select for r in registry.matching(ref)} if cfg.select else None
    overrides = {}
    for ref, sev in cfg.severity.items():
        for r in registry.matching(ref):
            overrides[r.code] = Severity.parse(sev)
    out = []
    for d in diags:
        if not _always(d, registry):
            if d.code in ignored or (selected is not None and d.code not in selected):
                continue
        if d.code in overrides:
            d = replace(d, severity=overrides[d.code])
        out.append(d)
    return out


def _always(d: Diagnostic, registry: Registry) -> bool:
    rule = registry.rules.get(d.code)
    return rule is not None and rule.always


def dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        if d.key not in seen:
            seen.add(d.key)
            out.append(d)
    return out


class EvaluatorTimeout(BaseException):
    """Raised inside an evaluator that ran past its time budget. A ``BaseException`` (as
    ``KeyboardInterrupt``), so an evaluator's own ``except Exception`` does not swallow it and run on."""


def _blocked_seconds() -> float | None:
    """Seconds this thread has spent neither running nor waiting for a processor (sleeping,
    blocked on a read): wall time minus run time minus run-queue time, from Linux's
    /proc/thread-self/schedstat; None where that is not available, or reads no run time at all
    (a kernel or sandbox without scheduler statistics: this thread is running now, so zero is
    not a measurement)."""
    import time

    try:
        with open("/proc/thread-self/schedstat", "rb") as fh:
            run_ns, queue_ns = (int(v) for v in fh.read().split()[:2])
    except (OSError, ValueError):
        return None
    if run_ns <= 0:
        return None
    return time.monotonic() - (run_ns + queue_ns) / 1e9


class Budget:
    """Interrupts the evaluator it guards after ``seconds`` of processor time, or after ``seconds``
    of waiting (sleeping, blocked on a read): not after ``seconds`` on the clock, so a check on a
    busy machine (CI runners, parallel jobs) is not cut short because its evaluator was queued for
    a processor. Waiting is measured from Linux's scheduler statistics; where they are unavailable,
    an evaluator is stopped after ten times its budget on the clock. Timer signals (SIGPROF,
    SIGALRM), main thread, POSIX.

    Timers armed before (a user's alarm or profiler, an outer budget) are put back on exit with
    what they had left; one due meanwhile fires on exit, late.

    NOTE: a signal can only interrupt Python code: an evaluator stuck inside one long C call is
    stopped when that call returns. Where signals are unavailable (another thread, Windows) the
    budget is not enforced.
    """

    #: without scheduler statistics, the clock's backstop in budgets
    WAITING = 10.0

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def _waited(self) -> float | None:
        now = _blocked_seconds()
        return None if now is None or self.blocked0 is None else now - self.blocked0

    def __enter__(self):
        import signal
        import threading
        import time

        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            def computing(signum, frame):
                raise EvaluatorTimeout(f"ran longer than its time budget of {self.seconds:g} s (processor time)")

            def waiting(signum, frame):
                waited = self._waited()
                if waited is not None and waited < self.seconds:  # queued for a processor: not its fault
                    signal.setitimer(signal.ITIMER_REAL, max(self.seconds - waited, 0.05))
                    return
                raise EvaluatorTimeout(f"ran longer than its time budget of {self.seconds:g} s (waiting)")

            self.blocked0 = _blocked_seconds()
            self.previous = (signal.signal(signal.SIGPROF, computing), signal.signal(signal.SIGALRM, waiting))
            self.started = (time.process_time(), time.monotonic())
            # the timers armed before (a user's alarm or profiler, an outer budget) are put back on exit
            self.timers = (signal.setitimer(signal.ITIMER_PROF, self.seconds),
                           signal.setitimer(signal.ITIMER_REAL,
                                            self.seconds * (1.0 if self.blocked0 is not None else self.WAITING)))
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal
            import time

            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGPROF, self.previous[0])
            signal.signal(signal.SIGALRM, self.previous[1])
            # NOTE: a timer due while the evaluator ran fires now (late, never lost); one due later
            # keeps what it had left
            spent = (time.process_time() - self.started[0], time.monotonic() - self.started[1])
            for which, (left, interval), used in zip((signal.ITIMER_PROF, signal.ITIMER_REAL), self.timers, spent):
                if left > 0:
                    signal.setitimer(which, max(left - used, 1e-6), interval)
        return False


def run_rules(doc, rules, cfg, data, analysis, registry: Registry, pm, progress=None,
              surveys=None, only: set[str] | None = None, counts: dict[str, int] | None = None) -> list[Diagnostic]:
    """Every analysis, then every rule, each in isolation; ``counts`` gets the number of
    hypothesis tests each rule said it ran (``EvalContext.tests``), by code."""
    found: list[Diagnostic] = []
    first = spec_anchor(doc)
    impls = [i for i in pm.hook.metricsense_analyze.get_hookimpls() if only is None or i.plugin_name in only]
    total, done = len(impls) + len(rules), 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, f"{_shown_path(doc.root)}: {what}")

    stopped: set[str] = set()  # the plugins whose analysis crashed or ran out of time
    for impl in impls:
        tick(f"analysing ({impl.plugin_name.removeprefix('metricsense.evaluators.')})")
        args = {"spec": doc, "data": data, "analysis": analysis, "surveys": surveys}
        try:
            with Budget(cfg.time_budget), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                impl.function(*[args[a] for a in impl.argnames])
        except EvaluatorTimeout as exc:
            stopped.add(impl.plugin_name)
            found.append(registry.diagnostic("MS005", first, f"plugin {impl.plugin_name!r} {exc} while analysing",
                                     "the other evaluators still ran; raise `time-budget` if this is expected"))
        except Exception as exc:
            # NOTE: an evaluator given the surveys may crash on an answer and its message quote it
            # (a comment, a hidden group's name): then only the exception's type is shown
            stopped.add(impl.plugin_name)
            said = type(exc).__name__ if "surveys" in impl.argnames and surveys else f"{type(exc).__name__}: {exc}"
            found.append(registry.diagnostic("MS005", first,
                                     f"plugin {impl.plugin_name!r} crashed while analysing: {said}",
                                     "the other evaluators still ran"))
    found.extend(_check_records(analysis, registry, first))
    for rule in rules:
        tick(f"{rule.code} {rule.name}")
        options = {name: opt.default for name, opt in rule.options.items()}
        overrides = cfg.rules.get(rule.code) or {}
        options.update({k: rule.options[k].check(v) for k, v in overrides.items()})
        ctx = EvalContext(doc, rule, options, data, analysis, stopped=frozenset(stopped))
        produced: list[Diagnostic] = []
        try:
            with Budget(cfg.time_budget), warnings.catch_warnings():
                # NOTE: numeric warnings (a NaN mean, a division by zero) are the evaluator's to
                # handle; they must not reach the user's terminal as RuntimeWarning lines.
                warnings.simplefilter("ignore", RuntimeWarning)
                for d in rule.func(ctx):
                    if not isinstance(d, Diagnostic):
                        raise TypeError(f"yielded {type(d).__name__}, not a Diagnostic")
                    produced.append(d)
            found.extend(produced)
            if counts is not None and ctx.tested:
                counts[rule.code] = counts.get(rule.code, 0) + ctx.tested
        except EvaluatorTimeout as exc:
            found.append(registry.diagnostic(
                "MS005", first, f"rule {rule.code} ({rule.name}) from plugin {rule.plugin!r} {exc}",
                "its findings are left out, the other rules still ran; raise `time-budget` if this is expected",
            ))
        except Exception as exc:
            found.append(
                registry.diagnostic(
                    "MS005", first,
                    f"rule {rule.code} ({rule.name}) from plugin {rule.plugin!r} crashed: "
                    f"{type(exc).__name__}: {exc}",
                    "the other rules still ran; report this to the plugin's authors",
                )
            )
    found.extend(_check_records(analysis, registry, first))  # what rules stored in it (ctx.analysis)
    return found


def _shown_path(root: str) -> str:
    """A spec's path as the user would type it: relative to the current folder when inside it."""
    from metricsense.loader import display_path

    return root if root == "<string>" else display_path(Path(root))


def codes_of(suppression, registry: Registry) -> set[str]:
    """The rule codes a suppression names (codes in any case, or rule names)."""
    found = set()
    for ref in suppression.codes:
        rule = registry.get(ref)
        if rule is not None:
            found.add(rule.code)
    return found


def apply_suppressions(doc: Document, diags: list[Diagnostic], registry: Registry):
    by_line: dict[tuple[str, int], list] = {}
    extra: list[Diagnostic] = []
    for s in doc.suppressions:
        by_line.setdefault((s.span.file, s.line), []).append(s)
        if s.reason is None:
            extra.append(registry.diagnostic("MS007", s.span,
                                     f"suppression of {', '.join(s.codes) or 'nothing'} gives no reason",
                                     f'add one: # msense: ignore[{", ".join(s.codes) or "CODE"}] reason '
                                     '"why this is fine here"'))
        for code in s.codes:
            if registry.get(code) is None:
                extra.append(registry.diagnostic("MS007", s.span, f"suppression names {code!r}, which is no rule",
                                         "use a rule code such as MS013, or its name"))
    kept, n = [], 0
    for d in diags:
        hits = by_line.get((d.span.file, d.span.line), ())
        if not _always(d, registry) and any(d.code in codes_of(s, registry) for s in hits):
            n += 1
            continue
        kept.append(d)
    return kept + extra, n


def _check_records(analysis: dict[str, Any], registry: Registry, first: Span) -> list[Diagnostic]:
    """Leave out (and report, MS005) what the report could not write: a value under a registered
    name that is not its record type, and a plugin's value that cannot be written as JSON (or,
    for a record, whose segment form cannot be). The built-in records are trusted as they are."""
    out = []
    for name in list(analysis):
        value = analysis[name]
        kind, plugin = registry.analyses.get(name, (None, None))
        problem = None
        if kind is not None and not isinstance(value, kind):
            problem = (f"analysis {name!r} holds a {type(value).__name__}, not the {kind.__name__} "
                       f"plugin {plugin!r} registered for it: left out",
                       "the plugin that stored it should store the registered record type")
        elif kind is None or not plugin.startswith("metricsense."):
            try:
                json.dumps(finite(value), allow_nan=False, default=json_default)
                if isinstance(value, Record):
                    json.dumps(finite(value.in_segment()), allow_nan=False, default=json_default)
            except Exception as exc:  # noqa: BLE001 - a plugin's value: whatever it raises is its own
                owner = f"plugin {plugin!r}" if plugin else "a plugin"
                problem = (f"analysis {name!r} (from {owner}) cannot be written to the report: "
                           f"{type(exc).__name__}: {exc}: left out", "report this to the plugin's authors")
        if problem is not None:
            del analysis[name]
            out.append(registry.diagnostic("MS005", first, *problem))
    return out
