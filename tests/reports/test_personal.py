"""Personal findings (MS501 names one manager) are shown only where their audience reads them.

SARIF, JUnit, GitHub annotations and Markdown are uploaded to code scanning or posted on a pull
request: a public inspection of one person (seed 000). They never name such a finding, even with
`--show-personal`; they say how many there are and where to read them. Text, HTML and JSON show
them only when the reader asks (`--show-personal`, `show-personal = true`, `show_personal=True`).
The exit code counts them either way, and the agenda lists them in its private section.
"""

from __future__ import annotations

import json

import pytest

import metricsense
from metricsense.plugins import get_plugin_manager
from metricsense.registry import build_registry
from support import manager_with, plugin_module, run_msense

# support.GROUPS: grp-badger (manager mgr-bb22) rates 5, the team 2.89 (n=9): a gap of 2.11 (MS501).
NAMED = ["grp-badger", "mgr-bb22", "2.89", "2.11", "n=9"]
CI_FORMATS = ("sarif", "junit", "github", "markdown")
READER_FORMATS = ("text", "json", "html")
SENTENCE = "1 personal finding (MS501) is not shown here: see `msense agenda` or run with --show-personal"


def _named(text: str) -> list[str]:
    return [s for s in NAMED if s in text]


def _formats():
    pm, _ = get_plugin_manager(entrypoints=False)
    return build_registry(pm).formats


def test_ms501_is_a_personal_rule_and_its_findings_are_marked(confidential_spec):
    registry = build_registry(get_plugin_manager(entrypoints=False)[0])
    assert registry.rules["MS501"].personal
    assert not registry.rules["MS502"].personal and not registry.rules["MS021"].personal
    report = metricsense.check(confidential_spec, config={})
    (gap,) = [d for d in report.diagnostics if d.code == "MS501"]
    assert gap.personal and "grp-badger" in gap.message  # the report itself keeps every finding
    assert not any(d.personal for d in report.diagnostics if d.code != "MS501")


@pytest.mark.parametrize("show", [False, True])
@pytest.mark.parametrize("fmt", CI_FORMATS)
def test_ci_formats_never_name_a_personal_finding(confidential_spec, fmt, show):
    report = metricsense.check(confidential_spec, config={}, show_personal=show)
    render, _ = _formats()[fmt]
    out = render(report, {"color": False})
    assert not _named(out), f"{fmt} names {_named(out)}"
    assert "MS501" in out and SENTENCE.replace("`", "") in out.replace("`", "").replace("\\", "")


@pytest.mark.parametrize("fmt", READER_FORMATS)
def test_reader_formats_show_personal_findings_only_when_asked(confidential_spec, fmt):
    render, _ = _formats()[fmt]
    hidden = render(metricsense.check(confidential_spec, config={}), {"color": False})
    assert "the manager of" not in hidden
    if fmt == "json":
        assert json.loads(hidden)["withheld"] == {"personal": 1, "codes": {"MS501": 1}}
    else:
        assert SENTENCE in hidden
    shown = render(metricsense.check(confidential_spec, config={}, show_personal=True), {"color": False})
    assert "the manager of `grp-badger`" in shown and "personal finding" not in shown


def test_json_without_the_flag_withholds_and_counts(confidential_spec):
    report = metricsense.check(confidential_spec, config={})
    doc = json.loads(report.to_json())
    assert "MS501" not in [d["code"] for d in doc["diagnostics"]]
    assert doc["withheld"] == {"personal": 1, "codes": {"MS501": 1}}
    assert not _named(json.dumps(doc["diagnostics"]))
    # the summary still counts it, so total, by_severity and exit_code agree with the exit status
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["by_severity"]["warning"] >= 1
    shown = json.loads(metricsense.check(confidential_spec, config={"show-personal": True}).to_json())
    assert "withheld" not in shown
    (gap,) = [d for d in shown["diagnostics"] if d["code"] == "MS501"]
    assert gap["personal"] is True and "grp-badger" in gap["message"]


def test_the_exit_code_counts_personal_findings(confidential_spec):
    only = {"select": ["MS501"]}
    hidden = metricsense.check(confidential_spec, config=only)
    shown = metricsense.check(confidential_spec, config=only, show_personal=True)
    assert hidden.exit_code == shown.exit_code == 1
    view = hidden.for_reader(False)
    assert view.diagnostics == [] and view.exit_code == 1 and view.summary() == hidden.summary()


def test_the_agenda_still_lists_them_in_the_private_section(confidential_spec):
    agenda = metricsense.agenda(metricsense.check(confidential_spec, config={}))
    gaps = [i for i in agenda.items if i.source == "value_question"]
    assert gaps and {i.audience for i in gaps} == {"manager"}
    assert "## With manager" in agenda.to_markdown() and "grp-badger" in agenda.to_markdown()


def test_a_plugin_format_gets_no_personal_finding_unless_it_opts_in(confidential_spec):
    seen = {}

    def render_plain(report, options=None):
        seen["plain"] = report
        return "\n".join(d.message for d in report.diagnostics)

    def render_private(report, options=None):
        seen["private"] = report
        return "\n".join(d.message for d in report.diagnostics)

    render_private.shows_personal = True

    def metricsense_register_formats(register):
        register("plain", render_plain)
        register("private", render_private)

    plugin = plugin_module("acme_formats", metricsense_register_formats=metricsense.hookimpl(
        metricsense_register_formats))
    pm = manager_with(plugin)
    formats = build_registry(pm).formats
    for show in (False, True):
        report = metricsense.check(confidential_spec, config={}, plugin_manager=pm, show_personal=show)
        assert not _named(formats["plain"][0](report, {}))
        assert seen["plain"].withheld == {"MS501": {"warning": 1}} and seen["plain"].exit_code == report.exit_code
        private = formats["private"][0](report, {})
        assert bool(_named(private)) is show  # opted in: shown only when the reader asks


def test_the_config_key_and_its_type(tmp_path, confidential_spec):
    (confidential_spec.parent / "msense.toml").write_text("show-personal = true\n", "utf-8")
    assert metricsense.check(confidential_spec).show_personal
    (confidential_spec.parent / "msense.toml").write_text('show-personal = "yes"\n', "utf-8")
    report = metricsense.check(confidential_spec)
    (err,) = [d for d in report.diagnostics if d.code == "MS006"]
    assert "show-personal" in err.message and err.span.line == 1 and report.exit_code == 2


@pytest.mark.parametrize("fmt", CI_FORMATS + READER_FORMATS)
def test_the_command_line(confidential_spec, fmt):
    args = ["check", "--format", fmt, "--no-color", str(confidential_spec)]
    hidden = run_msense(*args, cwd=confidential_spec.parent)
    shown = run_msense(*args, "--show-personal", cwd=confidential_spec.parent)
    assert hidden.returncode == shown.returncode == 1, hidden.stderr + shown.stderr
    if fmt == "json":
        assert json.loads(hidden.stdout)["withheld"]["codes"] == {"MS501": 1}
    else:
        assert "1 personal finding (MS501)" in hidden.stdout.replace("\\", "")
    if fmt in CI_FORMATS:
        assert not _named(hidden.stdout) and not _named(shown.stdout)
        assert "1 personal finding (MS501)" in shown.stdout.replace("\\", "")
    else:
        assert "the manager of" not in hidden.stdout and "the manager of" in shown.stdout


def test_segmented_runs_name_no_segment_for_a_personal_finding():
    from support import EXAMPLES

    spec = EXAMPLES / "store-network" / "store-network.msense"
    outputs = {}
    for fmt in ("text", "json", "sarif", "markdown", "junit", "github"):
        hidden = run_msense("check", "--format", fmt, "--no-color", str(spec), "--by", "store")
        outputs[fmt] = hidden
        assert hidden.returncode == 1 and "the manager of" not in hidden.stdout, fmt
        assert "value-gap: 1 of" not in hidden.stdout and "| MS501 |" not in hidden.stdout, fmt
    doc = json.loads(outputs["json"].stdout)
    assert doc["withheld"] == {"personal": 1, "codes": {"MS501": 1}}
    assert "MS501" not in [d["code"] for d in doc["diagnostics"]]
    assert "MS501" not in [r["code"] for r in doc["segments"]["rules"]]
    assert not any("MS501" in r["codes"] for r in doc["segments"]["results"])
    (store6,) = [r for r in doc["segments"]["results"] if r["segment"] == "store-06"]
    assert store6["diagnostics"] == sum(store6["codes"].values())
    for fmt in ("text", "markdown", "github"):
        assert "1 personal finding (MS501)" in outputs[fmt].stdout.replace("\\", ""), fmt
    shown = run_msense("check", "--format", "text", "--no-color", str(spec), "--by", "store", "--show-personal")
    # Trust is one table per survey, checked for the spec (never per segment): the gap is the spec's
    assert "the manager of `store-06`" in shown.stdout and "MS501 value-gap" not in shown.stdout
    assert shown.returncode == 1
    (gap,) = [d for d in json.loads(run_msense("check", "--format", "json", str(spec), "--by", "store",
                                               "--show-personal").stdout)["diagnostics"] if d["code"] == "MS501"]
    assert "segment" not in gap and gap["personal"] is True


def test_segmented_reports_in_python_withhold_too():
    from support import EXAMPLES

    report = metricsense.check(EXAMPLES / "store-network" / "store-network.msense", by="store")
    assert any(d.code == "MS501" for d in report.diagnostics)
    doc = json.loads(report.to_json())
    assert doc["withheld"]["codes"] == {"MS501": 1}
    assert not any("MS501" in r["codes"] for r in doc["segments"]["results"])
    assert "MS501" not in [r["code"] for r in doc["segments"]["rules"]]
    # trust is checked for the spec, never per segment: no segment holds a personal finding
    assert not any(d.code == "MS501" and d.segment for d in report.diagnostics)


def test_msense_diff_compares_no_personal_finding(confidential_spec):
    from metricsense import diff as msdiff

    old = confidential_spec.parent / "old.msense"
    old.write_text(confidential_spec.read_text("utf-8").split("trust value_question")[0], "utf-8")
    new_report = metricsense.check(confidential_spec, config={}, show_personal=True)  # even when asked
    result = msdiff.diff_reports(metricsense.check(old, config={}), new_report, "old", "new")
    assert "MS501" not in [f["code"] for f in result["findings"]["new"]]
    assert result["withheld"] == {"old": 0, "new": 1}
    md = msdiff.render_markdown(result)
    assert not _named(md) and "Personal findings (about one named person) are not compared here" in md


def test_the_notebook_display_follows_the_html_and_markdown_rules(confidential_spec):
    from metricsense.widgets.display import report_html, report_markdown

    hidden = metricsense.check(confidential_spec, config={})
    shown = metricsense.check(confidential_spec, config={}, show_personal=True)
    assert "the manager of" not in report_html(hidden) and "1 personal finding (MS501)" in report_html(hidden)
    assert "the manager of" in report_html(shown)
    for report in (hidden, shown):
        assert not _named(report_markdown(report)) and "1 personal finding (MS501)" in report_markdown(report)


def test_rules_and_explain_say_which_rules_are_personal():
    listed = {r["code"]: r for r in json.loads(run_msense("rules", "--format", "json").stdout)}
    assert listed["MS501"]["personal"] is True and "personal" not in listed["MS502"]
    assert "Personal: each finding names one person" in run_msense("explain", "MS501").stdout
    assert "Personal:" not in run_msense("explain", "MS502").stdout


def test_the_report_as_a_notebook_saves_it_as_text_names_no_one(confidential_spec):
    # IPython keeps `text/plain` (the repr) beside the HTML in every saved output: the dataclass's
    # repr held every finding and the trust table's named groups
    report = metricsense.check(confidential_spec, config={}, by="group")
    text = repr(report)
    assert not _named(text) and "MS501" in text and "1 personal not shown" in text
    assert "segments by `group`" in text
    assert not _named(repr(report.segment_results))
    for shown in (metricsense.check(confidential_spec, config={}), report):
        assert not _named(str(shown))
