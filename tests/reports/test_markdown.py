"""Markdown: a table a team can paste into a wiki or a pull request."""

from __future__ import annotations

from reports_helpers import make_spec


def test_table_of_findings(examples_report):
    from metricsense.reports.markdown import render_markdown

    text = render_markdown(examples_report)
    lines = text.splitlines()
    head = lines.index("| severity | code | rule | where | message |")
    assert lines[head + 1] == "|---|---|---|---|---|"
    rows = [ln for ln in lines[head + 2:] if ln.startswith("| ")]
    assert len(rows) >= len(examples_report.diagnostics)
    assert any("| MS017 | idle-lever | examples/customer-love/customer-love.msense:34:7 |" in r for r in rows)
    # every row of the findings table has the five cells (pipes in messages are escaped)
    for row in rows[: len(examples_report.diagnostics)]:
        assert row.replace("\\|", "").count("|") == 6
    assert "condition number (declared gains)" in text


def test_spec_text_is_inert(tmp_path):
    import metricsense
    from metricsense.reports.markdown import render_markdown

    spec = make_spec(tmp_path, 'lever x "<img src=x onerror=alert(1)> | a"\n')
    report = metricsense.check([spec], config={})
    text = render_markdown(report)
    assert "<img" not in text
