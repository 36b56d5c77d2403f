"""The check: which files, which configuration and plugins, then each spec through the pipeline.

``check()`` never raises for a user mistake: it returns a Report whose findings say what went
wrong. One spec at a time goes through ``metricsense.pipeline``; a segmented run (``by``) hands
each spec's segments to ``metricsense.segments.run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from metricsense import pipeline
from metricsense.config import Config, ConfigError, discover, load_config
from metricsense.diagnostics import Diagnostic, EvalContext, anchor  # noqa: F401 - public here too
from metricsense.encoding import finite, json_default  # noqa: F401 - public here too
from metricsense.loader import Loaded, load_path
from metricsense.model import Document
from metricsense.registry import RegistrationError, Registry, build_registry, exit_code_of  # noqa: F401
from metricsense.report import JSON_VERSION, Report  # noqa: F401 - public here too
from metricsense.span import Span

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
    from metricsense.span import normalise_line_ends
    from metricsense.syntax.parser import FENCE_OPEN

    try:
        return FENCE_OPEN.search(normalise_line_ends(path.read_text("utf-8", errors="replace"))) is not None
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
    show_personal: bool | None = None,
) -> Report:
    """Check one spec (a Document, a path, spec text) or several paths; never raises for user mistakes.

    ``progress(done, total, what)``, when given, is called as each spec is read and each of its
    evaluators has run (the CLI draws a progress bar with it on a terminal).

    ``by`` names a segment column: the spec is checked once without data (structure, and the
    trust surveys read whole: their one table), then every other evaluator runs once per segment (see metricsense.segments), in ``jobs`` processes or on the
    Dask ``scheduler`` when given. ``on_segment(result)`` is called with each segment's result
    in segment order; with ``keep_segments=False`` the report keeps only the per-rule rollup
    (the CLI streams results so its memory stays flat however many segments there are).

    ``show_personal=True`` (or ``show-personal = true`` in the configuration) lets the text, HTML
    and JSON outputs of the report show findings about one named person (MS501); the report's
    ``diagnostics`` hold them either way, and CI formats never show them (``Report.for_reader``).
    """
    from metricsense.plugins import get_plugin_manager

    sources, start = _sources(spec)
    if plugin_manager is not None:
        pm, plugin_problems = plugin_manager, list(plugin_problems)
    else:
        pm, plugin_problems = get_plugin_manager(disabled=disabled_plugins)
    registry = build_registry(pm)
    diagnostics = [registry.from_problem(p) for p in (*plugin_problems, *registry.problems)]
    try:
        cfg = resolve_config(config, start)
        if overrides or show_personal is not None:
            more = {} if show_personal is None else {"show_personal": bool(show_personal)}
            cfg = replace(cfg, **{**dict(overrides or {}), **more})  # never change a Config the caller passed in
        cfg.check_rules(registry)
    except ConfigError as exc:
        diagnostics.extend(registry.from_problem(p) for p in exc.problems)
        return Report(sorted(diagnostics, key=Diagnostic.sort_key), {}, [], "warning", 0, registry)

    allowed = [Path(p) if Path(p).is_absolute() else cfg.base / p for p in cfg.allow_paths]
    allowed += [Path(p) for p in allow_paths]
    seg = None
    if (by if by is not None else cfg.by) is not None:
        from metricsense.segments.run import SegmentError, SegmentRun

        try:
            seg = SegmentRun.start(by if by is not None else cfg.by, jobs if jobs is not None else cfg.jobs,
                                   scheduler or cfg.scheduler, on_segment, keep_segments, disabled_plugins, pm,
                                   registry, hand_made=plugin_manager is not None, data=data)
        except SegmentError as exc:
            diagnostics.append(registry.diagnostic("MS006", Span.point("<command line>"), str(exc)))
            return Report(sorted(diagnostics, key=Diagnostic.sort_key), {}, [], cfg.fail_on, 0, registry,
                          show_personal=cfg.show_personal)
    try:
        loaded = _load(sources, allowed, cfg, registry, diagnostics)
        report = Report([], {}, [], cfg.fail_on, 0, registry, {},
                        {"<string>": item for kind, item in sources if kind == "text"},
                        show_personal=cfg.show_personal, analysis_form=cfg.analysis)
        rules = pipeline.selected_rules(registry, cfg)
        roots = _roots(loaded)
        for index, result in enumerate(roots):
            step = over_files(progress, index, len(roots))
            found = [registry.from_problem(p) for p in result.problems]
            doc = result.document
            spec_cfg, spec_rules = cfg, rules
            if doc is not None and config is None and doc.root != "<string>":
                # The configuration nearest to each spec file (a folder checked from its parent
                # keeps each spec's own msense.toml: its rule options, such as `target_set`).
                spec_cfg = _nearest(doc.root, cfg, overrides, show_personal, registry, found)
                spec_rules = rules if spec_cfg is cfg else pipeline.selected_rules(registry, spec_cfg)
            if doc is not None:
                report.files.extend(f for f in doc.files if f not in report.files)
                report.documents[doc.root] = doc
                segments: list = []
                surveys = None
                if seg is not None:
                    segments, seg_diags = seg.discover(doc, data, allowed)
                    found.extend(seg_diags)
                    # The spec's own pass reads no data but the trust surveys, whole: their one
                    # table (and MS501/MS502) is made once; segments never read a survey.
                    surveys, survey_diags = seg.surveys(doc, data, allowed)
                    found.extend(survey_diags)
                # NOTE: with segments the spec's own pass is one share of its bar and the segments the
                # rest, so the bar does not reach 100% and start again at the first segment
                whole = len(segments) + 1
                checked = pipeline.check_spec(
                    doc, registry=registry, pm=pm, cfg=spec_cfg, rules=spec_rules, data=data, allowed=allowed,
                    load=seg is None and (data is not None or any(pipeline.has_data(doc))),
                    found=found, progress=_share(step, 0, 1, whole), surveys=surveys)
                report.analysis[doc.root] = checked.analysis
                report.suppressed += checked.suppressed
                found = checked.diagnostics
                if segments:
                    # What the spec says without data is said once: a segment repeats none of it, not
                    # even as a suppression counted again.
                    spec_keys = checked.keys | {d.key for d in found}
                    seg.run(doc, cfg, segments, allowed, data, frozenset(spec_keys),
                            _share(step, 1, len(segments), whole))
            diagnostics.extend(found if spec_cfg is cfg else pipeline.finish(found, registry, spec_cfg))
        report.diagnostics = pipeline.finish(diagnostics, registry, cfg)
        if seg is not None:
            seg.finish(report, cfg)
    finally:  # workers and a cluster connection end with the run, however it ends
        if seg is not None:
            seg.close()
    return report


def _nearest(root: str, cfg: Config, overrides, show_personal, registry: Registry, found: list) -> Config:
    """The configuration nearest to the spec file ``root``, or ``cfg`` when that is the same
    file (or none is found); a broken one is MS006 and ``cfg`` is used."""
    try:
        near = discover(Path(root))
    except ConfigError as exc:
        found.extend(registry.from_problem(p) for p in exc.problems)
        return cfg
    if near.source is None or (cfg.source is not None and Path(near.source).resolve() == Path(cfg.source).resolve()):
        return cfg
    try:
        if overrides or show_personal is not None:
            more = {} if show_personal is None else {"show_personal": bool(show_personal)}
            near = replace(near, **{**dict(overrides or {}), **more})
        near.check_rules(registry)
    except ConfigError as exc:
        found.extend(registry.from_problem(p) for p in exc.problems)
        return cfg
    return near


def _sources(spec: Any) -> tuple[list[tuple[str, Any]], Path]:
    """What to check, each as (kind, item), and where to start looking for the configuration."""
    if isinstance(spec, (str, Path)) and not isinstance(spec, Document) and looks_like_text(spec):
        return [("text", str(spec))], Path.cwd()
    if isinstance(spec, Document):
        return [("document", spec)], Path.cwd()
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    files, missing = spec_files(items)
    return [("file", f) for f in files] + [("missing", m) for m in missing], Path(items[0]) if items else Path.cwd()


def _load(sources, allowed: list[Path], cfg: Config, registry: Registry, diagnostics: list[Diagnostic]
          ) -> list[tuple[str, Loaded]]:
    """Each source parsed, its includes followed; a missing path is MS004."""
    loaded: list[tuple[str, Loaded]] = []
    for kind, item in sources:
        if kind == "missing":
            name, why = item
            diagnostics.append(registry.diagnostic("MS004", Span.point(name), f"cannot check `{name}`: {why}"))
        elif kind == "document":
            loaded.append((item.root, Loaded(item)))
        elif kind == "text":
            loaded.append(("<string>", load_path(Path("<string>"), text=item, allow_paths=allowed,
                                                 max_depth=cfg.max_include_depth)))
        else:
            loaded.append((str(item), load_path(item, allow_paths=allowed, max_depth=cfg.max_include_depth)))
    return loaded


def over_files(progress, index: int, count: int):
    """``progress`` for the ``index``-th of ``count`` specs: one bar over the whole run (it does
    not restart for every file), each spec an equal share, its name and place said."""
    if progress is None:
        return None
    if count <= 1:
        return progress

    def step(done: int, total: int, what: str) -> None:
        total = max(total, 1)
        progress(index * total + min(done, total), count * total, f"({index + 1} of {count}) {what}")

    return step


def _share(progress, first: int, size: int, whole: int):
    """``progress`` for a part of one spec's work: its ``done`` of ``total`` fills ``size`` of the
    ``whole`` units of the spec's bar, after the ``first`` ones."""
    if progress is None or whole <= 1:
        return progress

    def step(done: int, total: int, what: str) -> None:
        total = max(total, 1)
        progress(first * total + size * min(done, total), whole * total, what)

    return step


def _roots(loaded: list[tuple[str, Loaded]]) -> list[Loaded]:
    """The specs to check: a file that another checked spec includes is checked as part of that spec only.

    Roots are the files no other checked file includes; files only reachable in an include cycle stay."""
    included: set[Path] = set()
    for name, r in loaded:
        if name != "<string>":
            included |= r.included
    resolved = {name: Path(name).resolve() for name, _ in loaded if name != "<string>"}
    roots = [r for name, r in loaded if name == "<string>" or resolved[name] not in included]
    covered = set().union(*(r.included for r in roots)) if roots else set()
    return [r for name, r in loaded
            if name == "<string>" or any(r is x for x in roots) or resolved[name] not in covered]


def looks_like_text(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return False
    return "\n" in spec or "{" in spec or (not Path(spec).exists() and " " in spec)


