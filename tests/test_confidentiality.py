"""Suppressed trust groups leave no trace: every output is searched for their names and values.

The fixture has two groups below the minimum (3 respondents each): no total is published beside
them (the total minus the shown groups would give their sum away). Their
group names, manager ids, means, gaps and counts must appear nowhere: text, JSON, SARIF, JUnit,
GitHub, Markdown, HTML, the agenda (Markdown and JSON), the command line, and log records.
"""

from __future__ import annotations

import json
import logging

import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis
from metricsense.registry import build_registry
from support import FORBIDDEN, run_msense
from metricsense.plugins import get_plugin_manager


def _assert_clean(text: str, where: str) -> None:
    found = [s for s in FORBIDDEN if s in text]
    assert not found, f"{where} shows {found}"


def test_the_fixture_really_has_what_must_be_hidden(confidential_spec):
    report = metricsense.check(confidential_spec, config={})
    (analysis,) = report.analysis.values()
    info = TrustAnalysis.of(analysis).signals["value_question"].to_json()
    assert info["suppressed"] == 2 and info["below_minimum"] == 2 and info["secondary"] == 0
    assert info["total"] is None
    assert sorted(g["group"] for g in info["groups"] if not g["suppressed"]) == ["grp-badger", "grp-otter"]
    codes = [d.code for d in report.diagnostics]
    assert "MS501" in codes and "MS502" in codes
    # and the baseline: the shown groups do appear to a reader who asked (the search would find a
    # leak); without asking, no group is named at all (each names its manager)
    asked = metricsense.check(confidential_spec, config={}, show_personal=True).to_json()
    assert "grp-badger" in asked and "mgr-bb22" in asked
    assert "grp-badger" not in report.to_json() and '"not_named": 2' in report.to_json()


def test_no_output_format_shows_a_suppressed_group(confidential_spec, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    report = metricsense.check(confidential_spec, config={})
    pm, _ = get_plugin_manager(entrypoints=False)
    registry = build_registry(pm)
    for name, (render, _plugin) in sorted(registry.formats.items()):
        _assert_clean(render(report), f"--format {name}")
    agenda = metricsense.agenda(report)
    md = agenda.to_markdown()
    assert "grp-badger" in md  # the shown gap is on the agenda
    _assert_clean(md, "agenda markdown")
    _assert_clean(json.dumps(agenda.to_dict()), "agenda json")
    _assert_clean(repr(report.diagnostics), "diagnostics repr")
    _assert_clean(json.dumps([d.to_dict() for d in report.diagnostics]), "evidence")
    _assert_clean("\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records), "log records")
    out = capsys.readouterr()
    _assert_clean(out.out + out.err, "stdout/stderr")


@pytest.mark.parametrize("args", [["check", "--format", "text", "--no-color", "--show-personal"],
                                  ["check", "--format", "json", "--show-personal"],
                                  ["check", "--format", "html", "--show-personal"], ["check", "--format", "markdown"],
                                  ["check", "--format", "sarif"], ["agenda"], ["agenda", "--format", "json"]])
def test_the_command_line_shows_no_suppressed_group(confidential_spec, args):
    result = run_msense(*args, str(confidential_spec), env={"METRICSENSE_PUREPYTHON": "1"},
                        cwd=confidential_spec.parent)
    assert result.returncode in (0, 1), result.stderr
    # the search would find a leak (SARIF and Markdown never name the manager of grp-badger: MS501 is personal)
    assert "grp-badger" in result.stdout or args[-1] in ("markdown", "sarif")
    _assert_clean(result.stdout + result.stderr, " ".join(args))
