"""Rich display: reports, specs, diagnostics and agendas as HTML and Markdown, escaped like the HTML report."""

from __future__ import annotations

import metricsense
from support import EXAMPLES, require

EVIL = '''mission "<script>alert(1)</script> & <b>bold</b>"
lever l "<img src=x onerror=alert(2)>"
kpi k "<iframe>" { responds l +1  link "\\"quoted\\" <svg onload=alert(3)>" }
kpi j "J" { responds l +1 }
'''


def test_report_html_escapes_spec_text():
    report = metricsense.check(EVIL, config={})
    html = report._repr_html_()
    for raw in ("<script>", "<img src=x", "<iframe>", "<svg onload", "<b>bold"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="msense msense-report"' in html and "<svg" in html  # the gain matrix picture


def test_report_markdown_is_the_markdown_report():
    from metricsense.reports.markdown import render_markdown

    report = metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    assert report._repr_markdown_() == render_markdown(report)


def test_document_diagnostic_and_agenda_html():
    from metricsense.widgets.display import agenda_html, diagnostic_html, document_html

    doc = metricsense.load(EVIL)
    html = document_html(doc)
    assert "<script>" not in html and "&lt;iframe&gt;" in html
    report = metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    d = report.diagnostics[0]
    assert d.code in diagnostic_html(d)
    agenda = metricsense.agenda(report)
    html = agenda_html(agenda)
    assert html.count("<tr>") == len(agenda.items) + 1
    assert "\\_" not in html and "`" not in html  # Markdown escapes undone, then HTML-escaped


def test_ipython_shows_documents_and_diagnostics_as_html():
    require("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "metricsense")
    doc = metricsense.load(EXAMPLES / "customer-love" / "customer-love.msense")
    data, _ = ip.display_formatter.format(doc)
    assert "text/html" in data and "Mission:" in data["text/html"]
    report = metricsense.check(doc, config={})
    data, _ = ip.display_formatter.format(report.diagnostics[0])
    assert report.diagnostics[0].code in data["text/html"]
    data, _ = ip.display_formatter.format(report)
    assert {"text/html", "text/markdown"} <= set(data)
