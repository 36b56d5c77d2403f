"""Checking one open document as `msense check` would: the same plugins, rules, configuration
discovery and include resolution, with the editors' unsaved texts read instead of the files.

Two passes. ``check(..., data=False)`` parses and runs the syntax and structure rules (MS0xx)
with their own analysis only: cheap, run on every change. ``check(..., data=True)`` runs every
rule (declared gain matrices too) and reads the spec's data files: run on open and save, off the
editor's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsense import pipeline
from metricsense.config import Config, ConfigError, discover
from metricsense.diagnostics import Diagnostic
from metricsense.loader import display_path, load_path
from metricsense.model import Document, Include
from metricsense.syntax import parse_text

#: The family checked on every change: syntax and structure, which need no data and no matrices.
STRUCTURE = "MS0"


@dataclass
class Result:
    """What one pass over one open document gave."""

    version: int | None
    diagnostics: list[Diagnostic]
    document: Document | None  # the whole spec (its includes too); None after a syntax error
    statements: list = field(default_factory=list)  # this file's own statements (empty after a syntax error)
    analysis: dict[str, Any] = field(default_factory=dict)
    data: bool = False  # the data was read
    shown: str = "<string>"  # the file name spans of this document carry


class Checker:
    """The plugins, the registry and the configuration, shared by every open document."""

    def __init__(self, pm=None) -> None:
        from metricsense.plugins import get_plugin_manager
        from metricsense.registry import build_registry

        if pm is None:
            pm, self.plugin_problems = get_plugin_manager()
        else:
            self.plugin_problems = []
        self.pm = pm
        self.registry = build_registry(pm)

    def config_for(self, path: Path | None) -> tuple[Config, list[Diagnostic]]:
        """The configuration `msense check` would use for ``path`` (the nearest one, read anew each time)."""
        try:
            cfg = discover(path.parent if path is not None else Path.cwd())
            cfg.check_rules(self.registry)
        except ConfigError as exc:
            return Config(), [self.registry.from_problem(p) for p in exc.problems]
        return cfg, []

    def check(self, path: Path | None, text: str, *, version: int | None = None,
              overlay: Mapping[Path, str] | None = None, data: bool = False) -> Result:
        """Check ``text`` as the file ``path`` (None: an unsaved buffer), its includes read from
        ``overlay`` when open in an editor, else from disk."""
        registry = self.registry
        cfg, found = self.config_for(path)
        found += [registry.from_problem(p) for p in (*self.plugin_problems, *registry.problems)]
        allowed = [Path(p) if Path(p).is_absolute() else cfg.base / p for p in cfg.allow_paths]
        if path is None:
            loaded = load_path(Path("<string>"), text=text, allow_paths=allowed, max_depth=cfg.max_include_depth)
            shown = "<string>"
        else:
            resolved = path.resolve()
            loaded = load_path(resolved, allow_paths=allowed, max_depth=cfg.max_include_depth,
                               overlay={**(overlay or {}), resolved: text})
            shown = display_path(resolved)
        found += [registry.from_problem(p) for p in loaded.problems]
        doc = loaded.document
        analysis: dict[str, Any] = {}
        read = False
        if doc is not None:
            read = data and any(pipeline.has_data(doc))
            rules = pipeline.selected_rules(registry, cfg)
            if not data:  # as you type: syntax and structure (MS0xx), not the gain matrices
                rules = [r for r in rules if r.family == STRUCTURE]
            checked = pipeline.check_spec(doc, registry=registry, pm=self.pm, cfg=cfg, rules=rules, load=read,
                                          allowed=allowed, found=found, analyses_of_rules=not data)
            found, analysis = checked.diagnostics, checked.analysis
        own = [s for s in doc.statements if s.span.file == shown] if doc is not None else []
        if doc is None:
            own = parse_text(text, shown).statements
        return Result(version, pipeline.finish(found, registry, cfg), doc, own, analysis, read, shown)

    def includes_of(self, result: Result) -> list[Include]:
        return [s for s in result.statements if isinstance(s, Include)]
