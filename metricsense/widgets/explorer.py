"""The explorer: a model holds the state, views compose stock ipywidgets, the core does the compute.

``ExplorerModel`` (traitlets) holds one spec of a report, the choices a reader makes (families
and severities shown, the redundancy threshold, the KPIs and levers kept, the KPI whose timeline
is shown) and the results derived from them. Every number comes from the core library
(``metricsense.widgets.whatif``): the check's analysis, the MS101 rule run again at another
threshold on the kept KPIs, the shared reading of the gain matrix (``reports.gains.analyse``, as
the HTML report says it: a KPI left with no lever is counted and named, never dropped), then the
decoupling evaluator's pairing search. Each change records the numbers before and after it
(``last_change``) beside the spec as written (``baseline``). The views only draw (with the HTML
report's inline SVG) and set traits; ``snapshot`` keeps the tabs as last shown, for a page with
no kernel. Tests set traits and assert the model's state, with no browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import Any as AnyTrait
from traitlets import Dict, Float, HasTraits, List, Unicode, observe

from metricsense.evaluators.records import (CorrelationAnalysis, GainAnalysis, NoiseAnalysis, TriggersAnalysis,
                                            TrustAnalysis)
from metricsense.model import LEVELS, Lever
from metricsense.widgets import gainblocks, whatif
from metricsense.reports.svg import esc
from metricsense.widgets.display import STYLE, diagnostics_html
from metricsense.widgets.interactive import ConversationsView, OverviewView, RedundancyView, TrustView, clickable
from metricsense.widgets.panels import (_fmt, decoupling_html, gain_detail_html, gain_matrix_html, rga_detail_html,
                                       rga_html, whatif_html, wrap)

SEVERITIES = ("error", "warning", "info", "hint")
FAMILIES = {"MS1": "correlation", "MS2": "decoupling", "MS3": "noise", "MS4": "distortion", "MS5": "trust",
            "MS6": "conversation"}


_BLAS: list = []  # the ThreadpoolController, made at the first change (after the check loaded its libraries)


def blas_on_one_thread() -> Any:
    """A context in which BLAS (OpenBLAS, MKL) runs on one thread: the explorer's gain matrices are
    small (at most 500 x 50), and on a machine whose cores are busy OpenBLAS's threads wait for each
    other: a pseudo-inverse of 499 x 50 took 0.2-0.9 s on two threads, 1.5 ms on one. The
    notebook's own setting is back after the change."""
    from threadpoolctl import ThreadpoolController

    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def family(code: str) -> str:
    """The rule family of a code: MS hundreds (engine, data and structure share MS0xx), or a plugin's prefix."""
    if re.fullmatch(r"MS\d{3}", code):
        if code.startswith("MS00"):
            return "engine"
        if code.startswith("MS03"):
            return "data"
        return FAMILIES.get(code[:3], "structure")
    m = re.match(r"[A-Z]+", code)
    return m.group(0) if m else code


class ExplorerModel(HasTraits):
    """The state of one explorer: one spec of a report, the reader's choices, and derived results."""

    report = AnyTrait(help="the metricsense.Report")
    spec = Unicode(help="the spec of the report shown (its root path, or <string>)")
    document = AnyTrait(help="the spec's Document")
    data = AnyTrait(None, allow_none=True, help="the spec's data (a DataSet), read once")

    overview = Dict(help="mission, failures by level with the KPIs that guard them and the levers that move those")

    families = List(Unicode(), help="the rule families present")
    family_filter = List(Unicode(), help="families shown; empty: all")
    severity_filter = List(Unicode(), help="severities shown; empty: all")
    diagnostics = List(help="the Diagnostics shown")

    threshold = Float(0.9, help="|r| at or above which KPIs are redundant (MS101's option)")
    correlation = Dict(help="the check's correlation analysis: kpis, matrix, basis, method, effective_number")
    clusters = List(help="redundant groups of the kept KPIs at the threshold: {keep, drop, r, n}")
    redundancy = Dict(help="threshold, clusters, and the kept KPIs' correlation and effective number")

    kpis = List(Unicode(), help="KPIs of the gain matrix (declared: every KPI of the spec)")
    levers = List(Unicode(), help="levers of the gain matrix (declared: every lever of the spec)")
    kpis_on = List(Unicode(), help="KPIs kept (ticked)")
    levers_on = List(Unicode(), help="levers kept (ticked)")
    decoupling = Dict(help="gain analysis of the kept KPIs and levers; `pending` until the pairing is searched")
    suggestion = Dict(help="`suggest()`: the best set of KPIs for the ticked levers, worst-case loss before and after")

    baseline = Dict(help="the numbers of the spec as written (whatif.summary)")
    now = Dict(help="the numbers with the reader's choices (whatif.summary)")
    last_change = Dict(help="the last change: {change, before, after} (whatif.summary each)")

    agenda = List(help="agenda items of this spec, as dicts")
    kpi = Unicode(help="the KPI whose timeline is shown")
    timeline = Dict(help="per KPI: periods, values, target and the periods where triggers fired")

    trust = Dict(help="per trust signal: the groups that may be shown, and how many are not")
    node = Unicode(help="the key of the node of the KPI system picture clicked (Overview), or ''")
    pair = List(Unicode(), help="the two KPIs of the correlation heatmap cell clicked (Redundancy), or []")
    compare = AnyTrait(None, allow_none=True, help="another Report to diff against (the Diff tab), or None")

    def __init__(self, report: Any, spec: str | None = None, data: Any = None, **kwargs: Any) -> None:
        roots = list(report.analysis) or list(report.documents)
        if spec is None:
            spec = next((r for r in roots if r in report.documents), roots[0] if roots else "")
        if spec not in report.documents:
            raise ValueError(f"the report holds no spec {spec!r}; it holds {', '.join(map(str, roots)) or 'none'}")
        super().__init__(report=report, spec=spec, document=report.documents[spec], **kwargs)
        self._given_data = data
        self.data = self._load_data(data)
        analysis = report.analysis.get(spec) or {}
        self.overview = self._overview()
        from metricsense.reports import picture

        # the KPI system as a picture, with the findings this reader may see on its nodes
        own = self._own_diagnostics()
        self.picture = picture.build(self.document, analysis, own) if picture.worth_drawing(self.document) else None
        self._findings = picture.findings_of(self.document, own) if self.picture is not None else {}
        self.families = sorted({family(d.code) for d in self._own_diagnostics()})
        self._filter()
        corr = CorrelationAnalysis.of(analysis)
        self.correlation = whatif.correlation_json(corr) if corr is not None else {}
        self._source, self.kpis, self.levers, self._matrix = whatif.gain_source(
            self.document, GainAnalysis.of(analysis))
        self._ready = False
        self._correlations: dict = {}  # whatif.redundancy's: the kept KPIs' correlation, for a new threshold
        self.kpis_on, self.levers_on = list(self.kpis), list(self.levers)
        with blas_on_one_thread():
            self._cluster()
            self._decouple()
        self.baseline = self.now = whatif.summary(self.decoupling, self.redundancy)
        self._ready = True
        self.agenda = self._agenda()
        self.timeline = self._timeline()
        self.kpi = next(iter(self.timeline), "")
        self.trust = self._trust()

    # ---- data --------------------------------------------------------------------------------

    def _load_data(self, data: Any):
        """The spec's data, read the way the check reads it (problems are the report's business)."""
        doc = self.document
        has_data = bool(doc.data_defaults) or any(
            n.data is not None for n in (*doc.kpis, *doc.levers, *doc.disturbances, *doc.trusts))
        if data is None and not has_data:
            return None
        from metricsense.data.dataset import build

        registry = self.report.registry
        readers = registry.readers if registry is not None else {}
        root = Path(doc.root).parent if doc.root != "<string>" else Path.cwd()
        dataset, _problems, _crashes = build(doc, data, readers, [root])
        return dataset

    def reader(self) -> Any:
        """What the HTML report may show of the report: findings and trust groups about one named
        person only when the reader asked (``Report.for_reader``, the one place that decides)."""
        report = self.report
        return report.for_reader(True) if callable(getattr(report, "for_reader", None)) else report

    # ---- overview ----------------------------------------------------------------------------

    def _overview(self) -> dict:
        doc = self.document
        counts = {s: 0 for s in SEVERITIES}
        for d in self._own_diagnostics():
            counts[str(d.severity)] = counts.get(str(d.severity), 0) + 1
        failures = []
        for level in LEVELS:
            for f in (f for f in doc.failures if f.level == level):
                guards = [k for k in doc.kpis if any(g.name == f.name for g in k.guards)]
                levers = list(dict.fromkeys(g.name for k in guards for g in k.responds
                                            if isinstance(doc.lookup(g.name), Lever)))
                failures.append({"level": level, "failure": f.name, "label": f.label,
                                 "kpis": [k.name for k in guards], "levers": levers})
        return {"mission": doc.mission.text if doc.mission else None,
                "why": doc.mission.why if doc.mission else None,
                "failures": failures, "counts": counts,
                "size": {"kpis": len(doc.kpis), "levers": len(doc.levers), "triggers": len(doc.triggers),
                         "trust signals": len(doc.trusts)}}

    def node_findings(self, key: str) -> list:
        """The findings on a node of the picture (those of every member of an "and N more" node)."""
        node = self.picture.node(key) if self.picture is not None and key else None
        if node is None:
            return []
        found = self._findings  # the reader's findings by statement, found once
        names = node.members if node.kind == "more" else (node.name,)
        out: list = []
        for d in (d for n in names for d in found.get(n, [])):
            if not any(d is e for e in out):  # Diagnostics are not hashable
                out.append(d)
        return out

    def pair_view(self) -> dict | None:
        """The two KPIs of ``pair``: their series as the correlation compares them, and r and n."""
        from metricsense.widgets.pair import pair_series

        corr = self.redundancy.get("correlation") or self.correlation
        if len(self.pair) != 2 or not corr:
            return None
        found = pair_series(self.data, self.pair[0], self.pair[1], corr.get("basis", "changes"))
        if found is None:
            return None
        kpis = list(corr["kpis"])
        if self.pair[0] in kpis and self.pair[1] in kpis:
            i, j = kpis.index(self.pair[0]), kpis.index(self.pair[1])
            found.update(r=corr["matrix"][i][j], n=corr["n"][i][j] if corr.get("n") else None)
        return found

    # ---- diagnostics -------------------------------------------------------------------------

    def _own_diagnostics(self) -> list:
        files = set(self.document.files) | {self.spec}
        # As the HTML report: findings about one named person only when the reader asked.
        return [d for d in self.reader().diagnostics if d.span.file in files or len(self.report.documents) == 1]

    @observe("family_filter", "severity_filter")
    def _filter(self, change: Any = None) -> None:
        fams, sevs = set(self.family_filter), set(self.severity_filter)
        self.diagnostics = [d for d in self._own_diagnostics()
                            if (not fams or family(d.code) in fams) and (not sevs or str(d.severity) in sevs)]

    # ---- redundancy: MS101 itself, at the chosen threshold, on the kept KPIs ------------------------

    def _cluster(self) -> None:
        self._set_redundancy(self._redundancy())

    def _redundancy(self) -> dict:
        kept = [k.name for k in self.document.kpis if k.name in self.kpis_on or k.name not in self.kpis]
        return whatif.redundancy(self.document, self.data, self.report.registry, kept, self.threshold,
                                 cache=self._correlations)

    def _set_redundancy(self, red: dict) -> None:
        self.redundancy = red
        self.clusters = red["clusters"]

    # ---- decoupling: the shared reading of the kept gains, then the evaluator's pairing -----------

    def _sub_document(self):
        return whatif.sub_document(self.document, set(self.kpis) - set(self.kpis_on),
                                   set(self.levers) - set(self.levers_on))

    def _decouple(self, search: bool = True) -> None:
        self.decoupling = self._quick()
        if search:
            self._search_pairing()

    def _quick(self) -> dict:
        """At once: condition number, rank, RGA and the KPIs left with no lever (the pairing and the
        scaled condition number pending)."""
        quick = whatif.gains(self._source, self.kpis, self.levers, self._matrix, self.kpis_on, self.levers_on,
                             scaled=False)
        if quick:
            quick.update({"suggested_pairing": None, "rga_number": None,
                          "pending": bool(quick["kpis"] and quick["levers"]), "without_lever": list(quick["orphaned"])})
        return quick

    def _search_pairing(self) -> None:
        """The evaluator's analysis, which searches the pairing with the smallest RGA number."""
        if not self.decoupling.get("pending"):
            return
        found = whatif.pairing(self.document, self.data, self._source, set(self.kpis) - set(self.kpis_on),
                               set(self.levers) - set(self.levers_on))
        g, _, _ = whatif.kept_gains(self.kpis, self.levers, self._matrix, self.kpis_on, self.levers_on)
        found["scaled_condition_number"] = whatif.scaled_condition(self.decoupling, g)
        self.decoupling = dict(self.decoupling, pending=False, **found)

    @observe("kpis_on", "levers_on", "threshold")
    def _changed(self, change: Any) -> None:
        if not getattr(self, "_ready", False):
            return
        with blas_on_one_thread():
            self._change(change)

    def _change(self, change: Any) -> None:
        before = dict(self.now)
        decoupling, redundancy = self.decoupling, self.redundancy
        if change["name"] == "threshold":
            redundancy = self._redundancy()
            what = f"redundancy threshold {change['old']:.2f} → {change['new']:.2f}"
        else:
            decoupling = self._quick()
            if change["name"] == "kpis_on":
                redundancy = self._redundancy()
            kind = "KPI" if change["name"] == "kpis_on" else "lever"
            off = [n for n in change["old"] if n not in change["new"]]
            on = [n for n in change["new"] if n not in change["old"]]
            what = "; ".join([*(f"unticked {kind} {n}" for n in off), *(f"ticked {kind} {n}" for n in on)]) or "no change"
        # NOTE: every number is computed first; then the page is told in the order it can show
        # them fastest: the before -> after (a small table), the gains' numbers, the pairing
        # search with the gains' pictures (drawn once, with the pairing), and last the groups and
        # heatmap (another tab's: the reader is looking at the one the change was made in).
        self.now = whatif.summary(decoupling, redundancy)
        self.last_change = {"change": what, "before": before, "after": dict(self.now)}
        if decoupling is not self.decoupling:
            self.decoupling = decoupling
        if change["name"] != "threshold":
            self._search_pairing()
        if redundancy is not self.redundancy:
            self._set_redundancy(redundancy)

    def suggest(self) -> None:
        """Tick the best set of KPIs for the ticked levers (msense select), keeping the losses before and after."""
        from metricsense.selection import SelectError, evaluate, prepared, select_document
        from metricsense.selection.search import floor_of

        levers_off = set(self.levers) - set(self.levers_on)
        doc = whatif.sub_document(self.document, set(), levers_off)
        try:
            chosen = select_document(doc, top=1, dataset=self.data)
        except SelectError as exc:
            self.suggestion = {"error": exc.message}
            return
        if not chosen.candidates:
            self.suggestion = {"error": "no set of KPIs can hold these levers"}
            return
        inputs = chosen.inputs
        prep = prepared(inputs)
        held = [inputs.kpis.index(k) for k in self.kpis_on if k in inputs.kpis]
        before = evaluate(inputs, prep, held, floor_of(prep)) if held else None
        best = chosen.candidates[0]
        self.suggestion = {"kpis": list(best.kpis), "after": best.worst_case_loss,
                           "before": before.worst_case_loss if before is not None else None,
                           "before_kpis": [inputs.kpis[i] for i in sorted(held)]}
        self.kpis_on = [k for k in self.kpis if k in best.kpis]

    # ---- conversations -----------------------------------------------------------------------

    def _agenda(self) -> list:
        from metricsense.agenda import build

        # The reader's report: a trust gap names a manager, so it is on the agenda shown here only
        # when the reader asked (as the Trust tab and the HTML report); `msense agenda` lists it
        # in its private section.
        return [i.to_dict() for i in build(self.reader()).items if i.spec == self.spec]

    def _timeline(self) -> dict:
        from metricsense.reports.html import fired_by_kpi

        triggers = TriggersAnalysis.of(self.report.analysis.get(self.spec))
        if triggers is None:
            return {}
        from metricsense.widgets.series import band_of

        fired = fired_by_kpi(self.document, triggers)
        noise = NoiseAnalysis.of(self.report.analysis.get(self.spec))
        out = {}
        for name, s in (triggers.series or {}).items():
            node = self.document.lookup(name)
            target = s.target
            if target is None and getattr(node, "target", None) is not None:
                target = node.target.value
            out[name] = {"periods": list(map(str, s.periods)), "values": list(s.values),
                         "target": target, "fired": sorted(set(fired.get(name, ()))),
                         "label": getattr(node, "label", None) or name,
                         "band": band_of(noise.kpis.get(name) if noise is not None else None)}
        return out

    # ---- trust: what the trust evaluator shows, and how many groups it does not ------------------

    def _trust(self) -> dict:
        # The HTML report's rule: a group names its manager, so groups are shown only when the
        # reader asked (show_personal); otherwise only how many (`not_named`).
        trust = TrustAnalysis.of(self.reader().analysis.get(self.spec))
        out = {}
        for name, info in (trust.signals if trust is not None else {}).items():
            shown = [{"group": g.group, "manager": g.manager, "managers": g.managers, "team": g.team, "gap": g.gap,
                      "n": g.n, "over": g.over, "managers_favourable": g.managers_favourable,
                      "team_favourable": g.team_favourable, "favourable_gap": g.favourable_gap} for g in info.groups]
            out[name] = {"gap": info.gap, "scale": list(info.scale), "period": info.period, "groups": shown,
                         "not_shown": info.suppressed, "not_named": info.not_named, "min_group": info.min_group,
                         "unreported_rounds": info.unreported_rounds, "open_round": info.open_round}
        return out


# ---- views -----------------------------------------------------------------------------------


def _html(kind: str) -> w.HTML:
    box = w.HTML()
    box.add_class(f"msense-{kind}")
    return box


class DiagnosticsView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.family = w.SelectMultiple(options=model.families, description="family", rows=min(7, max(2, len(model.families))))
        self.severity = w.SelectMultiple(options=list(SEVERITIES), description="severity", rows=4)
        self.count = _html("diagnostics-count")
        self.table = _html("diagnostics")
        super().__init__([w.HBox([self.family, self.severity]), self.count, self.table])
        self.family.observe(lambda c: setattr(model, "family_filter", list(c["new"])), names="value")
        self.severity.observe(lambda c: setattr(model, "severity_filter", list(c["new"])), names="value")
        model.observe(self._draw, names="diagnostics")
        self._draw()

    def _draw(self, change: Any = None) -> None:
        ds = self.model.diagnostics
        self.count.value = f"<b>{len(ds)}</b> of {len(self.model._own_diagnostics())} diagnostics shown"
        from metricsense.reports.text import SourceCache

        from metricsense.reports.html import withheld_html

        # As the HTML report: personal findings not given to this reader are counted, never shown.
        self.table.value = wrap([diagnostics_html(ds, SourceCache(getattr(self.model.report, "sources", None))),
                                 *withheld_html(self.model.reader())], "diagnostics")


class DecouplingView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.kpi_boxes = {n: w.Checkbox(value=n in model.kpis_on, description=n, indent=False) for n in model.kpis}
        self.lever_boxes = {n: w.Checkbox(value=n in model.levers_on, description=n, indent=False) for n in model.levers}
        for n, box in self.kpi_boxes.items():
            box.add_class("msense-kpi-toggle")
            box.observe(lambda c, n=n: self._toggle("kpis_on", n, c["new"]), names="value")
        for n, box in self.lever_boxes.items():
            box.add_class("msense-lever-toggle")
            box.observe(lambda c, n=n: self._toggle("levers_on", n, c["new"]), names="value")
        # condition number, rank and pairing in one box: one message to the page per change (each
        # widget's value is a message of its own through the server)
        self.numbers = _html("gain-numbers")
        # a click on a KPI's row or a lever's column label (of either picture) toggles it; a large
        # system's pictures are drawn in blocks (widgets.gainblocks): a click on a block draws its
        # KPIs whole in the picture's detail, whose labels toggle as well
        self.picture, self.rga = clickable("gain-matrix"), clickable("rga")
        self.large = gainblocks.is_large((model.kpis, model.levers))
        self.block: dict[str, tuple[int, int] | None] = {"gain": None, "rga": None}
        pictures = [self.picture, self.rga]
        if self.large:
            self.picture_detail, self.rga_detail = clickable("gain-detail"), clickable("rga-detail")
            pictures = [self.picture, self.picture_detail, self.rga, self.rga_detail]
        for picture in pictures:
            if hasattr(picture, "on_click"):
                picture.toggle = True
                picture.on_click(lambda key, p=picture: self._clicked(key, p))
        self.figures = w.Box(pictures, layout=w.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.figures.add_class("msense-gains")
        self.suggest = w.Button(description="suggest", tooltip="tick the best KPIs for the ticked levers (msense select)")
        self.suggest.add_class("msense-suggest")
        self.suggest.on_click(lambda _: model.suggest())
        self.suggested = _html("suggestion")
        choose = w.HBox([w.VBox([w.HTML("<b>KPIs</b>"), *self.kpi_boxes.values()]),
                         w.VBox([w.HTML("<b>levers</b>"), *self.lever_boxes.values()])])
        summary = w.VBox([self.numbers, self.suggest, self.suggested])
        super().__init__([w.HBox([choose, summary]), self.figures])
        model.observe(self._draw, names="decoupling")
        model.observe(self._sync, names=["kpis_on", "levers_on"])
        model.observe(self._draw_suggestion, names="suggestion")
        self._draw()

    def _draw_suggestion(self, change: Any = None) -> None:
        s = self.model.suggestion
        if s.get("error"):
            self.suggested.value = f"<i>{esc(s['error'])}</i>"
            return
        before = "cannot hold the levers" if s.get("before") is None else _fmt(s["before"])
        self.suggested.value = (f"worst-case loss <b class=\"value\">{esc(before)}</b> → "
                                f"<b class=\"value\">{esc(_fmt(s.get('after')))}</b> holding "
                                f"{esc(', '.join(s.get('kpis') or []))}")

    def _sync(self, change: Any = None) -> None:
        """Boxes follow the model when code sets its traits (a box that already agrees sends nothing)."""
        for names, boxes in ((self.model.kpis_on, self.kpi_boxes), (self.model.levers_on, self.lever_boxes)):
            for n, box in boxes.items():
                box.value = n in names

    def _toggle(self, trait: str, name: str, on: bool) -> None:
        current = list(getattr(self.model, trait))
        every = self.model.kpis if trait == "kpis_on" else self.model.levers
        chosen = [n for n in every if (n in current and n != name) or (n == name and on)]
        setattr(self.model, trait, chosen)

    def _clicked(self, key: str, picture: Any = None) -> None:
        """A click on a label does what its box does (the box follows through ``_sync``); on a
        block of a large system's picture, its KPIs are drawn whole in the picture's detail."""
        kind, _, index = key.partition("-")
        if kind == "cell" and self.large and picture in (self.picture, self.rga):
            a, _, b = index.partition("-")
            if a.isdigit() and b.isdigit() and gainblocks.band(self._full(), int(a), int(b)) is not None:
                which = "gain" if picture is self.picture else "rga"
                self.block[which] = (int(a), int(b))
                picture.selected = key  # the block drawn, framed in the page
                self._draw_detail(which)
            return
        names, trait = (self.model.kpis, "kpis_on") if kind == "kpi" else (self.model.levers, "levers_on")
        if kind in ("kpi", "lever") and index.isdigit() and int(index) < len(names):
            name = names[int(index)]
            self._toggle(trait, name, name not in getattr(self.model, trait))

    def _draw(self, change: Any = None) -> None:
        # The numbers first (small messages the page shows at once), then the pictures.
        m = self.model
        self.numbers.value = "".join(f'<div class="msense-{kind}">{html}</div>' for kind, html
                                     in zip(("condition", "rank", "pairing"), decoupling_html(m.decoupling)))
        d, full = m.decoupling, self._full()
        if d.get("pending"):
            return  # the pictures come with the pairing, a moment later: each drawn (and sent) once
        # the pairing search changes the RGA's frames only: the gain matrix is drawn once per change
        drawn = (tuple(m.kpis_on), tuple(m.levers_on), d.get("condition_number"), d.get("rank"))
        if drawn != getattr(self, "_drawn", None):
            self.picture.value = gain_matrix_html(d, m.document, full) if d else ""
            self._drawn = drawn
            if self.large:
                self._draw_detail("gain")
        self.rga.value = rga_html(d, full) if d else ""
        if self.large:
            self._draw_detail("rga")

    def _full(self) -> tuple:
        m = self.model
        return (m.kpis, m.levers, m._matrix, m.kpis_on, m.levers_on)

    def _draw_detail(self, which: str) -> None:
        """A large system's block clicked, its KPIs whole (a prompt before a click)."""
        d, cell = self.model.decoupling, self.block[which]
        if which == "gain":
            self.picture_detail.value = gain_detail_html(d, self.model.document, self._full(), cell) if d else ""
        else:
            self.rga_detail.value = rga_detail_html(d, self.model.document, self._full(), cell) if d else ""


class WhatIfView(w.VBox):
    """Above the tabs: the last change before -> after, and the spec as written beside now."""

    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.body = _html("whatif")
        super().__init__([self.body])
        model.observe(self._draw, names="last_change")  # set after `now`, once per change
        self._draw()

    def _draw(self, change: Any = None) -> None:
        self.body.value = whatif_html(self.model.baseline, self.model.now, self.model.last_change)


BUILT_IN_TABS: list[tuple[str, Callable[[ExplorerModel], w.Widget]]] = [
    ("Overview", OverviewView), ("Diagnostics", DiagnosticsView), ("Redundancy", RedundancyView),
    ("Decoupling", DecouplingView), ("Conversations", ConversationsView), ("Trust", TrustView),
]


def plugin_tabs(plugin_manager: Any = None) -> list[tuple[str, Callable[[ExplorerModel], w.Widget], str]]:
    """(title, build, plugin) registered through ``metricsense_register_explorer_tabs``; a plugin
    whose registration raises is reported in a tab of its own."""
    if plugin_manager is None:
        from metricsense.plugins import get_plugin_manager

        plugin_manager, _ = get_plugin_manager()
    found: list[tuple[str, Callable, str]] = []
    for impl in plugin_manager.hook.metricsense_register_explorer_tabs.get_hookimpls():
        def register(title: str, build: Callable, _plugin: str = impl.plugin_name) -> None:
            found.append((str(title), build, _plugin))

        try:
            impl.function(*[{"register": register}[a] for a in impl.argnames])
        except Exception as exc:
            found.append((f"{impl.plugin_name} (failed)", _failed(f"{type(exc).__name__}: {exc}"), impl.plugin_name))
    return found


def _failed(message: str) -> Callable[[ExplorerModel], w.Widget]:
    return lambda model: w.HTML(f"<p>This tab could not be built: {esc(message)}</p>")


class Explorer(w.VBox):
    """The explorer: a header and one tab per view (the built-in ones, then the plugins')."""

    def __init__(self, model: ExplorerModel, plugin_manager: Any = None) -> None:
        self.model = model
        tabs = [(title, build, "metricsense") for title, build in BUILT_IN_TABS]
        if model.compare is not None:
            from metricsense.widgets.diffview import DiffView

            tabs.append(("Diff", DiffView, "metricsense"))
        tabs += plugin_tabs(plugin_manager)
        children, titles = [], []
        for title, build, plugin in tabs:
            try:
                child = build(model)
                if not isinstance(child, w.Widget):
                    raise TypeError(f"built {type(child).__name__}, not a widget")
            except Exception as exc:
                child = _failed(f"plugin {plugin!r}: {type(exc).__name__}: {exc}")(model)
            children.append(child)
            titles.append(title)
        self.views = dict(zip(titles, children))
        self.tabs = w.Tab(children=children, titles=titles)
        self.tabs.add_class("msense-tabs")
        header = w.HTML(f"<style>{STYLE}</style><b>metricsense explorer</b>: <code>{esc(model.spec)}</code>")
        self.whatif = WhatIfView(model)
        super().__init__([header, self.whatif, self.tabs])
        self.add_class("msense-explorer")

    # ---- without a kernel: the snapshot (metricsense.widgets.snapshot) ---------------------------

    def snapshot(self) -> str:
        """Self-contained HTML of the tabs as they show now (what nbconvert and a page without a kernel show)."""
        from metricsense.widgets.snapshot import snapshot_html

        return snapshot_html(self)

    def save_html(self, path: str | Path) -> Path:
        """Write the snapshot as a page that opens offline (no script, nothing loaded); returns the path."""
        from metricsense.widgets.snapshot import page

        path = Path(path)
        path.write_text(page(self), "utf-8")
        return path

    def __repr__(self) -> str:
        from metricsense.widgets.snapshot import snapshot_text

        return snapshot_text(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        # The live widget where a widget manager runs; the snapshot for the rest: nbconvert takes
        # text/html (its preprocessor drops the widget view: widgets.nbconvert_snapshot), and so
        # do front ends that show no widgets. EXPLORER_MIME is for the JupyterLab extension (jupyterlab/src/
        # snapshot.ts): ranked before the widget view, it draws the widget view when its model is
        # in the kernel and the snapshot when it is not (a notebook reopened).
        from metricsense.widgets import EXPLORER_MIME

        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = repr(self)
        data["text/html"] = self.snapshot()
        view = data.get("application/vnd.jupyter.widget-view+json")
        if view:
            data[EXPLORER_MIME] = {"model_id": view["model_id"]}
        return data


def explore(report: Any, spec: str | None = None, data: Any = None, plugin_manager: Any = None,
            compare: Any = None, **check_kwargs: Any) -> Explorer:
    """An Explorer of one spec of ``report`` (a Report, or a spec or path, checked first); with
    ``compare`` (another Report, spec or path, checked the same way) a Diff tab, `msense diff`'s view."""
    from metricsense.engine import check

    if not hasattr(report, "analysis") or not hasattr(report, "diagnostics"):
        report = check(report, data=data, **check_kwargs)
    if compare is not None and not (hasattr(compare, "analysis") and hasattr(compare, "diagnostics")):
        compare = check(compare, data=data, **check_kwargs)
    model = ExplorerModel(report, spec=spec, data=data, compare=compare)
    return Explorer(model, plugin_manager=plugin_manager)
