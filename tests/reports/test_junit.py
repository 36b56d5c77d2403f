"""JUnit XML: one test case per rule and file, failures where findings reach fail-on."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from support import run_msense
from reports_helpers import make_spec


def test_one_case_per_rule_and_file(examples_report):
    from metricsense.reports.junit import render_junit

    root = ET.fromstring(render_junit(examples_report))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    n_rules = len(examples_report.registry.rules)
    assert [s.get("name") for s in suites] == examples_report.files
    for suite in suites:
        cases = suite.findall("testcase")
        assert len(cases) == n_rules == int(suite.get("tests"))
        assert len({c.get("name") for c in cases}) == n_rules
        assert all(c.get("classname") == suite.get("name") for c in cases)
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
    assert int(root.get("tests")) == n_rules * len(suites)
    case = root.find("testsuite[@name='examples/customer-love/customer-love.msense']"
                     "/testcase[@name='MS017 idle-lever']")
    failure = case.find("failure")
    assert failure.get("type") == "warning"
    assert "arch_board" in failure.get("message") and "customer-love.msense:34:7" in failure.text
    passing = root.find("testsuite[@name='examples/customer-love/customer-love.msense']"
                        "/testcase[@name='MS010 missing-mission']")
    assert list(passing) == []
    n_fail = sum(int(s.get("failures")) + int(s.get("errors")) for s in suites)
    failing = [d for d in examples_report.diagnostics if d.severity >= 3]
    assert 0 < n_fail <= len(failing)


def test_below_fail_on_is_output_not_failure(tmp_path):
    spec = make_spec(tmp_path, 'mission "m"\nlever a "A"\nkpi k "K" {\n  link "l"\n  responds a +1\n'
                     '  target >= 1 by 2027-01-01\n  focus relationships\n}\nfailure f "F" at input\n')
    result = run_msense("check", str(spec), "--format", "junit", "--fail-on", "error")
    root = ET.fromstring(result.stdout)
    assert root.findall(".//failure") == []
    outs = root.findall(".//testcase/system-out")
    assert outs and any("MS014" in o.text for o in outs)
    assert int(root.get("failures")) == 0


def test_escaping_in_xml(tmp_path):
    spec = make_spec(tmp_path, 'lever x "<a & \\"b\\">"\n')
    result = run_msense("check", str(spec), "--format", "junit")
    ET.fromstring(result.stdout)  # well-formed whatever the spec says
