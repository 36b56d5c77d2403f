"""MS402 regressions found by a cold attack: the reference step_test, which the batch hands its
hard pairs to, raised on a near-constant output beside a constant outcome (MS005 plugin-crashed
from `msense check`), and its t_iid depended on the data's scale (pinv's relative cutoff)."""

from __future__ import annotations

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.distortion_batch import step_tests
from metricsense.evaluators.distortion_stats import step_test


@pytest.mark.parametrize("level,spread", [(1.0, 1e-9), (1e3, 1e-5), (1e3, 1e-7)])
@pytest.mark.parametrize("outcome", ["constant", "exact"])
def test_a_near_constant_output_does_not_crash_the_batch(level, spread, outcome):
    rng = np.random.default_rng(1)
    t = np.arange(24, dtype=float)
    x = level + spread * np.cumsum(rng.normal(0, 1, 24))
    y = np.full(24, level) if outcome == "constant" else 2 * x + 5
    found = step_tests(x[None, :12], x[None, 12:], y[None, :12], y[None, 12:], t[:12], t[12:])  # raised LinAlgError
    assert found["t"].shape == (1, 1)


@pytest.mark.parametrize("scale", [1e-9, 1e9])
def test_step_test_t_iid_does_not_depend_on_the_units(scale):
    # the same data in other units: every t is the same (t_iid was 1.217 at 1, 1.513 at 1e-9, 1.480 at 1e9)
    rng = np.random.default_rng(0)
    x = 50 + np.cumsum(rng.normal(0, 1, 40))
    y = 0.6 * x + np.cumsum(rng.normal(0, 1, 40))
    t = np.arange(40.0)
    ref = step_test(x[:20], y[:20], t[:20], x[20:], y[20:], t[20:])
    got = step_test(x[:20] * scale, y[:20] * scale, t[:20], x[20:] * scale, y[20:] * scale, t[20:])
    assert got["t"] == pytest.approx(ref["t"], rel=1e-9)
    assert got["t_iid"] == pytest.approx(ref["t_iid"], rel=1e-9)


def test_check_reports_no_plugin_crash_for_a_flat_outcome(tmp_path):
    rng = np.random.default_rng(1)
    x = 1000 + 1e-5 * np.cumsum(rng.normal(0, 1, 24))
    weeks = np.datetime64("2024-01-01") + 7 * np.arange(24)
    (tmp_path / "kpis.csv").write_text("period,o,c\n" + "".join(f"{w},{v!r},1000\n" for w, v in zip(weeks, x.tolist())))
    (tmp_path / "s.msense").write_text('data "kpis.csv"\nfailure f "F" at output\n'
                                       'kpi o "Output" { kind output better higher guards f }\n'
                                       'kpi c "Outcome" { kind outcome better higher guards f }\n')
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert not [d.message for d in report.diagnostics if d.code == "MS005"]
