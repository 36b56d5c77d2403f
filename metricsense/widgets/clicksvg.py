"""An inline-SVG picture whose parts answer a click: the explorer's one piece of front-end code.

Stock ipywidgets show HTML but cannot tell which part of it was clicked, and a click on a node of
the KPI system or on a cell of a heatmap is the point of those pictures. ``ClickSVG`` is an
anywidget (an ipywidget whose front end ships in anywidget's own wheel, no CDN; it runs in
JupyterLab, Notebook 7, VS Code and marimo): the SVG is drawn in Python (the same functions as
the HTML report, every text escaped there), and the few lines of JavaScript below only put it
in the page and report the ``data-key`` of the part clicked (or chosen with Enter) in
``selected``. They run no text from the spec: keys are written by metricsense (``k3``, ``cell-2-5``).

``snapshot_html`` is what a page without a kernel shows: the same SVG, the part selected framed.
"""

from __future__ import annotations

import re

import anywidget
import traitlets

from metricsense.reports.svg import esc

ESM = r"""
function render({ model, el }) {
  el.classList.add("msense-clicksvg");
  const mark = () => {
    const chosen = model.get("selected");
    for (const part of el.querySelectorAll("[data-key]")) {
      part.classList.toggle("msense-chosen", part.getAttribute("data-key") === chosen);
    }
  };
  const draw = () => { el.innerHTML = model.get("value"); mark(); };
  const choose = (event) => {
    const part = event.target.closest ? event.target.closest("[data-key]") : null;
    if (!part || !el.contains(part)) return;
    model.set("selected", part.getAttribute("data-key"));
    model.save_changes();
    mark();
  };
  el.addEventListener("click", choose);
  el.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(event); } });
  model.on("change:value", draw);
  model.on("change:selected", mark);
  draw();
  return () => { el.removeEventListener("click", choose); };
}
export default { render };
"""

CSS = """
.msense-clicksvg [data-key]{cursor:pointer}
.msense-clicksvg [data-key]:focus{outline:none}
.msense-clicksvg g.msense-chosen > rect:first-of-type,.msense-clicksvg rect.msense-chosen{stroke:#f9a825 !important;stroke-width:4px !important}
.msense-clicksvg g[data-key]:hover > rect:first-of-type,.msense-clicksvg rect[data-key]:hover{stroke:#f9a825;stroke-width:2.5px}
"""

_KEY = re.compile(r"[A-Za-z0-9_,\-]+")


class ClickSVG(anywidget.AnyWidget):
    """``value``: the SVG (or HTML holding it); ``selected``: the ``data-key`` of the part clicked."""

    _esm = ESM
    _css = CSS
    value = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)

    def snapshot_html(self) -> str:
        """The picture as static HTML, the part selected framed (a page without a kernel)."""
        frame = ""
        if self.selected and _KEY.fullmatch(self.selected):
            key = esc(self.selected)
            frame = (f'<style>.msense-clicksvg [data-key="{key}"] > rect:first-of-type,'
                     f'.msense-clicksvg rect[data-key="{key}"]{{stroke:#f9a825;stroke-width:4px}}</style>')
        return f'<div class="msense-clicksvg">{frame}{self.value}</div>'
