"""`select` on a spec given as a Document, a path or text: load it, read its data, choose."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Unreadable(Exception):
    """The spec does not load: ``problems`` (each with its span); the facade raises them as SpecError."""

    def __init__(self, problems: list) -> None:
        super().__init__(problems[0].message if problems else "the spec cannot be read")
        self.problems = problems


def select_spec(spec_or_path: Any, size: int | None = None, top: int = 5, data: Any = None, allow_paths=(),
                time_limit: float | None = None):
    """metricsense.select: raises SpecError (the spec does not parse) or SelectError (it cannot be used)."""
    from metricsense.loader import load_path
    from metricsense.model import Document
    from metricsense.selection import select_document

    if isinstance(spec_or_path, Document):
        doc = spec_or_path
    else:
        from metricsense.engine import looks_like_text

        if isinstance(spec_or_path, str) and looks_like_text(spec_or_path):
            result = load_path(Path("<string>"), text=spec_or_path, allow_paths=[Path(p) for p in allow_paths])
        else:
            result = load_path(Path(spec_or_path), allow_paths=[Path(p) for p in allow_paths])
        if result.problems or result.document is None:
            raise Unreadable(result.problems)
        doc = result.document
    return select_document(doc, size=size, top=top, dataset=_dataset(doc, data, allow_paths), time_limit=time_limit)


def _dataset(doc, data: Any, allow_paths=()):
    """The spec's data (for its KPIs' noise), or None; a problem reading it only means no data."""
    from metricsense import pipeline

    if data is None and not any(pipeline.has_data(doc)):
        return None
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    pm, _ = get_plugin_manager()
    dataset, _ = pipeline.load_data(doc, data, build_registry(pm), [Path(p) for p in allow_paths])
    return dataset
