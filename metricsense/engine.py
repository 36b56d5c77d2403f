"""The rule engine: load specs, run every registered rule in isolation, filter, and report."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsense.config import Config, ConfigError, discover, load_config
from metricsense.diagnostics import (  # noqa: F401 - EvalContext and anchor: public names here too
    CODE_PATTERN, NAME_PATTERN, Diagnostic, EvalContext, Related, Rule, Severity, anchor,
)
from metricsense.loader import Loaded, load_path
from metricsense.model import Document
from metricsense.span import Span

JSON_VERSION = 1


class RegistrationError(Exception):
    pass


@dataclass
class Registry:
    """Every rule and format the plugins registered, with the plugin each came from."""

    rules: dict[str, Rule] = field(default_factory=dict)
    by_name: dict[str, Rule] = field(default_factory=dict)
    formats: dict[str, tuple[Callable[..., str], str]] = field(default_factory=dict)
    readers: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (plugin, message)

    def add_rule(self, rule: Rule, plugin: str) -> None:
        if not isinstance(rule, Rule):
            raise RegistrationError(f"registered {rule!r}, which is not a rule made with @metricsense.rule")
        if not CODE_PATTERN.match(rule.code):
            raise RegistrationError(f"rule code {rule.code!r} is not 2-4 capital letters and 3 digits")
        if not NAME_PATTERN.match(rule.name):
            raise RegistrationError(f"rule name {rule.name!r} is not kebab-case")
        rule = _with_plugin(rule, plugin)
        taken = self.rules.get(rule.code) or self.by_name.get(rule.name)
        if taken is not None:
            what = f"code {rule.code}" if taken.code == rule.code else f"name {rule.name!r}"
            raise RegistrationError(
                f"plugin {plugin!r} registers {what}, already registered by plugin {taken.plugin!r}"
            )
        self.rules[rule.code] = rule
        self.by_name[rule.name] = rule

    def get(self, ref: str) -> Rule | None:
        return self.rules.get(ref.upper()) or self.by_name.get(ref)

    def matching(self, ref: str) -> list[Rule]:
        """Rules selected by a code, a code prefix (`MS0`, `MS01`) or a name."""
        exact = self.get(ref)
        if exact is not None:
            return [exact]
        return [r for c, r in self.rules.items() if c.startswith(ref.upper())] if ref else []


def _with_plugin(rule: Rule, plugin: str) -> Rule:
    from dataclasses import replace

    return replace(rule, plugin=plugin)


def build_registry(pm) -> Registry:
    """Call every plugin's registration hooks, one plugin at a time, isolating failures."""
    # NOTE: cached on the manager itself; an id()-keyed cache would hand a new manager the
    # registry of a dead one that happened to have the same id.
    cached = getattr(pm, "_metricsense_registry", None)
    if cached is not None:
        return cached
    registry = Registry()
    hooks = (("metricsense_register_rules", "rules"), ("metricsense_register_formats", "formats"),
             ("metricsense_register_data_sources", "readers"))
    for hook, kind in hooks:
        for impl in getattr(pm.hook, hook).get_hookimpls():  # registration order: built-ins first
            plugin = impl.plugin_name

            def register(*args, _plugin=plugin, _kind=kind):
                if _kind == "rules":
                    registry.add_rule(args[0], _plugin)
                    return
                name, func = args
                table = registry.formats if _kind == "formats" else registry.readers
                if name in table:
                    what = "format" if _kind == "formats" else "data source"
                    raise RegistrationError(
                        f"plugin {_plugin!r} registers {what} {name!r}, already registered by plugin {table[name][1]!r}"
                    )
                table[name] = (func, _plugin)

            try:
                impl.function(*[{"register": register}[a] for a in impl.argnames])
            except Exception as exc:
                registry.problems.append((plugin, f"{type(exc).__name__}: {exc}"))
    pm._metricsense_registry = registry
    return registry


@dataclass
class Report:
    """The result of a check: diagnostics, numeric analysis per spec, and the exit code."""

    diagnostics: list[Diagnostic]
    analysis: dict[str, dict[str, Any]]
    files: list[str]
    fail_on: str = "warning"
    suppressed: int = 0
    registry: Registry | None = field(default=None, repr=False)
    documents: dict[str, Document] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict, repr=False)  # text checked inline

    #: Per-segment runs (`by`): the per-rule rollup, and each segment's result when kept.
    segments: Any = None
    segment_results: list = field(default_factory=list, repr=False)
    #: Findings of segments streamed out and not kept here (counted by severity), and the exit
    #: code they call for.
    streamed_counts: dict[str, int] = field(default_factory=dict, repr=False)
    streamed_exit: int = 0

    @property
    def exit_code(self) -> int:
        """3 a plugin crashed, 2 a spec, data or config error, 1 findings at or above fail-on, 0 clean."""
        return max(exit_code_of(self.diagnostics, self.registry, self.fail_on), self.streamed_exit)

    def summary(self) -> dict[str, Any]:
        counts = {str(s): 0 for s in sorted(Severity, reverse=True)}
        for d in self.diagnostics:
            counts[str(d.severity)] += 1
        for name, n in self.streamed_counts.items():
            counts[name] += n
        return {
            "total": sum(counts.values()),
            "by_severity": counts,
            "suppressed": self.suppressed,
            "fail_on": self.fail_on,
            "exit_code": self.exit_code,
        }

    def to_dict(self) -> dict[str, Any]:
        from metricsense import __version__

        return {
            "version": JSON_VERSION,
            "metricsense": __version__,
            "files": list(self.files),
            "diagnostics": [finite(d.to_dict()) for d in self.diagnostics],
            "analysis": finite(self.analysis),
            **({"segments": self.segments_dict()} if self.segments is not None else {}),
            "summary": self.summary(),
        }

    def segments_dict(self, results: Iterable[dict] | None = None) -> dict[str, Any]:
        """The `segments` key of a segmented run: the column, the count, the per-rule rollup, and
        each segment's result (given as dicts when they were streamed elsewhere)."""
        if results is None:
            results = [r.to_dict() for r in self.segment_results]
        return {"by": self.segments.by, "count": self.segments.count, "rules": self.segments.rules(),
                "results": results}

    def to_json(self, indent: int | None = 2) -> str:
        if self.segments is not None and indent == 2:
            return "".join(self.json_chunks())  # what the CLI streams, byte for byte
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False,
                          default=_json_default)

    def json_chunks(self, more_diagnostics: Iterable[dict] = (), results: Iterable[dict] | None = None):
        """The JSON document (as `to_json()` writes it) in pieces, with findings and segment results
        that were kept outside the report (on disk) streamed in: memory does not grow with them."""
        doc = self.to_dict()
        yield "{"
        first = True
        for key, value in doc.items():
            yield ("\n  " if first else ",\n  ") + json.dumps(key) + ": "
            first = False
            if key == "diagnostics":
                import itertools

                yield from _json_list(itertools.chain(value, more_diagnostics), 1)
            elif key == "segments":
                yield "{"
                inner = [(k, v) for k, v in value.items() if k != "results"]
                for k, v in inner:
                    yield "\n    " + json.dumps(k) + ": "
                    yield from _json_pieces(v, 2)  # the rollup names every segment: in pieces
                    yield ","
                yield '\n    "results": '
                # NOTE: one line per segment (C encoder, already finite): the indenting encoder is
                # pure Python and cost more than checking the segment did.
                yield from _json_list(value["results"] if results is None else results, 2, compact=True)
                yield "\n  }"
            else:
                yield _json_value(value, 1)
        yield "\n}"

    def _repr_html_(self) -> str:
        """Notebook display: the HTML report's diagnostics and pictures, escaped the same way."""
        from metricsense.widgets.display import report_html

        return report_html(self)

    def _repr_markdown_(self) -> str:
        from metricsense.widgets.display import report_markdown

        return report_markdown(self)


def _json_value(value: Any, level: int) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
    return text.replace("\n", "\n" + "  " * level)


def _json_pieces(value: Any, level: int):
    """``_json_value(value, level)``, the same text, in pieces (list item by list item)."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        pad = "\n" + "  " * (level + 1)
        sep = "{"
        for k, v in value.items():
            yield sep + pad + json.dumps(k, ensure_ascii=False) + ": "
            yield from _json_pieces(v, level + 1)
            sep = ","
        yield "\n" + "  " * level + "}"
    elif isinstance(value, list) and value:
        pad = "\n" + "  " * (level + 1)
        sep = "["
        for v in value:
            yield sep + pad
            yield from _json_pieces(v, level + 1)
            sep = ","
        yield "\n" + "  " * level + "]"
    else:
        yield _json_value(value, level)


def _json_list(items: Iterable[Any], level: int, compact: bool = False):
    pad = "  " * (level + 1)
    empty = True
    for item in items:
        # A segment's finding is one line, like a segment's result (see json_chunks); text is
        # JSON encoded already, in the worker that checked the segment.
        if isinstance(item, str):
            text = item
        elif compact or (isinstance(item, dict) and "segment" in item):
            text = json.dumps(item, ensure_ascii=False, allow_nan=False, default=_json_default)
        else:
            text = _json_value(finite(item), level + 1)
        yield ("[\n" if empty else ",\n") + pad + text
        empty = False
    yield "[]" if empty else "\n" + "  " * level + "]"


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN), recursively.

    NumPy scalars and arrays become plain numbers and lists on the way.
    """
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
        return finite(value.tolist())
    return value


def json_default(value: Any) -> Any:
    """How the JSON report writes values JSON has no type for (arrays, sets, dates)."""
    return _json_default(value)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # NumPy arrays and scalars
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ---- the check ---------------------------------------------------------------------------------


def resolve_config(config: Config | Mapping[str, Any] | str | Path | None, start: Path) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return Config.from_mapping(dict(config))
    if isinstance(config, (str, Path)):
        return load_config(config)
    return discover(start)


def spec_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to check: named files, and in folders every *.msense and every .md with msense fences."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in child.relative_to(p).parts):
                    continue
                if child.suffix == ".msense" and child.is_file():
                    found.append(child)
                elif child.suffix == ".md" and child.is_file() and _has_fence(child):
                    found.append(child)
        elif p.exists():
            found.append(p)
        else:
            missing.append((str(raw), "no such file or folder"))
    return found, missing


def _has_fence(path: Path) -> bool:
    from metricsense.syntax.parser import FENCE_OPEN

    try:
        return FENCE_OPEN.search(path.read_text("utf-8", errors="replace")) is not None
    except OSError:
        return False


def check(
    spec: Document | str | Path | Iterable[str | Path],
    data: Any = None,
    config: Config | Mapping[str, Any] | str | Path | None = None,
    *,
    allow_paths: Iterable[str | Path] = (),
    plugin_manager=None,
    disabled_plugins: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    plugin_problems: Iterable[Any] = (),
    progress: Callable[[int, int, str], None] | None = None,
    by: str | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    on_segment: Callable[[Any], None] | None = None,
    keep_segments: bool = True,
) -> Report:
    """Check one spec (a Document, a path, spec text) or several paths; never raises for user mistakes.

    ``progress(done, total, what)``, when given, is called as each spec is read and each of its
    evaluators has run (the CLI draws a progress bar with it on a terminal).

    ``by`` names a segment column: the spec is checked once without data (structure), then every
    evaluator runs once per segment (see metricsense.segments), in ``jobs`` processes or on the
    Dask ``scheduler`` when given. ``on_segment(result)`` is called with each segment's result
    in segment order; with ``keep_segments=False`` the report keeps only the per-rule rollup
    (the CLI streams results so its memory stays flat however many segments there are).
    """
    from metricsense.plugins import get_plugin_manager

    if isinstance(spec, (str, Path)) and not isinstance(spec, Document) and _looks_like_text(spec):
        sources: list[tuple[str, Any]] = [("text", str(spec))]
        start = Path.cwd()
    elif isinstance(spec, Document):
        sources = [("document", spec)]
        start = Path.cwd()
    else:
        items = [spec] if isinstance(spec, (str, Path)) else list(spec)
        files, missing = spec_files(items)
        sources = [("file", f) for f in files] + [("missing", m) for m in missing]
        start = Path(items[0]) if items else Path.cwd()

    diagnostics: list[Diagnostic] = []
    if plugin_manager is not None:
        pm, plugin_problems = plugin_manager, list(plugin_problems)
    else:
        pm, plugin_problems = get_plugin_manager(disabled=disabled_plugins)
    registry = build_registry(pm)
    core = registry.rules

    def engine_diag(code: str, span: Span, message: str, help: str | None = None, evidence=None) -> Diagnostic:
        rule = core[code]
        return Diagnostic(code, rule.name, rule.severity, message, span, (), help, dict(evidence or {}))

    for problem in plugin_problems:
        diagnostics.append(engine_diag("MS005", Span.point("<plugins>"), f"plugin {problem.plugin} {problem.message}"))
    for plugin, message in registry.problems:
        diagnostics.append(engine_diag("MS005", Span.point("<plugins>"),
                                       f"plugin {plugin!r} failed while registering: {message}"))

    try:
        cfg = resolve_config(config, start)
        if overrides:
            from dataclasses import replace as _replace

            cfg = _replace(cfg, **dict(overrides))  # never change a Config the caller passed in
        cfg.check_rules(registry)
    except ConfigError as exc:
        span = Span(exc.file, exc.line, exc.column, exc.line, exc.column + 1)
        diagnostics.append(engine_diag("MS006", span, exc.message))
        return Report(sorted(diagnostics, key=Diagnostic.sort_key), {}, [], "warning", 0, registry)

    allowed = [Path(p) if Path(p).is_absolute() else cfg.base / p for p in cfg.allow_paths]
    allowed += [Path(p) for p in allow_paths]
    selected = _selected_rules(registry, cfg)
    by = by if by is not None else cfg.by
    seg = None
    if by is not None:
        from metricsense.segments import Rollup, SegmentError, check_column

        try:
            check_column(by)
        except SegmentError as exc:
            diagnostics.append(engine_diag("MS006", Span.point("<command line>"), str(exc)))
            return Report(sorted(diagnostics, key=Diagnostic.sort_key), {}, [], cfg.fail_on, 0, registry)
        seg = _SegmentRun(by, jobs if jobs is not None else cfg.jobs, scheduler or cfg.scheduler,
                          on_segment, keep_segments, Rollup(by), list(disabled_plugins), pm, registry,
                          plugin_manager is None or _workers_can_load(pm, disabled_plugins))
        if seg.remote(data) and not seg.scheduler:
            seg.runner().warm()  # worker processes start now, while the specs are read

    try:
        loaded: list[tuple[str, Loaded]] = []
        included: set[Path] = set()
        for kind, item in sources:
            if kind == "missing":
                name, why = item
                diagnostics.append(engine_diag("MS004", Span.point(name), f"cannot check `{name}`: {why}"))
            elif kind == "document":
                loaded.append((item.root, Loaded(item)))
            elif kind == "text":
                loaded.append(("<string>", load_path(Path("<string>"), text=item, allow_paths=allowed,
                                                     max_depth=cfg.max_include_depth)))
            else:
                result = load_path(item, allow_paths=allowed, max_depth=cfg.max_include_depth)
                included |= result.included
                loaded.append((str(item), result))

        analysis: dict[str, dict[str, Any]] = {}
        files: list[str] = []
        suppressed = 0
        documents: dict[str, Document] = {}
        # A file that another checked spec includes is checked as part of that spec only. Roots are
        # the files no other checked file includes; files only reachable in an include cycle stay.
        resolved = {name: Path(name).resolve() for name, _ in loaded if name != "<string>"}
        roots = [r for name, r in loaded if name == "<string>" or resolved[name] not in included]
        covered = set().union(*(r.included for r in roots)) if roots else set()
        for name, result in loaded:
            if name != "<string>" and not any(result is r for r in roots) and resolved[name] in covered:
                continue
            found: list[Diagnostic] = []
            for p in result.problems:
                found.append(engine_diag(p.code, p.span, p.message, p.help))
            doc = result.document
            if doc is not None:
                files.extend(f for f in doc.files if f not in files)
                documents[doc.root] = doc
                spec_analysis: dict[str, Any] = {}
                dataset = None
                segments: list = []
                if seg is not None:
                    segments, seg_diags = _discover_segments(doc, seg, data, registry, allowed, engine_diag)
                    found.extend(seg_diags)
                elif data is not None or any(_has_data(doc)):
                    dataset, data_diags = _load_data(doc, data, registry, allowed, engine_diag)
                    found.extend(data_diags)
                found.extend(_run_rules(doc, selected, cfg, dataset, spec_analysis, engine_diag, pm, progress))
                analysis[doc.root] = spec_analysis
                before = {(d.code, d.span, d.message) for d in found}
                kept, n_suppressed = _apply_suppressions(doc, found, registry, engine_diag)
                suppressed += n_suppressed
                found = kept
                if segments:
                    # What the spec says without data is said once: a segment repeats none of it, not
                    # even as a suppression counted again.
                    spec_keys = before | {(d.code, d.span, d.message) for d in kept}
                    seg.run(doc, cfg, segments, allowed, data, frozenset(spec_keys), progress)
            diagnostics.extend(found)

        diagnostics = _filter_and_override(diagnostics, registry, cfg)
        diagnostics = _dedupe(sorted(diagnostics, key=Diagnostic.sort_key))
        inline = {"<string>": item for kind, item in sources if kind == "text"}
        report = Report(diagnostics, analysis, files, cfg.fail_on, suppressed, registry, documents, inline)
        if seg is not None:
            report.segments = seg.rollup
            report.segment_results = seg.results
            tail = _dedupe(sorted(_filter_and_override(seg.spec_notes(), registry, cfg), key=Diagnostic.sort_key))
            report.diagnostics.extend(tail)  # the spec's own, then what segments add up to,
            report.diagnostics.extend(seg.diagnostics)  # then each segment's, in segment order
            report.suppressed += seg.suppressed
            report.streamed_counts = seg.counts
            report.streamed_exit = seg.exit
            if seg.error:
                code = "MS005" if seg.failed else "MS006"
                done = seg.failed and seg.rollup.count > 0
                report.diagnostics.append(engine_diag(code, Span.point("<segments>"), seg.error,
                                                      "the segments checked before it are reported"
                                                      if done else None))
    finally:  # workers and a cluster connection end with the run, however it ends
        if seg is not None and seg.pool is not None:
            try:
                seg.pool.close()
            except Exception as exc:  # noqa: BLE001 - the report (or the run's own error) matters more
                warnings.warn(f"metricsense: closing the segment workers failed: {exc}", RuntimeWarning, stacklevel=2)
    return report


def _workers_can_load(pm, disabled: Iterable[str]) -> bool:
    """True when worker processes, which load plugins from entry points, get the same plugins as
    ``pm`` (a plugin registered by hand, in this process, cannot travel to them)."""
    from metricsense.plugins import get_plugin_manager

    theirs, _ = get_plugin_manager(disabled=list(disabled))
    return {name for name, _ in pm.list_name_plugin()} <= {name for name, _ in theirs.list_name_plugin()}


_SEVERITY_NAMES = {int(s): str(s) for s in Severity}


@dataclass
class _SegmentRun:
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
    withheld: dict = field(default_factory=dict)  # (spec, trust signal) -> [template, segments, groups]
    pool: Any = None  # worker processes started early, or a Dask cluster (metricsense.segments)

    def remote(self, data: Any) -> bool:
        """True when workers find and check the segments, not this process."""
        # In-memory tables stay here (never shipped), and so do runs with plugins registered by
        # hand, which workers could not load.
        return data is None and self.shippable and (self.jobs > 1 or bool(self.scheduler))

    def runner(self):
        """The worker processes (started early) or the Dask cluster (connected on first use)."""
        if self.pool is None:
            from metricsense.segments import DaskPool, WorkerPool

            self.pool = DaskPool(self.scheduler) if self.scheduler else WorkerPool(max(self.jobs, 2))
        return self.pool

    def find(self, doc: Document, data: Any, readers, allowed: list[Path]):
        """The segments of ``doc``'s data (segments.Found), or None when the workers failed."""
        from metricsense import segments as sg

        if self.error:  # the workers failed on an earlier spec: nothing more is checked
            return None
        if not self.remote(data):
            return sg.discover(doc, self.by, data, readers, allowed, Path.cwd())
        try:
            return self.runner().call(sg.discover_here, doc, self.by, tuple(allowed), Path.cwd(),
                                      tuple(self.disabled))
        except sg.SegmentError as exc:
            self._stop(exc, f"while finding the segments of `{doc.root}`")
        return None

    def _stop(self, exc: Exception, doing: str) -> None:
        """The run cannot go on: a worker failed (MS005, saying while doing what), or it could not start."""
        from metricsense.segments import WorkerError

        if isinstance(exc, WorkerError):
            self.error, self.failed = f"{doing}: {exc}", True
        else:
            self.error = str(exc)

    def run(self, doc: Document, cfg: Config, segments, allowed, data, spec_keys, progress=None) -> None:
        from metricsense import segments as sg

        remote = self.remote(data)
        try:
            jobs_iter = sg.make_jobs(doc, cfg, self.by, segments, allowed, Path.cwd(), self.disabled, data,
                                     self.runner().workers if remote else 1, spec_keys, keep_analysis=self.keep)
            if remote:
                results = self.runner().run(jobs_iter)
            else:
                manager = (self.pm, self.registry, None)
                results = (r for job in jobs_iter for r in sg.run_batch(job, manager))
            for result in results:
                self._take(result, cfg)
                if progress is not None:
                    progress(self.rollup.specs[result.spec], len(segments), f"{doc.root}: {self.by} {result.segment}")
        except sg.SegmentError as exc:
            self._stop(exc, f"while checking the segments of `{doc.root}`")

    def _take(self, result, cfg: Config) -> None:
        self.rollup.add(result)
        if not self.keep and self.rollup.count % 64 == 0:
            from metricsense.segments import release_memory

            release_memory()
        self.suppressed += result.suppressed
        for d in result.withheld:
            entry = self.withheld.setdefault((result.spec, d.span), [d, 0, 0])
            entry[1] += 1
            entry[2] += int(d.evidence.get("suppressed", 0))
        if self.keep:
            self.results.append(result)
            self.diagnostics.extend(result.diagnostics)
        else:
            for _, _, severity in result.brief():
                name = _SEVERITY_NAMES[severity]
                self.counts[name] = self.counts.get(name, 0) + 1
            self.exit = max(self.exit, result.exit_code)
        if self.on_segment is not None:
            self.on_segment(result)

    def spec_notes(self) -> list[Diagnostic]:
        """Hidden trust groups, added up over the segments and naming none (MS502): a segment may
        be a single team, so which segments hide groups is not said."""
        out = []
        for (spec, _span), (d, n_segments, groups) in self.withheld.items():
            total = self.rollup.specs.get(spec, 0)
            name = d.message.split("`")[1] if d.message.count("`") >= 2 else "trust"
            out.append(Diagnostic(
                d.code, d.name, d.severity,
                f"`{name}`: {groups} group{'s' if groups != 1 else ''} not shown, in {n_segments} of {total} "
                f"segments: below the minimum of {d.evidence.get('min_group')} respondents, or so that none can "
                "be worked out by subtraction (which segments is not said)",
                d.span, (), d.help, {"suppressed": groups, "segments": n_segments,
                                     "min_group": d.evidence.get("min_group")}))
        return out


def exit_code_of(diagnostics: Iterable[Diagnostic], registry: Registry | None, fail_on: str) -> int:
    """3 a plugin crashed, 2 a spec, data or config error, 1 findings at or above fail-on, 0 clean."""
    code = 0
    threshold = None if fail_on == "never" else Severity.parse(fail_on)
    for d in diagnostics:
        rule = registry.rules.get(d.code) if registry else None
        if d.code == "MS005":
            code = max(code, 3)
        elif rule is not None and rule.exit_code == 2:
            code = max(code, 2)
        elif threshold is not None and d.severity >= threshold:
            code = max(code, 1)
    return code


def _discover_segments(doc: Document, seg: _SegmentRun, data: Any, registry: Registry, allowed: list[Path],
                       engine_diag):
    """The segments of a spec's data, and what finding them met (each reported once, here)."""
    from metricsense.segments import shown

    by = seg.by

    first = Span.point(doc.files[0] if doc.files else doc.root)
    anchor_ = doc.data_defaults[0].span if doc.data_defaults else first
    if data is None and not any(_has_data(doc)):
        return [], [engine_diag("MS031", anchor_, f"`{doc.root}` reads no data: there is nothing to segment "
                                f"by `{by}`", "give the spec a `data` clause, or leave `--by` out")]
    root = Path(doc.root).parent if doc.root != "<string>" else Path.cwd()
    found = seg.find(doc, data, registry.readers, [root, *allowed])
    if found is None:  # the run cannot go on (reported once, at the end)
        return [], []
    diags = [_data_diagnostic(p, registry) for p in found.problems]
    for message in found.crashes:
        diags.append(engine_diag("MS005", first, f"a data source plugin crashed while finding segments: {message}"))
    if not found.with_column and not found.problems and not found.crashes:
        diags.append(engine_diag("MS031", anchor_, f"no data source of `{doc.root}` has a column `{by}` "
                                 "to segment by", "name a column of the data (`--by team`), or leave `--by` out"))
    elif found.with_column and not found.segments:
        diags.append(engine_diag("MS031", found.with_column[0].span, f"the column `{by}` has no values: "
                                 "there are no segments to check", "fill in the column, or leave `--by` out"))
    for src, origin, rows in found.unassigned:
        diags.append(engine_diag("MS036", src.span, f"{rows} row{'s' if rows != 1 else ''} of `{shown(origin)}` "
                                 f"{'have' if rows != 1 else 'has'} no `{by}`: they are in no segment, so no "
                                 "segment checks them", f"fill in `{by}` on every row, or filter those rows out"))
    return found.segments, diags


def _data_diagnostic(p, registry: Registry) -> Diagnostic:
    rule = registry.rules[p.code]
    return Diagnostic(p.code, rule.name, rule.severity, p.message, p.span,
                      tuple(Related(s, m) for s, m in p.related), p.help, {})


def _has_data(doc: Document):
    yield bool(doc.data_defaults)
    for node in (*doc.kpis, *doc.levers, *doc.disturbances, *doc.trusts):
        yield node.data is not None


def evaluate_segment(doc: Document, cfg: Config, registry: Registry, pm, data: Any, allowed: list[Path],
                     base: Path, where, prefetched, spec_keys=frozenset()) -> tuple[list[Diagnostic], dict, int]:
    """Every selected evaluator on one segment's data: (diagnostics, analysis, suppressed).

    Findings whose (code, span, message) is in ``spec_keys`` (the spec's own) are left out before
    suppressions are counted."""
    core = registry.rules

    def engine_diag(code: str, span: Span, message: str, help: str | None = None, evidence=None) -> Diagnostic:
        rule = core[code]
        return Diagnostic(code, rule.name, rule.severity, message, span, (), help, dict(evidence or {}))

    analysis: dict[str, Any] = {}
    dataset, found = _load_data(doc, data, registry, allowed, engine_diag, base=base, where=where,
                                prefetched=prefetched)
    found.extend(_run_rules(doc, _selected_rules(registry, cfg), cfg, dataset, analysis, engine_diag, pm))
    found = [d for d in found if (d.code, d.span, d.message) not in spec_keys]
    kept, suppressed = _apply_suppressions(doc, found, registry, engine_diag)
    kept = [d for d in kept if (d.code, d.span, d.message) not in spec_keys]  # MS007 for the spec's comments
    kept = _dedupe(sorted(_filter_and_override(kept, registry, cfg), key=Diagnostic.sort_key))
    return kept, {doc.root: analysis}, suppressed


def _load_data(doc: Document, data: Any, registry: Registry, allowed: list[Path], engine_diag, *,
               base: Path | None = None, where=None, prefetched=None):
    """Read the spec's data; every problem is a diagnostic, a crashed reader is MS005."""
    from metricsense.data.dataset import build

    root = Path(doc.root).parent if doc.root != "<string>" else (base or Path.cwd())
    dataset, problems, crashes = build(doc, data, registry.readers, [root, *allowed], base,
                                       where=where, prefetched=prefetched)
    diags = [_data_diagnostic(p, registry) for p in problems]
    for plugin, message in crashes:
        diags.append(engine_diag("MS005", Span.point(doc.files[0] if doc.files else doc.root),
                                 f"data source plugin {plugin!r} crashed: {message}",
                                 "the other sources and evaluators still ran"))
    return dataset, diags


def _looks_like_text(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return False
    return "\n" in spec or "{" in spec or (not Path(spec).exists() and " " in spec)


def _selected_rules(registry: Registry, cfg: Config) -> list[Rule]:
    chosen = registry.rules.values()
    if cfg.select:
        codes = {r.code for ref in cfg.select for r in registry.matching(ref)}
        chosen = [r for r in chosen if r.code in codes]
    return [r for r in chosen if r.func is not None]


# Engine rules that cannot be switched off: without them a broken run would look clean.
_ALWAYS = {"MS001", "MS004", "MS005", "MS006"}


def _filter_and_override(diags: list[Diagnostic], registry: Registry, cfg: Config) -> list[Diagnostic]:
    from dataclasses import replace

    ignored = {r.code for ref in cfg.ignore for r in registry.matching(ref)}
    selected = {r.code for ref in cfg.select for r in registry.matching(ref)} if cfg.select else None
    overrides = {}
    for ref, sev in cfg.severity.items():
        for r in registry.matching(ref):
            overrides[r.code] = Severity.parse(sev)
    out = []
    for d in diags:
        if d.code not in _ALWAYS:
            if d.code in ignored or (selected is not None and d.code not in selected):
                continue
        if d.code in overrides:
            d = replace(d, severity=overrides[d.code])
        out.append(d)
    return out


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class EvaluatorTimeout(Exception):
    """Raised inside an evaluator that ran past its time budget."""


class _Budget:
    """Interrupts the evaluator it guards after ``seconds`` (SIGALRM, main thread, POSIX).

    NOTE: a signal can only interrupt Python code: an evaluator stuck inside one long C call is
    stopped when that call returns. Where signals are unavailable (another thread, Windows) the
    budget is not enforced.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self):
        import signal
        import threading

        if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
            def expire(signum, frame):
                raise EvaluatorTimeout(f"ran longer than its time budget of {self.seconds:g} s")

            self.previous = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _run_rules(doc, rules, cfg, data, analysis, engine_diag, pm, progress=None) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    first = Span.point(doc.files[0] if doc.files else doc.root)
    impls = pm.hook.metricsense_analyze.get_hookimpls()
    total, done = len(impls) + len(rules), 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, f"{doc.root}: {what}")

    for impl in impls:
        tick(f"analysing ({impl.plugin_name})")
        args = {"spec": doc, "data": data, "analysis": analysis}
        try:
            with _Budget(cfg.time_budget), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                impl.function(*[args[a] for a in impl.argnames])
        except EvaluatorTimeout as exc:
            found.append(engine_diag("MS005", first, f"plugin {impl.plugin_name!r} {exc} while analysing",
                                     "the other evaluators still ran; raise `time-budget` if this is expected"))
        except Exception as exc:
            found.append(engine_diag("MS005", first,
                                     f"plugin {impl.plugin_name!r} crashed while analysing: {type(exc).__name__}: {exc}",
                                     "the other evaluators still ran"))
    for rule in rules:
        tick(f"{rule.code} {rule.name}")
        options = {name: opt.default for name, opt in rule.options.items()}
        overrides = cfg.rules.get(rule.code) or {}
        options.update({k: rule.options[k].check(v) for k, v in overrides.items()})
        ctx = EvalContext(doc, rule, options, data, analysis)
        produced: list[Diagnostic] = []
        try:
            with _Budget(cfg.time_budget), warnings.catch_warnings():
                # NOTE: numeric warnings (a NaN mean, a division by zero) are the evaluator's to
                # handle; they must not reach the user's terminal as RuntimeWarning lines.
                warnings.simplefilter("ignore", RuntimeWarning)
                for d in rule.func(ctx):
                    if not isinstance(d, Diagnostic):
                        raise TypeError(f"yielded {type(d).__name__}, not a Diagnostic")
                    produced.append(d)
            found.extend(produced)
        except EvaluatorTimeout as exc:
            found.append(engine_diag(
                "MS005", first, f"rule {rule.code} ({rule.name}) from plugin {rule.plugin!r} {exc}",
                "its findings are left out, the other rules still ran; raise `time-budget` if this is expected",
            ))
        except Exception as exc:
            found.append(
                engine_diag(
                    "MS005", first,
                    f"rule {rule.code} ({rule.name}) from plugin {rule.plugin!r} crashed: "
                    f"{type(exc).__name__}: {exc}",
                    "the other rules still ran; report this to the plugin's authors",
                )
            )
    return found


def _codes(suppression, registry: Registry) -> set[str]:
    """The rule codes a suppression names (codes in any case, or rule names)."""
    found = set()
    for ref in suppression.codes:
        rule = registry.get(ref)
        if rule is not None:
            found.add(rule.code)
    return found


def _apply_suppressions(doc: Document, diags: list[Diagnostic], registry: Registry, engine_diag):
    by_line: dict[tuple[str, int], list] = {}
    extra: list[Diagnostic] = []
    for s in doc.suppressions:
        by_line.setdefault((s.span.file, s.line), []).append(s)
        if s.reason is None:
            extra.append(engine_diag("MS007", s.span,
                                     f"suppression of {', '.join(s.codes) or 'nothing'} gives no reason",
                                     'add one: # msense: ignore[MS013] reason "why this is fine here"'))
        for code in s.codes:
            if registry.get(code) is None:
                extra.append(engine_diag("MS007", s.span, f"suppression names {code!r}, which is no rule",
                                         "use a rule code such as MS013, or its name"))
    kept, n = [], 0
    for d in diags:
        hits = by_line.get((d.span.file, d.span.line), ())
        if d.code not in _ALWAYS and any(d.code in _codes(s, registry) for s in hits):
            n += 1
            continue
        kept.append(d)
    return kept + extra, n
