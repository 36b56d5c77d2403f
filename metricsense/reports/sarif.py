"""SARIF 2.1.0: one run, the rules with their descriptions and help, results with locations."""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePosixPath
from urllib.parse import quote

from metricsense.diagnostics import Diagnostic, Severity
from metricsense.reports import is_file, rules_of, withheld_line

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/metricsense/metricsense"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note", Severity.HINT: "note"}


def uri(path: str) -> str:
    """A relative or absolute path as a URI reference (percent-encoded, forward slashes)."""
    posix = path.replace("\\", "/")
    encoded = quote(posix, safe="/:")
    return "file://" + encoded if PurePosixPath(posix).is_absolute() else encoded


def region(span) -> dict:
    out = {"startLine": max(1, span.line), "startColumn": max(1, span.column)}
    if span.end_line >= span.line:
        out["endLine"] = max(1, span.end_line)
        out["endColumn"] = max(1, span.end_column)
    return out


def physical(span) -> dict | None:
    if not is_file(span.file):
        return None
    return {"artifactLocation": {"uri": uri(span.file)}, "region": region(span)}


def _rule(rule) -> dict:
    help_md = rule.explanation or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary or rule.name},
        "fullDescription": {"text": _first_paragraph(rule.explanation) or rule.summary or rule.name},
        "help": {"text": help_md, "markdown": help_md},
        "helpUri": f"{INFO_URI}#rules",
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"plugin": rule.plugin, "tags": [rule.family]},
    }


def _first_paragraph(markdown: str) -> str:
    """The prose under "Why is this bad?" (or the first paragraph), without headings."""
    paragraphs = [p.strip() for p in markdown.split("\n\n") if p.strip()]
    for p in paragraphs:
        lines = [ln for ln in p.splitlines() if not ln.lstrip().startswith("#")]
        if lines and not lines[0].lstrip().startswith("```"):
            return " ".join(ln.strip() for ln in lines)
    return ""


def _fingerprint(d: Diagnostic) -> str:
    return hashlib.sha256(f"{d.code}\0{d.span.file}\0{d.message}".encode()).hexdigest()[:32]


def _result(d: Diagnostic, index: dict[str, int]) -> dict:
    out: dict = {"ruleId": d.code}
    if d.code in index:
        out["ruleIndex"] = index[d.code]
    out["level"] = LEVELS[d.severity]
    text = d.message + (f"\nhelp: {d.help}" if d.help else "")
    out["message"] = {"text": text}
    loc = physical(d.span)
    out["locations"] = [{"physicalLocation": loc}] if loc else []
    related = []
    for i, r in enumerate(d.related, start=1):
        rloc = physical(r.span)
        if rloc:
            related.append({"id": i, "physicalLocation": rloc, "message": {"text": r.message}})
    if related:
        out["relatedLocations"] = related
    out["partialFingerprints"] = {"metricsense/v1": _fingerprint(d)}
    if d.evidence:
        from metricsense.encoding import finite

        # NOTE: evidence may hold an infinite gain (`disturbed weather -1e999`); JSON has none.
        out["properties"] = {"evidence": finite(d.evidence)}
    return out


def to_sarif(report) -> dict:
    from metricsense.version import __version__

    rules = rules_of(report)
    # Rules a diagnostic names but the registry lacks (a report built by hand) still get an entry.
    known = {r.code for r in rules}
    driver_rules = [_rule(r) for r in rules]
    for d in report.diagnostics:
        if d.code not in known:
            known.add(d.code)
            driver_rules.append({"id": d.code, "name": d.name, "shortDescription": {"text": d.name}})
    index = {r["id"]: i for i, r in enumerate(driver_rules)}
    artifacts = [{"location": {"uri": uri(f)}} for f in report.files if is_file(f)]
    code = report.exit_code
    invocation = {"executionSuccessful": code in (0, 1), "exitCode": code}
    withheld = withheld_line(report)
    if withheld:  # a notification, not a result: no location, no name, no number
        invocation["toolExecutionNotifications"] = [
            {"level": "note", "descriptor": {"id": "personal-findings-withheld"}, "message": {"text": withheld}}]
    run = {
        "tool": {"driver": {"name": "metricsense", "version": __version__, "semanticVersion": __version__,
                            "informationUri": INFO_URI, "rules": driver_rules}},
        "invocations": [invocation],
        "artifacts": artifacts,
        "columnKind": "unicodeCodePoints",
        "results": [_result(d, index) for d in report.diagnostics],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(report, options=None) -> str:
    from metricsense.encoding import json_default

    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False, allow_nan=False, default=json_default) + "\n"
