"""The rules' declarations, explanations and keyword matching."""

from __future__ import annotations

import re

import pytest

import metricsense
import metricsense_serve
from metricsense.registry import build_registry
from metricsense.testing import with_plugins
from metricsense_serve import DEVELOPMENT_KEYWORDS, INNOVATION_KEYWORDS, matcher


def test_rules_register_under_the_plugins_own_prefix():
    registry = build_registry(with_plugins(serve=metricsense_serve))
    assert not registry.problems
    ours = sorted(c for c, r in registry.rules.items() if r.plugin == "serve")
    assert ours == [r.code for r in metricsense_serve.RULES]
    assert all(c.startswith("SRV") for c in ours)


@pytest.mark.parametrize("r", metricsense_serve.RULES, ids=lambda r: r.code)
def test_every_rule_is_explained_and_cites_a_seed(r):
    assert r.summary.endswith(".")
    for heading in ("## Why is this bad?", "## Example", "## What to do instead"):
        assert heading in r.explanation, (r.code, heading)
    assert re.search(r"seed 00[24]", r.explanation, re.IGNORECASE), r.code


@pytest.mark.parametrize("r", metricsense_serve.RULES, ids=lambda r: r.code)
def test_every_example_parses(r):
    for block in re.findall(r"```msense\n(.*?)```", r.explanation, re.S):
        metricsense.load('mission "M"\n' + block)


@pytest.mark.parametrize(("text", "found"), [
    ("Training hours per person", "Training"),
    ("engineers trained on the platform", "trained"),
    ("mentoring_sessions", "mentoring"),
    ("Skills matrix coverage", "Skills"),
    ("Development lead time", None),  # software development is a result, not people's development
    ("Professional development plans", "Professional development"),
    ("knowledge_sharing sessions", "knowledge_sharing"),
])
def test_development_keywords(text, found):
    match = matcher(DEVELOPMENT_KEYWORDS).search(text)
    assert (match.group(0) if match else None) == found


@pytest.mark.parametrize(("text", "found"), [
    ("Experiments run per quarter", "Experiments"),
    ("Innovation pipeline", "Innovation"),
    ("Time from idea to customer", None),  # lead time, not innovation
    ("Ideal weight", None),
    ("A/B tests shipped", "A/B tests"),
    ("Process improvements tried", "improvements"),
])
def test_innovation_keywords(text, found):
    match = matcher(INNOVATION_KEYWORDS).search(text)
    assert (match.group(0) if match else None) == found


def test_an_empty_keyword_list_matches_nothing():
    assert matcher([]).search("anything") is None
    assert matcher(["*", " "]).search("anything") is None


def test_an_unknown_field_is_a_clear_crash_naming_the_plugin():
    spec = 'mission "M"\nkpi a "A" { }\nkpi b "B" { }\nkpi c "C" { }\n'
    report = metricsense.check(spec, config={"rules": {"SRV001": {"fields": ["colour"]}}},
                               plugin_manager=with_plugins(serve=metricsense_serve))
    (crash,) = [d for d in report.diagnostics if d.code == "MS005"]
    assert "SRV001" in crash.message and "'serve'" in crash.message and "colour" in crash.message
    assert any(d.code == "SRV002" for d in report.diagnostics)  # the other rules still ran
    assert report.exit_code == 3


def test_evidence_holds_the_counts():
    spec = 'mission "M"\n' + "".join(f'kpi r{i} "R" {{ focus results }}\n' for i in range(7)) + \
        'kpi rel "Trust" { focus relationships }\n'
    report = metricsense.check(spec, config={}, plugin_manager=with_plugins(serve=metricsense_serve))
    (d,) = [d for d in report.diagnostics if d.code == "SRV003"]
    assert d.evidence == {"results": 7, "relationships": 1, "ratio": 3.0}
    assert "7 KPIs measure results and only 1 measures relationships" in d.message
