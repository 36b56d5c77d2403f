"""The explorer's model, with no browser: set traits, assert state (house style 7)."""

from __future__ import annotations

import json

import pytest

import metricsense
from metricsense.evaluators.records import TriggersAnalysis, TrustAnalysis
from support import EXAMPLES, FORBIDDEN, HIDDEN, gain_number, require

CUSTOMER_LOVE = EXAMPLES / "customer-love" / "customer-love.msense"

SMALL = """\
mission "Ship what customers love"
failure slow "Changes wait too long" at process
failure broken "Changes break production" at output
lever deploys "Deploys per week"
lever tests "Test automation"
lever reviews "Review capacity"
kpi lead "Lead time" { better lower  guards slow  responds deploys -0.5, tests -0.45 }
kpi fail "Change failure rate" { better lower  guards broken  responds deploys -0.5, tests -0.5 }
kpi wait "Review wait" { better lower  guards slow  responds reviews -0.8 }
"""


@pytest.fixture(scope="module")
def report():
    return metricsense.check(CUSTOMER_LOVE, config={})


@pytest.fixture
def ipywidgets():
    return require("ipywidgets")


def _model(report, **kw):
    from metricsense.widgets.explorer import ExplorerModel

    return ExplorerModel(report, **kw)


def test_overview_lists_failures_with_their_kpis_and_levers(report, ipywidgets):
    m = _model(report)
    assert m.overview["mission"].startswith("Enable the organization")
    by_name = {f["failure"]: f for f in m.overview["failures"]}
    doc = report.documents[m.spec]
    assert set(by_name) == {f.name for f in doc.failures}
    for f in doc.failures:
        guards = [k.name for k in doc.kpis if f.name in {g.name for g in k.guards}]
        assert by_name[f.name]["kpis"] == guards
    assert [f["level"] for f in m.overview["failures"]] == sorted(
        (f["level"] for f in m.overview["failures"]), key=["input", "process", "output", "outcome"].index)


def test_diagnostics_filter_by_family_and_severity(report, ipywidgets):
    m = _model(report)
    assert len(m.diagnostics) == len(report.for_reader(True).diagnostics)  # as the HTML report
    m.severity_filter = ["info"]
    assert {str(d.severity) for d in m.diagnostics} == {"info"}
    m.severity_filter = []
    m.family_filter = ["decoupling"]
    assert m.diagnostics and all(d.code.startswith("MS2") for d in m.diagnostics)
    m.family_filter = ["decoupling", "structure"]
    assert {d.code[:3] for d in m.diagnostics} == {"MS0", "MS2"}


def test_threshold_reclusters_with_the_rule_itself(report, ipywidgets):
    m = _model(report)
    # at the rule's default (0.9), the pair the check reported
    ms101 = [d for d in report.diagnostics if d.code == "MS101"]
    assert [(c["keep"], c["drop"]) for c in m.clusters] == [(d.evidence["keep"], d.evidence["drop"]) for d in ms101]
    m.threshold = 0.99
    assert m.clusters == []
    # MS101 also asks the data to show |r| above its `floor` (0.8): below that, a lower threshold
    # finds what the rule finds with that option, no more
    m.threshold = 0.2
    at_02 = metricsense.check(CUSTOMER_LOVE, config={"rules": {"MS101": {"threshold": 0.2}}}).diagnostics
    assert [(c["keep"], c["drop"]) for c in m.clusters] == [
        (d.evidence["keep"], d.evidence["drop"]) for d in at_02 if d.code == "MS101"]
    view = metricsense.explore(report).views["Redundancy"]
    view.slider.value = 0.99
    assert view.model.threshold == 0.99 and "No redundant KPIs" in view.clusters.value


def test_unticking_a_kpi_updates_condition_number_rank_and_pairing():
    require("ipywidgets")
    from metricsense.evaluators.decoupling import gain_analysis

    report = metricsense.check(SMALL, config={})
    explorer = metricsense.explore(report)
    m = explorer.model
    assert m.kpis == ["lead", "fail", "wait"] and m.levers == ["deploys", "tests", "reviews"]
    before = m.decoupling["condition_number"]
    assert before == pytest.approx(report.analysis["<string>"]["gain"].condition_number)
    view = explorer.views["Decoupling"]
    view.kpi_boxes["fail"].value = False  # what a click does
    assert m.kpis_on == ["lead", "wait"]
    after = m.decoupling
    assert after["kpis"] == ["lead", "wait"] and not after["pending"]
    assert after["condition_number"] != pytest.approx(before)
    # the numbers are the evaluator's own, on the spec without the KPI
    expected = gain_analysis(m._sub_document(), None)
    assert after["condition_number"] == pytest.approx(expected.condition_number)
    assert after["rank"] == expected.rank == 2
    assert after["suggested_pairing"] == expected.suggested_pairing
    assert f"{after['condition_number']:.3g}" in gain_number(view, "condition")
    # a lever off: the KPI it alone moved has no lever left, and the rank drops
    view.kpi_boxes["fail"].value = True
    view.lever_boxes["reviews"].value = False
    assert m.levers_on == ["deploys", "tests"]
    assert m.decoupling["without_lever"] == ["wait"] and m.decoupling["rank"] == 2


def test_conversations_and_timeline(report, ipywidgets):
    m = _model(report)
    # the reader's agenda: a trust gap names a manager, on the agenda here only when the reader asked
    assert m.agenda == [i.to_dict() for i in metricsense.agenda(report.for_reader(True)).items]
    assert not report.show_personal and not [i for i in m.agenda if i["source"] == "value_question"]
    assert [i for i in metricsense.agenda(report).items if i.source == "value_question"]  # msense agenda's private section
    fired = TriggersAnalysis.of(report.analysis[m.spec]).fired
    assert m.timeline and m.kpi in m.timeline
    assert any(t["fired"] for t in m.timeline.values()) == any(f.periods for f in fired.values())
    view = metricsense.explore(report).views["Conversations"]
    other = list(view.model.timeline)[-1]
    view.kpi.value = other
    assert view.model.kpi == other and "<svg" in view.chart.value


def test_the_trust_tab_never_holds_a_suppressed_group(confidential_spec):
    require("ipywidgets")
    from ipywidgets.embed import dependency_state

    report = metricsense.check(confidential_spec, config={}, show_personal=True)
    explorer = metricsense.explore(report)
    m = explorer.model
    groups = m.trust["value_question"]["groups"]
    assert sorted(g["group"] for g in groups) == ["grp-badger", "grp-otter"]
    assert m.trust["value_question"]["not_shown"] == 2
    state = {name: getattr(m, name) for name in m.trait_names() if name not in ("report", "document", "data")}
    text = json.dumps(state, default=str) + json.dumps(dependency_state(explorer), default=str)
    assert "grp-badger" in text  # the search would find a leak
    leaked = [s for s in FORBIDDEN if s in text]
    assert not leaked, leaked
    assert not any(h in json.dumps(m.trust) for h in HIDDEN)


def test_the_trust_tab_shows_exactly_the_groups_of_the_trust_record(confidential_spec):
    require("ipywidgets")
    report = metricsense.check(confidential_spec, config={}, show_personal=True)
    signal = TrustAnalysis.of(report.analysis[next(iter(report.analysis))]).signals["value_question"]
    m = metricsense.explore(report).model
    shown = m.trust["value_question"]
    assert [g["group"] for g in shown["groups"]] == [g.group for g in signal.groups]
    assert [(g["n"], g["gap"], g["over"]) for g in shown["groups"]] == [(g.n, g.gap, g.over) for g in signal.groups]
    assert shown["not_shown"] == signal.suppressed
    # without asking (the HTML report's rule), the tab names no group, and says how many it leaves out
    quiet = metricsense.explore(metricsense.check(confidential_spec, config={})).model.trust["value_question"]
    assert quiet["groups"] == [] and quiet["not_named"] == len(signal.groups) > 0


def test_hook_metricsense_register_explorer_tabs(report):
    w = require("ipywidgets")
    from metricsense.plugins import get_plugin_manager

    class Tabs:
        @metricsense.hookimpl
        def metricsense_register_explorer_tabs(self, register):
            register("KPIs kept", lambda model: w.Label(f"{len(model.kpis_on)} KPIs kept"))
            register("Broken", lambda model: 1 / 0)

    pm, _ = get_plugin_manager(entrypoints=False)
    pm.register(Tabs(), name="acme-tabs")
    explorer = metricsense.explore(report, plugin_manager=pm)
    titles = list(explorer.tabs.titles)
    assert titles[:6] == ["Overview", "Diagnostics", "Redundancy", "Decoupling", "Conversations", "Trust"]
    assert titles[6:] == ["KPIs kept", "Broken"]
    assert explorer.views["KPIs kept"].value == f"{len(explorer.model.kpis)} KPIs kept"
    assert "ZeroDivisionError" in explorer.views["Broken"].value and "acme-tabs" in explorer.views["Broken"].value


def test_a_report_of_several_specs_picks_one(ipywidgets):
    report = metricsense.check(EXAMPLES, config={})
    roots = list(report.documents)
    assert len(roots) > 1
    m = _model(report, spec=roots[-1])
    assert m.spec == roots[-1]
    assert all(d.span.file in report.documents[roots[-1]].files for d in m.diagnostics)
    with pytest.raises(ValueError, match="no spec"):
        _model(report, spec="nope.msense")


SUGGEST = """\
mission "Customers get answers"
lever staff "Support staff"
disturbance season "Seasonal demand" { size 2 }
kpi queue "Queue length" { target <= 20 by 2027-01-01  responds staff -0.3  disturbed season +0.8 }
kpi wait "Time to reply" { better lower  responds staff -0.6  disturbed season +0.1 }
"""


def test_suggest_ticks_the_best_set_with_the_losses_before_and_after(ipywidgets):
    from metricsense.widgets.explorer import DecouplingView

    report = metricsense.check(SUGGEST, config={})
    m = _model(report)
    view = DecouplingView(m)
    m.kpis_on = ["queue"]
    view.suggest.click()
    # the independent numbers: M = (g)^-1 [f Wd, Wn] for one KPI, Wn the default 0.25
    queue = ((0.8 * 2) ** 2 + 0.25 ** 2) / 0.3 ** 2 / 2
    wait = ((0.1 * 2) ** 2 + 0.25 ** 2) / 0.6 ** 2 / 2
    assert m.kpis_on == ["wait"] and m.suggestion["kpis"] == ["wait"]
    assert m.suggestion["before"] == pytest.approx(queue) and m.suggestion["after"] == pytest.approx(wait)
    assert "→" in view.suggested.value and "wait" in view.suggested.value
    assert [b.value for b in view.kpi_boxes.values()] == [False, True]


def test_suggest_with_an_unticked_lever_that_a_disturbance_best_names(ipywidgets):
    # `best overtime +0.5` named a lever the what-if spec no longer had: suggest said
    # "`overtime` is not a declared lever" instead of choosing for the ticked levers
    spec = SUGGEST.replace('lever staff "Support staff"\n', 'lever staff "Support staff"\nlever overtime "Overtime"\n')
    spec = spec.replace("{ size 2 }", "{ size 2  best overtime +0.5 }")
    spec += 'kpi backlog "Backlog" { responds overtime -0.4 }\n'
    m = _model(metricsense.check(spec, config={}))
    m.levers_on = ["staff"]
    m.suggest()
    assert "error" not in m.suggestion and m.suggestion["kpis"] == ["wait"]


def test_suggest_says_why_it_cannot(ipywidgets):
    m = _model(metricsense.check('lever a "A"\nkpi k "K" { target >= 1 by 2027-01-01 }\n', config={}))
    m.suggest()
    assert "needs the gains" in m.suggestion["error"]


@pytest.mark.parametrize("system", ["customer-love", "60 KPIs by blocks"])
def test_a_tab_the_reader_chose_holds_through_a_redraw(system, tmp_path, monkeypatch):
    """The tab a reader clicked is the page's to say: the kernel echoes it and never sends the Tab a
    selection or children of its own, while a new threshold (groups, heatmap, the Redundancy
    view's children) and an unticked KPI (gains, pictures, groups) are redrawn."""
    w = require("ipywidgets")
    require("anywidget")
    if system == "customer-love":
        report = metricsense.check(CUSTOMER_LOVE, config={})
    else:
        import sys

        from support import ROOT

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_explorer import families

        off = ["metricsense.evaluators." + n for n in ("selection", "trust", "conversation", "noise", "distortion")]
        report = metricsense.check(families(60, tmp_path / "k60"), config={"select": ["MS0", "MS1"]},
                                   disabled_plugins=off)
    explorer = metricsense.explore(report)
    tabs, redundancy, decoupling = explorer.tabs, explorer.views["Redundancy"], explorer.views["Decoupling"]
    sent: list = []
    send = w.Widget._send

    def spy(self, msg, buffers=None):
        sent.append((self, msg))
        return send(self, msg, buffers)

    monkeypatch.setattr(w.Widget, "_send", spy)
    # as the front end sends them: the Redundancy tab clicked, a new threshold, then the
    # Decoupling tab clicked while the threshold's redraw is in flight and a KPI unticked there
    tabs.set_state({"selected_index": 2})
    redundancy.slider.set_state({"value": 0.6})
    tabs.set_state({"selected_index": 3})
    name = next(iter(decoupling.kpi_boxes))
    decoupling.kpi_boxes[name].set_state({"value": False})
    assert explorer.model.threshold == 0.6 and name not in explorer.model.kpis_on
    assert "at |r| ≥ 0.60" in redundancy.clusters.value  # the groups were redrawn
    assert tabs.selected_index == 3
    to_tabs = [msg for widget, msg in sent if widget is tabs]
    assert [m for m in to_tabs if m.get("method") != "echo_update"] == []
    # the echoes (JUPYTER_WIDGETS_ECHO, on by default) say back the page's own selection, in order
    assert [m["state"] for m in to_tabs] in ([{"selected_index": 2}, {"selected_index": 3}], [])
