"""The KPI system as a picture: one graph (reports.picture), as Mermaid (Markdown) and inline SVG (HTML).

Counts are checked against the spec itself (its statements, counted here), the Mermaid against
Mermaid's flowchart lexing rules (tests/reports/mermaid_check.py), the SVG by parsing it as XML.
Hostile labels (quotes, brackets, HTML, backticks, line breaks, Mermaid directives and entity
codes) must come out as the same text, inert.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import mermaid_check
from reports_helpers import make_spec

SVG = "{http://www.w3.org/2000/svg}"


def _expected(doc) -> dict:
    """What the picture must hold, counted from the spec's statements."""
    failures = {f.name for f in doc.failures}
    levers = {lv.name for lv in doc.levers}
    disturbances = {d.name for d in doc.disturbances}
    guards = sum(1 for k in doc.kpis for ref in k.guards if ref.name in failures)
    responds = sum(1 for k in doc.kpis for g in k.responds if g.name in levers)
    disturbed = sum(1 for k in doc.kpis for g in k.disturbed if g.name in disturbances)
    nodes = {"failure": len(doc.failures), "kpi": len(doc.kpis), "lever": len(doc.levers),
             "disturbance": len(doc.disturbances)}
    if doc.mission is not None:
        nodes["mission"] = 1
    edges = {"threat": len(doc.failures) if doc.mission is not None else 0, "guards": guards, "responds": responds,
             "disturbed": disturbed}
    return {"nodes": {k: v for k, v in nodes.items() if v}, "edges": {k: v for k, v in edges.items() if v}}


def _examples(examples_report):
    from metricsense.reports import picture

    for root, doc in examples_report.documents.items():
        yield root, doc, picture.of_report(examples_report, root)


def test_every_example_is_drawn_whole_with_the_specs_counts(examples_report):
    from metricsense.reports import picture

    seen = 0
    for _root, doc, pic in _examples(examples_report):
        assert picture.summary(pic) == _expected(doc)
        assert not pic.omitted
        seen += 1
    assert seen == len(examples_report.documents) >= 4


def test_customer_love_statuses_and_findings(examples_report):
    """Latest levels against targets (the noise analysis' median of the last periods) and the findings on each node."""
    from metricsense.evaluators.records import NoiseAnalysis

    root = next(r for r in examples_report.documents if r.endswith("customer-love.msense"))
    from metricsense.reports import picture

    pic = picture.of_report(examples_report, root)
    noise = NoiseAnalysis.of(examples_report.analysis[root])
    kpis = {n.name: n for n in pic.nodes if n.kind == "kpi"}
    for name, node in kpis.items():
        entry = noise.kpis[name]
        assert node.status == ("met" if entry.met else "missed"), name
        assert f"now {entry.level:.4g}" in node.detail
    assert kpis["change_fail"].status == "met" and kpis["csat"].status == "missed"
    assert kpis["csat"].facts[0] == "target >= 4.5 by 2027-06-30"
    # findings: each diagnostic inside a statement's lines is counted on its node
    idle = next(n for n in pic.nodes if n.name == "arch_board")
    codes = [d.code for d in picture.findings_of(examples_report.documents[root], examples_report.diagnostics)["arch_board"]]
    assert "MS017" in codes and idle.findings == {"warning": len(codes)}
    # an edge's gain, and whether it moves the KPI the way `better` says
    deploys_to_fail = next(e for e in pic.edges if pic.node(e.source).name == "deploys" and pic.node(e.target).name == "change_fail")
    assert deploys_to_fail.gain == 0.2 and deploys_to_fail.effect == "hurts"
    assert next(e for e in pic.edges if pic.node(e.source).name == "deploys"
                and pic.node(e.target).name == "lead_time").effect == "helps"


def test_findings_by_node_agree_with_a_plain_search(examples_report):
    """Each diagnostic is on the statements whose lines hold its place (or a related place)."""
    from metricsense.reports import picture

    for doc in examples_report.documents.values():
        spans = [(s.name, s.span) for s in doc.named()] + ([("", doc.mission.span)] if doc.mission else [])
        plain: dict[str, list] = {}
        for d in examples_report.diagnostics:
            places = [d.span, *(r.span for r in d.related)]
            for name, span in spans:
                if any(p.file == span.file and span.line <= p.line <= span.end_line for p in places):
                    plain.setdefault(name, []).append(d)
        found = picture.findings_of(doc, examples_report.diagnostics)
        assert {k: [id(d) for d in v] for k, v in found.items()} == {k: [id(d) for d in v] for k, v in plain.items()}
        assert found  # the examples have findings on their statements


def test_mermaid_follows_mermaids_grammar_and_counts(examples_report):
    from metricsense.reports import picture

    for _root, doc, pic in _examples(examples_report):
        text = picture.mermaid(pic)
        found = mermaid_check.parse(text)
        assert len(found["nodes"]) == len(pic.nodes)
        drawn = [e for e in found["edges"] if e[1] != "~~~"]  # invisible links only place idle levers
        assert len(drawn) == len(pic.edges)
        exp = _expected(doc)
        assert len(found["classes"].get("kpi", [])) == exp["nodes"].get("kpi", 0)
        assert sum(1 for e in drawn if e[1] == "<-.-") == exp["edges"].get("disturbed", 0)
        assert sum(1 for e in drawn if e[1] == "<---") == exp["edges"].get("responds", 0)
        # every gain is written on its edge, as the spec has it
        assert all(e[2].startswith("← ") for e in drawn if e[1] in ("<---", "<-.-"))  # the label points at the KPI
        gains = sorted(float(e[2][2:]) for e in drawn if e[1] in ("<---", "<-.-"))
        assert gains == sorted(g.value for k in doc.kpis for g in (*k.responds, *k.disturbed))
        assert found["subgraphs"] == [lv for lv in ("input", "process", "output", "outcome")
                                      if any(f.level == lv for f in doc.failures)]


def test_svg_is_well_formed_with_one_group_per_node_and_edge(examples_report):
    from metricsense.reports.picture_svg import svg

    for _root, doc, pic in _examples(examples_report):
        root = ET.fromstring(svg(pic, selected=pic.nodes[1].key))
        groups = [g for g in root.iter(f"{SVG}g")]
        nodes = [g for g in groups if "node" in g.get("class", "").split()]
        edges = [g for g in groups if "edge" in g.get("class", "").split()]
        assert len(nodes) == len(pic.nodes) and len(edges) == len(pic.edges)
        keys = [g.get("data-key") for g in nodes]
        assert len(set(keys)) == len(keys) == len(pic.nodes)
        assert sum("selected" in g.get("class") for g in nodes) == 1
        for g in nodes:  # each node says what it is on hover
            assert g.find(f"{SVG}title").text == pic.node(g.get("data-key")).title()
        for k in doc.kpis:
            if k.target is not None and k.target.value is not None:
                g = next(g for g in nodes if g.get("data-name") == k.name)
                assert f"target {k.target.comparison} {k.target.value:.4g}" in g.find(f"{SVG}title").text


HOSTILE = ['a "quoted" label', 'brackets ] [ ) ( } { |pipes|', '<img src=x onerror=alert(1)><script>alert(2)</script>',
           '`code` ```fence', 'line\nbreak\tand tab', '%%{init: {"securityLevel": "loose"}}%%', '#quot; #35; &amp; &#60;',
           "end", "A --> B -.-> C ~~~ D", "style k0 fill:#f00;", "click k0 call alert()", "\u202eevil\u200b", "é ü 中文 😀"]


def _hostile_spec(tmp_path):
    def s(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'

    lines = [f"mission {s(HOSTILE[0] + ' ' + HOSTILE[5])}"]
    lines += [f"lever lv{i} {s(t)}" for i, t in enumerate(HOSTILE)]
    lines += [f"disturbance dist {s(HOSTILE[2])}"]
    lines += [f"failure f{i} {s(t)} at {('input', 'process', 'output', 'outcome')[i % 4]}" for i, t in enumerate(HOSTILE)]
    for i, t in enumerate(HOSTILE):
        lines.append(f"kpi k{i} {s(t)} {{\n  guards f{i}\n  responds lv{i} +0.{i + 1}\n"
                     + ("  disturbed dist -0.5\n" if i == 2 else "") + "}")
    return make_spec(tmp_path, "\n".join(lines) + "\n")


def test_hostile_labels_come_out_as_text_in_mermaid_and_svg(tmp_path):
    import metricsense
    from metricsense.encoding import printable
    from metricsense.reports import picture
    from metricsense.reports.picture_svg import svg

    spec = _hostile_spec(tmp_path)
    report = metricsense.check([spec], config={})
    root = next(iter(report.documents))
    doc = report.documents[root]
    assert [k.label for k in doc.kpis] == HOSTILE  # the spec holds them as written
    pic = picture.of_report(report, root)
    assert picture.summary(pic) == _expected(doc)

    text = picture.mermaid(pic)
    found = mermaid_check.parse(text)
    assert not re.search(r"[^\x20-\x7e\n]", text)  # plain ASCII: every other character an entity code
    assert "script" not in text.lower() or "#60;script" in text
    for i, label in enumerate(HOSTILE):  # each label decodes to the text, on one line
        shown = found["nodes"][f"k{i}"].split("\n")[1]
        assert shown == _one_line(label, 44), (shown, label)
    assert found["nodes"]["m"].split("\n")[1] == _one_line(HOSTILE[0] + " " + HOSTILE[5], 90)

    tree = ET.fromstring(svg(pic))
    assert not [e for e in tree.iter() if e.tag in (f"{SVG}script", f"{SVG}foreignObject", "script")]
    assert not [a for e in tree.iter() for a in e.attrib if a.lower().startswith("on")]
    titles = {g.get("data-name"): g.find(f"{SVG}title").text for g in tree.iter(f"{SVG}g") if g.get("data-name")}
    for i, label in enumerate(HOSTILE):
        assert printable(label, keep="\n\t") in titles[f"k{i}"], (titles[f"k{i}"], label)
    # bidi overrides and invisible characters are written as visible escapes, never raw
    assert "\u202e" not in svg(pic) and "\u202e" not in text


def _one_line(text: str, limit: int) -> str:
    from metricsense.encoding import printable

    s = printable(" ".join(text.split()))
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def test_a_large_system_stays_bounded_and_says_what_it_gathered(tmp_path):
    import metricsense
    from metricsense.reports import picture
    from metricsense.reports.picture_svg import svg

    n_kpi, n_lever, n_fail = 300, 60, 50
    lines = ['mission "Big"']
    lines += [f'lever l{j} "Lever {j}"' for j in range(n_lever)]
    lines += [f'disturbance d{j} "Disturbance {j}"' for j in range(10)]
    lines += [f'failure f{i} "Failure {i}" at {("input", "process", "output", "outcome")[i % 4]}' for i in range(n_fail)]
    for i in range(n_kpi):
        gains = ", ".join(f"l{(i + k) % n_lever} {0.1 + 0.01 * ((i * 7 + k) % 50):+.2f}" for k in range(3))
        lines.append(f'kpi k{i} "KPI {i}" {{\n  guards f{i % n_fail}\n  responds {gains}\n  disturbed d{i % 10} -0.2\n}}')
    spec = make_spec(tmp_path, "\n".join(lines) + "\n")
    report = metricsense.check([spec], config={})
    root = next(iter(report.documents))
    limits = picture.Limits(edges=60)
    pic = picture.of_report(report, root, limits)
    counts = picture.summary(pic)["nodes"]
    assert counts["kpi"] == limits.kpis - 1 and counts["failure"] == limits.failures - 1
    assert counts.get("lever", 0) + counts.get("disturbance", 0) == limits.causes - 1
    more = {n.key: n for n in pic.nodes if n.kind == "more"}
    assert len(more["more-kpi"].members) == n_kpi - (limits.kpis - 1)
    assert more["more-kpi"].label == f"and {n_kpi - limits.kpis + 1} more KPIs"
    assert len(more["more-failure"].members) == n_fail - (limits.failures - 1)
    gains = [e for e in pic.edges if e.kind in ("responds", "disturbed") and e.count == 1]
    assert len(gains) <= limits.edges
    assert pic.omitted["kpis"] == n_kpi - limits.kpis + 1 and pic.omitted["gains"] > 0
    # every gain of the spec is drawn, folded into a "more" edge, or counted as left out
    total = sum(e.count for e in pic.edges if e.kind in ("responds", "disturbed")) + pic.omitted["gains"]
    assert total == pic.totals["gains"] == n_kpi * 4
    assert f"and N more\": {pic.omitted['failures']} key failures, {pic.omitted['kpis']} KPIs" in pic.caption()
    text = picture.mermaid(pic)
    found = mermaid_check.parse(text)
    assert len(found["nodes"]) == len(pic.nodes) <= limits.failures + limits.kpis + limits.causes + 1
    assert len(text) < 50_000  # Mermaid's default maxTextSize
    ET.fromstring(svg(pic))


def test_markdown_report_carries_the_mermaid_diagram(examples_report):
    from metricsense.reports.markdown import render_markdown

    text = render_markdown(examples_report)
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert len(blocks) == len(examples_report.documents)
    for block in blocks:
        mermaid_check.parse(block)
    assert "_8 key failures, 9 KPIs, 10 levers, 2 disturbances and 19 gains._" in text


def test_html_report_draws_the_picture_as_inline_svg(examples_report):
    from metricsense.reports.html import render_html

    page = render_html(examples_report)
    figures = re.findall(r'<figure class="kpi-system">(<svg.*?</svg>)', page, flags=re.S)
    assert len(figures) == len(examples_report.documents)
    for fig in figures:
        ET.fromstring(fig)
    assert "<script" not in page


@pytest.mark.parametrize("text", ['mission "M"\nlever x "X"\n', 'lever x "X"\n'])
def test_nothing_drawn_without_failures_or_kpis(text):
    import metricsense
    from metricsense.reports.html import render_html
    from metricsense.reports.markdown import render_markdown

    report = metricsense.check(text, config={})
    assert "```mermaid" not in render_markdown(report) and "kpi-system" not in render_html(report)
