"""The explorer's views that answer a click: the Overview's KPI system and the Redundancy heatmap.

Overview: the mission, the size and findings, the key failures table, and the KPI system as a
picture (``metricsense.reports.picture``, the HTML report's drawing); a click on a node shows
what it is, its neighbours with their gains, and its findings (``ExplorerModel.node``).
Redundancy: the threshold, the groups, and the correlation heatmap (each cell's value on hover,
a colour legend); a click on a cell shows the two KPIs' change series (``ExplorerModel.pair``).
Above ``corrblocks.FULL_MAX`` kept KPIs the heatmap is drawn by blocks (a click on a block cell:
the two blocks' KPIs, whose cells answer as before) beside a searchable list of the strongest
pairs (a click on a row: the pair's series); the whole matrix stays in the kernel.

The pictures are ``ClickSVG`` (anywidget) where anywidget is installed, else plain HTML (no
click, the same picture).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from metricsense.reports.svg import esc
from metricsense.widgets.display import diagnostics_html
from metricsense.widgets.panels import _fmt, correlation_caption, groups_html, heatmap_order, redundancy_html, wrap


def _html(kind: str) -> w.HTML:
    box = w.HTML()
    box.add_class(f"msense-{kind}")
    return box


def clickable(kind: str) -> w.DOMWidget:
    """A picture whose parts answer a click (``selected``), or plain HTML without anywidget."""
    try:
        from metricsense.widgets.clicksvg import ClickSVG
    except ImportError:  # the widgets extra brings anywidget; without it, the same picture, no click
        return _html(kind)
    box = ClickSVG()
    box.add_class(f"msense-{kind}")
    return box


# ---- Overview --------------------------------------------------------------------------------


def node_html(model: Any, key: str) -> str:
    """One node of the KPI system: what it is, its neighbours (gains on the edges), its findings."""
    from metricsense.reports.picture import findings_words
    from metricsense.reports.text import SourceCache

    pic = model.picture
    node = pic.node(key) if pic is not None else None
    if node is None:
        return wrap('<p class="muted">Click a node of the picture to see its findings.</p>', "node")
    names = {n.key: n.name or ("the mission" if n.kind == "mission" else n.label) for n in pic.nodes}
    kind = {"mission": "Mission", "failure": f"Key failure ({node.level})", "kpi": "KPI", "lever": "Lever",
            "disturbance": "Disturbance", "more": "Not drawn"}[node.kind]
    parts = [f'<p class="node-head"><b>{esc(kind)}</b> <code>{esc(node.name)}</code> {esc(node.label)}</p>']
    if node.detail:
        parts.append(f'<p class="node-detail">{esc(node.detail)}</p>')
    if node.members:
        parts.append(f'<p class="node-members">{esc(", ".join(node.members))}</p>')
    near = []
    for e in pic.edges:
        if key in (e.source, e.target):
            other = e.target if e.source == key else e.source
            text = e.text()
            near.append(f"<li>{esc({'threat': 'threatens', 'guards': 'guarded by' if e.source == key else 'guards', 'responds': 'moves' if e.source == key else 'moved by', 'disturbed': 'disturbs' if e.source == key else 'disturbed by'}[e.kind])} "
                        f"<code>{esc(names.get(other, other))}</code>{esc(' ' + text) if text else ''}"
                        f"{esc(f' ({e.effect})') if e.effect else ''}</li>")
    if near:
        parts.append(f'<ul class="node-edges">{"".join(near)}</ul>')
    found = model.node_findings(key)
    if found:
        counts = {}
        for d in found:
            counts[str(d.severity)] = counts.get(str(d.severity), 0) + 1
        parts.append(f'<p class="node-findings"><b>{len(found)}</b> finding{"s" if len(found) != 1 else ""} '
                     f"({esc(findings_words(counts))}):</p>")
        parts.append(diagnostics_html(found, SourceCache(getattr(model.report, "sources", None))))
    else:
        parts.append('<p class="node-findings ok">No findings.</p>')
    return wrap(parts, "node")


class OverviewView(w.VBox):
    def __init__(self, model: Any) -> None:
        from metricsense.reports.picture_svg import svg

        self.model = model
        self.body = _html("overview")
        self.picture = clickable("system")
        # Each node's findings travel with the picture and show at once on a click (no kernel round
        # trip); without anywidget, an HTML box the kernel fills.
        self.node = self.picture if hasattr(self.picture, "details") else _html("node-findings")
        children = [self.body]
        if model.picture is not None:
            children += [self.picture] if self.node is self.picture else [self.picture, self.node]
            self.picture.value = wrap(f"<figure>{svg(model.picture)}<figcaption>{esc(model.picture.caption())} "
                                      "Click a node to see its findings.</figcaption></figure>", "picture")
            if self.node is self.picture:
                self.picture.detail_class = "msense-node-findings"
                self.picture.placeholder = node_html(model, "")
                self.picture.details = {n.key: node_html(model, n.key) for n in model.picture.nodes}
        super().__init__(children)
        o = model.overview
        rows = []
        for f in o["failures"]:
            rows.append(f"<tr><td>{esc(f['level'])}</td><td><code>{esc(f['failure'])}</code> {esc(f['label'])}</td>"
                        f"<td>{esc(', '.join(f['kpis']) or 'nobody')}</td><td>{esc(', '.join(f['levers']) or 'none')}</td></tr>")
        counts = ", ".join(f"{n} {s}" for s, n in o["counts"].items() if n) or "no findings"
        size = ", ".join(f"{n} {k}" for k, n in o["size"].items())
        self.body.value = wrap([
            f"<p><strong>Mission:</strong> {esc(o['mission'] or '(none)')}</p>",
            f"<p class=\"muted\">{esc(o['why'])}</p>" if o.get("why") else "",
            f"<p>{esc(size)}. Findings: {esc(counts)}.</p>",
            "<details><summary>Key failures, the KPIs that guard them and the levers that move those</summary>",
            "<table class=\"failures\"><thead><tr><th>level</th><th>key failure</th><th>guarded by</th>"
            "<th>levers that move them</th></tr></thead><tbody>", *rows, "</tbody></table></details>"], "overview")
        if hasattr(self.picture, "selected"):
            self.picture.observe(lambda c: setattr(model, "node", c["new"]), names="selected")
        model.observe(self._draw, names="node")
        self._draw()

    def _draw(self, change: Any = None) -> None:
        if hasattr(self.picture, "selected") and self.picture.selected != self.model.node:
            self.picture.selected = self.model.node
        if self.node is not self.picture:
            self.node.value = node_html(self.model, self.model.node)


# ---- Redundancy ------------------------------------------------------------------------------


class RedundancyView(w.VBox):
    """The threshold, the groups and the heatmap; above ``corrblocks.FULL_MAX`` kept KPIs the
    heatmap by blocks (a click on a block: its KPIs' matrix) and the strongest pairs, searchable."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.slider = w.FloatSlider(value=model.threshold, min=0.3, max=1.0, step=0.01, description="|r| ≥",
                                    continuous_update=False, readout_format=".2f")
        self.slider.add_class("msense-threshold")
        self.clusters = _html("clusters")
        self.picture = clickable("heatmap")
        self.detail = clickable("heatmap-detail")  # large systems: the block pair clicked
        self.search = w.Text(description="pairs with", placeholder="a KPI's name, or part of it",
                             continuous_update=True)
        self.search.add_class("msense-pair-search")
        self.pairs = clickable("pairs")
        self.pair = _html("pair")
        self._blocks = None
        self._block: tuple[int, int] | None = None
        super().__init__([self.slider, self.clusters, self.picture, self.pair])
        w.link((self.slider, "value"), (model, "threshold"))
        # NOTE: `redundancy` holds the threshold: it changes with every move of the slider, even
        # when the groups stay the same (the text says the threshold it was computed at).
        model.observe(self._draw, names="redundancy")
        for box, handler in ((self.picture, self._clicked), (self.detail, self._clicked_detail),
                             (self.pairs, self._clicked_pair)):
            if hasattr(box, "selected"):
                box.observe(handler, names="selected")
        self.search.observe(self._draw_pairs, names="value")
        model.observe(self._draw_pair, names="pair")
        self._draw()
        self._draw_pair()

    @property
    def large(self) -> bool:
        from metricsense.widgets.corrblocks import FULL_MAX

        return len((self.model.redundancy.get("correlation") or {}).get("kpis") or []) > FULL_MAX

    def _draw(self, change: Any = None) -> None:
        if self.large:
            self._draw_blocks()
            return
        self._order = heatmap_order(self.model.redundancy)
        self._blocks = self._block = None
        with self.hold_sync():
            self.clusters.value, self.picture.value = redundancy_html(self.model.redundancy, keys=True)
            self.children = [self.slider, self.clusters, self.picture, self.pair]

    def _draw_blocks(self) -> None:
        from metricsense.widgets import corrblocks as cb

        red = self.model.redundancy
        old = self._blocks
        self._blocks = bl = cb.blocks_of(red)
        if getattr(self, "_ranked_of", None) is not red["correlation"]:  # the same KPIs: the same pairs
            self._ranked, self._ranked_of = cb.strongest_pairs(red["correlation"]), red["correlation"]
        if old is None or old.blocks != bl.blocks:
            self._block = None  # the blocks moved: the pair clicked before is not the same pair
            if hasattr(self.picture, "selected"):
                self.picture.selected = ""  # so a click on the same cell draws the new blocks' KPIs
        n = len(red["correlation"]["kpis"])
        said = (f'<p class="blocks-said">{n} KPIs: the heatmap shows them in {len(bl.blocks)} blocks of at most '
                f"{bl.size}, side by side (the redundant groups first); each cell holds the strongest "
                "correlation between two blocks, its KPIs on hover. Click a cell for the two blocks' KPIs.</p>")
        with self.hold_sync():
            self.clusters.value = wrap(groups_html(red), "clusters")
            self.picture.value = wrap(f"<figure>{cb.overview_svg(bl)}<figcaption>{esc(correlation_caption(red['correlation']))}, by block"
                                      "</figcaption></figure>" + said, "heatmap")
            self._draw_detail()
            self._draw_pairs()
            self.children = [self.slider, self.clusters, self.picture, self.detail, self.search, self.pairs, self.pair]

    def _draw_detail(self) -> None:
        from metricsense.widgets import corrblocks as cb

        if self._block is None or self._blocks is None:
            self._detail = ([], [])
            self.detail.value = wrap('<p class="muted">Click a cell of the block heatmap to see its KPIs.</p>',
                                     "heatmap-detail")
            return
        a, b = self._block
        picture, rows, cols = cb.detail_svg(self._blocks, self.model.redundancy["correlation"], a, b)
        self._detail = (rows, cols)
        self.detail.value = wrap(f"<figure>{picture}<figcaption>{len(rows)} × {len(cols)} KPIs; click a cell "
                                 "for the two KPIs' series.</figcaption></figure>", "heatmap-detail")

    def _draw_pairs(self, change: Any = None) -> None:
        from metricsense.widgets import corrblocks as cb

        if self._blocks is None:
            return
        corr = self.model.redundancy["correlation"]
        n = len(corr["kpis"])
        rows, matched = cb.pair_rows(corr, self._ranked, self.search.value)
        self._pair_rows = rows
        self.pairs.value = wrap(cb.pair_table(rows, matched, self.search.value, n * (n - 1) // 2), "pairs")

    def _clicked(self, change: Any) -> None:
        parts = (change["new"] or "").split("-")
        if not (len(parts) == 3 and parts[0] == "cell" and parts[1].isdigit() and parts[2].isdigit()):
            return
        i, j = int(parts[1]), int(parts[2])
        if self._blocks is not None:
            if i < len(self._blocks.blocks) and j < len(self._blocks.blocks):
                self._block = (i, j)
                self._draw_detail()
        elif i < len(self._order) and j < len(self._order):
            self.model.pair = [self._order[i], self._order[j]]

    def _clicked_detail(self, change: Any) -> None:
        parts = (change["new"] or "").split("-")
        rows, cols = getattr(self, "_detail", ([], []))
        if len(parts) == 3 and parts[0] == "cell" and parts[1].isdigit() and parts[2].isdigit():
            i, j = int(parts[1]), int(parts[2])
            if i < len(rows) and j < len(cols) and rows[i] != cols[j]:
                self.model.pair = [rows[i], cols[j]]

    def _clicked_pair(self, change: Any) -> None:
        parts = (change["new"] or "").split("-")
        rows = getattr(self, "_pair_rows", [])
        if len(parts) == 2 and parts[0] == "pair" and parts[1].isdigit() and int(parts[1]) < len(rows):
            a, b, _r, _n = rows[int(parts[1])]
            self.model.pair = [a, b]

    def _draw_pair(self, change: Any = None) -> None:
        from metricsense.widgets.pair import pair_svg

        found = self.model.pair_view()
        if found is None:
            self.pair.value = wrap('<p class="muted">Click a cell of the heatmap to see the two KPIs\' series.</p>', "pair")
            return
        self.pair.value = wrap(f"<figure>{pair_svg(found, found.get('r'))}</figure>", "pair")


# ---- Conversations ---------------------------------------------------------------------------


class ConversationsView(w.VBox):
    """The agenda, the firings per KPI, and the chosen KPI's series: target, noise band, firings,
    zoomable in the page (``metricsense.widgets.series``)."""

    def __init__(self, model: Any) -> None:
        from metricsense.agenda import Agenda, AgendaItem
        from metricsense.widgets.display import agenda_html

        self.model = model
        agenda = Agenda([AgendaItem(**i) for i in model.agenda])
        self.agenda = _html("agenda")
        self.agenda.value = agenda_html(agenda)
        self.firings = _html("firings")
        names = list(model.timeline)
        self.kpi = w.Dropdown(options=names, value=model.kpi or None, description="KPI")
        self.chart = clickable("timeline")
        super().__init__([w.HTML("<h4>Agenda</h4>"), self.agenda, w.HTML("<h4>Firings per KPI</h4>"),
                          self.firings, self.kpi, self.chart])
        if names:
            w.link((self.kpi, "value"), (model, "kpi"))
        rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{len(t['fired'])}</td>"
                       f"<td>{esc(t['fired'][0] if t['fired'] else '')}</td><td>{esc(t['fired'][-1] if t['fired'] else '')}</td></tr>"
                       for k, t in model.timeline.items())
        self.firings.value = wrap("<table><thead><tr><th>KPI</th><th>periods fired</th><th>first</th><th>last</th>"
                                  f"</tr></thead><tbody>{rows}</tbody></table>" if rows else
                                  '<p class="muted">No trigger was evaluated (the spec has no data or no triggers).</p>',
                                  "firings")
        model.observe(self._draw, names="kpi")
        self._draw()

    def _draw(self, change: Any = None) -> None:
        from metricsense.widgets.series import series_svg, zoomed

        t = self.model.timeline.get(self.model.kpi)
        if hasattr(self.chart, "window"):
            self.chart.window = []  # a new KPI: all its periods
        if not t:
            self.chart.value = ""
            return
        drawn = series_svg(self.model.kpi, t["periods"], t["values"], target=t["target"], fired=t["fired"],
                           band=t.get("band"), label=t.get("label") or "")
        # without anywidget no script zooms: the chart as a page without a kernel shows it
        self.chart.value = wrap(drawn if hasattr(self.chart, "window") else zoomed(drawn, []), "timeline")


# ---- Trust -----------------------------------------------------------------------------------


def _n(v: Any, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def trust_details(index: int, name: str, info: dict) -> dict[str, str]:
    """Per group row of the ``index``-th trust signal's chart (key ``group-INDEX-I``), the HTML of its numbers.

    Only what the model holds, which is what the HTML report may show: the groups at or above the
    minimum (and, for a reader who did not ask, none), never the manager's name beside the group."""
    out = {}
    for i, g in enumerate(info["groups"]):
        rows = [("respondents in the team", str(g["n"])), ("managers' mean answer", _n(g["managers"])),
                ("team's mean answer", _n(g["team"])), ("gap (managers − team)", _n(g["gap"], "+.2f")),
                ("managers favourable", _n(g.get("managers_favourable"), ".0%")),
                ("team favourable", _n(g.get("team_favourable"), ".0%")),
                ("favourable gap", _n(g.get("favourable_gap"), "+.0%")),
                ("over the signal's gap", f"yes (more than {info['gap']:g})" if g["over"] else f"no (at most {info['gap']:g})")]
        body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        out[f"group-{index}-{i}"] = wrap(f'<p class="trust-head"><code>{esc(name)}</code>, group <b>{esc(g["group"])}</b> '
                                        f"({esc(info.get('period') or 'all answers')})</p>"
                                        f'<table class="trust-group"><tbody>{body}</tbody></table>', "trust-detail")
    return out


def trust_html(name: str, index: int, info: dict, keys: bool) -> str:
    """One trust signal: its gap bars (each group's row a button with ``keys``) and what is left out."""
    from metricsense.reports.svg import gap_bars

    small = info.get("not_shown") or 0
    note = (f" {small} group{'s are' if small != 1 else ' is'} too small to stay anonymous (fewer than "
            f"{info.get('min_group')} respondents, or it could be worked out from the others) and "
            f"{'are' if small != 1 else 'is'} not shown, here or anywhere." if small else "")
    if info.get("unreported_rounds"):
        note += f" {info['unreported_rounds']} later round(s) are not reported: no group in them reached the minimum."
    if info["groups"]:
        keyed = [f"group-{index}-{i}" for i in range(len(info["groups"]))] if keys else None
        chart = gap_bars(info["groups"], title=f"Trust gap: {name}", threshold=info["gap"],
                         scale=tuple(info["scale"]) if info["scale"] else None, keys=keyed)
        return (f'<figure class="trust-gap" data-signal="{esc(name)}">{chart}<figcaption><code>{esc(name)}</code> '
                f"({esc(info.get('period') or 'all answers')}): the managers' and the team's answers per group; gaps "
                f"over {esc(_fmt(info['gap']))} in red.{' Click a group for its numbers.' if keys else ''}{esc(note)}"
                "</figcaption></figure>")
    if info.get("not_named"):
        n = info["not_named"]
        return (f'<p class="muted"><code>{esc(name)}</code>: {n} group{"s are" if n != 1 else " is"} not named here: '
                "each gap names a manager (explore a report checked with show_personal=True, or see msense "
                f"agenda).{esc(note)}</p>")
    return f'<p class="muted"><code>{esc(name)}</code>: no group can be shown.{esc(note)}</p>'


class TrustView(w.VBox):
    """The trust gaps: per signal the gap bars; a click on (or Enter on) a group shows its numbers."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.body = clickable("trust")
        super().__init__([self.body])
        keys = hasattr(self.body, "details")
        parts = [trust_html(name, i, info, keys) for i, (name, info) in enumerate(model.trust.items())]
        if keys:
            details = {k: v for i, (name, info) in enumerate(model.trust.items())
                       for k, v in trust_details(i, name, info).items()}
            self.body.detail_class = "msense-trust-group"
            self.body.details = details
            if details:
                self.body.placeholder = wrap('<p class="muted">Click a group for its numbers.</p>', "trust-detail")
        self.body.value = wrap(parts or ['<p class="muted">No trust signal with survey data.</p>'], "trust")
