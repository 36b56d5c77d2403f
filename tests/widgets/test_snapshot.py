"""The explorer without a kernel (issue 23): the snapshot, the plain-text repr, save_html."""

from __future__ import annotations

import re

import pytest

import metricsense
from support import EXAMPLES, FORBIDDEN, HIDDEN, require

CUSTOMER_LOVE = EXAMPLES / "customer-love" / "customer-love.msense"
LOADS = re.compile(r"""\b(src|href|srcset|action|poster|data)\s*=|url\(|@import|<script|<link|<iframe|<object|<embed|<img""",
                   re.IGNORECASE)


@pytest.fixture(scope="module")
def report():
    return metricsense.check(CUSTOMER_LOVE, config={})


@pytest.fixture
def explorer(report):
    require("ipywidgets")
    return metricsense.explore(report)


def test_the_snapshot_shows_the_tabs_as_last_shown(explorer):
    m = explorer.model
    m.threshold = 0.6
    explorer.views["Decoupling"].lever_boxes["sec_reviews"].value = False
    explorer.tabs.selected_index = 3
    html = explorer.snapshot()
    text = re.sub(r"<[^>]+>", "", html)
    # every tab, the one shown last open
    assert re.findall(r'<details class="tab"( open)?><summary>([^<]+)</summary>', html) == [
        ("", "Overview"), ("", "Diagnostics"), ("", "Redundancy"), (" open", "Decoupling"),
        ("", "Conversations"), ("", "Trust")]
    n = len(m.clusters)
    assert f"{n} redundant group{'s' if n != 1 else ''} at |r| ≥ 0.60" in text
    assert "|r| ≥ 0.60" in text and "☐ sec_reviews" in text and "☑ deploys" in text
    assert "Orphaned: no lever left for vuln_age." in text
    assert "rank 7 of 9 KPIs" in text
    assert html.count("<svg") >= 4  # heatmap, gains, RGA, a series
    assert html.count("<style>") == 1  # one style sheet, not one per view
    assert "shown only with a kernel" not in html  # every widget of the built-in tabs has a static form


def test_the_snapshot_loads_nothing_and_runs_nothing(explorer):
    html = explorer.snapshot()
    assert not LOADS.search(html), LOADS.search(html).group(0)
    assert "on" not in {m.group(1)[:2].lower() for m in re.finditer(r"\s(on\w+)\s*=", html)}


def test_repr_is_plain_text_with_the_numbers(explorer):
    from metricsense.reports.html import severity_counts

    text = repr(explorer)
    assert not text.startswith("Explorer(") and "HTML(" not in text
    assert text.splitlines() == [
        f"metricsense explorer: {explorer.model.spec}",
        "  gains: condition number ∞ (rank-deficient): rank 8 of 9 KPIs; 8 of 10 levers move them "
        "(idle: arch_board, incident_drills)",
        f"  redundancy: 1 redundant group at |r| >= 0.90; effective number of KPIs "
        f"{explorer.model.redundancy['effective_number']:.3g} of 9",
        f"  diagnostics: {len(explorer.model.diagnostics)} shown ({severity_counts(explorer.model.diagnostics)})",
    ]


def test_the_mime_bundle_carries_the_snapshot_beside_the_widget(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id
    assert bundle["text/html"] == explorer.snapshot()
    assert bundle["text/plain"] == repr(explorer)
    # the JupyterLab extension's own MIME type (jupyterlab/src/snapshot.ts), with the same model
    assert bundle["application/vnd.metricsense.explorer+json"] == {"model_id": explorer.model_id}
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json",
                           "application/vnd.metricsense.explorer+json"}


@pytest.mark.parametrize("show", [False, True])
def test_the_snapshot_shows_what_the_html_report_shows(confidential_spec, show):
    require("ipywidgets")
    from metricsense.reports.html import render_html

    report = metricsense.check(confidential_spec, config={}, show_personal=show)
    html = metricsense.explore(report).snapshot()
    assert not [s for s in FORBIDDEN if s in html]
    assert not [h for h in HIDDEN if h in html]
    page = render_html(report.for_reader(True))  # what the registry gives the HTML format
    for said in ("the manager of", "grp-badger", "grp-otter", "1 personal finding (MS501)"):
        assert (said in html) == (said in page), said
    assert ("grp-badger" in html) is show


def test_save_html_writes_a_page_that_opens_offline(explorer, browser, tmp_path):
    from support import ROOT

    path = explorer.save_html(tmp_path / "explorer.html")
    text = path.read_text("utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in text
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    seen = {"requests": [], "console": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        page.locator("details.tab summary", has_text="Decoupling").click()
        shown = page.locator("details.tab[open]", has_text="Decoupling").inner_text()
        page.screenshot(path=str(ROOT / "test-artifacts" / "explorer-snapshot.png"), full_page=False)
    finally:
        page.close()
    assert seen["requests"] == [path.as_uri()]
    assert seen["errors"] == [] and [c for c in seen["console"] if c[0] in ("error", "warning")] == []
    assert "condition number ∞ (rank-deficient)" in shown and "rank 8 of 9 KPIs" in shown
