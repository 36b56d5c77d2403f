"""The language: the product example parses as written, spans are right, Markdown works."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import metricsense
from metricsense import model as m

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def doc():
    return metricsense.load(HERE / "product_example.msense")


def test_product_example_parses_as_written(doc):
    assert doc.mission.text == "Enable the organization to provide services our customers love"
    assert doc.mission.why == "Customers who love our services stay, and tell others."
    assert [lv.name for lv in doc.levers] == ["deploys", "support_hours", "sec_reviews"]
    assert [lv.owner for lv in doc.levers] == ["platform", "support lead", None]
    assert [d.name for d in doc.disturbances] == ["holiday"]
    assert [(f.name, f.level) for f in doc.failures] == [
        ("outages", "outcome"), ("vulns", "output"), ("backlog", "process"), ("training", "input"),
    ]
    (kpi,) = doc.kpis
    assert (kpi.kind, kpi.focus, kpi.better, kpi.unit) == ("outcome", "results", "higher", "points")
    assert kpi.target.comparison == ">=" and kpi.target.value == 4.5
    assert kpi.target.by == dt.date(2027, 6, 30)
    assert [g.name for g in kpi.guards] == ["outages"]
    assert (kpi.data.path, kpi.data.column) == ("data/kpis.csv", "csat")
    assert [(g.name, g.value) for g in kpi.responds] == [("deploys", 0.2), ("support_hours", 0.6)]
    assert [(g.name, g.value) for g in kpi.disturbed] == [("holiday", -0.3)]
    (trig,) = doc.triggers
    assert trig.duration.count == 2 and trig.duration.unit == "period"
    assert trig.audience == "team"
    cond = trig.condition
    assert isinstance(cond, m.Binary) and cond.op == "<"
    assert cond.left == m.Ref(("csat",), cond.left.span)
    assert isinstance(cond.right, m.Binary) and cond.right.op == "-"
    assert isinstance(cond.right.left, m.TargetRef) and cond.right.right.value == 0.3
    (trust,) = doc.trusts
    assert trust.scale == (1, 5) and trust.gap == 1.0 and trust.min_group == 5
    assert trust.data.path == "data/survey.csv"


def test_spans_point_at_the_source(doc):
    kpi = doc.kpis[0]
    assert (kpi.span.line, kpi.span.column, kpi.span.end_line) == (16, 1, 27)
    assert (kpi.name_span.line, kpi.name_span.column, kpi.name_span.end_column) == (16, 5, 9)
    assert kpi.target.span.line == 21 and kpi.target.span.column == 3
    lever = doc.levers[1]
    assert (lever.name_span.line, lever.name_span.column) == (7, 7)
    assert kpi.span.file.endswith("product_example.msense")


def test_expression_precedence():
    doc = metricsense.load(
        'kpi a { }\nkpi b { }\ntrigger t when a + 2 * b > 3 and not a < 1 or abs(a - b) > 10% of b { }\n'
    )
    cond = doc.triggers[0].condition
    assert cond.op == "or"
    left, right = cond.left, cond.right
    assert left.op == "and" and left.right.op == "not"
    assert left.left.op == ">" and left.left.left.op == "+" and left.left.left.right.op == "*"
    assert right.left.op == "abs" and isinstance(right.right, m.Percent) and right.right.of.parts == ("b",)


def test_paired_series_and_functions():
    doc = metricsense.load(
        'kpi estimate { }\ntrigger t when abs(estimate.self - estimate.manager) > 25% of estimate.manager '
        'and change(estimate.self, 3) < -1 for 1 period { with one-to-one }\n'
    )
    refs = doc.triggers[0].refs()
    assert [r.parts for r in refs] == [("estimate", "self"), ("estimate", "manager"), ("estimate", "manager"),
                                        ("estimate", "self")]


def test_keywords_serve_as_names_where_only_a_name_fits():
    doc = metricsense.load('lever kind "K"\nlever target "T"\nkpi review "R" { responds kind +1, target -1 }\n')
    assert [lv.name for lv in doc.levers] == ["kind", "target"]
    assert doc.kpis[0].name == "review"


def test_lever_data_block_and_top_level_data_are_not_confused():
    doc = metricsense.load(
        'lever m1 "Money supply" { data "macro.csv" column "m1" }\ndata "kpis.csv" period "week"\n'
        'lever m2 "Rates"\n'
    )
    assert doc.levers[0].data.column == "m1"
    assert doc.data_defaults[0].path == "kpis.csv" and doc.data_defaults[0].period == "week"
    assert doc.levers[1].data is None


def test_sql_data_and_options():
    doc = metricsense.load('kpi a { data sql "SELECT period, a FROM kpis" from "sqlite:///k.db" column "a" }\n')
    d = doc.kpis[0].data
    assert (d.kind, d.query, d.url, d.column) == ("sql", "SELECT period, a FROM kpis", "sqlite:///k.db", "a")


def test_strings_unescape():
    doc = metricsense.load('mission "Say \\"why\\" \\\\ twice"\n')
    assert doc.mission.text == 'Say "why" \\ twice'


def test_markdown_fences_keep_line_numbers(tmp_path):
    md = tmp_path / "spec.md"
    md.write_text(
        "# Our KPIs\n\nSome prose with a `kpi` word.\n\n```msense\nmission \"M\"\n```\n\nMore prose.\n\n"
        "```python\nkpi nope\n```\n\n~~~msense\nlever deploys \"D\"\n~~~\n"
    )
    doc = metricsense.load(md)
    assert doc.mission.span.line == 6
    assert doc.levers[0].name_span.line == 16 and doc.levers[0].name_span.file.endswith("spec.md")
    assert not doc.kpis


def test_crlf_and_bom_parse_with_exact_positions():
    doc = metricsense.load('\ufefflever a "A"\r\nlever b "B"\r\n')
    assert [lv.name_span.line for lv in doc.levers] == [1, 2]
    assert doc.levers[1].name_span.column == 7


def test_suppression_comments_are_collected():
    doc = metricsense.load(
        'lever a "A"  # msense: ignore[MS017] reason "kept"\n# msense: ignore[MS017, MS018]\nlever b "B"\n'
    )
    first, second = doc.suppressions
    assert first.codes == ("MS017",) and first.reason == "kept" and first.line == 1
    assert second.codes == ("MS017", "MS018") and second.reason is None and second.line == 3


def test_includes_are_spliced_in_order(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "levers.msense").write_text('lever deploys "Deploys"\n')
    (tmp_path / "main.msense").write_text('mission "M"\ninclude "parts/levers.msense"\nkpi a { }\n')
    doc = metricsense.load(tmp_path / "main.msense")
    kinds = [type(s).__name__ for s in doc.statements]
    assert kinds == ["Mission", "Include", "Lever", "KPI"]
    assert doc.levers[0].span.file.endswith("parts/levers.msense")
    assert len(doc.files) == 2


def test_load_raises_spec_error_with_every_problem():
    with pytest.raises(metricsense.SpecError) as info:
        metricsense.load('kpi a {\n  target 4\n}\nlever "x"\n')
    assert len(info.value.problems) == 2
    assert [p.span.line for p in info.value.problems] == [2, 4]


# Issue 19 regression: a Markdown file with CR-only line ends had no fence found (neither when a
# folder is scanned nor when the file is named): its spec was silently unchecked.
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_markdown_fences_are_found_with_every_line_end(tmp_path, eol):
    from metricsense.engine import spec_files
    from metricsense.reports.text import render_text

    lines = ["# Our KPIs", "", "```msense", 'mission "M"', 'lever deploys "D"', "```", "", "prose",
             "~~~msense", "kpi k \"K\" {", "  responds nowhere +1", "}", "~~~", ""]
    md = tmp_path / "spec.md"
    md.write_bytes(eol.join(lines).encode("utf-8"))
    (tmp_path / "msense.toml").write_text("")
    assert spec_files([tmp_path])[0] == [md]
    doc = metricsense.load(md)
    assert doc.mission.span.line == 4
    assert doc.levers[0].name_span.line == 5 and doc.levers[0].name_span.column == 7
    assert doc.kpis[0].span.line == 10
    report = metricsense.check([md], config={})
    where = {d.code: d.span.line for d in report.diagnostics}
    assert where.get("MS002") == 11, report.diagnostics  # the unknown lever, on the Markdown file's line
    text = render_text(report)
    assert "responds nowhere +1" in text and "\\r" not in text and "\r" not in text
