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
    from metricsense.widgets.display import report_html

    report = metricsense.check(EVIL, config={})
    html = report_html(report)
    for raw in ("<script>", "<img src=x", "<iframe>", "<svg onload", "<b>bold"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="msense msense-report"' in html and "<svg" in html  # the gain matrix picture


def test_ipython_shows_a_report_as_the_notebook_html_and_markdown():
    from IPython.core.interactiveshell import InteractiveShell

    from metricsense.reports.markdown import render_markdown
    from metricsense.widgets.display import register_formatters, report_html

    report = metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    shell = InteractiveShell.instance()
    register_formatters(shell)
    shown, _ = shell.display_formatter.format(report)
    assert shown["text/html"] == report_html(report)
    assert shown["text/markdown"] == render_markdown(report.for_reader(False))  # as --format markdown
    assert not hasattr(report, "_repr_html_")  # the core holds no display code


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
