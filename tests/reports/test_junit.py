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


# Issue 19 regression: a message, help, file name or rule name quoting a character XML 1.0 cannot
# hold (U+FFFF, U+FFFE, a lone surrogate, a C0 or C1 control character) still gives a well-formed,
# UTF-8-encodable file; the characters are written as escapes.
def test_characters_xml_cannot_hold_are_escaped():
    import dataclasses

    import metricsense
    from metricsense.reports.junit import render_junit

    bad = "a\uffff b\ufffe c\ud800 d\udfff e\x01 f\x7f g\x85 h\x0b"
    report = metricsense.check('mission "M"\nlever x "X"\n', config={})
    d = report.diagnostics[0]
    span = dataclasses.replace(d.span, file="f\uffff\x01.msense")
    report.diagnostics[:] = [dataclasses.replace(d, message=bad, help=bad, code="XX901", name="rule\ufffe",
                                                 span=span)]
    text = render_junit(report)
    data = text.encode("utf-8")  # strict: no surrogate left
    root = ET.fromstring(data.split(b"\n", 1)[1])
    failure = root.find(".//failure")
    assert "a\\uffff b\\ufffe c\\ud800 d\\udfff e\\x01" in failure.get("message")
    assert "\\uffff" in failure.text and "\\x0b" in failure.text
    assert any(s.get("name") == "f\\uffff\\x01.msense" for s in root.findall("testsuite"))
    assert any(c.get("name") == "XX901 rule\\ufffe" for c in root.iter("testcase"))
