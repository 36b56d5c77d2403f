"""Per-segment evaluation (`msense check --by`): each segment checked as if alone, and the roll-up of their findings."""

from __future__ import annotations

import json

import pytest

import metricsense
from segments_support import TEAMS, kpi_frame, sorted_teams, strip_segment, survey_frame, write_spec
from support import run_msense


def test_each_segment_is_checked_as_if_alone(folder):
    report = metricsense.check(folder / "csv.msense", by="team", config={})
    doc = json.loads(report.to_json())
    assert doc["segments"]["by"] == "team"
    assert doc["segments"]["count"] == len(TEAMS)
    assert [r["segment"] for r in doc["segments"]["results"]] == sorted_teams()  # numbers first, then text
    spec_level = {strip_segment(d) for d in doc["diagnostics"] if "segment" not in d}
    assert spec_level, "the structural findings are reported once, for the spec"
    for result in doc["segments"]["results"]:
        team = result["segment"]
        alone = json.loads(metricsense.check(folder / f"only-{team}" / "spec.msense", config={}).to_json())
        # A segment never computes trust (MS5xx): the survey's one table is the spec's.
        expected = {strip_segment(d) for d in alone["diagnostics"] if not d["code"].startswith("MS5")} - spec_level
        got = {strip_segment(d) for d in doc["diagnostics"] if d.get("segment") == team}
        assert got == expected, team
        assert result["diagnostics"] == len(got)
        ours = result["analysis"][str(folder / "csv.msense")]
        theirs = alone["analysis"][str(folder / f"only-{team}" / "spec.msense")]
        for family in ("correlation", "noise"):
            assert json.dumps(ours.get(family), sort_keys=True) == json.dumps(theirs.get(family), sort_keys=True)
    fired = {(r["code"], tuple(r["segments"])) for r in doc["segments"]["rules"]}
    assert ("MS101", ("north",)) in fired  # planted in north only
    assert doc["summary"]["exit_code"] == report.exit_code == 1


def test_text_output_has_the_rollup(folder):
    result = run_msense("check", "csv.msense", "--by", "team", cwd=folder)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Segments by `team`: 5 checked." in result.stdout
    assert "MS101 redundant-kpis: 1 of 5 segments (north)" in result.stdout
    assert "warning[MS101]: [team=north]" in result.stdout


def test_streamed_run_keeps_only_the_rollup(folder):
    seen = []
    report = metricsense.check(folder / "csv.msense", by="team", config={}, on_segment=seen.append,
                               keep_segments=False)
    kept = metricsense.check(folder / "csv.msense", by="team", config={})
    assert report.segment_results == [] and len(seen) == len(TEAMS)
    assert [r.segment for r in seen] == [r.segment for r in kept.segment_results]
    assert report.summary() == kept.summary()
    assert report.exit_code == kept.exit_code
    assert report.segments.rules() == kept.segments.rules()


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_confidentiality_holds_per_segment(folder, jobs):
    """`south` has 3 team answers (< min_group 5): nothing of its survey appears anywhere."""
    for fmt in ("json", "text", "sarif", "markdown", "html"):
        result = run_msense("check", "csv.msense", "--by", "team", "--format", fmt, *jobs, cwd=folder)
        assert result.returncode == 1, result.stderr
        text = result.stdout + result.stderr
        assert "grp-south" not in text and "mgr-1" not in text, fmt
    doc = json.loads(run_msense("check", "csv.msense", "--by", "team", "--format", "json", *jobs, cwd=folder).stdout)
    whole = json.loads(run_msense("check", "csv.msense", "--format", "json", cwd=folder).stdout)
    # One table per survey, whatever the run: the spec's trust record is the whole run's, and no
    # segment has one, nor an MS5xx finding (which segment holds a hidden group is never said).
    spec = next(iter(doc["analysis"]))
    assert doc["analysis"][spec]["trust"] == whole["analysis"][spec]["trust"]
    trust_findings = sorted((d["code"], d["message"]) for d in doc["diagnostics"] if d["code"].startswith("MS5"))
    assert trust_findings == sorted((d["code"], d["message"]) for d in whole["diagnostics"] if d["code"].startswith("MS5"))
    assert not [d for d in doc["diagnostics"] if d["code"].startswith("MS5") and "segment" in d]
    notes = [d for d in doc["diagnostics"] if d["code"] == "MS502"]
    assert len(notes) == 1 and notes[0]["message"].startswith("`value_question`: ")
    for r in doc["segments"]["results"]:
        assert not [c for c in r["codes"] if c.startswith("MS5")]
        assert "trust" not in r["analysis"][next(iter(r["analysis"]))]
    # MS501 names a manager: withheld unless the reader asks (--show-personal), then once, for the spec
    assert not [d for d in doc["diagnostics"] if d["code"] == "MS501"] and doc["withheld"]["codes"]["MS501"] >= 1
    asked = json.loads(run_msense("check", "csv.msense", "--by", "team", "--format", "json", "--show-personal",
                                  *jobs, cwd=folder).stdout)
    gaps = [d for d in asked["diagnostics"] if d["code"] == "MS501"]
    assert gaps and not [d for d in gaps if "segment" in d]
    assert any("grp-east" in d["message"] for d in gaps)  # a group above the minimum is shown
    assert all("grp-south" not in d["message"] for d in gaps)


def test_in_memory_data_is_segmented_too(folder):
    frame = kpi_frame()
    report = metricsense.check(folder / "csv.msense", data={"kpis.csv": frame}, by="team", config={})
    from_file = metricsense.check(folder / "csv.msense", by="team", config={})
    assert [d.message for d in report.diagnostics] == [d.message for d in from_file.diagnostics]


def test_progress_counts_segments(folder):
    seen = []
    metricsense.check(folder / "csv.msense", by="team", config={},
                      progress=lambda done, total, what: seen.append((done, total, what)))
    ticks = [d / t for d, t, w in seen if "team" in w]
    # one tick per segment, after the spec's own pass (one share of the bar, never 100%)
    n = len(TEAMS)
    assert ticks == pytest.approx([(1 + i) / (n + 1) for i in range(1, n + 1)])
    assert max(d / t for d, t, w in seen if "team" not in w) <= 1 / (n + 1)


def test_suppressions_are_counted_once(tmp_path, folder):
    text = (folder / "csv.msense").read_text().replace(
        'mission "Serve every region well" { why "Regions are where customers are." }',
        'mission "Serve every region well" { why "Regions are where customers are." }'
        '  # msense: ignore[MS014] reason "one level is enough here"')
    (tmp_path / "kpis.csv").write_text((folder / "kpis.csv").read_text())
    (tmp_path / "survey.csv").write_text((folder / "survey.csv").read_text())
    (tmp_path / "s.msense").write_text(text)
    segmented = metricsense.check(tmp_path / "s.msense", by="team", config={})
    whole_spec = metricsense.check(tmp_path / "s.msense", config={"select": ["MS0"]})
    assert whole_spec.suppressed == 1
    assert segmented.suppressed == 1


def test_control_characters_in_segment_names_never_reach_the_terminal(tmp_path):
    frame = kpi_frame()
    frame["team"] = frame["team"].replace({"north": "no\x1b]0;pwn\x07rth"})
    frame.to_csv(tmp_path / "kpis.csv", index=False)
    survey_frame().to_csv(tmp_path / "survey.csv", index=False)
    write_spec(tmp_path, 'data "kpis.csv"')
    result = run_msense("check", "spec.msense", "--by", "team", cwd=tmp_path)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[team=no\\x1b]0;pwn\\x07rth]" in result.stdout


@pytest.mark.parametrize("fmt,marker", [("markdown", "| MS101 | redundant-kpis | 1 of 5 | north |"),
                                        ("html", "<td>MS101</td><td>redundant-kpis</td><td>1 of 5</td><td>north</td>")])
def test_markdown_and_html_reports_show_the_rollup(folder, fmt, marker):
    result = run_msense("check", "csv.msense", "--by", "team", "--format", fmt, cwd=folder)
    assert result.returncode == 1, result.stderr
    assert marker in result.stdout
