"""A streamed segmented run as text (`--format text --by`), through the installed CLI: its
statistical findings wait on disk for the rollup's multiple-testing control, whatever a rule put
in their evidence (the text shows none of it)."""

from __future__ import annotations

import os

import pytest

from support import fake_distribution, run_msense

PLUGIN = '''
import metricsense
from metricsense.diagnostics import Severity


@metricsense.rule(code="ODD001", name="odd-evidence", severity=Severity.WARNING)
def odd_evidence(ctx):
    """A statistical finding whose evidence holds a function (nothing pickles it)."""
    ctx.tests(1)
    if ctx.data is not None and ctx.data.series("a") is not None:
        yield ctx.report(ctx.spec.kpis[0], "odd evidence here", evidence={"p_value": 1e-6, "how": lambda: 0})


@metricsense.hookimpl
def metricsense_register_rules(register):
    register(odd_evidence)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return fake_distribution(tmp_path_factory.mktemp("site"), "odd-plugin", "odd", PLUGIN)


def test_a_statistical_finding_whose_evidence_does_not_pickle_is_written_as_text(site, folder):
    path = os.pathsep.join([str(site), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    proc = run_msense("check", "csv.msense", "--by", "team", "--format", "text", "--no-color", cwd=folder,
                      env={"PYTHONPATH": path, "METRICSENSE_DISABLE_PLUGINS": ""})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.count("odd evidence here") == 5  # each segment's, kept (1e-6 over 5 tests)
