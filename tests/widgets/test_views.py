"""The explorer's gain matrix, KPI series and trust views, with no browser (issue 23).

A click on a gain-matrix label is sent as the front end sends it (``ClickSVG.click``) and must do
exactly what unticking the box does; the series chart is checked against the CSV (pandas) and
the noise record; the trust view's widget state is searched for every group the trust record
leaves out.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

import metricsense
from metricsense.evaluators.records import NoiseAnalysis, TriggersAnalysis, TrustAnalysis
from support import EXAMPLES, FORBIDDEN, HIDDEN, require

CUSTOMER_LOVE = EXAMPLES / "customer-love" / "customer-love.msense"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def report():
    require("anywidget")
    return metricsense.check(CUSTOMER_LOVE, config={})


def _explorer(report):
    from metricsense.widgets.explorer import explore

    return explore(report)


def _labels(html: str) -> dict[str, str]:
    """data-key -> aria-pressed of the gain matrix's (the first heatmap's) row and column labels."""
    heat = ET.fromstring(re.search(r'<svg class="heatmap".*?</svg>', html, flags=re.S).group(0))
    return {t.get("data-key"): t.get("aria-pressed") for t in heat.iter(f"{SVG}text") if t.get("data-key")}


def _state(m) -> dict:
    return {"kpis_on": list(m.kpis_on), "levers_on": list(m.levers_on), "now": dict(m.now),
            "last": dict(m.last_change), "decoupling": json.dumps(m.decoupling, default=str, sort_keys=True)}


@pytest.mark.parametrize(("kind", "name"), [("kpi", "cycle_time"), ("lever", "sec_reviews")])
def test_a_click_on_a_gain_matrix_label_does_what_unticking_its_box_does(report, kind, name):
    by_label, by_box = _explorer(report), _explorer(report)
    m = by_label.model
    names = m.kpis if kind == "kpi" else m.levers
    key = f"{kind}-{names.index(name)}"
    view = by_label.views["Decoupling"]
    labels = _labels(view.picture.value)
    assert len(labels) == len(m.kpis) + len(m.levers) and labels[key] == "true"
    assert view.picture.toggle and 'tabindex="0" role="button"' in view.picture.value  # keyboard: Tab, Enter
    assert f'data-key="{key}"' in view.rga.value  # the RGA's labels are the same toggles
    view.picture.click(key)  # what the front end sends for a click, Enter or Space on the label
    boxes = by_box.views["Decoupling"]
    (boxes.kpi_boxes if kind == "kpi" else boxes.lever_boxes)[name].value = False
    assert _state(m) == _state(by_box.model)
    assert name not in (m.kpis_on if kind == "kpi" else m.levers_on)
    assert not (view.kpi_boxes if kind == "kpi" else view.lever_boxes)[name].value  # the box follows
    assert _labels(view.picture.value)[key] == "false"  # greyed, struck through, still there to click
    assert m.last_change["change"] == f"unticked {'KPI' if kind == 'kpi' else 'lever'} {name}"
    if kind == "lever":  # the lever was vuln_age's only one: orphaned, shown, never dropped
        assert m.now["orphaned"] == ["vuln_age"] and m.now["rank"] == 7 and m.now["kpis"] == 9
        assert "Orphaned: no lever left for <code>vuln_age</code>" in by_label.whatif.body.value
    else:
        assert (m.now["rank"], m.now["kpis"]) == (8, 8) and m.now["condition_number"] < float("inf")
    view.picture.click(key)  # a second click ticks it again, as the box would
    assert name in (m.kpis_on if kind == "kpi" else m.levers_on) and m.now == m.baseline
    assert _labels(view.picture.value)[key] == "true"


def test_the_rga_frames_the_suggested_pairing_and_every_chart_has_a_legend(report):
    e = _explorer(report)
    m = e.model
    gains = e.views["Decoupling"].picture.value + e.views["Decoupling"].rga.value
    heat, rga = [ET.fromstring(s) for s in re.findall(r'<svg class="heatmap".*?</svg>', gains, flags=re.S)]
    marked = [r for r in rga.iter(f"{SVG}rect") if r.get("class") == "marked"]
    assert len(marked) == len(m.decoupling["suggested_pairing"]) > 0
    for svg in (heat, rga):
        assert svg.find(f"{SVG}g[@class='legend']") is not None
    e.views["Conversations"].kpi.value = "csat"
    for html in (e.views["Conversations"].chart.value, e.views["Overview"].picture.value, e.views["Redundancy"].picture.value):
        assert 'class="legend"' in html


def test_the_series_draws_target_noise_band_and_firings_and_zooms(report):
    pd = require("pandas")
    from metricsense.widgets.series import zoomed

    e = _explorer(report)
    view, m = e.views["Conversations"], e.model
    view.kpi.value = "csat"
    t = m.timeline["csat"]
    svg = ET.fromstring(re.search(r'<svg class="series zoomable".*</svg>', view.chart.value, flags=re.S).group(0))
    plot = next(s for s in svg.iter(f"{SVG}svg") if s.get("class") == "plot")
    n = len(t["periods"])
    assert svg.get("data-n") == str(n) and plot.get("viewBox").startswith(f"-0.5 0 {n} ")
    hits = [r for r in plot.iter(f"{SVG}rect") if r.get("class") == "hit"]
    assert [h.get("data-p") for h in hits] == t["periods"]
    # the values: the CSV's csat in its periods (pandas), said on hover
    frame = pd.read_csv(CUSTOMER_LOVE.parent / "data" / "kpis.csv")
    last = frame.dropna(subset=["csat"]).iloc[-1]
    said = [h.find(f"{SVG}title").text for h in hits if h.find(f"{SVG}title").text.startswith(str(last.iloc[0]) + ":")]
    assert said and said[0].startswith(f"{last.iloc[0]}: {last['csat']:.4g}; target 4.5")
    # the noise band: today's level (median of the last 3 values) ± the spread MS301 judges the target by
    noise = NoiseAnalysis.of(report.analysis[m.spec]).kpis["csat"]
    assert noise.level == pytest.approx(float(frame["csat"].dropna().iloc[-3:].median()))
    band = next(r for r in plot.iter(f"{SVG}rect") if r.get("class") == "band")
    assert f"{noise.level:.4g} ± {noise.spread:.4g}" in band.find(f"{SVG}title").text
    # the firings: one shaded run per run of periods a trigger fired in
    fired = {p for info in TriggersAnalysis.of(report.analysis[m.spec]).fired.values() if info.kpi == "csat"
             for p in map(str, info.periods)}
    covered = {t["periods"][i] for r in plot.iter(f"{SVG}rect") if r.get("class") == "fired"
               for i in range(round(float(r.get("x")) + 0.5), round(float(r.get("x")) + 0.5 + float(r.get("width"))))}
    assert covered == fired == set(t["fired"]) and fired
    target = next(x for x in plot.iter(f"{SVG}line") if x.get("class") == "target")
    assert target.find(f"{SVG}title").text == "target 4.5"
    # zoomed as the page zooms it: the plot's viewBox, the axis labels, the range said
    view.chart.window = [100, 111]
    shown = view.chart.snapshot_html()
    assert 'viewBox="99.5 0 12 ' in shown and "data-zoom" not in shown
    assert f"showing {t['periods'][100]} – {t['periods'][111]}: 12 of {n} periods" in shown
    assert zoomed(view.chart.value, []) .count("showing") == 1 and f"1 of {n}" not in zoomed(view.chart.value, [])
    view.kpi.value = "uptime"  # another KPI: all its periods again
    assert view.chart.window == []


def test_the_trust_view_shows_each_shown_group_and_holds_no_hidden_one(confidential_spec):
    require("anywidget")
    from ipywidgets.embed import dependency_state

    report = metricsense.check(confidential_spec, config={}, show_personal=True)
    signal = TrustAnalysis.of(report.analysis[next(iter(report.analysis))]).signals["value_question"]
    explorer = _explorer(report)
    view = explorer.views["Trust"]
    keys = [g.get("data-key") for g in ET.fromstring(re.search(r"<svg.*?</svg>", view.body.value, flags=re.S).group(0))
            .iter(f"{SVG}g") if g.get("data-key")]
    assert keys == [f"group-0-{i}" for i in range(len(signal.groups))] == sorted(view.body.details)
    assert f"gap over {signal.gap:g}</text>" in view.body.value  # the legend: managers, team, gap, gap over
    view.body.click(keys[1])
    g = signal.groups[1]
    shown = re.sub(r"<[^>]+>", " ", view.body.shown())
    assert g.group in shown and f"{g.gap:+.2f}" in shown and f"{g.team:.2f}" in shown and str(g.n) in shown
    assert g.manager not in shown  # as the HTML report: the group, not its manager's name
    assert f"{signal.suppressed} group" in view.body.value and "not shown" in view.body.value
    text = json.dumps(dependency_state(explorer), default=str) + explorer.snapshot()
    assert g.group in text  # the search would find a leak
    leaked = [s for s in FORBIDDEN if s in text]
    assert not leaked and not any(h in text for h in HIDDEN), leaked
    # a reader who did not ask: no group at all, only how many are not named
    quiet = _explorer(metricsense.check(confidential_spec, config={})).views["Trust"].body
    assert quiet.details == {} and "data-key" not in quiet.value
    assert f"{len(signal.groups)} groups are not named here" in quiet.value
    assert not any(gr.group in quiet.value for gr in signal.groups)


def test_the_what_if_pairing_is_the_evaluators_on_the_kept_spec(report):
    """The explorer asks the evaluator's pairing only (no minimised condition number): the same
    pairing and RGA number as ``gain_analysis`` on the spec without the unticked KPIs and levers."""
    import random

    from metricsense.evaluators.decoupling import gain_analysis
    from metricsense.widgets import whatif

    m = _explorer(report).model
    doc = m.document
    rng = random.Random(23)
    cases = [(set(), set()), ({"cycle_time"}, set()), ({"cycle_time"}, {"sec_reviews"})]
    cases += [(set(rng.sample(m.kpis, rng.randint(0, 4))), set(rng.sample(m.levers, rng.randint(0, 5)))) for _ in range(12)]
    for kpis_off, levers_off in cases:
        quick = whatif.pairing(doc, m.data, "declared", kpis_off, levers_off)
        full = gain_analysis(whatif.sub_document(doc, kpis_off, levers_off), None)
        if full is None:
            assert quick == {"suggested_pairing": None, "rga_number": None}
            continue
        assert quick["suggested_pairing"] == dict(full.suggested_pairing), (kpis_off, levers_off)
        assert quick["rga_number"] == full.rga_number


def test_the_snapshot_shows_the_new_views_as_last_shown(report):
    e = _explorer(report)
    m = e.model
    gains = e.views["Decoupling"]
    gains.picture.click(f"lever-{m.levers.index('sec_reviews')}")
    series = e.views["Conversations"]
    series.kpi.value = "csat"
    n = len(m.timeline["csat"]["periods"])
    series.chart.window = [n - 12, n - 1]  # what the page's "last 12" sets
    html = e.snapshot()
    assert "<script" not in html and "data-zoom" not in html  # no script, no button that needs one
    lever = f'data-key="lever-{m.levers.index("sec_reviews")}"'
    assert re.search(lever + r'[^>]*aria-pressed="false"', html)  # the lever unticked, greyed
    assert "Orphaned: no lever left for <code>vuln_age</code>" in html
    periods = m.timeline["csat"]["periods"]
    assert f"showing {periods[-12]} – {periods[-1]}: 12 of {n} periods" in html
    assert f'viewBox="{n - 12.5} 0 12 ' in html
