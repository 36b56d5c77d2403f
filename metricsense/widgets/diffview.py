"""The explorer's Diff tab: `msense diff` between the spec explored and another (or an edited copy).

The numbers are `metricsense.diff.diff_reports`' (the pull-request view), drawn as a table: KPIs
and levers added and removed, the condition number of the declared gains, the effective number of
KPIs, key failures guarded per level, findings new and gone. Like `msense diff`, it never compares
a finding about one named person (it counts them).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from metricsense.reports.svg import esc
from metricsense.widgets.display import wrap


def diff_html(d: dict[str, Any]) -> str:
    """The diff of two specs as an HTML table (the rows of `msense diff`'s Markdown)."""
    from metricsense.diff import NEEDS_DATA, _cond, _trend

    c, e = d["condition_number"], d["effective_number"]
    names = (lambda items: ", ".join(f"<code>{esc(i)}</code>" for i in items) or "none")  # noqa: E731
    eff = (lambda v: NEEDS_DATA if v is None else f"{v:.2f}")  # noqa: E731
    rows = [("KPIs", d["kpis"]["count"]["old"], d["kpis"]["count"]["new"],
             f"added {names(d['kpis']['added'])}; removed {names(d['kpis']['removed'])}"),
            ("levers", d["levers"]["count"]["old"], d["levers"]["count"]["new"],
             f"added {names(d['levers']['added'])}; removed {names(d['levers']['removed'])}"),
            ("condition number (declared gains)",
             _cond(c["old"], c["old_rank_deficient"], c.get("old_rank"), d["kpis"]["count"]["old"]),
             _cond(c["new"], c["new_rank_deficient"], c.get("new_rank"), d["kpis"]["count"]["new"]), esc(_trend(c))),
            ("effective number of KPIs", eff(e["old"]), eff(e["new"]), "" if e["note"] is None else "needs data")]
    for level, ch in d["failure_levels"].items():
        o, n = ch["old"] or {}, ch["new"] or {}
        rows.append((f"failures at {level}", f"{o.get('guarded', 0)}/{o.get('failures', 0)} guarded",
                     f"{n.get('guarded', 0)}/{n.get('failures', 0)} guarded",
                     "uncovered" if n.get("failures", 0) == 0 else ""))
    body = [f"<p><b>{esc(d['old'])}</b> → <b>{esc(d['new'])}</b></p>",
            '<table class="diff"><thead><tr><th></th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>',
            # the change column is built from escaped names above
            *(f"<tr><th>{esc(m)}</th><td>{esc(a)}</td><td>{esc(b)}</td><td>{ch}</td></tr>" for m, a, b, ch in rows),
            "</tbody></table>"]
    for title, items in (("New findings", d["findings"]["new"]), ("Findings gone", d["findings"]["gone"])):
        body.append(f'<h4 class="diff-{"new" if title.startswith("New") else "gone"}">{esc(title)} ({len(items)})</h4>')
        if items:
            body.append("<table><thead><tr><th>severity</th><th>code</th><th>rule</th><th>message</th></tr></thead><tbody>"
                        + "".join(f"<tr><td>{esc(f['severity'])}</td><td><code>{esc(f['code'])}</code></td>"
                                  f"<td>{esc(f['name'])}</td><td>{esc(f['message'])}</td></tr>" for f in items)
                        + "</tbody></table>")
        else:
            body.append('<p class="muted">none</p>')
    withheld = d.get("withheld")
    if withheld:
        body.append(f'<p class="muted">Personal findings (about one named person) are not compared here: '
                    f"{esc(withheld['old'])} before, {esc(withheld['new'])} after.</p>")
    return "".join(body)


class DiffView(w.VBox):
    """The Diff tab: the spec explored (before) against ``model.compare`` (after)."""

    def __init__(self, model: Any) -> None:
        from metricsense.diff import diff_reports

        self.model = model
        other = model.compare
        new_name = next(iter(other.analysis), None) or next(iter(other.documents), "other")
        self.diff = diff_reports(model.report, other, old_name=model.spec, new_name=str(new_name))
        self.body = w.HTML(wrap(diff_html(self.diff), "diff", style=False))
        self.body.add_class("msense-diff")
        super().__init__([self.body])
