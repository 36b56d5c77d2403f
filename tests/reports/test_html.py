"""The HTML report, opened in headless Chromium (Debian's, driven by Playwright): it renders,
logs no error, loads nothing from anywhere, and shows spec text as text."""

from __future__ import annotations

from pathlib import Path

from metricsense.evaluators.records import (
    CorrelationAnalysis,
    GainAnalysis,
    KpiSeries,
    ShownGroup,
    TriggerEvaluation,
    TriggersAnalysis,
    TrustAnalysis,
    TrustSignalAnalysis,
)
from reports_helpers import make_spec
from support import ROOT

ARTIFACTS = ROOT / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"

SPEC = f'''mission "Serve <b>customers</b> & \\"friends\\""
lever deploys "Deploys per week" owner "platform"
lever hours "Support hours"
failure churn "Customers leave" at outcome
kpi csat "{XSS}" {{
  kind outcome
  target >= 4.5 by 2027-06-30
  link "the mission's outcome"
  guards churn
  responds deploys +0.2, hours +0.6
}}
kpi lead "Lead time" {{
  kind process
  target <= 24 by 2027-06-30
  link "speed"
  responds deploys -0.5, hours +0.1
}}
kpi backlog "Backlog" {{
  link "queue"
  responds hours -0.4
}}
trigger csat_dip when csat < target - 0.3 for 2 periods {{
  ask "What changed?"
  with team
}}
trust value_question {{
  managers "What value are you bringing?"
  team "What value did your manager bring?"
  scale 1..5
  gap > 1.0
  min_group 5
}}
'''

def _shown(group: str, managers: float, team: float, n: int) -> ShownGroup:
    gap = managers - team
    return ShownGroup(group, f"mgr-{n}", managers, team, gap, n, None, None, None, abs(gap) > 1.0)


# What the evaluators put in report.analysis (hand-made, to draw every picture).
ANALYSIS = {
    "correlation": CorrelationAnalysis(
        basis="weekly changes", method="pearson", kpis=("csat", "lead", "backlog"),
        matrix=[[1.0, -0.6, 0.2], [-0.6, 1.0, None], [0.2, None, 1.0]], n=[[20, 19, 19], [19, 20, 0], [19, 0, 20]],
        effective_number=2.4, effective_of=3, effective_kpis=("csat", "lead", "backlog")),
    "gain": GainAnalysis(
        kpis=("csat", "lead"), levers=("deploys", "hours"), matrix=[[0.25, 0.5], [-0.4, 0.05]],
        source="estimated", condition_number=2.1, scaled_condition_number=1.7, minimized_condition_number=None,
        rank=2, singular_values=[0.7, 0.33], rga=[[0.06, 0.94], [0.94, 0.06]],
        suggested_pairing={"csat": "hours", "lead": "deploys"}, rga_number=0.24),
    "triggers": TriggersAnalysis(
        series={"csat": KpiSeries(periods=tuple(f"2026-W{i:02d}" for i in range(1, 21)),
                                  values=(4.6, 4.5, 4.4, 4.2, 4.1, 4.0, None, 4.3, 4.5, 4.6,
                                          4.7, 4.6, 4.4, 4.1, 3.9, 4.0, 4.2, 4.5, 4.6, 4.7),
                                  target=4.5)},
        fired={"csat_dip": TriggerEvaluation("csat", "team", "What changed?", ("2026-W05", "2026-W06", "2026-W15"),
                                             "evaluated")}),
    # What the trust evaluator lets through: two groups shown, two counted only (they have no
    # name, manager or numbers to leak).
    "trust": TrustAnalysis({"value_question": TrustSignalAnalysis(
        scale=(1, 5), gap=1.0, min_group=5, period=None,
        groups=(_shown("platform <team>", 4.5, 3.1, 8), _shown("support", 3.9, 3.7, 12)),
        suppressed=2, below_minimum=1, secondary=1, total=None)}),
}


def _report(tmp_path, analysis=None):
    import metricsense

    spec = make_spec(tmp_path, SPEC)
    report = metricsense.check([spec], config={})
    if analysis:
        report.analysis[next(iter(report.analysis))].update(analysis)
    return report


def _open(browser, path: Path, screenshot: str | None = None):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = {"console": [], "requests": [], "dialogs": [], "errors": []}
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)  # give an injected handler the chance to fire
    if screenshot:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    return page, seen


def _clean(seen, path: Path):
    assert seen["errors"] == []
    assert [c for c in seen["console"] if c[0] in ("error", "warning")] == []
    assert seen["dialogs"] == []
    assert seen["requests"] == [path.as_uri()], "the report must load nothing else"


def test_examples_render(browser, examples_report, tmp_path):
    from metricsense.reports.html import render_html

    path = tmp_path / "examples.html"
    path.write_text(render_html(examples_report), "utf-8")
    page, seen = _open(browser, path, "report-examples.png")
    _clean(seen, path)
    rows = page.locator("tr.diag")
    assert rows.count() == len(examples_report.diagnostics) > 0
    assert "no KPI responds to the lever `arch_board`" in page.locator("#diagnostics").inner_text()
    # the declared gain matrix and its RGA, for every spec
    assert page.locator("section.spec").count() == len(examples_report.analysis)
    assert page.locator("figure.gain svg rect").count() > 20
    assert page.locator("figure.rga").count() == len(examples_report.analysis)
    assert page.locator("figure.gain svg").first.bounding_box()["width"] > 100
    page.close()


def test_every_picture_and_escaping(browser, tmp_path):
    from metricsense.reports.html import render_html

    html = render_html(_report(tmp_path, ANALYSIS))
    assert XSS not in html and "SECRET" not in html
    path = tmp_path / "full.html"
    path.write_text(html, "utf-8")
    page, seen = _open(browser, path, "report-full.png")
    _clean(seen, path)
    assert page.locator("img").count() == 0 and page.locator("b").count() == 0
    assert XSS in page.locator("table.kpis").inner_text()
    assert 'Serve <b>customers</b> & "friends"' in page.locator("p.mission").inner_text()
    assert page.locator("figure.correlation svg rect:not(.legend)").count() == 9
    assert "effective number of KPIs 2.4" in page.locator("figure.correlation").inner_text()
    assert page.locator("figure.gain").count() == 2  # declared and estimated
    assert page.locator("figure.rga").count() == 2
    series = page.locator("figure.kpi-series")
    assert series.count() == 1
    assert series.locator("polyline").count() == 2  # a gap (None) splits the line
    assert series.locator("line.target").count() == 1
    assert series.locator("rect.fired").count() == 3
    trust = page.locator("figure.trust-gap")
    assert trust.count() == 1
    text = trust.inner_text()
    assert "platform <team>" in text and "support" in text and "SECRET" not in text
    assert trust.locator("circle").count() == 2 + 2 * 2  # legend + two groups shown
    page.close()


def test_no_data_analysis_draws_only_declared_gains(tmp_path):
    from metricsense.reports.html import render_html

    html = render_html(_report(tmp_path))
    assert 'class="gain"' in html and 'class="rga"' in html
    for absent in ("correlation", "kpi-series", "trust-gap"):
        assert f'class="{absent}"' not in html
    assert "Content-Security-Policy" in html and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_cli_writes_html(tmp_path):
    from support import run_msense

    spec = make_spec(tmp_path, SPEC)
    out = tmp_path / "r.html"
    result = run_msense("check", str(spec), "--format", "html", "-o", str(out), "--exit-zero")
    assert result.returncode == 0, result.stderr
    assert out.read_text("utf-8").startswith("<!DOCTYPE html>")


def test_a_signal_with_every_group_hidden_says_so(tmp_path):
    from metricsense.reports.html import render_html

    none_shown = {"trust": TrustAnalysis({"value_question": TrustSignalAnalysis(
        (1, 5), 1.0, 5, "2026-Q1", (), 2, 2, 0, None)})}
    html = render_html(_report(tmp_path, none_shown))
    assert 'class="trust-gap"' not in html
    assert "no group can be shown. Groups too small to stay anonymous are not shown." in html


def test_html_draws_exactly_the_groups_of_the_trust_record(tmp_path):
    import re

    from metricsense.reports.html import render_html

    html = render_html(_report(tmp_path, ANALYSIS))
    figure = html[html.index('<figure class="trust-gap">'):]
    figure = figure[:figure.index("</figure>")]
    labels = re.findall(r'text-anchor="end" font-size="11">([^<]*)</text>', figure)
    assert labels == ["platform &lt;team&gt;", "support"]
    assert "Groups too small to stay anonymous are not shown." in figure  # two are counted


def test_every_heatmap_has_a_colour_legend_and_the_rga_frames_the_suggested_pairing(browser, examples_report, tmp_path):
    from metricsense.evaluators.records import GainAnalysis
    from metricsense.reports.html import render_html

    path = tmp_path / "examples.html"
    path.write_text(render_html(examples_report), "utf-8")
    page, seen = _open(browser, path)
    _clean(seen, path)
    heatmaps = page.locator("svg.heatmap")
    assert heatmaps.count() > 0 and page.locator("svg.heatmap g.legend").count() == heatmaps.count()
    # each legend spans -limit..+limit: the RGA's is -1 .. +1
    assert page.locator("figure.rga").first.locator("g.legend text").all_text_contents()[:3] == ["-1", "0", "+1"]
    rgas = page.locator("section.spec")
    for i, (root, analysis) in enumerate(examples_report.analysis.items()):
        gain = GainAnalysis.of(analysis or {})
        pairing = dict(gain.suggested_pairing) if gain is not None and gain.source == "declared" else {}
        rga = rgas.nth(i).locator("figure.rga").first
        framed = [t for t in rga.locator("rect:not(.legend) title").all_text_contents() if "(suggested pair)" in t]
        assert sorted(t.split(":")[0] for t in framed) == sorted(f"{k} × {lv}" for k, lv in pairing.items()), root
        assert rga.locator("rect.marked").count() == len(pairing)
    page.close()
