"""`msense diff OLD NEW`: what a change to a KPI system does, for a pull request."""

from __future__ import annotations

import json
from typing import Any

from metricsense.evaluators.records import CorrelationAnalysis
from metricsense.model import LEVELS

NEEDS_DATA = "needs data"


def _spec_summary(report) -> dict[str, Any]:
    from metricsense.reports import gains

    doc = next(iter(report.documents.values()), None)
    analysis = next(iter(report.analysis.values()), {}) if report.analysis else {}
    out: dict[str, Any] = {"kpis": [], "levers": [], "condition_number": None, "rank_deficient": False,
                           "effective_number": None, "failure_levels": {}}
    if doc is not None:
        out["kpis"] = [k.name for k in doc.kpis]
        out["levers"] = [lv.name for lv in doc.levers]
        g = gains.declared(doc)
        cond = g["condition_number"]
        # NOTE: rank-deficient as MS202 says it: fewer independent directions than KPIs (three KPIs
        # on two levers have a finite condition number, but one KPI combination no lever moves).
        out["rank_deficient"] = cond == float("inf") or (cond is not None and g["rank"] < len(out["kpis"]))
        out["rank"] = g["rank"]
        # NOTE: a KPI no lever moves (a paired estimate, a KPI only watched) makes the whole ∞ while
        # MS201/MS202 judge the KPIs that declare gains: the table names it and gives the rest's number
        out["orphaned"] = list(g.get("orphaned") or [])
        steer = g.get("steerable_condition_number")
        out["steerable_condition_number"] = None if steer is None or steer == float("inf") else steer
        out["condition_number"] = None if cond is None or cond == float("inf") else cond
        guarded = {ref.name for k in doc.kpis for ref in k.guards}
        for level in LEVELS:
            at = [f.name for f in doc.failures if f.level == level]
            out["failure_levels"][level] = {"failures": len(at), "guarded": sum(f in guarded for f in at)}
    corr = CorrelationAnalysis.of(analysis)
    if corr is not None and corr.effective_number is not None:
        out["effective_number"] = float(corr.effective_number)
    # A pull request is public: findings about one named person (MS501) are never compared here,
    # only counted (as every CI format does: Report.for_reader).
    shown = report.for_reader(False) if callable(getattr(report, "for_reader", None)) else report
    out["findings"] = [{"code": d.code, "name": d.name, "severity": str(d.severity), "message": d.message,
                        "span": d.span.to_dict()} for d in shown.diagnostics]
    out["withheld"] = dict(getattr(shown, "withheld", None) or {})
    return out


def _key(f: dict) -> tuple:
    # Findings are matched by rule and message (which names the objects), not by position: a
    # line moved by an unrelated edit is the same finding.
    return (f["code"], f["message"])


def diff_reports(old, new, old_name: str = "OLD", new_name: str = "NEW") -> dict[str, Any]:
    a, b = _spec_summary(old), _spec_summary(new)
    old_keys = {_key(f) for f in a["findings"]}
    new_keys = {_key(f) for f in b["findings"]}

    def change(x, y):
        return {"old": x, "new": y}

    return {
        "version": 1,
        "old": old_name,
        "new": new_name,
        "kpis": {"added": [k for k in b["kpis"] if k not in a["kpis"]],
                 "removed": [k for k in a["kpis"] if k not in b["kpis"]],
                 "count": change(len(a["kpis"]), len(b["kpis"]))},
        "levers": {"added": [k for k in b["levers"] if k not in a["levers"]],
                   "removed": [k for k in a["levers"] if k not in b["levers"]],
                   "count": change(len(a["levers"]), len(b["levers"]))},
        "condition_number": {"old": a["condition_number"], "new": b["condition_number"],
                             "old_rank_deficient": a["rank_deficient"], "new_rank_deficient": b["rank_deficient"],
                             "old_rank": a.get("rank"), "new_rank": b.get("rank"),
                             "old_orphaned": a.get("orphaned", []), "new_orphaned": b.get("orphaned", []),
                             "old_steerable": a.get("steerable_condition_number"),
                             "new_steerable": b.get("steerable_condition_number"), "source": "declared gains"},
        "effective_number": {"old": a["effective_number"], "new": b["effective_number"],
                             "note": None if a["effective_number"] is not None and b["effective_number"] is not None
                             else NEEDS_DATA},
        "failure_levels": {lv: change(a["failure_levels"].get(lv), b["failure_levels"].get(lv)) for lv in LEVELS},
        "findings": {"new": [f for f in b["findings"] if _key(f) not in old_keys],
                     "gone": [f for f in a["findings"] if _key(f) not in new_keys]},
        **({"withheld": change(_count(a["withheld"]), _count(b["withheld"]))}
           if a["withheld"] or b["withheld"] else {}),
        "exit_code": {"old": old.exit_code, "new": new.exit_code},
    }


def _count(withheld: dict) -> int:
    return sum(sum(by.values()) for by in withheld.values())


def _cond(value, deficient, rank=None, kpis=None, orphaned=(), steerable=None) -> str:
    if deficient:
        text = "∞ (rank-deficient)" if rank is None or kpis is None else f"∞ (rank {rank} for {kpis} KPIs)"
        if orphaned:
            text += f"; no lever moves {_names(list(orphaned))}"
            if steerable is not None:
                text += f": {steerable:.3g} among the other {kpis - len(orphaned)}" if kpis else ""
        return text
    return "n/a" if value is None else f"{value:.3g}"


def _names(items: list[str]) -> str:
    from metricsense.reports.markdown import md_code

    return ", ".join(md_code(i, table=True) for i in items) or "none"


def render_markdown(d: dict[str, Any]) -> str:
    from metricsense.reports.markdown import md_code, md_text

    c, e = d["condition_number"], d["effective_number"]
    cond_old = _cond(c["old"], c["old_rank_deficient"], c.get("old_rank"), d["kpis"]["count"]["old"],
                     c.get("old_orphaned") or (), c.get("old_steerable"))
    cond_new = _cond(c["new"], c["new_rank_deficient"], c.get("new_rank"), d["kpis"]["count"]["new"],
                     c.get("new_orphaned") or (), c.get("new_steerable"))
    eff = (lambda v: NEEDS_DATA if v is None else f"{v:.2f}")
    out = [f"## KPI system change: {md_code(d['old'])} → {md_code(d['new'])}", "",
           "| | before | after | change |", "|---|---|---|---|",
           f"| KPIs | {d['kpis']['count']['old']} | {d['kpis']['count']['new']} | "
           f"added {_names(d['kpis']['added'])}; removed {_names(d['kpis']['removed'])} |",
           f"| levers | {d['levers']['count']['old']} | {d['levers']['count']['new']} | "
           f"added {_names(d['levers']['added'])}; removed {_names(d['levers']['removed'])} |",
           f"| condition number (declared gains) | {cond_old} | {cond_new} | {_trend(c)} |",
           f"| effective number of KPIs | {eff(e['old'])} | {eff(e['new'])} | "
           f"{'' if e['note'] is None else 'needs data: run with data to compare'} |"]
    for level, ch in d["failure_levels"].items():
        o, n = ch["old"] or {}, ch["new"] or {}
        fmt = (lambda x: f"{x.get('guarded', 0)}/{x.get('failures', 0)} guarded")
        flag = " ⚠ uncovered" if n.get("failures", 0) == 0 else ""
        out.append(f"| failures at {level} | {fmt(o)} | {fmt(n)} |{flag} |")
    out.append("")
    for title, items in (("New findings", d["findings"]["new"]), ("Findings gone", d["findings"]["gone"])):
        out += [f"### {title} ({len(items)})", ""]
        if items:
            out += ["| severity | code | rule | message |", "|---|---|---|---|"]
            out += ["| " + " | ".join(md_text(f[k]) for k in ("severity", "code", "name", "message")) + " |"
                    for f in items]
        else:
            out.append("none")
        out.append("")
    withheld = d.get("withheld")
    if withheld:
        out += [f"Personal findings (about one named person) are not compared here: {withheld['old']} before, "
                f"{withheld['new']} after; see `msense agenda` or `msense check --show-personal`.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _trend(c: dict) -> str:
    old = float("inf") if c["old_rank_deficient"] else c["old"]
    new = float("inf") if c["new_rank_deficient"] else c["new"]
    if old is None or new is None or old == new:
        return ""
    return "better conditioned" if new < old else "worse conditioned"


def render_json(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
