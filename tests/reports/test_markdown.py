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
    # the declared gains in the words the HTML report and the explorer use (reports.gains.describe)
    assert ("| declared gains | condition number ∞ \\(rank-deficient\\): rank 8 of 9 KPIs; 8 of 10 levers move them "
            "\\(idle: arch\\_board, incident\\_drills\\) |") in text


def test_spec_text_is_inert(tmp_path):
    import metricsense
    from metricsense.reports.markdown import render_markdown

    spec = make_spec(tmp_path, 'lever x "<img src=x onerror=alert(1)> | a"\n')
    report = metricsense.check([spec], config={})
    text = render_markdown(report)
    assert "<img" not in text


# Issue 19 regression: segment names, data values and spec text went into the Markdown report
# with only `|` and HTML escaped: a store named `![x](https://...)` rendered as an image on a pull
# request. Every interpolated text is escaped for Markdown (md_text), or is a code span (md_code).
HOSTILE = ["![x](https://evil.example/p.png)", "[click](https://evil.example)", "**bold** _em_ ~~s~~",
           "<img src=x onerror=alert(1)>", "# heading", "a | b", "`code` ``two``", "line\nbreak\r\n# h2\u2028x",
           "&lt;b&gt; &#33;", "back\\slash \\* \x1b[31m\x00"]


def _html(markdown_text: str) -> str:
    from support import require

    require("markdown_it")
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown_text)


def _assert_inert(html: str, allowed: tuple[str, ...] = ()):
    import re

    tags = set(re.findall(r"<([a-z0-9]+)", html)) - {"p", "table", "thead", "tbody", "tr", "th", "td", "code",
                                                      "br", "ul", "ol", "li", *allowed}
    assert not tags, (tags, html)
    assert "evil.example" not in "".join(re.findall(r'(?:href|src)="([^"]*)"', html))


def test_helpers_make_any_text_inert_in_markdown():
    from metricsense.reports.markdown import md_code, md_text

    for text in HOSTILE:
        for md in (md_text(text), md_code(text), md_code(text, table=True)):
            assert "\n" not in md and "\r" not in md and "\x1b" not in md and "\x00" not in md
        _assert_inert(_html(f"| h |\n|---|\n| {md_text(text)} |\n"))
        _assert_inert(_html(f"| h |\n|---|\n| {md_code(text, table=True)} |\n"))
        _assert_inert(_html(f"### {md_text(text)}\n\n- {md_text(text)}\n"), ("h3",))
        _assert_inert(_html(f"### {md_code(text)}\n"), ("h3",))
    html = _html(f"| h |\n|---|\n| {md_text(HOSTILE[0])} |\n")
    assert "![x](https://evil.example/p.png)" in html  # the text is shown as written
    assert md_code("a ` b") == "``a ` b``" and md_code("`x`") == "`` `x` ``"


def test_reports_escape_segment_names_data_values_and_messages():
    import dataclasses

    import metricsense
    from metricsense.agenda import Agenda, _trigger_items, render_markdown as render_agenda
    from metricsense.diff import diff_reports, render_markdown as render_diff
    from metricsense.evaluators.records import TriggerEvaluation, TriggerEvent
    from metricsense.reports.markdown import render_markdown, segments_table

    report = metricsense.check('mission "M"\nlever x "X"\n', config={})
    d = report.diagnostics[0]
    report.diagnostics[:] = [dataclasses.replace(d, message=t, help=t) for t in HOSTILE]
    _assert_inert(_html(render_markdown(report)), ("h2", "h3", "em"))

    class Rollup:
        by, count = HOSTILE[1], 3

        def rules(self):
            return [{"code": "MS301", "name": HOSTILE[2], "fired": 2, "of": 3, "segments": HOSTILE}]

    _assert_inert(_html("\n".join(segments_table(Rollup(), limit=20))), ("h3",))

    old = metricsense.check('mission "M"\n', config={})
    result = diff_reports(old, report, HOSTILE[0], HOSTILE[3])
    result["kpis"]["added"] = HOSTILE
    _assert_inert(_html(render_diff(result)), ("h2", "h3"))

    event = TriggerEvent(start=HOSTILE[0], end=HOSTILE[1], periods=2, segment=HOSTILE[4],
                         values={HOSTILE[6]: 1.0, "v": HOSTILE[5]}, target=1.0, target_of=HOSTILE[7])
    info = TriggerEvaluation(kpi=None, audience=None, ask=HOSTILE[2], periods=(), status="evaluated",
                             events=(event,))
    items = _trigger_items(HOSTILE[3], HOSTILE[8], info, None)
    text = render_agenda(Agenda(items, since=HOSTILE[9]))
    _assert_inert(_html(text), ("h1", "h2", "h3"))
