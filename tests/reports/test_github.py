"""GitHub workflow annotations: `::warning file=...,line=...::message`, escaped as Actions expects."""

from __future__ import annotations

import re

from metricsense.diagnostics import Diagnostic, Related, Severity
from metricsense.span import Span

LINE = re.compile(r"^::(error|warning|notice) (?P<props>[^:]*)::(?P<msg>.*)$")


def test_examples(examples_report):
    from metricsense.reports.github import render_github

    lines = render_github(examples_report).splitlines()
    annotations = [ln for ln in lines if ln.startswith("::")]
    assert len(annotations) == len(examples_report.diagnostics)
    assert all(LINE.match(a) for a in annotations)
    mine = next(a for a in annotations if "title=MS013 more-kpis-than-levers" in a)
    assert mine.startswith("::warning file=examples/customer-love/customer-love.msense,line=87,col=5,"
                           "endLine=87,endColumn=14,title=MS013 more-kpis-than-levers::3 KPIs compete")
    assert "\n" not in mine and "%0Ahelp: " in mine


def _decode(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def test_escaping():
    from metricsense.reports.github import annotation

    d = Diagnostic("MS017", "idle-lever", Severity.ERROR, "50% done,\nreally: yes\r",
                   Span("dir,with:odd%/f.msense", 3, 2, 4, 9),
                   (Related(Span("x.msense", 1, 1, 1, 2), "see, here"),), help="fix it")
    line = annotation(d)
    assert "\n" not in line and "\r" not in line
    m = LINE.match(line)
    assert m and m.group(1) == "error"
    props = dict(p.split("=", 1) for p in m.group("props").split(","))
    assert props == {"file": "dir%2Cwith%3Aodd%25/f.msense", "line": "3", "col": "2", "endLine": "4",
                     "endColumn": "9", "title": "MS017 idle-lever"}
    assert _decode(props["file"]) == "dir,with:odd%/f.msense"
    # In the message only %, CR and LF are escaped (commas and colons are fine there).
    assert m.group("msg").startswith("50%25 done,%0Areally: yes%0D%0Anote: see, here")
    assert _decode(m.group("msg")).endswith("\nhelp: fix it")


def test_info_is_notice_and_no_file_for_pseudo_spans():
    from metricsense.reports.github import annotation

    d = Diagnostic("MS005", "plugin-crashed", Severity.INFO, "boom", Span.point("<plugins>"))
    assert annotation(d) == "::notice title=MS005 plugin-crashed::boom"
