"""msense diff OLD NEW: KPIs and levers, conditioning, coverage and findings, in Markdown and JSON."""

from __future__ import annotations

import json

import pytest

from support import EXAMPLES, run_msense

OLD = '''mission "m"
lever a "A"
lever b "B"
failure f1 "F1" at input
failure f2 "F2" at outcome
kpi k1 "K1" {
  focus relationships
  link "l"
  target >= 1 by 2027-01-01
  guards f1
  responds a +1.0, b +0.5
}
kpi k2 "K2" {
  link "l"
  target >= 1 by 2027-01-01
  guards f2
  responds a +0.5, b +1.0
}
'''
NEW = OLD.replace("responds a +0.5, b +1.0", "responds a +0.9, b +1.0").replace(
    'lever b "B"', 'lever b "B"\nlever c "C"').replace("failure f2", "failure f3 \"F3\" at process\nfailure f2")


def _write(tmp_path, old=OLD, new=NEW):
    (tmp_path / "old.msense").write_text(old, "utf-8")
    (tmp_path / "new.msense").write_text(new, "utf-8")
    return str(tmp_path / "old.msense"), str(tmp_path / "new.msense")


def test_json(tmp_path):
    old, new = _write(tmp_path)
    result = run_msense("diff", old, new, "--format", "json")
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert d["levers"]["added"] == ["c"] and d["levers"]["removed"] == []
    assert d["kpis"]["added"] == [] and d["kpis"]["count"] == {"old": 2, "new": 2}
    # cond([[1, .5], [.5, 1]]) = 1.5 / 0.5 = 3
    assert abs(d["condition_number"]["old"] - 3.0) < 1e-9
    assert d["condition_number"]["new"] > 5  # the new gains of k2 lean towards those of k1
    assert d["effective_number"] == {"old": None, "new": None, "note": "needs data"}
    assert d["failure_levels"]["process"] == {"old": {"failures": 0, "guarded": 0},
                                              "new": {"failures": 1, "guarded": 0}}
    new_codes = sorted(f["code"] for f in d["findings"]["new"])
    gone_codes = sorted(f["code"] for f in d["findings"]["gone"])
    assert "MS017" in new_codes and "MS015" in new_codes  # idle lever c, unguarded f3
    assert "MS014" in gone_codes  # the process level is covered now


def test_markdown(tmp_path):
    old, new = _write(tmp_path)
    result = run_msense("diff", old, new)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "| levers | 2 | 3 | added `c`; removed none |" in text
    assert "| condition number (declared gains) | 3 |" in text and "worse conditioned" in text
    assert "| effective number of KPIs | needs data | needs data |" in text
    assert "### New findings" in text and "no KPI responds to the lever \\`c\\`" in text  # spec text escaped
    assert "### Findings gone" in text


def test_same_spec_is_no_change():
    spec = str(EXAMPLES / "customer-love" / "customer-love.msense")
    d = json.loads(run_msense("diff", spec, spec, "--format", "json").stdout)
    assert d["findings"] == {"new": [], "gone": []}
    assert d["kpis"]["added"] == d["kpis"]["removed"] == d["levers"]["added"] == []
    assert d["condition_number"]["old_rank_deficient"] is True
    assert d["effective_number"]["old"] == d["effective_number"]["new"] > 1  # read from the correlation record


def test_effective_number_when_correlation_is_present(tmp_path):
    import metricsense
    from metricsense.diff import diff_reports, render_markdown
    from metricsense.evaluators.records import CorrelationAnalysis

    old, new = _write(tmp_path)
    a, b = metricsense.check([old], config={}), metricsense.check([new], config={})
    for report, eff in ((a, 1.8), (b, 1.2)):
        # the correlation record the data would give (these specs read none)
        next(iter(report.analysis.values()))["correlation"] = CorrelationAnalysis(
            basis="weekly changes", method="pearson", kpis=("k1", "k2"), matrix=[[1.0, 0.5], [0.5, 1.0]],
            n=[[9, 9], [9, 9]], effective_number=eff, effective_of=2, effective_kpis=("k1", "k2"))
    d = diff_reports(a, b)
    assert d["effective_number"] == {"old": 1.8, "new": 1.2, "note": None}
    assert "| effective number of KPIs | 1.80 | 1.20 |" in render_markdown(d)


def test_broken_new_spec_exits_2(tmp_path):
    old, new = _write(tmp_path, new="kpi {\n")
    result = run_msense("diff", old, new)
    assert result.returncode == 2
    assert "MS001" in result.stderr and "nothing is compared" in result.stderr
    assert "removed" not in result.stdout  # a spec that does not parse has no KPIs to lose


def test_a_third_kpi_on_two_levers_is_rank_deficient_not_better_conditioned(tmp_path):
    # MS202 says rank 2 for 3 KPIs: the diff must not call the new matrix better conditioned
    head = 'mission "M"\nlever a "A"\nlever b "B"\n'
    old = tmp_path / "old.msense"
    new = tmp_path / "new.msense"
    old.write_text(head + 'kpi k1 "K1" { responds a +1, b +0.9 }\nkpi k2 "K2" { responds a +0.9, b +1 }\n')
    new.write_text(old.read_text() + 'kpi k3 "K3" { responds a +1, b -1 }\n')
    d = json.loads(run_msense("diff", old, new, "--format", "json").stdout)
    c = d["condition_number"]
    assert c["old_rank_deficient"] is False and c["new_rank_deficient"] is True
    # no finite condition number for three KPIs on rank 2 (reports.gains.analyse, as every output says it)
    assert c["new_rank"] == 2 and c["new"] is None and c["old"] is not None
    text = run_msense("diff", old, new).stdout
    assert "better conditioned" not in text and "worse conditioned" in text
    assert "∞ (rank 2 for 3 KPIs)" in text
    assert any(f["code"] == "MS202" for f in d["findings"]["new"])


def test_a_kpi_no_lever_moves_is_named_beside_the_infinite_condition_number(tmp_path):
    # a watched KPI without `responds` makes the whole ∞ while MS201/MS202 judge the KPIs with
    # gains: the table says which KPI and what the others' number is, not a bare ∞
    head = 'mission "M"\nlever a "A"\nlever b "B"\n'
    old = tmp_path / "old.msense"
    new = tmp_path / "new.msense"
    old.write_text(head + 'kpi k1 "K1" { responds a +1, b +0.5 }\nkpi k2 "K2" { responds a +0.5, b +1 }\n')
    new.write_text(old.read_text() + 'kpi watched "W" { }\n')
    d = json.loads(run_msense("diff", old, new, "--format", "json").stdout)
    c = d["condition_number"]
    assert c["new_rank_deficient"] is True and c["new_orphaned"] == ["watched"]
    assert c["new_steerable"] == pytest.approx(3.0)
    text = run_msense("diff", old, new).stdout
    assert "∞ (rank 2 for 3 KPIs); no lever moves `watched`: 3 among the other 2" in text
    assert not any(f["code"] == "MS202" for f in d["findings"]["new"])


def test_a_folder_of_several_specs_is_not_compared_first_with_first(tmp_path):
    # `msense diff examples/ copy/` compared customer-love with the copy's first spec: every KPI
    # "removed"; a diff is of one spec with another, and a folder of several is the user's mistake
    result = run_msense("diff", EXAMPLES, EXAMPLES / "store-network")
    assert result.returncode == 2 and "holds 5 specs" in result.stderr and "removed" not in result.stdout
    assert "Traceback" not in result.stderr
    result = run_msense("diff", EXAMPLES / "store-network", EXAMPLES / "store-network" / "store-network.msense")
    assert result.returncode == 0 and "added none; removed none" in result.stdout
