"""Triggers on the bundled examples, checked against pandas and plain loops written here."""

from __future__ import annotations

import pytest

import metricsense
from metricsense.evaluators.records import TriggersAnalysis
from support import EXAMPLES

pd = pytest.importorskip("pandas")


def _runs(held) -> list[bool]:
    out, run = [], 0
    for h in held:
        run = run + 1 if h else 0
        out.append(run)
    return out


@pytest.fixture(scope="module")
def engineering():
    return metricsense.check(EXAMPLES / "engineering-estimates" / "engineering.msense", config={})


@pytest.fixture(scope="module")
def customer_love():
    return metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})


def _fired(report, name):
    (analysis,) = report.analysis.values()
    return TriggersAnalysis.of(analysis).fired[name].to_json()


def test_rework_rising_matches_pandas(engineering):
    kpis = pd.read_csv(EXAMPLES / "engineering-estimates" / "data" / "kpis.csv")
    held = (kpis["rework"] > 8 + 4).tolist()  # target <= 8; NaN > x is False in pandas too
    run = _runs(held)
    want = [p for p, r in zip(kpis["period"], run) if r >= 1]  # `for 1 period` (a planted MS302)
    info = _fired(engineering, "rework_rising")
    assert info["periods"] == want
    assert info["fired"] == len(want)
    for e in info["events"]:
        row = kpis.loc[kpis["period"] == e["end"]].iloc[0]
        assert e["values"]["rework"] == pytest.approx(row["rework"], abs=1e-12)
        assert e["target"] == 8
        assert e["variance"]["by"] == pytest.approx(row["rework"] - 12, abs=1e-9)


def test_late_projects_rolling_mean_matches_pandas(engineering):
    kpis = pd.read_csv(EXAMPLES / "engineering-estimates" / "data" / "kpis.csv")
    mean4 = kpis["on_time"].rolling(4).mean()  # NaN when any of the 4 is missing
    run = _runs((mean4 < 90 - 10).tolist())
    want = [p for p, r in zip(kpis["period"], run) if r >= 2]
    info = _fired(engineering, "late_projects")
    assert info["periods"] == want
    assert info["evaluable"] == int(mean4.notna().sum())
    # MS602: the share is fired / evaluable
    assert info["share"] == pytest.approx(len(want) / int(mean4.notna().sum()), rel=1e-12)
    assert any(d.code == "MS602" and "late_projects" in d.message for d in engineering.diagnostics)


def test_estimate_gap_per_task_matches_pandas(engineering):
    est = pd.read_csv(EXAMPLES / "engineering-estimates" / "data" / "estimates.csv")
    hit = est[(est.estimate_self - est.estimate_manager).abs() > 0.25 * est.estimate_manager]
    want = sorted(zip(hit.period, hit.task))
    info = _fired(engineering, "estimate_gap")
    got = sorted((e["end"], e["segment"]) for e in info["events"])
    assert got == want
    assert info["units"] == est.task.nunique()
    assert info["evaluable"] == len(est.dropna(subset=["estimate_self", "estimate_manager"]))
    by_key = {(r.period, r.task): r for r in hit.itertuples()}
    for e in info["events"]:
        r = by_key[(e["end"], e["segment"])]
        assert e["values"]["estimate.self"] == pytest.approx(r.estimate_self, abs=1e-12)
        assert e["variance"]["by"] == pytest.approx(abs(r.estimate_self - r.estimate_manager)
                                                     - 0.25 * r.estimate_manager, abs=1e-9)


def test_monthly_pulse_counts_its_own_periods(customer_love):
    pulse = pd.read_csv(EXAMPLES / "customer-love" / "data" / "pulse.csv")
    run = _runs((pulse["manager_value"] < 3.45).tolist())
    # the pulse is dated at month ends; its periods are the months (issue 20: calendar buckets)
    want = [p[:7] for p, r in zip(pulse["period"], run) if r >= 2]
    assert want  # fires in its own (monthly) periods although the other KPIs are weekly
    assert _fired(customer_love, "value_slipping")["periods"] == want


def test_never_fires_is_reported(customer_love):
    info = _fired(customer_love, "lead_time_creep")
    assert info["fired"] == 0
    assert [d.code for d in customer_love.diagnostics if "lead_time_creep" in d.message] == ["MS601"]


def test_json_is_deterministic_and_has_no_nan():
    a = metricsense.check(EXAMPLES / "engineering-estimates", config={}).to_json()
    b = metricsense.check(EXAMPLES / "engineering-estimates", config={}).to_json()
    assert a == b and "NaN" not in a


def test_public_audience_never_names_units_of_one_persons_kpi(tmp_path):
    (tmp_path / "est.csv").write_text(
        "period,task,estimate_self,estimate_manager\n"
        "2026-01-05,task-zebra,20,10\n2026-01-05,task-okapi,10,10\n2026-01-12,task-zebra,12,12\n", "utf-8")
    (tmp_path / "s.msense").write_text(
        'mission "M"\nkpi estimate "E" { scope individual\n data "est.csv" layout long segment "task" }\n'
        'trigger gap when abs(estimate.self - estimate.manager) > 25% of estimate.manager for 1 period {\n'
        '  ask "?"\n  with team\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    info = _fired(report, "gap")
    assert info["fired"] == 1 and info["events"][0]["units"] == 1
    text = report.to_json() + metricsense.agenda(report).to_markdown()
    assert "task-zebra" not in text
    (tmp_path / "s.msense").write_text((tmp_path / "s.msense").read_text().replace("with team", "with one-to-one"))
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert _fired(report, "gap")["events"][0]["segment"] == "task-zebra"


def _trigger_spec(values, condition, for_periods):
    import datetime as dt

    rows = "\n".join(f"{dt.date(2025, 1, 6) + dt.timedelta(weeks=i)},{v}" for i, v in enumerate(values))
    return (f'mission "M"\ndata "kpis.csv"\nkpi k "K" {{ }}\n'
            f'trigger t when {condition} for {for_periods} periods {{\n  ask "Why?"\n  with team\n}}\n',
            "period,k\n" + rows + "\n")


@pytest.mark.parametrize(("values", "condition", "n", "fires"), [
    # held in 8 of 80 periods, never twice in a row: 0.8 runs expected, not yet come: quiet
    ([0 if i % 10 == 3 else 5 for i in range(80)], "k < 1", 2, False),
    # held in 3 of 100, never 3 in a row: 0.003 runs expected: it would start only in a crisis
    ([0 if i in (10, 40, 70) else 5 for i in range(100)], "k < 1", 3, True),
    # held in every other period of 100, never twice in a row: 25 runs expected: the run is too long
    ([0 if i % 2 else 5 for i in range(100)], "k < 1", 2, True),
    # never held at all
    ([5] * 40, "k < 1", 2, True),
])
def test_never_fires_speaks_when_the_condition_is_beyond_the_series(tmp_path, values, condition, n, fires):
    spec, data = _trigger_spec(values, condition, n)
    (tmp_path / "kpis.csv").write_text(data)
    (tmp_path / "s.msense").write_text(spec)
    report = metricsense.check(tmp_path / "s.msense", config={"select": ["MS601"]})
    found = [d for d in report.diagnostics if d.code == "MS601"]
    assert bool(found) == fires
    if found:
        held = sum(1 for v in values if v < 1)
        expected = held * (held / len(values)) ** (n - 1)  # independent periods, recomputed here
        assert found[0].evidence["held"] == held
        assert found[0].evidence["expected_runs"] == pytest.approx(expected, rel=1e-12)
        assert "p_value" not in found[0].evidence  # a statement about the history, not a test
