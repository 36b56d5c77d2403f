"""The report as a notebook shows it, laid out by a browser: nbconvert's lab page, light and dark.

nbconvert's `lab` template carries JupyterLab's own style sheet (the `.jp-RenderedHTMLCommon`
rules that right-align table cells and wrap `pre`), so the page is the JupyterLab output area
without a server. Opened in headless Chromium 860 px wide (an output area of about 800 px), with
every request off the page refused (the template asks a CDN for require.js; nothing of ours may).
"""

from __future__ import annotations

import json

import pytest

from support import EXAMPLES, contrast, require

ERROR_SPEC = ('mission "M"\nlever a "A"\n'
              'kpi k "A KPI whose name is long enough to run past the panel when its line is quoted" '
              '{ responds nosuch_lever_with_a_long_name +1, a +1 }\n')

MEASURE = """() => {
  const out = document.querySelector('.msense-report');
  const area = out.closest('.jp-OutputArea-output') || out.parentElement;
  const table = out.querySelector('table.diagnostics');
  const cells = [...out.querySelectorAll('td, th')];
  const pre = out.querySelector('table.diagnostics pre');
  const msg = out.querySelector('table.diagnostics td .msg');
  let bg = msg, colour = 'rgba(0, 0, 0, 0)';
  while (bg && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
    colour = getComputedStyle(bg).backgroundColor; bg = bg.parentElement;
  }
  if (colour === 'rgba(0, 0, 0, 0)') colour = getComputedStyle(document.body).backgroundColor;
  return {
    aligns: [...new Set(cells.map(c => getComputedStyle(c).textAlign))],
    preWhiteSpace: getComputedStyle(pre).whiteSpace,
    preLines: Math.round(pre.getBoundingClientRect().height / parseFloat(getComputedStyle(pre).lineHeight)),
    tableWidth: table.getBoundingClientRect().width, areaWidth: area.getBoundingClientRect().width,
    pageScroll: document.documentElement.scrollWidth, viewport: window.innerWidth,
    severities: [...table.querySelectorAll('tr.diag .sev')].map(e => e.textContent),
    summary: out.querySelector('.diag-summary').textContent,
    text: getComputedStyle(msg).color, background: colour,
  };
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import metricsense

    spec = tmp_path_factory.mktemp("spec") / "broken.msense"
    spec.write_text(ERROR_SPEC, "utf-8")
    return metricsense.check([EXAMPLES / "customer-love" / "customer-love.msense", spec], config={})


def _page(report, theme: str, tmp_path):
    nbformat = require("nbformat")
    nbconvert = require("nbconvert")
    from metricsense.widgets.display import report_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("report")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": report_html(report),
                                                                 "text/plain": "<Report>"})]
    nb.cells = [cell]
    html, _ = nbconvert.HTMLExporter(template_name="lab", theme=theme).from_notebook_node(nb)
    path = tmp_path / f"report-{theme}.html"
    path.write_text(html, "utf-8")
    return path


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_report_in_nbconvert_lab_page_is_left_aligned_unbroken_and_fits(browser, report, theme, tmp_path):
    from support import ROOT

    path = _page(report, theme, tmp_path)
    page = browser.new_page(viewport={"width": 860, "height": 800})
    refused = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else
               (refused.append(r.request.url), r.abort()))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        got = page.evaluate(MEASURE)
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "test-artifacts" / f"report-nbconvert-{theme}.png"), full_page=False)
    finally:
        page.close()
    print(json.dumps({k: v for k, v in got.items() if k != "severities"}))
    assert got["aligns"] == ["left"]
    assert got["preWhiteSpace"] == "pre"
    assert got["preLines"] == 2  # the quoted line and its caret, never wrapped
    assert got["tableWidth"] <= got["areaWidth"] + 0.5, got
    assert got["pageScroll"] <= got["viewport"]
    shown = report.diagnostics
    errors = sum(str(d.severity) == "error" for d in shown)
    assert errors >= 1
    assert got["severities"][:errors] == ["error"] * errors
    assert "error" not in got["severities"][errors:]
    assert got["summary"].startswith(f"{errors} error") and "errors first" in got["summary"]
    assert contrast(got["text"], got["background"]) >= 4.5, (got["text"], got["background"])
    # only the template's own (require.js, MathJax): nothing the report asks for
    assert all(u.startswith("https://cdnjs.cloudflare.com/ajax/libs/") for u in refused), refused
