"""Trust statistics checked against a pandas groupby; suppression checked case by case."""

from __future__ import annotations

import pytest

import metricsense
from metricsense.evaluators.records import TrustAnalysis
from support import EXAMPLES

pd = pytest.importorskip("pandas")


def test_example_trust_stats_match_pandas_groupby():
    report = metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={})
    (analysis,) = report.analysis.values()
    info = TrustAnalysis.of(analysis).signals["value_question"].to_json()
    survey = pd.read_csv(EXAMPLES / "customer-love" / "data" / "survey.csv")
    latest = survey[survey.period == survey.period.max()]
    assert info["period"] == survey.period.max()
    team = latest[latest.role == "team"].groupby(["group", "manager_id"]).score
    own = latest[latest.role == "manager"].groupby(["group", "manager_id"]).score.mean()
    n = team.size()
    shown = {g["group"]: g for g in info["groups"] if not g["suppressed"]}
    # the group with 3 respondents is not shown, and only it (no secondary suppression: no total
    # is published beside a hidden group, so nothing can be subtracted)
    small = n[n < 5]
    assert set(small.index.get_level_values(0)) == {"security"}
    assert "security" not in shown
    assert set(shown) == set(n.drop(small.index).index.get_level_values(0))
    assert info["suppressed"] == 1 and info["below_minimum"] == 1 and info["secondary"] == 0
    for (group, manager), count in n.drop(small.index).items():
        g = shown[group]
        assert g["manager"] == manager and g["n"] == count
        assert g["team"] == pytest.approx(team.mean()[(group, manager)], abs=1e-12)
        assert g["managers"] == pytest.approx(own[(group, manager)], abs=1e-12)
        assert g["gap"] == pytest.approx(own[(group, manager)] - team.mean()[(group, manager)], abs=1e-12)
        fav = (latest[(latest.role == "team") & (latest.group == group)].score >= 4).mean()
        assert g["team_favourable"] == pytest.approx(fav, abs=1e-12)
    # groups are hidden, so no total is shown: beside hidden groups it would be one more equation
    assert info["total"] is None
    gaps = [d for d in report.diagnostics if d.code == "MS501"]
    over = {g for g, v in shown.items() if abs(v["gap"]) > 1.0}
    assert over == {"product-eng"} and len(gaps) == 1 and "product-eng" in gaps[0].message


def _survey(tmp_path, groups: dict[str, tuple[float, list[int]]], min_group: int = 5):
    lines = ["group,manager_id,role,question,score"]
    for g, (own, team) in groups.items():
        lines.append(f"{g},mgr-{g},manager,managers,{own}")
        lines += [f"{g},mgr-{g},team,team,{s}" for s in team]
    (tmp_path / "survey.csv").write_text("\n".join(lines) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text(
        f'mission "M"\ntrust vq {{\n  scale 1..5\n  data "survey.csv"\n  min_group {min_group}\n}}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    (analysis,) = report.analysis.values()
    return report, TrustAnalysis.of(analysis).signals["vq"].to_json()


def test_no_suppression_when_every_group_is_large(tmp_path):
    _, info = _survey(tmp_path, {"a": (4, [4] * 5), "b": (4, [3] * 6)})
    assert info["suppressed"] == 0 and info["total"]["n"] == 11
    assert info["gap"] == pytest.approx(4 / 3)  # default: a third of the scale


# Attack regression (A11): secondary suppression's count said whether the hidden groups together
# reach min_group; with no total beside hidden groups it protected nobody, so there is none.
def test_two_small_groups_hide_only_themselves_and_the_total(tmp_path):
    _, info = _survey(tmp_path, {"a": (4, [4] * 2), "b": (4, [3] * 2), "c": (4, [3] * 6), "d": (4, [5] * 9)})
    shown = [g["group"] for g in info["groups"] if not g["suppressed"]]
    assert shown == ["c", "d"] and info["below_minimum"] == 2 and info["secondary"] == 0
    assert info["suppressed"] == 2
    assert info["total"] is None  # groups with answers are hidden: no total to subtract from
    # the same published numbers whether the hidden pair holds 4 answers or 8: nothing pins them
    _, other = _survey(tmp_path, {"a": (4, [4] * 4), "b": (4, [3] * 4), "c": (4, [3] * 6), "d": (4, [5] * 9)})
    assert other == info


def test_total_hidden_when_it_would_equal_a_suppressed_group(tmp_path):
    _, info = _survey(tmp_path, {"a": (4, [4] * 3)})
    assert info["groups"] == [{"suppressed": True}] and info["total"] is None


def test_min_group_below_three_is_an_error_and_five_is_used(tmp_path):
    report, info = _survey(tmp_path, {"a": (4, [4] * 4), "b": (4, [3] * 6)}, min_group=2)
    assert info["min_group"] == 5
    assert "MS503" in {d.code for d in report.diagnostics} and report.exit_code == 2


# Review regression: the trust total once included the managers of hidden groups.
def test_trust_total_never_includes_hidden_managers(tmp_path):
    rows = ["period,group,manager_id,role,question,score"]
    for g, m, n, own in (("a", "m1", 6, 5), ("b", "m2", 6, 4), ("c", "m3", 2, 1), ("d", "m4", 2, 2)):
        rows.append(f"1,{g},{m},manager,managers,{own}")
        rows += [f"1,{g},{m},team,team,3" for _ in range(n)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "k.msense").write_text('mission "M"\ntrust v {\n managers "q"\n team "q"\n scale 1..5\n'
                                       ' data "s.csv"\n gap > 1.0\n min_group 5\n}\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    trust = TrustAnalysis.of(next(iter(report.analysis.values()))).to_json()
    signal = trust["signals"]["v"]
    shown = [g for g in signal["groups"] if not g["suppressed"]]
    assert shown and len(shown) < 4
    # with groups hidden no total is shown at all (nothing to subtract from)
    assert signal["total"] is None
    # and with none hidden, the total's managers are the shown managers' own ratings
    (tmp_path / "k.msense").write_text((tmp_path / "k.msense").read_text().replace("min_group 5", "min_group 3")
                                       .replace('"s.csv"', '"t.csv"'))
    (tmp_path / "t.csv").write_text("\n".join(r for r in rows if ",c," not in r and ",d," not in r) + "\n")
    signal = TrustAnalysis.of(next(iter(metricsense.check(tmp_path / "k.msense", config={}).analysis.values()))
                              ).to_json()["signals"]["v"]
    total, shown = signal["total"], signal["groups"]
    assert len(shown) == 2 and total["managers"] == pytest.approx(sum(g["managers"] for g in shown) / 2)


# Attack regression (leak): with a total beside hidden groups, the counts' bounds and the scale's
# solved a hidden one-person group: hidden pool n=6 summing to 6 on 1..5 means all answered 1.
def test_no_total_beside_hidden_groups_even_when_the_pool_is_large_enough(tmp_path):
    _, info = _survey(tmp_path, {"alpha": (4, [1]), "bravo": (4, [1] * 5), "charlie": (4, [3] * 5),
                                 "delta": (4, [3] * 10)})
    assert info["suppressed"] == 1 and info["total"] is None
