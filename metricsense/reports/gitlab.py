"""GitLab's Code Quality report (`msense check --format gitlab`): a JSON array of issues.

The shape GitLab documents for a `codequality` artifact: per finding a `description`, a
`check_name`, a stable `fingerprint` (the same finding keeps it when lines move or numbers change:
``Diagnostic.fingerprint``), a `severity` (info, minor, major, critical, blocker) and a
`location` with the file `path` and `lines.begin`. A CI format: findings about one named person
are never in it (the registry gives it ``report.for_reader(False)``).
"""

from __future__ import annotations

import json

from metricsense.diagnostics import Severity
from metricsense.reports import is_file

#: metricsense severity -> GitLab's: an error blocks the merge, a warning is major.
SEVERITIES = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info", Severity.HINT: "info"}


def to_gitlab(report) -> list[dict]:
    out = []
    for d in report.diagnostics:
        path = d.span.file if is_file(d.span.file) else "."
        description = d.message + (f" (help: {d.help})" if d.help else "")
        if d.segment:
            description = f"[{d.segment}] {description}"
        out.append({
            "description": description,
            "check_name": f"{d.code} {d.name}",
            "fingerprint": d.fingerprint(),
            "severity": SEVERITIES.get(d.severity, "info"),
            "location": {"path": path, "lines": {"begin": max(int(d.span.line), 1)}},
        })
    return out


def render_gitlab(report, options=None) -> str:
    return json.dumps(to_gitlab(report), indent=2, ensure_ascii=False) + "\n"
