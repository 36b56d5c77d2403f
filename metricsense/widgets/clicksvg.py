"""An inline-SVG picture whose parts answer a click: the explorer's one piece of front-end code.

Stock ipywidgets show HTML but cannot tell which part of it was clicked, and a click on a node of
the KPI system, a cell of a heatmap or a row label of the gain matrix is the point of those
pictures. ``ClickSVG`` is an anywidget (an ipywidget whose front end ships in anywidget's own
wheel, no CDN; it runs in JupyterLab, Notebook 7, VS Code and marimo): the SVG is drawn in Python
(the same functions as the HTML report, every text escaped there), and the JavaScript below only

- puts it in the page and reports the ``data-key`` of the part clicked (or chosen with Enter or
  Space) in ``selected``, and as a ``{"click": key}`` message (a toggle: a second click on the
  same part is a second message, where ``selected`` would not change);
- shows ``details[key]`` (HTML drawn in Python, escaped there) under the picture at once, with no
  kernel round trip: the node findings of the KPI system, a trust group's numbers;
- says the hover text (an SVG ``<title>``) of the part under the pointer or the focus in a
  read-out line, at once (a browser shows a title as a tooltip only after a second);
- zooms a series chart (``svg.zoomable``, drawn by ``metricsense.widgets.series``) in the page:
  buttons and a drag over the plot set the periods shown (``window``, saved for the snapshot but
  not waited for).

It runs no text from the spec as code: keys are written by metricsense (``k3``, ``cell-2-5``,
``kpi-1``), and texts are set with ``textContent``.

``snapshot_html`` is what a page without a kernel shows: the same SVG, the part selected framed,
its details, the window zoomed to.
"""

from __future__ import annotations

import re
from typing import Any

import anywidget
import traitlets

from metricsense.reports.svg import esc

ESM = r"""
function render({ model, el }) {
  el.classList.add("msense-clicksvg");
  const pic = document.createElement("div"), readout = document.createElement("div"), detail = document.createElement("div");
  readout.className = "msense-readout"; detail.className = "msense-detail";
  el.append(pic, readout, detail);
  const keyed = (node) => (node && node.closest ? node.closest("[data-key]") : null);
  const mark = () => {
    const chosen = model.get("selected"), details = model.get("details") || {};
    for (const part of pic.querySelectorAll("[data-key]")) {
      part.classList.toggle("msense-chosen", part.getAttribute("data-key") === chosen);
    }
    const extra = model.get("detail_class");
    detail.className = "msense-detail" + (extra ? " " + extra : "");
    const html = chosen && details[chosen] !== undefined ? details[chosen] : (model.get("placeholder") || "");
    if (detail.__shown !== html) { detail.innerHTML = html; detail.__shown = html; }
  };
  const draw = () => {
    const focused = keyed(document.activeElement);
    const again = focused && pic.contains(focused) ? focused.getAttribute("data-key") : null;
    pic.innerHTML = model.get("value");
    readout.textContent = "";
    mark(); zoom();
    if (again) { const part = pic.querySelector('[data-key="' + CSS.escape(again) + '"]'); if (part) part.focus(); }
  };
  const choose = (event) => {
    const part = keyed(event.target);
    if (!part || !pic.contains(part)) return;
    const key = part.getAttribute("data-key");
    model.send({ click: key });
    if (!model.get("toggle")) { model.set("selected", key); model.save_changes(); mark(); }
    else part.classList.toggle("msense-pending");
  };
  const say = (event) => {
    let node = event.target;
    while (node && node !== pic) {
      const title = node.querySelector ? node.querySelector(":scope > title") : null;
      if (title) { readout.textContent = title.textContent; return; }
      node = node.parentNode;
    }
  };
  // ---- a zoomable series: the plot's own viewBox spans the periods shown -------------------
  const series = () => pic.querySelector("svg.zoomable");
  const zoom = () => {
    const chart = series();
    if (!chart) return;
    const n = +chart.dataset.n, w = model.get("window") || [];
    let a = w.length === 2 ? Math.max(0, Math.min(w[0], n - 1)) : 0, b = w.length === 2 ? Math.max(a, Math.min(w[1], n - 1)) : n - 1;
    const plot = chart.querySelector("svg.plot"), box = plot.viewBox.baseVal;
    plot.setAttribute("viewBox", (a - 0.5) + " " + box.y + " " + (b - a + 1) + " " + box.height);
    const hits = chart.querySelectorAll("rect.hit");
    const label = (i) => (hits[i] ? hits[i].getAttribute("data-p") : "");
    chart.querySelector("text.x-first").textContent = label(a);
    chart.querySelector("text.x-last").textContent = label(b);
    const range = pic.querySelector(".series-range");
    if (range) range.textContent = "showing " + label(a) + " – " + label(b) + ": " + (b - a + 1) + " of " + n + " periods";
    chart.__window = [a, b];
  };
  const show = (a, b) => {
    const n = +series().dataset.n;
    a = Math.round(a); b = Math.round(b);
    if (a < 0) { b -= a; a = 0; }
    if (b > n - 1) { a -= b - (n - 1); b = n - 1; }
    a = Math.max(0, a);
    model.set("window", (a <= 0 && b >= n - 1) ? [] : [a, b]); zoom(); model.save_changes();
  };
  const act = (button) => {
    const chart = series(); if (!chart) return;
    const n = +chart.dataset.n, [a, b] = chart.__window, span = b - a + 1;
    const what = button.getAttribute("data-zoom");
    if (what === "all") show(0, n - 1);
    else if (what === "last") show(n - +button.dataset.periods, n - 1);
    else if (what === "in") { const s = Math.max(2, Math.round(span / 2)), c = (a + b) / 2; show(Math.round(c - s / 2), Math.round(c - s / 2) + s - 1); }
    else if (what === "out") { const s = Math.min(n, span * 2), c = (a + b) / 2; show(Math.round(c - s / 2), Math.round(c - s / 2) + s - 1); }
    else if (what === "left") { const s = Math.max(1, Math.round(span / 2)); show(a - s, b - s); }
    else if (what === "right") { const s = Math.max(1, Math.round(span / 2)); show(a + s, b + s); }
  };
  let brush = null;
  const index = (event) => {
    // NOTE: the frame, not svg.plot: an inner <svg>'s client rect is its content's, zoomed out of view too
    const chart = series(), r = chart.querySelector("rect.frame").getBoundingClientRect();
    const [a, b] = chart.__window, t = Math.max(0, Math.min(1, (event.clientX - r.left) / r.width));
    return Math.max(a, Math.min(b, Math.round(a - 0.5 + t * (b - a + 1))));
  };
  const down = (event) => {
    const plot = event.target.closest ? event.target.closest("svg.plot") : null;
    if (!plot || !series() || event.button !== 0) return;
    brush = { from: index(event), rect: series().querySelector("rect.brush") };
  };
  const move = (event) => {
    if (!brush) return;
    const chart = series(), r = chart.querySelector("rect.frame").getBoundingClientRect(), outer = chart.getBoundingClientRect();
    const scale = (+chart.getAttribute("width")) / outer.width, [a, b] = chart.__window, per = r.width / (b - a + 1);
    const i = index(event), lo = Math.min(i, brush.from), hi = Math.max(i, brush.from);
    brush.rect.setAttribute("x", (r.left - outer.left + (lo - a) * per) * scale);
    brush.rect.setAttribute("width", (hi - lo + 1) * per * scale);
    brush.rect.setAttribute("visibility", "visible");
  };
  const up = (event) => {
    if (!brush) return;
    const i = index(event), lo = Math.min(i, brush.from), hi = Math.max(i, brush.from);
    brush.rect.setAttribute("visibility", "hidden");
    brush = null;
    if (hi - lo >= 1) show(lo, hi);
  };
  const click = (event) => {
    const button = event.target.closest ? event.target.closest("[data-zoom]") : null;
    if (button && el.contains(button)) { act(button); return; }
    choose(event);
  };
  const key = (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const button = event.target.closest ? event.target.closest("[data-zoom]") : null;
    if (button) return;  // a <button>: the browser clicks it
    event.preventDefault(); choose(event);
  };
  // NOTE: a mousedown on a part that answers a click is the picture's own: JupyterLab's notebook
  // otherwise makes the cell active on it (its handler and the restyle that follows took 40-60 ms
  // of a first click); the part then takes no focus from the mouse (Tab still gives it).
  const own = (event) => {
    const t = event.target;
    if (event.button === 0 && t.closest && (keyed(t) || t.closest("[data-zoom]") || t.closest("svg.plot")) && el.contains(t)) event.preventDefault();
  };
  el.addEventListener("mousedown", own);
  el.addEventListener("click", click);
  el.addEventListener("keydown", key);
  el.addEventListener("pointerover", say);
  el.addEventListener("focusin", say);
  el.addEventListener("pointerdown", down);
  el.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
  model.on("change:value", draw);
  model.on("change:selected", mark);
  model.on("change:details", mark);
  model.on("change:window", zoom);
  draw();
  return () => { window.removeEventListener("pointerup", up); };
}
export default { render };
"""

CSS = """
.msense-clicksvg [data-key]{cursor:pointer}
.msense-clicksvg [data-key]:focus{outline:none}
.msense-clicksvg [data-key]:focus-visible{outline:2px solid #f9a825;outline-offset:1px}
.msense-clicksvg g.msense-chosen > rect:first-of-type,.msense-clicksvg rect.msense-chosen{stroke:#f9a825 !important;stroke-width:4px !important}
.msense-clicksvg g[data-key]:hover > rect:first-of-type,.msense-clicksvg rect[data-key]:hover{stroke:#f9a825;stroke-width:2.5px}
.msense-clicksvg text[data-key]:hover,.msense-clicksvg text.msense-pending{text-decoration:underline}
.msense-clicksvg .msense-readout{min-height:1.3em;font-size:12px;color:var(--jp-ui-font-color1,#333);font-variant-numeric:tabular-nums}
.msense-clicksvg svg.plot rect.hit:hover{fill:#1f4e79;fill-opacity:0.12}
.msense-clicksvg svg.zoomable{user-select:none}
.msense-clicksvg .zoom button{margin-right:4px}
"""

#: a key metricsense writes: ASCII letters, digits, ``_``, ``,`` and ``-``, short (``str.isdigit``
#: takes ``²`` and ``int`` refuses 5,000 digits, so the views' parsers must only see these)
_KEY = re.compile(r"[A-Za-z0-9_,\-]{1,64}")


class ClickSVG(anywidget.AnyWidget):
    """``value``: the SVG (or HTML holding it); ``selected``: the ``data-key`` of the part clicked;
    ``details``: per key, the HTML shown under the picture when that part is chosen."""

    _esm = ESM
    _css = CSS
    value = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    details = traitlets.Dict().tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    detail_class = traitlets.Unicode("").tag(sync=True)
    toggle = traitlets.Bool(False).tag(sync=True)
    window = traitlets.List(traitlets.Int()).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clicked: list = []
        self.on_msg(self._message)

    def on_click(self, callback) -> None:
        """``callback(key)`` for each click on (or Enter on) a part, the same part twice included."""
        self._clicked.append(callback)

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: Any) -> str:
        # the page sets `selected` to the data-key clicked; anything else (a crafted message) selects nothing
        key = proposal["value"]
        return key if not key or _KEY.fullmatch(key) else ""

    def click(self, key: str) -> None:
        """What a click on the part ``key`` does (the front end's message; tests call it)."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            return
        if not self.toggle:
            self.selected = key
        for callback in self._clicked:
            callback(key)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("click"), str) and _KEY.fullmatch(content["click"]):
            for callback in self._clicked:
                callback(content["click"])

    def shown(self) -> str:
        """The details shown under the picture now: the selected part's, else the placeholder."""
        return self.details.get(self.selected, self.placeholder) if self.selected else self.placeholder

    def snapshot_html(self) -> str:
        """The picture as static HTML, the part selected framed and its details (a page without a kernel)."""
        frame = ""
        if self.selected and _KEY.fullmatch(self.selected):
            key = esc(self.selected)
            frame = (f'<style>.msense-clicksvg [data-key="{key}"] > rect:first-of-type,'
                     f'.msense-clicksvg rect[data-key="{key}"]{{stroke:#f9a825;stroke-width:4px}}</style>')
        value = self.value
        if 'class="series zoomable"' in value:
            from metricsense.widgets.series import zoomed

            value = zoomed(value, self.window)
        detail = self.shown()
        box = f'<div class="msense-detail {esc(self.detail_class)}">{detail}</div>' if detail else ""
        return f'<div class="msense-clicksvg">{frame}{value}{box}</div>'
