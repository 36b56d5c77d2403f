"""Confidentiality across everything metricsense publishes about a survey (issue 19).

Each leak found before has its test (they failed before the trust table became one per survey);
then the adversary of tests/trust_adversary.py runs on a fixed-seed sample of generated surveys:
every published number set up as a linear system, solved with NumPy, and every output searched
for the hidden groups' names. benchmarks/trust_adversary_campaign.py runs the long campaign.
"""

from __future__ import annotations

import json
import os

import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis
from metricsense.evaluators.trust import period_key
from support import EXAMPLES
from trust_adversary import audit, generate, publish, run_case

np = pytest.importorskip("numpy")

STORES = EXAMPLES / "store-network" / "store-network.msense"


def _trust_records(doc, where="spec"):
    """Every trust signal record anywhere in a JSON report, with where it was."""
    if isinstance(doc, dict):
        if "groups" in doc and "min_group" in doc:
            yield where, doc
            return
        here = f"segment {doc['segment']}" if isinstance(doc.get("segment"), str) else where
        for v in doc.values():
            yield from _trust_records(v, here)
    elif isinstance(doc, list):
        for v in doc:
            yield from _trust_records(v, where)


# ---- leak 1: differencing a whole run and a `--by` run (the bundled example) ------------------

def test_store_network_by_store_publishes_the_whole_runs_table_and_nothing_per_store():
    whole = json.loads(metricsense.check(STORES, config={}).to_json())
    by = json.loads(metricsense.check(STORES, by="store", config={}).to_json())
    spec = next(iter(whole["analysis"]))
    table = whole["analysis"][spec]["trust"]
    assert table["signals"]["value_question"]["suppressed"] == 1  # store-11 (n=3); no secondary suppression
    # one table per survey: the `--by` run's is the whole run's, and it is the only one
    records = list(_trust_records(by))
    assert [w for w, _ in records] == ["spec"]
    assert by["analysis"][spec]["trust"] == table
    for result in by["segments"]["results"]:
        assert not [c for c in result["codes"] if c.startswith("MS5")]
    text = json.dumps(by)
    for hidden in ('"store-11", "manager"', "m11"):
        assert hidden not in text
    # the MS5xx findings are the whole run's, said once, for the spec
    mine = sorted((d["code"], d["message"]) for d in by["diagnostics"] if d["code"].startswith("MS5"))
    assert mine == sorted((d["code"], d["message"]) for d in whole["diagnostics"] if d["code"].startswith("MS5"))
    assert not [d for d in by["diagnostics"] if d["code"].startswith("MS5") and "segment" in d]


def test_a_by_column_that_splits_groups_publishes_no_trust_per_segment(tmp_path):
    rows = ["group,manager_id,site,role,question,score"]
    for g, m, n in (("grp-a", "m-a", 9), ("grp-b", "m-b", 8), ("grp-c", "m-c", 3), ("grp-d", "m-d", 7)):
        rows.append(f"{g},{m},site-1,manager,managers,4")
        rows += [f"{g},{m},site-{1 + i % 2},team,team,{1 + i % 5}" for i in range(n)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n'
                                       '  min_group 5\n}\n', "utf-8")
    whole = json.loads(metricsense.check(tmp_path / "s.msense", config={}).to_json())
    by = json.loads(metricsense.check(tmp_path / "s.msense", by="site", config={}).to_json())
    assert [w for w, _ in _trust_records(by)] == ["spec"]
    assert list(_trust_records(by))[0][1] == list(_trust_records(whole))[0][1]
    assert "grp-c" not in json.dumps(by) and "m-c" not in json.dumps(by)


# ---- leak 2: rounds in a declared column, ordered by time -------------------------------------

def _rounds_spec(tmp_path, labels, sizes, option=' period "round"', column="round"):
    rows = [f"{column},group,manager_id,role,question,score"]
    for label in labels:
        for g, n in sizes(label).items():
            rows.append(f"{label},{g},mgr-{g},manager,managers,4")
            rows += [f"{label},{g},mgr-{g},team,team,{1 + i % 5}" for i in range(n)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text(f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "survey.csv"{option}\n'
                                       '  min_group 5\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    return report, TrustAnalysis.of(next(iter(report.analysis.values()))).signals["vq"]


def test_a_declared_round_column_is_read_never_pooled(tmp_path):
    rounds = ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    _, info = _rounds_spec(tmp_path, rounds, lambda r: {"small": 3, "big-1": 8, "big-2": 9})
    assert info.period == "2025-Q2"
    # six rounds of 3 are not a group of 18: small is hidden (and only it: no secondary suppression)
    assert [(g.group, g.n) for g in info.groups] == [("big-1", 8), ("big-2", 9)]
    assert (info.suppressed, info.below_minimum, info.secondary) == (1, 1, 0)
    assert info.total is None  # groups are hidden: no total to subtract them from


def test_a_declared_round_column_that_is_missing_is_a_finding(tmp_path):
    rows = "group,manager_id,role,question,score\na,m,team,team,4\n"
    (tmp_path / "survey.csv").write_text(rows, "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv" period "round"\n'
                                       '}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert any(d.code == "MS031" and "round" in d.message for d in report.diagnostics)
    assert TrustAnalysis.of(next(iter(report.analysis.values()))) is None


@pytest.mark.parametrize("labels", [
    ["Q3 2024", "Q4 2024", "Q1 2025"],            # as text, "Q4 2024" sorts last
    ["2024-Q4", "2025-Q1"],
    ["2024-9", "2024-10"],                        # months without a leading zero
    ["2024-12-31", "2025-03-31"],
    ["9", "10"],                                  # whole numbers: 10 after 9
])
def test_the_latest_round_is_the_latest_in_time(tmp_path, labels):
    latest = labels[-1]
    _, info = _rounds_spec(tmp_path, labels, lambda r: {"a": 6, "b": 7} if r == latest else {"old": 8, "b": 5})
    assert info.period == latest
    assert sorted(g.group for g in info.groups) == ["a", "b"]


def test_the_agenda_since_compares_rounds_by_time(tmp_path):
    from metricsense.agenda import _round_not_before

    _, info = _rounds_spec(tmp_path, ["Q4 2024", "Q1 2025"], lambda r: {"a": 6, "b": 7})
    assert info.period == "Q1 2025"
    assert _round_not_before("Q1 2025", "2025-01-01") and not _round_not_before("Q4 2024", "2025-01-01")
    assert _round_not_before("2025-Q1", "Q4 2024") and not _round_not_before("9", "10")


def test_period_key_orders_by_time():
    labels = ["Q1 2025", "2024-Q4", "2024-11-15", "2024-09", "Q2-2024"]  # a month or quarter: its first day
    assert sorted(labels, key=period_key) == ["Q2-2024", "2024-09", "2024-Q4", "2024-11-15", "Q1 2025"]
    assert sorted(["10", "9", "100"], key=period_key) == ["9", "10", "100"]


# ---- leak 3: respondents, not answers ---------------------------------------------------------

@pytest.mark.parametrize("column", ["respondent", "respondent_id"])
def test_a_respondent_answering_twice_counts_once(tmp_path, column):
    rows = [f"period,group,manager_id,role,question,score,{column}"]
    for g, people in (("a", 3), ("b", 6)):
        rows.append(f"1,{g},m-{g},manager,managers,4,boss-{g}")
        for p in range(people):
            rows += [f"1,{g},m-{g},team,team,2,{g}{p}", f"1,{g},m-{g},team,team,4,{g}{p}"]  # twice each
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n'
                                       '  min_group 5\n}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    info = TrustAnalysis.of(next(iter(report.analysis.values()))).signals["vq"]
    # a: 3 people (6 answers) is hidden; without ids it would show as n=6
    assert [(g.group, g.n) for g in info.groups] == [("b", 6)]
    assert info.suppressed == 1 and info.below_minimum == 1 and info.total is None
    # with a minimum of 3 both show: people, each their mean (3.0), not answers
    (tmp_path / "s.msense").write_text((tmp_path / "s.msense").read_text().replace("min_group 5", "min_group 3"))
    info = TrustAnalysis.of(next(iter(metricsense.check(tmp_path / "s.msense", config={}).analysis.values()))
                            ).signals["vq"]
    assert [(g.group, g.n, g.team) for g in info.groups] == [("a", 3, 3.0), ("b", 6, 3.0)]
    assert info.total.n == 9 and info.total.team == pytest.approx(3.0)


def test_without_a_respondent_column_each_answer_row_is_one_respondent(tmp_path):
    rows = ["group,manager_id,role,question,score"]
    rows += [f"a,m-a,team,team,{1 + i % 5}" for i in range(6)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n}\n', "utf-8")
    info = TrustAnalysis.of(next(iter(metricsense.check(tmp_path / "s.msense", config={}).analysis.values())))
    assert [g.n for g in info.signals["vq"].groups] == [6]


# ---- the adversary ----------------------------------------------------------------------------

SAMPLE = int(os.environ.get("MSENSE_TRUST_ADVERSARY_EXAMPLES", "120"))
#: Inputs the adversary once failed on, kept as regression cases: 1033, 1113, 1119 (a group
#: whose team did not answer was counted as protecting the one other hidden group).
#: 6211 and 7769 (the campaign): a last round nobody answered (the audit's mistake, not the
#: tool's: the latest round is the latest with answers).
#: 1006, 1008, 1018, 1052 (a department exported beside its groups, respondent ids): before
#: secondary suppression, the department minus its shown groups was a hidden group's count and
#: sum (1008: two hidden groups' together, the singleton problem).
REGRESSIONS: list[int] = [1033, 1113, 1119, 6211, 7769, 1006, 1008, 1018, 1052]


def test_a_group_nobody_answered_protects_no_other(tmp_path):
    rows = ["group,manager_id,role,question,score"]
    for g, n in (("quiet", 0), ("mid", 6), ("big-1", 9), ("big-2", 8)):
        rows.append(f"{g},m-{g},manager,managers,4")
        rows += [f"{g},m-{g},team,team,{1 + i % 5}" for i in range(n)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n'
                                       '  min_group 5\n}\n', "utf-8")
    info = TrustAnalysis.of(next(iter(metricsense.check(tmp_path / "s.msense", config={}).analysis.values())))
    signal = info.signals["vq"]
    # before: quiet (n=0) pulled mid in as its secondary, and the total gave mid away
    # (23 - 9 - 8 = 6, and its mean). An empty group hides no answer: mid is simply shown, and
    # quiet is not counted ("1 group not shown" beside a total said its team had not answered).
    assert sorted(g.group for g in signal.groups) == ["big-1", "big-2", "mid"]
    assert (signal.suppressed, signal.secondary) == (0, 0)
    assert signal.total.n == sum(g.n for g in signal.groups) == 23


@pytest.mark.parametrize("seed", [*REGRESSIONS, *range(1000, 1000 + SAMPLE)])
def test_no_hidden_group_can_be_solved_or_named(tmp_path, seed):
    case, result = run_case(seed, tmp_path)
    assert result.ok, (seed, result.solved, result.named, result.wrong)


def test_the_adversary_finds_a_leak_when_there_is_one(tmp_path):
    """The audit itself: a segment's table published beside the whole run's gives a hidden group away."""
    for seed in range(1000, 1200):
        case = generate(np.random.default_rng(seed), tmp_path / str(seed), seed)
        outputs = publish(case)
        whole = json.loads(outputs["whole json"])
        signal = whole["analysis"][next(iter(whole["analysis"]))]["trust"]["signals"]["vq"]
        if signal["suppressed"]:
            break
    else:
        pytest.fail("no generated survey hides a group")
    assert audit(case, outputs).ok
    # forge what the old `--by group` run published: a hidden group's own table in its segment
    hidden = audit(case, outputs).hidden
    forged = {"segments": {"results": [
        {"segment": g, "analysis": {"s": {"trust": {"signals": {"vq": {
            "min_group": 5, "period": case.latest, "total": None,
            "groups": [{"group": g, "manager": m, "n": 1, "team": 1.0, "suppressed": False}]}}}}}}
        for g, m in hidden[:1]]}}
    outputs["--by group json"] = json.dumps(forged)
    leaked = audit(case, outputs)
    assert leaked.named and leaked.solved


@pytest.mark.parametrize("seed", [1006, 1008])
def test_the_adversary_finds_the_department_leak_without_secondary_suppression(tmp_path, seed, monkeypatch):
    """The audit of groups sharing respondents: with secondary suppression switched off, the
    department minus its shown groups solves a hidden group (1008: two hidden groups together)."""
    from metricsense.evaluators import trust

    case, result = run_case(seed, tmp_path / "on")
    assert case.departments and result.ok
    monkeypatch.setattr(trust, "secondary_suppression", lambda *args: set())
    _, leaked = run_case(seed, tmp_path / "off")
    assert leaked.solved and not leaked.named


def test_the_adversary_tells_open_probes_apart(tmp_path):
    """The audit of `open` as a probe: a survey with a later pulse of a small team is run with
    `open` on that round and on a round it does not hold; a difference in the table is flagged."""
    for seed in range(1000, 1100):
        case = generate(np.random.default_rng(seed), tmp_path / str(seed), seed)
        outputs = publish(case)
        if "open later json" in outputs:
            break
    else:
        pytest.fail("no generated survey has a later round of small teams only")
    assert audit(case, outputs).ok
    # forge what the count taken among the closed rounds published: one later round fewer
    doc = json.loads(outputs["open later json"])
    signal = doc["analysis"][next(iter(doc["analysis"]))]["trust"]["signals"]["vq"]
    signal["unreported_rounds"] = signal.get("unreported_rounds", 1) - 1
    outputs["open later json"] = json.dumps(doc)
    assert [w for w in audit(case, outputs).wrong if "`open`" in w]
