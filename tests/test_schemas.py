"""The published JSON Schemas (schemas/) hold for what metricsense reads and writes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import ROOT

import jsonschema  # a test dependency: missing, the suite fails (never skips)
SCHEMAS = ROOT / "schemas"


def _schema(name: str) -> dict:
    schema = json.loads((SCHEMAS / name).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _report(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-P", "-m", "metricsense", "check", "--format", "json", *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode in (0, 1, 2), result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("args", [["examples/"], ["--show-personal", "examples/customer-love"],
                                  ["examples/store-network/store-network.msense", "--by", "store"]])
def test_reports_match_the_report_schema(args):
    report = _report(*args)
    jsonschema.validate(report, _schema("report.schema.json"))
    # the schema can fail: a report without its summary is refused
    del report["summary"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, _schema("report.schema.json"))


def test_the_config_schema_knows_every_key_the_configuration_reads():
    from metricsense.config import _DATA_KEYS, _TOP_KEYS

    schema = _schema("msense-config.schema.json")
    assert set(schema["properties"]) == set(_TOP_KEYS)
    assert set(schema["properties"]["data"]["properties"]) == set(_DATA_KEYS)


@pytest.mark.parametrize("toml,valid", [
    ('fail-on = "error"\nselect = ["MS0", "MS1"]\n[rules.MS301]\nratio = 1.5\n', True),
    ('jobs = 2\nshow-personal = true\n[data]\nmax-rows = 1000\n', True),
    ('fail_on = "error"\n', False),
    ('jobs = 0\n', False),
    ('[data]\nmax_rows = 5\n', False),
])
def test_the_config_schema_agrees_with_the_configuration(tmp_path, toml, valid):
    import tomllib

    from metricsense.config import Config, ConfigError

    data = tomllib.loads(toml)
    schema_ok = jsonschema.Draft202012Validator(_schema("msense-config.schema.json")).is_valid(data)
    try:
        Config.from_mapping(data, None, toml)
        reader_ok = True
    except ConfigError:
        reader_ok = False
    assert schema_ok is valid and reader_ok is valid



@pytest.mark.parametrize("spec", ["examples/customer-love/customer-love.msense", "tests/selection/toy.msense"])
def test_select_json_matches_the_select_schema(spec):
    result = subprocess.run([sys.executable, "-P", "-m", "metricsense", "select", spec, "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    jsonschema.validate(out, _schema("select.schema.json"))
    # the schema can fail: the public names are required
    del out["select"]["candidates"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(out, _schema("select.schema.json"))
