"""JUnit XML: one test suite per file, one test case per rule and file.

A case fails when its rule found something in that file at or above `fail-on`; findings below
it are listed in the case's output, so the CI verdict matches the exit code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from metricsense.diagnostics import Severity
from metricsense.report import withheld_sentence
from metricsense.reports import printable, rules_of, spec_files_of


def _threshold(report):
    return None if report.fail_on == "never" else Severity.parse(report.fail_on)


def _describe(d) -> str:
    # NOTE: XML 1.0 cannot hold most control characters at all: every text from a finding goes
    # through printable(), so a data value's ESC or NUL cannot make the file unreadable.
    lines = [printable(f"{d.severity}[{d.code}] {d.message}"), f"  --> {printable(str(d.span))}"]
    lines += [f"  = note: {printable(r.message)} --> {printable(str(r.span))}" for r in d.related]
    if d.help:
        lines.append(f"  = help: {printable(d.help)}")
    return "\n".join(lines)


def to_junit(report) -> ET.Element:
    threshold = _threshold(report)
    rules = [(r.code, r.name) for r in rules_of(report)]
    known = {c for c, _ in rules}
    for d in report.diagnostics:
        if d.code not in known:
            known.add(d.code)
            rules.append((d.code, d.name))
    rules.sort()
    by_key: dict[tuple[str, str], list] = {}
    for d in report.diagnostics:
        by_key.setdefault((d.span.file, d.code), []).append(d)

    root = ET.Element("testsuites", name="metricsense")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for file in spec_files_of(report):
        shown = printable(file)
        suite = ET.SubElement(root, "testsuite", name=shown)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for code, name in rules:
            case = ET.SubElement(suite, "testcase", classname=shown, name=printable(f"{code} {name}"), file=shown)
            counts["tests"] += 1
            found = by_key.get((file, code), [])
            failing = [d for d in found if threshold is not None and d.severity >= threshold]
            if failing:
                worst = max(failing, key=lambda d: d.severity)
                rule = report.registry.rules.get(code) if report.registry is not None else None
                crashed = rule is not None and rule.exit_code == 3
                kind = "error" if crashed else "failure"  # a plugin crash, not a finding
                el = ET.SubElement(case, kind, message=printable(worst.message) if len(failing) == 1 else
                                   f"{len(failing)} findings: {printable(worst.message)}", type=printable(str(worst.severity)))
                el.text = "\n\n".join(_describe(d) for d in failing)
                counts["errors" if kind == "error" else "failures"] += 1
                case.set("line", str(failing[0].span.line))
            quiet = [d for d in found if d not in failing]
            if quiet:
                ET.SubElement(case, "system-out").text = "\n\n".join(_describe(d) for d in quiet)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    if getattr(report, "withheld", None):
        _withheld_suite(root, report, threshold, totals)
    for k, v in totals.items():
        root.set(k, str(v))
    return root


def _withheld_suite(root, report, threshold, totals) -> None:
    """Personal findings are not shown here: one case per rule, failing as its findings would
    (so the verdict still matches the exit code), saying how many and where to read them."""
    names = {code: name for code, name in ((r.code, r.name) for r in rules_of(report))}
    suite = ET.SubElement(root, "testsuite", name="personal findings (not shown here)")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for code, by in sorted(report.withheld.items()):
        case = ET.SubElement(suite, "testcase", classname="personal findings",
                             name=f"{code} {names.get(code, '')}".rstrip())
        counts["tests"] += 1
        failing = threshold is not None and any(Severity.parse(sev) >= threshold for sev in by)
        text = withheld_sentence({code: by})
        if failing:
            worst = max((Severity.parse(sev) for sev in by), default=Severity.WARNING)
            ET.SubElement(case, "failure", message=text, type=str(worst)).text = text
            counts["failures"] += 1
        else:
            ET.SubElement(case, "system-out").text = text
    for k, v in counts.items():
        suite.set(k, str(v))
        totals[k] += v


def render_junit(report, options=None) -> str:
    root = to_junit(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
