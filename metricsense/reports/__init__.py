"""Report formats beyond text and JSON: one module per format, imported only when chosen."""

from __future__ import annotations

from typing import Any


def rules_of(report) -> list:
    """Every rule the registry knows, sorted by code (empty without a registry)."""
    registry = getattr(report, "registry", None)
    return sorted(registry.rules.values(), key=lambda r: r.code) if registry else []


def is_file(name: str) -> bool:
    """False for the pseudo-files diagnostics use when there is no file (`<plugins>`, `<string>`)."""
    return not (name.startswith("<") and name.endswith(">"))


def spec_files_of(report) -> list[str]:
    """The files to report on: every file read, then any other file a diagnostic names."""
    out = list(report.files)
    for d in report.diagnostics:
        if d.span.file not in out:
            out.append(d.span.file)
    return out


def finite(value: Any) -> Any:
    """A float for JSON: None instead of inf or NaN."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
