"""`msense select` as people read it: plain text for a terminal, Markdown for a pull request or a wiki.

The JSON (`--format json`) is `Selection.as_dict()`: a stable contract, see docs/select.md.
"""

from __future__ import annotations

import json

from metricsense.selection.problem import DEFAULT_NOISE, MIN_CHANGES


def _loss(x) -> str:
    return "cannot hold the levers" if x is None else f"{x:.4g}"


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _names(kpis) -> str:
    return ", ".join(kpis)


def render_json(selection) -> str:
    from metricsense.encoding import json_default

    return json.dumps(selection.as_dict(), indent=2, ensure_ascii=False, default=json_default, allow_nan=False) + "\n"


#: Said when the time limit stopped the search.
STOPPED = ("the search stopped at its time limit: these are the best sets found so far, not proven the best "
           "(a longer `--time-limit`, or none, searches on)")


def _combination_lines(selection, bullet: str) -> list[str]:
    comb = selection.combination
    out = [f"{bullet}best combination of all {len(comb['kpis'])} KPIs (Alstad, Skogestad & Hori 2009): "
           f"worst-case loss {_loss(comb['worst_case_loss'])}, average {_loss(comb['average_loss'])}"]
    for row in comb["H"]:
        top = max(abs(v) for v in row) or 1.0
        terms = [f"{v / top:+.2f} {k}" for v, k in zip(row, comb["kpis"]) if abs(v / top) >= 0.005]
        out.append(f"{bullet}  index: {' '.join(terms)}")
    ns = comb["null_space"]
    if not selection.inputs.disturbances:
        out.append(f"{bullet}null space: no disturbance is declared, so there is none to cancel (declare them, "
                   f"and the KPIs they move with `disturbed`)")
        return out
    if ns["possible"]:
        out.append(f"{bullet}null space: an index of the KPIs cancels every disturbance (H F = 0; "
                   f"{ns['kpis']} KPIs >= {ns['kpis_needed']} levers + disturbances); with noise its "
                   f"worst-case loss is {_loss(ns['worst_case_loss'])}")
    else:
        out.append(f"{bullet}null space: no index cancels every disturbance ({ns['kpis']} KPIs, "
                   f"{ns['kpis_needed']} needed: one per lever and per disturbance)")
    return out


def render_text(selection) -> str:
    inp = selection.inputs
    lines = [f"choosing {_n(selection.size, 'KPI')} of {len(inp.kpis)} for {_n(len(inp.levers), 'lever')} and "
             f"{_n(len(inp.disturbances), 'disturbance')} (exact local method; loss in units of the mission's cost)", ""]
    cur = selection.current
    if cur is not None:
        lines.append(f"current targets: {_names(cur.kpis)}")
        lines.append(f"  worst-case loss {_loss(cur.worst_case_loss)}, average {_loss(cur.average_loss)}")
        if cur.note:
            lines.append(f"  note: {cur.note}")
        lines.append("")
    lines.append("best sets:")
    if not selection.complete:
        lines.append(f"  note: {STOPPED}")
    for i, c in enumerate(selection.candidates, 1):
        lines.append(f"  {i}. {_names(c.kpis)}")
        lines.append(f"     worst-case loss {_loss(c.worst_case_loss)}, average {_loss(c.average_loss)}")
    if not selection.candidates:
        lines.append("  none: no set of this size can hold the levers" if selection.complete
                     else "  none found before the time limit")
    lines += ["", f"why: {selection.why}", ""]
    lines += _combination_lines(selection, "")
    defaults = [k for k, src in zip(inp.kpis, inp.noise_from) if src == "default"]
    if defaults:
        many = len(defaults) > 1
        lines.append(f"noise: {_names(defaults[:6])}{' and others' if len(defaults) > 6 else ''} "
                     f"declare{'' if many else 's'} no noise and {'have' if many else 'has'} no data to measure it from (it takes "
                     f"{MIN_CHANGES + 1} consecutive periods that vary): "
                     f"the default {DEFAULT_NOISE:g} is used (declare `noise 0.2` in a KPI)")
    return "\n".join(lines) + "\n"


def render_markdown(selection) -> str:
    inp = selection.inputs
    lines = [f"## Choosing {_n(selection.size, 'KPI')} of {len(inp.kpis)}", "",
             f"{_n(len(inp.levers), 'lever')}, {_n(len(inp.disturbances), 'disturbance')}; losses by the exact local method "
             "of self-optimizing control, in units of the mission's cost.", "",
             "| | KPIs | worst-case loss | average loss |", "|---|---|---|---|"]
    cur = selection.current
    if cur is not None:
        lines.append(f"| current targets | {_names(cur.kpis)} | {_loss(cur.worst_case_loss)} | {_loss(cur.average_loss)} |")
    for i, c in enumerate(selection.candidates, 1):
        lines.append(f"| best {i} | {_names(c.kpis)} | {_loss(c.worst_case_loss)} | {_loss(c.average_loss)} |")
    lines += ["", f"**Why:** {selection.why}", ""]
    if not selection.complete:
        lines += [f"*Note:* {STOPPED[0].upper()}{STOPPED[1:]}.", ""]
    if cur is not None and cur.note:
        lines += [f"*Note:* {cur.note}", ""]
    lines += _combination_lines(selection, "- ")
    return "\n".join(lines) + "\n"
