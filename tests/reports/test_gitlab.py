"""`--format gitlab`: GitLab's Code Quality report shape, with stable fingerprints."""

from __future__ import annotations

import json

import metricsense
from metricsense.reports.gitlab import render_gitlab
from support import EXAMPLES

SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def _issues(report) -> list[dict]:
    return json.loads(render_gitlab(report))


def test_the_examples_give_gitlab_code_quality_issues():
    report = metricsense.check(EXAMPLES, config={})
    issues = _issues(report)
    assert issues and len(issues) == len(report.diagnostics)
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
        assert isinstance(issue["description"], str) and issue["description"]
        assert issue["severity"] in SEVERITIES
        assert set(issue["location"]) == {"path", "lines"} and issue["location"]["lines"]["begin"] >= 1
        assert len(issue["fingerprint"]) == 32
    assert {i["check_name"].split()[0] for i in issues} == {d.code for d in report.diagnostics}


def test_a_fingerprint_survives_moved_lines(tmp_path):
    spec = tmp_path / "a.msense"
    spec.write_text('mission "M"\nlever coaching "C"\n', "utf-8")
    before = _issues(metricsense.check(spec, config={}))
    spec.write_text('# moved\n\nmission "M"\nlever coaching "C"\n', "utf-8")
    after = _issues(metricsense.check(spec, config={}))
    assert {i["fingerprint"] for i in before} == {i["fingerprint"] for i in after}
    assert [i["location"]["lines"]["begin"] for i in before] != [i["location"]["lines"]["begin"] for i in after]


def test_gitlab_never_names_a_person(confidential_spec):
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    report = metricsense.check(confidential_spec, config={}, show_personal=True)
    render, _ = build_registry(get_plugin_manager(entrypoints=False)[0]).formats["gitlab"]
    text = render(report)
    assert "MS501" not in text and "grp-badger" not in text and "mgr-bb22" not in text
