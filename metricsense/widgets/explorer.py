"""The explorer: a model holds the state, views compose stock ipywidgets, the core does the compute.

``ExplorerModel`` (traitlets) holds one spec of a report, the choices a reader makes (families
and severities shown, the redundancy threshold, the KPIs and levers kept, the KPI whose timeline
is shown) and the results derived from them. Every number comes from the core library: the
check's analysis, the MS101 rule run again at another threshold, the decoupling evaluator's
``gain_analysis`` on the spec without the unticked KPIs and levers (with the condition number,
rank and RGA from the kernels first, at once, and the searched pairing right after), the agenda.
The views only draw (with the HTML report's inline SVG) and set traits. Tests set traits and
assert the model's state, with no browser.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
from traitlets import Any as AnyTrait
from traitlets import Dict, Float, HasTraits, List, Unicode, observe

from metricsense.evaluators.records import CorrelationAnalysis, GainAnalysis, TriggersAnalysis, TrustAnalysis
from metricsense.model import KPI, LEVELS, Lever
from metricsense.reports.svg import esc, gap_bars, heatmap, line_chart
from metricsense.widgets.display import diagnostics_html, wrap

SEVERITIES = ("error", "warning", "info", "hint")
FAMILIES = {"MS1": "correlation", "MS2": "decoupling", "MS3": "noise", "MS4": "distortion", "MS5": "trust",
            "MS6": "conversation"}


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


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "∞" if math.isinf(v) else f"{v:.{digits}g}"
    return str(v)


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
    correlation = Dict(help="the correlation analysis: kpis, matrix, basis, method, effective_number")
    clusters = List(help="redundant groups at the threshold: {keep, drop, r, n}")

    kpis = List(Unicode(), help="KPIs of the gain analysis")
    levers = List(Unicode(), help="levers of the gain analysis")
    kpis_on = List(Unicode(), help="KPIs kept (ticked)")
    levers_on = List(Unicode(), help="levers kept (ticked)")
    decoupling = Dict(help="gain analysis of the kept KPIs and levers; `pending` until the pairing is searched")
    suggestion = Dict(help="`suggest()`: the best set of KPIs for the ticked levers, worst-case loss before and after")

    agenda = List(help="agenda items of this spec, as dicts")
    kpi = Unicode(help="the KPI whose timeline is shown")
    timeline = Dict(help="per KPI: periods, values, target and the periods where triggers fired")

    trust = Dict(help="per trust signal: the groups that may be shown, and how many are not")

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
        self.families = sorted({family(d.code) for d in self._own_diagnostics()})
        self._filter()
        corr = CorrelationAnalysis.of(analysis)
        self.correlation = corr.to_json() if corr is not None else {}
        self._cluster()
        gain = GainAnalysis.of(analysis)
        self.kpis, self.levers = (list(gain.kpis), list(gain.levers)) if gain is not None else ([], [])
        with self.hold_trait_notifications():
            self.kpis_on, self.levers_on = list(self.kpis), list(self.levers)
        self._decouple()
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

    # ---- diagnostics -------------------------------------------------------------------------

    def _own_diagnostics(self) -> list:
        files = set(self.document.files) | {self.spec}
        # As the HTML report: findings about one named person only when the reader asked.
        report = self.report.for_reader(True) if callable(getattr(self.report, "for_reader", None)) else self.report
        return [d for d in report.diagnostics if d.span.file in files or len(self.report.documents) == 1]

    @observe("family_filter", "severity_filter")
    def _filter(self, change: Any = None) -> None:
        fams, sevs = set(self.family_filter), set(self.severity_filter)
        self.diagnostics = [d for d in self._own_diagnostics()
                            if (not fams or family(d.code) in fams) and (not sevs or str(d.severity) in sevs)]

    # ---- redundancy: MS101 itself, at the chosen threshold ---------------------------------------

    @observe("threshold")
    def _cluster(self, change: Any = None) -> None:
        registry = self.report.registry
        rule = registry.rules.get("MS101") if registry is not None else None
        if self.data is None or rule is None or rule.func is None or not self.correlation:
            self.clusters = []
            return
        from metricsense.diagnostics import EvalContext

        options = {name: opt.default for name, opt in rule.options.items()}
        options.update({k: self.correlation[k] for k in ("basis", "method") if k in self.correlation})
        options["threshold"] = float(self.threshold)
        ctx = EvalContext(self.document, rule, options, self.data, {})
        clusters = []
        for d in rule.func(ctx):
            ev = d.evidence
            strongest = max(ev.get("pairs") or [{}], key=lambda p: abs(p.get("r", 0)))
            clusters.append({"keep": ev.get("keep"), "drop": list(ev.get("drop") or []),
                             "r": strongest.get("r"), "n": strongest.get("n"), "message": d.message})
        self.clusters = clusters

    # ---- decoupling: the evaluator's own analysis of the kept KPIs and levers ---------------------

    def _sub_document(self):
        kpis_off = set(self.kpis) - set(self.kpis_on)
        levers_off = set(self.levers) - set(self.levers_on)
        kept = tuple(s for s in self.document.statements
                     if not (isinstance(s, KPI) and s.name in kpis_off)
                     and not (isinstance(s, Lever) and s.name in levers_off))
        return dataclasses.replace(self.document, statements=kept)

    @observe("kpis_on", "levers_on")
    def _decouple(self, change: Any = None) -> None:
        import numpy as np

        from metricsense import kernels
        from metricsense.evaluators.decoupling import declared_gains, gain_analysis
        from metricsense.reports import gains

        full = GainAnalysis.of(self.report.analysis.get(self.spec) or {})
        if full is None:
            self.decoupling = {}
            return
        sub = self._sub_document()
        if full.source == "declared":
            k, lv, g = declared_gains(sub)
            names_k, names_l = [x.name for x in k], [x.name for x in lv]
        else:  # estimated from data: the report's estimate, restricted
            rows = [i for i, n in enumerate(full.kpis) if n in self.kpis_on]
            cols = [j for j, n in enumerate(full.levers) if n in self.levers_on]
            m = np.array([[np.nan if v is None else v for v in row] for row in full.matrix], dtype=float)
            g = m[np.ix_(rows, cols)] if rows and cols else np.zeros((0, 0))
            names_k, names_l = [full.kpis[i] for i in rows], [full.levers[j] for j in cols]
        left_out = [n for n in self.kpis_on if n not in names_k]
        # First, at once: condition number, rank and RGA from the kernels.
        quick = gains.analyse(names_k, names_l, g) if g.size and np.isfinite(g).all() else {
            "kpis": names_k, "levers": names_l, "matrix": g.tolist(), "condition_number": None, "rank": 0,
            "rga": None, "singular_values": []}
        quick["source"] = full.source
        quick["scaled_condition_number"] = (float(kernels.equilibrated_condition_number(g))
                                            if g.size and np.isfinite(g).all() and quick["rank"] == min(g.shape)
                                            else None)
        quick.update({"suggested_pairing": None, "rga_number": None, "pending": bool(g.size),
                      "without_lever": left_out})
        self.decoupling = quick
        if not g.size:
            return
        # Then the evaluator's analysis, which searches the pairing with the smallest RGA number.
        result = gain_analysis(sub, self.data if full.source != "declared" else None)
        done = dict(quick, pending=False)
        if result is not None:
            done.update({"suggested_pairing": dict(result.suggested_pairing), "rga_number": result.rga_number,
                         "rga": result.rga, "minimized_condition_number": result.minimized_condition_number})
            if result.scaled_condition_number is not None:
                done["scaled_condition_number"] = result.scaled_condition_number
        self.decoupling = done

    def suggest(self) -> None:
        """Tick the best set of KPIs for the ticked levers (msense select), keeping the losses before and after."""
        from metricsense.selection import SelectError, evaluate, prepared, select_document
        from metricsense.selection.search import floor_of

        levers_off = set(self.levers) - set(self.levers_on)
        doc = dataclasses.replace(self.document, statements=tuple(
            st for st in self.document.statements if not (isinstance(st, Lever) and st.name in levers_off)))
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

        return [i.to_dict() for i in build(self.report).items if i.spec == self.spec]

    def _timeline(self) -> dict:
        from metricsense.reports.html import fired_by_kpi

        triggers = TriggersAnalysis.of(self.report.analysis.get(self.spec))
        if triggers is None:
            return {}
        fired = fired_by_kpi(self.document, triggers)
        out = {}
        for name, s in (triggers.series or {}).items():
            node = self.document.lookup(name)
            target = s.target
            if target is None and getattr(node, "target", None) is not None:
                target = node.target.value
            out[name] = {"periods": list(map(str, s.periods)), "values": list(s.values),
                         "target": target, "fired": sorted(set(fired.get(name, ())))}
        return out

    # ---- trust: what the trust evaluator shows, and how many groups it does not ------------------

    def _trust(self) -> dict:
        # The HTML report's rule: a group names its manager, so groups are shown only when the
        # reader asked (show_personal); otherwise only how many (`not_named`).
        report = self.report.for_reader(True) if callable(getattr(self.report, "for_reader", None)) else self.report
        trust = TrustAnalysis.of(report.analysis.get(self.spec))
        out = {}
        for name, info in (trust.signals if trust is not None else {}).items():
            shown = [{"group": g.group, "manager": g.manager, "managers": g.managers, "team": g.team, "gap": g.gap,
                      "n": g.n, "over": g.over} for g in info.groups]
            out[name] = {"gap": info.gap, "scale": list(info.scale), "period": info.period, "groups": shown,
                         "not_shown": info.suppressed, "not_named": info.not_named}
        return out


# ---- views -----------------------------------------------------------------------------------


def _html(kind: str) -> w.HTML:
    box = w.HTML()
    box.add_class(f"msense-{kind}")
    return box


class OverviewView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.body = _html("overview")
        super().__init__([self.body])
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
            "<table class=\"failures\"><thead><tr><th>level</th><th>key failure</th><th>guarded by</th>"
            "<th>levers that move them</th></tr></thead><tbody>", *rows, "</tbody></table>"], "overview")


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

        self.table.value = wrap(diagnostics_html(ds, SourceCache(getattr(self.model.report, "sources", None))),
                                "diagnostics")


class RedundancyView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.slider = w.FloatSlider(value=model.threshold, min=0.3, max=1.0, step=0.01, description="|r| ≥",
                                    continuous_update=False, readout_format=".2f")
        self.slider.add_class("msense-threshold")
        self.clusters = _html("clusters")
        self.picture = _html("heatmap")
        super().__init__([self.slider, self.clusters, self.picture])
        w.link((self.slider, "value"), (model, "threshold"))
        model.observe(self._draw, names="clusters")
        self._draw()

    def _draw(self, change: Any = None) -> None:
        corr = self.model.correlation
        if not corr:
            self.clusters.value = wrap('<p class="muted">No correlation analysis: the spec has no data for two or '
                                       "more KPIs.</p>", "clusters")
            self.picture.value = ""
            return
        cl = self.model.clusters
        if cl:
            items = "".join(f"<li>keep <code>{esc(c['keep'])}</code>, drop "
                            f"{', '.join(f'<code>{esc(n)}</code>' for n in c['drop'])} (r = {esc(_fmt(c['r'], 2))}, "
                            f"n = {esc(c['n'])})</li>" for c in cl)
            text = f"<p><b>{len(cl)}</b> redundant group{'s' if len(cl) != 1 else ''} at |r| ≥ {self.model.threshold:.2f}:</p><ul>{items}</ul>"
        else:
            text = f"<p>No redundant KPIs at |r| ≥ {self.model.threshold:.2f}.</p>"
        eff = corr.get("effective_number")
        if eff is not None:
            text += f"<p class=\"muted\">Effective number of KPIs: {esc(_fmt(eff))} of {esc(corr.get('effective_of', len(corr['kpis'])))}.</p>"
        self.clusters.value = wrap(text, "clusters")
        # Members of a group side by side, so the blocks show.
        kpis = list(corr["kpis"])
        order = [n for c in cl for n in [c["keep"], *c["drop"]] if n in kpis]
        order += [n for n in kpis if n not in order]
        idx = [kpis.index(n) for n in order]
        matrix = [[corr["matrix"][i][j] for j in idx] for i in idx]
        caption = f"{corr.get('method', 'pearson')} correlation of {corr.get('basis', 'the series')}"
        self.picture.value = wrap(f'<figure>{heatmap(matrix, order, order, title="KPI correlation", limit=1.0)}'
                                  f"<figcaption>{esc(caption)}</figcaption></figure>", "heatmap")


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
        self.condition = _html("condition")
        self.rank = _html("rank")
        self.pairing = _html("pairing")
        self.picture = _html("gains")
        self.suggest = w.Button(description="suggest", tooltip="tick the best KPIs for the ticked levers (msense select)")
        self.suggest.add_class("msense-suggest")
        self.suggest.on_click(lambda _: model.suggest())
        self.suggested = _html("suggestion")
        choose = w.HBox([w.VBox([w.HTML("<b>KPIs</b>"), *self.kpi_boxes.values()]),
                         w.VBox([w.HTML("<b>levers</b>"), *self.lever_boxes.values()])])
        summary = w.VBox([self.condition, self.rank, self.pairing, self.suggest, self.suggested])
        super().__init__([w.HBox([choose, summary]), self.picture])
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

    def _draw(self, change: Any = None) -> None:
        from metricsense.reports import gains
        from metricsense.reports.html import gain_figures

        d = self.model.decoupling
        if not d:
            self.condition.value = "<i>No gain matrix: no KPI declares `responds`, and no data to estimate one.</i>"
            self.rank.value = self.pairing.value = self.picture.value = ""
            return
        with self.hold_sync():
            self.condition.value = (f"condition number <b class=\"value\">{esc(gains.format_condition(d.get('condition_number')))}</b>"
                                    f" (scaled {esc(_fmt(d.get('scaled_condition_number')))})")
            self.rank.value = (f"rank <b class=\"value\">{esc(d.get('rank'))}</b> of {len(d.get('kpis') or [])} KPIs "
                               f"and {len(d.get('levers') or [])} levers ({esc(d.get('source'))} gains)"
                               + (f"; no lever left for {esc(', '.join(d['without_lever']))}" if d.get("without_lever") else ""))
            if d.get("pending"):
                self.pairing.value = "suggested pairing: <i>searching…</i>"
            elif d.get("suggested_pairing"):
                pairs = "".join(f"<li><code>{esc(k)}</code> ← <code>{esc(v)}</code></li>" for k, v in d["suggested_pairing"].items())
                self.pairing.value = (f"suggested pairing (RGA number {esc(_fmt(d.get('rga_number')))}):"
                                      f"<ul class=\"pairing\">{pairs}</ul>")
            else:
                self.pairing.value = "suggested pairing: none"
            g = {k: d.get(k) for k in ("kpis", "levers", "matrix", "condition_number", "rank", "rga",
                                       "scaled_condition_number")}
            self.picture.value = wrap(gain_figures(g, self.model.document, f"{(d.get('source') or '').capitalize()} gains"),
                                      "gains")


class ConversationsView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        from metricsense.agenda import Agenda, AgendaItem
        from metricsense.widgets.display import agenda_html

        self.model = model
        agenda = Agenda([AgendaItem(**i) for i in model.agenda])
        self.agenda = _html("agenda")
        self.agenda.value = agenda_html(agenda)
        self.firings = _html("firings")
        names = list(model.timeline)
        self.kpi = w.Dropdown(options=names, value=model.kpi or None, description="KPI")
        self.chart = _html("timeline")
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
        t = self.model.timeline.get(self.model.kpi)
        if not t:
            self.chart.value = ""
            return
        self.chart.value = wrap(line_chart(t["periods"], t["values"], title=self.model.kpi, target=t["target"],
                                           fired=t["fired"]), "timeline")


class TrustView(w.VBox):
    def __init__(self, model: ExplorerModel) -> None:
        self.model = model
        self.body = _html("trust")
        super().__init__([self.body])
        parts = []
        for name, info in model.trust.items():
            note = f" {info['not_shown']} group(s) are too small to stay anonymous and are not shown." if info["not_shown"] else ""
            if info["groups"]:
                parts.append(f"<figure>{gap_bars(info['groups'], title=f'Trust gap: {name}', threshold=info['gap'], scale=tuple(info['scale']) if info['scale'] else None)}"
                             f"<figcaption><code>{esc(name)}</code> ({esc(info.get('period') or 'all answers')}): the managers' "
                             f"and the team's answers per group; gaps over {esc(_fmt(info['gap']))} in red.{esc(note)}</figcaption></figure>")
            else:
                parts.append(f"<p class=\"muted\"><code>{esc(name)}</code>: no group can be shown.{esc(note)}</p>")
        self.body.value = wrap(parts or ['<p class="muted">No trust signal with survey data.</p>'], "trust")


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
        tabs = [(title, build, "metricsense") for title, build in BUILT_IN_TABS] + plugin_tabs(plugin_manager)
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
        header = w.HTML(f"<b>metricsense explorer</b>: <code>{esc(model.spec)}</code>")
        super().__init__([header, self.tabs])
        self.add_class("msense-explorer")


def explore(report: Any, spec: str | None = None, data: Any = None, plugin_manager: Any = None,
            **check_kwargs: Any) -> Explorer:
    """An Explorer of one spec of ``report`` (a Report, or a spec or path, checked first)."""
    if not hasattr(report, "analysis") or not hasattr(report, "diagnostics"):
        from metricsense.engine import check

        report = check(report, data=data, **check_kwargs)
    return Explorer(ExplorerModel(report, spec=spec, data=data), plugin_manager=plugin_manager)
