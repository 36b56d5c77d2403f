"""The JupyterLab extension (jupyterlab/): the msense language, the file type, the launcher item,
`%%msense` cells, and the jupyter-lsp spec that starts `msense lsp`.

The browser tests start JupyterLab on loopback (tests/test_jupyterlab_browser.py's `serve_lab`)
and drive Debian's Chromium with Playwright. CodeMirror's token classes are hashed names, so a
token counts as highlighted when its span's computed colour is JupyterLab's colour for that
kind of token (`--jp-mirror-editor-keyword-color`, ...) and differs from plain text's.
Screenshots go to test-artifacts/. The extension is built by `make labextension` (Node).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from support import IN_CI, ROOT, require
from test_jupyterlab_browser import ARTIFACTS, _get, _wait, serve_lab
from test_notebooks import install_kernelspec

STARTER = (ROOT / "metricsense" / "starter.msense").read_text("utf-8")
SPEC = 'mission "Serve well"\nlever coaching "Coaching hours"\nkpi csat "Satisfaction" {\n  kind outcome\n  target >= 4.5\n}\n'


# ---- without a browser ----------------------------------------------------------------------------


def test_the_codemirror_mode_knows_the_pygments_lexers_words():
    """One vocabulary: the TypeScript word lists are the Pygments lexer's."""
    from metricsense import pygments_lexer as lexer

    source = (ROOT / "jupyterlab" / "src" / "language.ts").read_text("utf-8")
    for name in ("DECLARATIONS", "CLAUSES", "CONSTANTS", "OPERATORS", "FUNCTIONS"):
        body = re.search(rf"export const {name} = \[(.*?)\];", source, re.S).group(1)
        assert re.findall(r"'([^']+)'", body) == list(getattr(lexer, name)), name


def test_the_lsp_spec_entry_point_starts_msense_lsp_for_msense_documents():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="jupyter_lsp_spec_v1") if ep.name == "msense"]
    specs = ep.load()(None)
    spec = specs["msense"]
    assert spec["languages"] == ["msense"] and spec["mime_types"] == ["text/x-msense"]
    assert spec["argv"] == [sys.executable, "-m", "metricsense", "lsp"]  # the lsp extra is installed here
    assert spec["version"] == 2
    # the command it names is a language server: it answers initialize
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    message = f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
    proc = subprocess.run(spec["argv"], input=message, capture_output=True, timeout=60)
    assert b'"capabilities"' in proc.stdout, proc.stderr[-2000:]


def test_without_pygls_the_jupyter_server_log_says_how_to_get_live_diagnostics(monkeypatch, caplog):
    """jupyter-lsp drops a spec with no command silently: the entry point says why, in its log."""
    import importlib.util
    import logging

    from metricsense.lsp import jupyter

    real = importlib.util.find_spec
    monkeypatch.setattr(jupyter, "find_spec", lambda name: None if name == "pygls" else real(name))
    manager = type("Manager", (), {"log": logging.getLogger("jupyter-lsp-test")})()
    with caplog.at_level(logging.WARNING, logger="jupyter-lsp-test"):
        spec = jupyter.spec(manager)["msense"]
    assert spec["argv"] == []
    assert "pip install 'metricsense[lsp]'" in caplog.text and "restart" in caplog.text
    caplog.clear()
    monkeypatch.setattr(jupyter, "find_spec", real)
    assert jupyter.spec(manager)["msense"]["argv"] and not caplog.text  # installed: nothing to say


def test_the_jupyter_extra_opens_the_myst_notebooks_as_notebooks():
    """The project's notebooks are MyST Markdown: the `jupyter` extra brings jupytext to open them."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]["jupyter"]
    assert any(re.match(r"jupytext\b", r) for r in extra), extra


def test_the_lsp_spec_is_valid_for_jupyter_lsp():
    require("jupyter_lsp")
    from jupyter_lsp.schema import LANGUAGE_SERVER_SPEC_MAP, SPEC_VERSION

    from metricsense.lsp.jupyter import spec

    assert spec()["msense"]["version"] == SPEC_VERSION
    LANGUAGE_SERVER_SPEC_MAP.validate(spec())


def test_the_labextension_is_built_and_jupyterlab_finds_it():
    require("jupyterlab")
    built = ROOT / "jupyterlab" / "labextension" / "package.json"
    if not built.is_file():
        if IN_CI:
            pytest.fail("the JupyterLab extension is not built (make labextension)")
        pytest.skip("the JupyterLab extension is not built (make labextension)")
    listed = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True,
                            text=True, timeout=120)
    out = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)  # no colours
    assert re.search(r"metricsense v0\.1\.0 enabled OK \(python, metricsense\)", out), out


# ---- in a real JupyterLab ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require("jupyterlab")
    require("ipykernel")
    if not (ROOT / "jupyterlab" / "labextension" / "package.json").is_file():
        if IN_CI:
            pytest.fail("the JupyterLab extension is not built (make labextension)")
        pytest.skip("the JupyterLab extension is not built (make labextension)")
    install_kernelspec()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    (root / "kpis.msense").write_text(SPEC, "utf-8")
    (root / "broken.msense").write_text(SPEC.replace("kind outcome", "kind outcome\n  guards nowhere"), "utf-8")
    (root / "notes.md").write_text(f"# Notes\n\nA spec:\n\n```msense\n{SPEC}```\n", "utf-8")
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": "%%msense\n" + SPEC}
    plain = {**cell, "source": "kind = 'outcome'\n"}
    notebook = {"cells": [cell, plain], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                     "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (root / "cells.ipynb").write_text(json.dumps(notebook), "utf-8")
    load = {**cell, "source": "%load_ext metricsense"}
    broken = {**cell, "source": "%%msense --no-raise\n" + SPEC.replace("kind outcome", "kind outcome\n  guards nowhere")}
    (root / "report.ipynb").write_text(json.dumps({**notebook, "cells": [load, broken]}), "utf-8")
    with serve_lab(tmp, root, "--LabApp.expose_app_in_browser=True") as (base, token):
        yield base, token, root


@pytest.fixture
def page(lab, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    page.close()
    assert not [e for e in errors if "metricsense" in e], errors


# Colours JupyterLab gives CodeMirror's tags, resolved by the page (so the theme decides).
COLOURS_JS = """() => {
  const probe = document.createElement('span');
  document.body.appendChild(probe);
  const colour = v => { probe.style.color = `var(${v})`; return getComputedStyle(probe).color; };
  const got = {keyword: colour('--jp-mirror-editor-keyword-color'),
               string: colour('--jp-mirror-editor-string-color'),
               number: colour('--jp-mirror-editor-number-color'),
               atom: colour('--jp-mirror-editor-atom-color'),
               text: colour('--jp-content-font-color1')};
  probe.remove();
  return got;
}"""

# Each token's text, CodeMirror class and computed colour, in the editors (or rendered code) under `root`.
TOKENS_JS = """([root, nth]) => [...document.querySelectorAll(root)].filter((_, i) => nth === null || i === nth).flatMap(el =>
  [...el.querySelectorAll('span')].filter(s => s.children.length === 0).map(s =>
    ({text: s.textContent, cls: s.className, colour: getComputedStyle(s).color})))"""


def _tokens(page, root: str, want: str, timeout: float = 20.0, nth: int | None = None) -> dict[str, dict]:
    """The tokens under ``root`` (its ``nth`` match) by text, once a token ``want`` shows (nested
    parses come late)."""
    def found():
        tokens = page.evaluate(TOKENS_JS, [root, nth])
        by_text = {t["text"]: t for t in tokens}
        return by_text if want in by_text and by_text[want]["cls"] else None
    return _wait(f"a highlighted {want!r} under {root}", found, timeout=timeout)


def _assert_highlighted(page, tokens):
    colours = page.evaluate(COLOURS_JS)
    assert colours["keyword"] != colours["text"], colours
    for text, kind in (("kpi", "keyword"), ("mission", "keyword"), ("kind", "keyword"), ("target", "keyword"),
                       ('"Satisfaction"', "string"), ("4.5", "number"), ("outcome", "atom")):
        assert text in tokens, (text, sorted(tokens))
        assert tokens[text]["cls"], (text, tokens[text])  # a CodeMirror token class
        assert tokens[text]["colour"] == colours[kind], (text, kind, tokens[text], colours)


def test_a_msense_file_opens_in_the_editor_highlighted(lab, page):
    base, token, _ = lab
    started = time.perf_counter()
    page.goto(f"{base}/lab/tree/kpis.msense?reset&token={token}")
    tokens = _tokens(page, ".jp-FileEditor .cm-content", "kpi")
    _assert_highlighted(page, tokens)
    # the file type's icon in the file browser and on the editor's tab
    item = page.locator(".jp-DirListing-item", has_text="kpis.msense").first
    item.wait_for(state="visible", timeout=20_000)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-msense-file.png"))
    assert item.locator("svg[data-icon='metricsense:spec']").count() == 1, item.inner_html()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="kpis.msense").first
    assert tab.locator("svg[data-icon='metricsense:spec']").count() == 1, tab.inner_html()
    print(f"msense file: {time.perf_counter() - started:.1f} s")


def test_a_msense_fence_in_markdown_is_highlighted_in_the_editor_and_the_preview(lab, page):
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/notes.md?reset&token={token}")
    tokens = _tokens(page, ".jp-FileEditor .cm-content", "kpi")
    _assert_highlighted(page, tokens)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-markdown-fence.png"))
    page.evaluate("() => window.jupyterapp.commands.execute('markdownviewer:open', {path: 'notes.md'})")
    tokens = _tokens(page, ".jp-MarkdownViewer .jp-RenderedMarkdown pre", "kpi")
    _assert_highlighted(page, tokens)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-markdown-preview.png"))


def test_a_msense_cell_is_highlighted_as_msense_and_a_python_cell_is_not(lab, page):
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/cells.ipynb?reset&token={token}")

    def kernel_ready():
        kernels = _get(f"{base}/api/kernels?token={token}")
        return any(k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels)

    # the notebook resets every cell's language when the kernel's info arrives: wait for that
    _wait("the notebook's kernel", kernel_ready, timeout=60)
    time.sleep(1)
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.first.wait_for(state="visible", timeout=30_000)
    tokens = _tokens(page, ".jp-Notebook .jp-CodeCell .cm-content", "kpi", nth=0)
    _assert_highlighted(page, tokens)
    python = _tokens(page, ".jp-Notebook .jp-CodeCell .cm-content", "'outcome'", nth=1)
    colours = page.evaluate(COLOURS_JS)
    # a Python name (CodeMirror leaves it unstyled), not an msense keyword
    assert "kind" not in python or python["kind"]["colour"] != colours["keyword"], python
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-msense-cell.png"))


def _kernel_ready(base: str, token: str, path: str) -> bool:
    """The kernel of the notebook at ``path`` is connected and idle (a Run All sent earlier is dropped)."""
    sessions = _get(f"{base}/api/sessions?token={token}")
    ids = {s["kernel"]["id"] for s in sessions if s.get("path") == path and s.get("kernel")}
    kernels = _get(f"{base}/api/kernels?token={token}")
    return any(k["id"] in ids and k.get("connections", 0) >= 1 and k.get("execution_state") == "idle" for k in kernels)


# For each element of a cell's report: its text alignment, and the contrast of its text with the
# ground it is drawn on (the first ancestor with a background; WCAG's ratio).
REPORT_JS = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                                    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ground = el => { for (let n = el; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor);
                           if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const report = document.querySelector('.jp-OutputArea-output .msense-report');
  const read = sel => { const el = report.querySelector(sel); const s = getComputedStyle(el);
    const [a, b] = [lum(rgb(s.color).slice(0, 3)), lum(ground(el))];
    return {align: s.textAlign, contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)}; };
  return {summary: read('.msense-summary'), th: read('th'), td: read('td'), pre: read('pre'), help: read('.help')};
}"""


def test_a_msense_cells_report_reads_in_the_light_and_the_dark_theme(lab, page):
    """The report of a `%%msense` cell: left-aligned (a caret under its column, not JupyterLab's
    right-aligned table cells) and readable text in both themes."""
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/report.ipynb?reset&token={token}")
    _wait("the notebook's kernel", lambda: _kernel_ready(base, token, "report.ipynb"), timeout=60)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.locator(".jp-OutputArea-output .msense-report").first.wait_for(state="visible", timeout=60_000)
    change = "([theme]) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})"
    try:
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            page.evaluate(change, [theme])
            _wait(theme, lambda: page.evaluate("() => document.body.dataset.jpThemeName") == theme, timeout=20)
            time.sleep(0.5)
            got = page.evaluate(REPORT_JS)
            page.screenshot(path=str(ARTIFACTS / f"jupyterlab-cell-report-{theme.split()[-1].lower()}.png"))
            assert got["td"]["align"] == got["pre"]["align"] == "left", (theme, got)
            for part in ("summary", "th", "td", "pre"):
                assert got[part]["contrast"] >= 4.5, (theme, part, got)
            assert got["help"]["contrast"] >= 3, (theme, got)
    finally:
        page.evaluate(change, ["JupyterLab Light"])


def _specs(root) -> set:
    """The specs in ``root``. NOTE: not `root.glob("*.msense")` alone: pathlib's `*` matches dot
    files, and while the Jupyter server saves a file it keeps a copy of the old one beside it
    (`.~untitled.msense`, its atomic writing): a glob that lands in a save sees two new specs."""
    return {p for p in root.glob("*.msense") if not p.name.startswith(".")}


def test_the_launcher_item_creates_the_starter_spec(lab, page):
    base, token, root = lab
    before = _specs(root)
    page.goto(f"{base}/lab?reset&token={token}")
    card = page.locator(".jp-LauncherCard", has_text="KPI spec").first
    card.wait_for(state="visible", timeout=30_000)
    assert card.locator("svg[data-icon='metricsense:spec']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-launcher.png"))
    card.click()
    # the file is created empty, then the starter text is saved into it
    (path,) = _wait("the new spec", lambda: _specs(root) - before, timeout=20)
    _wait("the starter text", lambda: path.read_text("utf-8") == STARTER, timeout=10)
    time.sleep(1)
    assert _specs(root) - before == {path}  # one click, one file
    tokens = _tokens(page, ".jp-FileEditor .cm-content", "kpi")
    assert tokens["kpi"]["colour"] == page.evaluate(COLOURS_JS)["keyword"]
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-new-spec.png"))
    # File > New has it too
    page.locator(".lm-MenuBar-itemLabel", has_text="File").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="New").first.hover()
    assert page.locator(".lm-Menu-itemLabel", has_text="KPI spec").count() >= 1
    page.keyboard.press("Escape")


def test_jupyterlab_sends_msense_documents_to_msense_lsp(lab):
    """jupyter-lsp lists the msense server (started by jupyterlab-lsp when a spec is opened)."""
    require("jupyter_lsp")
    base, token, _ = lab
    with urllib.request.urlopen(f"{base}/lsp/status?token={token}", timeout=10) as r:
        status = json.loads(r.read().decode())
    assert "msense" in status["specs"], sorted(status["specs"])
    assert status["specs"]["msense"]["mime_types"] == ["text/x-msense"]


def test_jupyterlab_lsp_underlines_msense_lsp_diagnostics(lab, page):
    """The whole chain: jupyterlab-lsp sends the open spec to `msense lsp` (via jupyter-lsp and the
    entry point) and draws the diagnostic it publishes (an unknown failure, MS002)."""
    require("jupyter_lsp")
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/broken.msense?reset&token={token}")
    _tokens(page, ".jp-FileEditor .cm-content", "kpi")
    underlined = page.locator(".jp-FileEditor .cm-lintRange")
    _wait("the diagnostic on `nowhere`", lambda: any("nowhere" in t for t in underlined.all_inner_texts()),
          timeout=60)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-lsp-diagnostic.png"))


def test_jupyterlab_lsp_underlines_a_msense_cells_findings_at_the_cells_lines(lab, page):
    """A `%%msense` cell's body goes to `msense lsp` as a document of its own (the extension's code
    extractor), as soon as the notebook opens, with no Python language server installed: its
    finding is underlined on the cell's line, and the Python cell gets none."""
    require("jupyter_lsp")
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/report.ipynb?reset&token={token}")
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(1)
    cell.wait_for(state="visible", timeout=30_000)
    underlined = cell.locator(".cm-line", has_text="guards nowhere").locator(".cm-lintRange")
    _wait("the diagnostic on `nowhere` in the cell", lambda: "nowhere" in underlined.all_inner_texts(), timeout=60)
    page.screenshot(path=str(ARTIFACTS / "jupyterlab-lsp-cell-diagnostic.png"))
    assert page.locator(".jp-Notebook .jp-CodeCell").nth(0).locator(".cm-lintRange").count() == 0
