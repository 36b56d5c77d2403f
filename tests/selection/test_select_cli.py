"""`msense select` and `metricsense.select`: the JSON contract, the outputs, and user mistakes as errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import metricsense
from metricsense.cli import cli
from metricsense.selection import SelectError
from metricsense.selection.problem import DEFAULT_NOISE, data_noise

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "examples"


def _run(*args):
    return CliRunner().invoke(cli, ["select", *args], catch_exceptions=False)


def test_json_has_the_public_shape():
    result = _run(str(HERE / "toy.msense"), "--format", "json", "--top", "3", "--size", "1")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)["select"]
    assert out["size"] == 1
    assert set(out["inputs"]) >= {"G_y", "G_yd", "Wd", "Wn", "Juu", "Jud", "kpis", "levers", "disturbances"}
    assert set(out["current"]) >= {"kpis", "worst_case_loss", "average_loss"}
    assert [set(c) >= {"kpis", "worst_case_loss", "average_loss"} for c in out["candidates"]] == [True] * 3
    assert set(out["combination"]) >= {"H", "worst_case_loss"}
    assert out["candidates"][0]["kpis"] == ["y3"] and out["candidates"][0]["worst_case_loss"] == pytest.approx(0.26)
    # anyone can recompute a candidate's loss from `inputs`
    i = out["inputs"]
    gy, gyd, juu, jud = (np.array(i[k], dtype=float) for k in ("G_y", "G_yd", "Juu", "Jud"))
    f = -(gy @ np.linalg.inv(juu) @ jud - gyd)
    row = i["kpis"].index("y2")
    m = np.sqrt(juu) @ np.linalg.inv(gy[[row]]) @ np.hstack([f[[row]] * i["Wd"], [[i["Wn"][row]]]])
    assert out["candidates"][1]["worst_case_loss"] == pytest.approx(np.linalg.norm(m, 2) ** 2 / 2)


def test_text_and_markdown_name_the_best_set_and_why():
    text = _run(str(HERE / "toy.msense"), "--size", "1").output
    assert "1. y3" in text and "worst-case loss 0.26" in text and "why:" in text
    md = _run(str(HERE / "toy.msense"), "--size", "2", "--format", "markdown").output
    assert md.startswith("## Choosing 2 KPIs of 4") and "| best 1 | y2, y3 | 0.04057 |" in md


def test_customer_love_drops_the_redundant_cycle_time():
    # examples/customer-love targets 9 KPIs with 8 levers (MS013); select keeps 8 and drops cycle_time,
    # the KPI its comments call redundant with lead time
    result = metricsense.select(str(EXAMPLES / "customer-love" / "customer-love.msense"))
    assert result.size == 8 and "cycle_time" not in result.candidates[0].kpis
    assert "stop targeting `cycle_time`" in result.why


@pytest.mark.parametrize(("text", "where", "what"), [
    ('lever a "A" { cost 0 }\nkpi k { responds a +1 }\n', ":1:15:", "a cost must be above 0"),
    ('lever a\ndisturbance d { best b +1 }\nkpi k { responds a +1 disturbed d +1 }\n', ":2:22:",
     "`b` is not a declared lever"),
    ('lever a\nkpi k { responds a +1 noise 0 }\n', ":2:23:", "noise must be above 0"),
    ('lever a\nkpi k { target >= 1 by 2027-01-01 }\n', ":1:1:", "needs the gains"),
])
def test_user_mistakes_are_errors_with_file_line_and_column(tmp_path, text, where, what):
    spec = tmp_path / "s.msense"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["select", str(spec)])
    assert result.exit_code == 2
    assert f"s.msense{where}" in result.output and what in result.output and "Traceback" not in result.output


def test_size_out_of_range_and_syntax_errors_exit_2(tmp_path):
    assert _run(str(HERE / "toy.msense"), "--size", "5").exit_code == 2
    bad = tmp_path / "bad.msense"
    bad.write_text("kpi {\n")
    result = _run(str(bad))
    assert result.exit_code == 2 and "bad.msense:1:" in result.output


def test_api_raises_select_error_with_a_span(tmp_path):
    with pytest.raises(SelectError) as info:
        metricsense.select('lever a "A" { cost 0 }\nkpi k { responds a +1 }\n')
    assert info.value.span.line == 1


def test_noise_from_data_follows_the_local_level_model():
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(size=4000))
    noise = rng.normal(size=4000)
    # a random walk seen through noise of sd 1: var(changes) = 1 + 2, so noise / typical move = 1/sqrt(3)
    assert data_noise(walk + noise) == pytest.approx(1 / np.sqrt(3), abs=0.03)
    assert data_noise(noise) == pytest.approx(np.sqrt(0.5), abs=0.03)  # pure noise
    assert data_noise(walk) == 0.05  # a pure walk: the floor
    assert data_noise([1.0, 2.0, np.nan, 3.0]) is None
    assert 0 < DEFAULT_NOISE < 1


@pytest.mark.parametrize(("clause", "where"), [
    ('lever a "A" { cost 1e-320 }\nkpi k { responds a +1 }\nkpi j { responds a +2 }\n', ":1:15:"),
    ('lever a "A" { cost 1e308 }\nkpi k { responds a +1 }\nkpi j { responds a +2 }\n', ":1:15:"),
    ('lever a\nkpi k { responds a 1e308 }\nkpi j { responds a +2 }\n', ":2:18:"),
    ('lever a\ndisturbance d { size 1e308 }\nkpi k { responds a +1 disturbed d +1 }\nkpi j { responds a +2 }\n',
     ":2:17:"),
    ('lever a\nkpi k { responds a +1 noise 1e308 }\nkpi j { responds a +2 }\n', ":2:23:"),
    ('lever a\ndisturbance d { best a 1e308 }\nkpi k { responds a +1 disturbed d +1 }\nkpi j { responds a +2 }\n',
     ":2:22:"),
])
def test_extreme_numbers_are_errors_naming_the_clause(tmp_path, clause, where):
    # finite numbers far from a typical move overflow the method's products: an error at the clause
    spec = tmp_path / "s.msense"
    spec.write_text(clause)
    result = CliRunner().invoke(cli, ["select", str(spec)])
    assert result.exit_code == 2, result.output
    assert f"s.msense{where}" in result.output and "too large or too small" in result.output


@pytest.mark.parametrize(("clause", "where"), [
    ('lever a "A" { cost 1e400 }\nkpi k { responds a +1 }\n', ":1:15:"),
    ('lever a\nkpi k { responds a 1e400 }\nkpi j { responds a +2 }\n', ":2:18:"),
    ('lever a\ndisturbance d { size 1e400 }\nkpi k { responds a +1 disturbed d +1 }\n', ":2:17:"),
    ('lever a\nkpi k { responds a +1 noise 1e400 }\n', ":2:23:"),
    ('lever a\ndisturbance d { best a 1e400 }\nkpi k { responds a +1 disturbed d +1 }\n', ":2:22:"),
])
def test_numbers_that_read_as_infinity_are_errors_at_the_clause(tmp_path, clause, where):
    # 1e400 parsed as infinity: a gain of it used to read as "rank 0", a cost or size as a traceback
    spec = tmp_path / "s.msense"
    spec.write_text(clause)
    result = CliRunner().invoke(cli, ["select", str(spec)])
    assert result.exit_code == 2, result.output
    # MS001 at the number itself (the clause's own check, "reads as infinity", is behind it)
    line = next(i for i, text in enumerate(clause.splitlines(), 1) if "1e400" in text)
    at = f":{line}:{clause.splitlines()[line - 1].index('1e400') + 1}:"
    assert where.split(":")[1] == str(line) and f"s.msense{at}" in result.output, result.output
    assert "`1e400` is too large" in result.output


def test_noise_from_data_in_huge_units_does_not_overflow():
    rng = np.random.default_rng(5)
    noise = rng.normal(size=400)
    assert data_noise(1e300 * noise) == pytest.approx(data_noise(noise))
    assert data_noise(np.full(50, 1e300)) is None  # constant: nothing to measure


def test_a_disturbance_that_only_moves_the_best_settings_has_no_null_space():
    # F's column for `e` is G_y B: every h with h F = 0 has h G_y B = 0, so H G_y cannot be invertible;
    # rounding left that matrix of full numerical rank and the null-space solve failed (a traceback)
    text = ('lever u { cost 2 }\nlever v { cost 1.5e-3 }\ndisturbance d { best u +1 }\n'
            'disturbance e { size 0.5 best u -0.25, v +1e2 }\n'
            'kpi y1 { responds u +0.1 disturbed d -0.1 noise 1 }\nkpi y2 { responds u +20 noise 1 }\n'
            'kpi y3 { responds u +10 disturbed d -5 noise 1 }\nkpi y4 { responds u +1 noise 1 }\n'
            'kpi y5 { responds v +1 noise 0.3 }\n')
    result = metricsense.select(text)
    assert result.combination["null_space"]["possible"] is False
    assert result.candidates and result.candidates[0].worst_case_loss is not None


@pytest.mark.parametrize(("text", "where", "what"), [
    # two `responds` lines: the model kept only the last, so select saw 1 lever of 2 (MS009)
    ('lever x\nlever y\nkpi a { responds x +1\nresponds y +1 }\nkpi b { responds x +2, y +1 }\n', ":4:1:",
     "`responds` is given more than once in KPI `a`"),
    ('lever x { cost 1\ncost 5 }\nkpi a { responds x +1 }\n', ":2:1:", "`cost` is given more than once in lever `x`"),
    ('lever x\ndisturbance d { best x +1\nbest x +2 }\nkpi a { responds x +1 disturbed d +1 }\n', ":3:1:",
     "`best` is given more than once in disturbance `d`"),
    ('lever x\nlever x { cost 3 }\nkpi a { responds x +1 }\n', ":2:7:", "`x` is declared twice"),
    ('lever x\nkpi a { responds x +1 }\nkpi a { responds x +2 }\n', ":3:5:", "`a` is declared twice"),
    ('lever x\nlever y\nkpi a { responds x +1, y +1, x +2 }\nkpi b { responds y +1 }\n', ":3:30:",
     "`x` is named twice in the `responds` of `a`"),
])
def test_names_and_clauses_given_twice_are_errors_not_silently_one_of_them(tmp_path, text, where, what):
    spec = tmp_path / "s.msense"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["select", str(spec)])
    assert result.exit_code == 2, result.output
    assert f"s.msense{where}" in result.output and what in result.output


def _large_spec(ny=60, nu=12, nd=4, seed=7) -> str:
    rng = np.random.default_rng(seed)
    lines = [f"lever u{j}" for j in range(nu)] + [f"disturbance d{k}" for k in range(nd)]
    for i in range(ny):
        gains = ", ".join(f"u{j} {rng.normal():+.2f}" for j in rng.choice(nu, 3, replace=False))
        dist = ", ".join(f"d{k} {rng.normal():+.2f}" for k in rng.choice(nd, 2, replace=False))
        lines.append(f"kpi y{i} {{ responds {gains} disturbed {dist} noise {rng.uniform(0.1, 1):.2f} }}")
    return "\n".join(lines) + "\n"


def test_time_limit_stops_the_search_and_says_so(tmp_path):
    # 20 of 200 KPIs ran for many minutes with no way to stop it: a time limit returns the best so far
    schema = json.loads((HERE.parents[1] / "schemas" / "select.schema.json").read_text())
    jsonschema = pytest.importorskip("jsonschema")
    spec = tmp_path / "large.msense"
    spec.write_text(_large_spec())
    result = _run(str(spec), "--time-limit", "1e-9", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    jsonschema.validate(out, schema)
    assert out["select"]["search"]["complete"] is False
    text = _run(str(spec), "--time-limit", "1e-9").output
    assert "the search stopped at its time limit" in text and "cannot hold" not in text.split("why:")[1].split("\n")[0]
    assert _run(str(spec), "--time-limit", "0").exit_code == 2
    done = metricsense.select(_large_spec(ny=14, nu=3, nd=2), time_limit=60)
    assert done.complete and done.as_dict()["select"]["search"]["complete"] is True


def test_noise_note_does_not_say_no_data_for_a_kpi_whose_data_is_constant(tmp_path):
    # `flat` has 30 weeks of data, all 5: its noise cannot be measured, but it does have data
    (tmp_path / "kpis.csv").write_text("period,flat\n" + "".join(f"2024-W{w:02d},5\n" for w in range(1, 31)))
    (tmp_path / "s.msense").write_text('data "kpis.csv"\nlever x\nkpi flat { responds x +1 }\nkpi b { responds x +2 }\n')
    text = _run(str(tmp_path / "s.msense")).output
    assert "noise: flat, b declare no noise and have no data to measure it from (it takes 9 consecutive periods " \
           "that vary)" in text


@pytest.mark.parametrize("kwargs", [{"top": 0}, {"top": -1}, {"top": 2.5}, {"top": None}, {"size": "2"},
                                    {"size": 2.5}, {"size": True}])
def test_api_size_and_top_that_are_not_whole_numbers_are_value_errors(kwargs):
    # top=0 was an IndexError from deep inside, size=2.5 an IndexError, size=True a set of "True" KPIs
    with pytest.raises(ValueError, match="must be"):
        metricsense.select((HERE / "toy.msense").read_text(), **kwargs)


def test_no_disturbances_is_not_a_null_space_that_fails(tmp_path):
    # it said "no index cancels every disturbance (2 KPIs, 1 needed)": a contradiction, with none to cancel
    spec = tmp_path / "s.msense"
    spec.write_text("lever x\nkpi a { responds x +1 }\nkpi b { responds x +2 }\n")
    text = _run(str(spec)).output
    assert "no index cancels" not in text and "no disturbance is declared, so there is none to cancel" in text
    ns = json.loads(_run(str(spec), "--format", "json").output)["select"]["combination"]["null_space"]
    assert ns["possible"] is True and ns["disturbance_loss"] == 0


def test_a_spec_from_standard_input():
    # check and fmt read `-`; select said "cannot read `-`: No such file or directory"
    result = CliRunner().invoke(cli, ["select", "-", "--size", "1"], input=(HERE / "toy.msense").read_text())
    assert result.exit_code == 0, result.output
    assert "1. y3" in result.output
    one_line = CliRunner().invoke(cli, ["select", "-"], input="lever x kpi a { responds x +1 }")
    assert one_line.exit_code == 0 and "1. a" in one_line.output


@pytest.mark.parametrize(("text", "where", "what"), [
    ('lever x\ndisturbance d\nkpi a { responds x +1, d +2 }\nkpi b { responds x +2 }\n', ":3:24:",
     "`d` is a disturbance, not a lever"),
    ('lever x\ndisturbance d\nkpi a { responds x +1 disturbed x +1 }\nkpi b { responds x +2 disturbed d +1 }\n',
     ":3:33:", "`x` is a lever, not a disturbance"),
    ('lever x\nkpi a { responds x +1 }\nkpi b { responds x +1, nope +1 }\n', ":3:24:",
     "`nope` is not declared: a lever is expected here"),
])
def test_gains_naming_no_lever_or_disturbance_are_errors_not_left_out(tmp_path, text, where, what):
    # select dropped these gains silently and chose on the rest (check reports them as MS002)
    spec = tmp_path / "s.msense"
    spec.write_text(text)
    result = CliRunner().invoke(cli, ["select", str(spec)])
    assert result.exit_code == 2, result.output
    assert f"s.msense{where}" in result.output and what in result.output


def test_fewer_kpis_than_levers_says_so():
    # it said "the declared gains do not let the KPIs tell the 3 levers apart (rank 2)"
    with pytest.raises(SelectError, match="2 KPIs with gains for 3 levers"):
        metricsense.select("lever x\nlever y\nlever z\nkpi a { responds x +1, y +1 }\nkpi b { responds x +2, z +1 }\n")
