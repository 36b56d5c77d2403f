"""A small fixed-seed slice of the calibration suite (calibration/, `make calibrate`).

It checks the harness, not the rules' calibration: the families have the properties they are
named for, the specs are well designed, and planted effects are found."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import metricsense  # noqa: E402
from calibration.__main__ import main  # noqa: E402
from calibration.__main__ import tables  # noqa: E402, F401
from calibration.harness import STATISTICAL, Task, check_one  # noqa: E402
from calibration.systems import FAMILIES, PANELS, draw, noise, spec_text, write  # noqa: E402


def ar_coefficient(x: np.ndarray) -> float:
    """The least-squares AR(1) coefficient (with an intercept), plain NumPy."""
    y, lag = x[1:], x[:-1]
    design = np.column_stack([np.ones_like(lag), lag])
    return float(np.linalg.lstsq(design, y, rcond=None)[0][1])


@pytest.mark.parametrize("family,phi", [("iid", 0.0), ("ar05", 0.5), ("ar08", 0.8), ("ar095", 0.95)])
def test_the_ar_families_have_their_coefficient(family, phi):
    x = noise(family, np.random.default_rng(7), 40, 500)
    fitted = np.mean([ar_coefficient(row) for row in x])
    assert fitted == pytest.approx(phi, abs=0.02)  # mean of 40 fits of 500 periods: SE < 0.005


def test_a_random_walk_has_independent_changes_and_the_ragged_family_gaps():
    x = noise("rw", np.random.default_rng(8), 40, 500)
    assert np.mean([ar_coefficient(np.diff(row)) for row in x]) == pytest.approx(0.0, abs=0.02)
    r = noise("ragged", np.random.default_rng(8), 10, 104)
    missing = np.isnan(r).mean()
    assert 0.1 < missing < 0.4 and np.isnan(r[:, :5]).all(axis=1).any()  # some KPIs start late


def one_way_icc(block: np.ndarray) -> float:
    """ICC(1) of a units x periods block: one-way ANOVA (plain NumPy)."""
    u, t = block.shape
    means = block.mean(axis=1)
    msb = t * np.var(means, ddof=1)
    msw = np.sum((block - means[:, None]) ** 2) / (u * (t - 1))
    return float((msb - msw) / (msb + (t - 1) * msw))


@pytest.mark.parametrize("family", ["panel_icc05", "panel_icc09", "panel_icc099"])
def test_the_panel_data_written_has_its_icc(family, tmp_path):
    # read back from the CSV the spec reads: each KPI's values less each period's mean over
    # units (the levers move every unit alike) have the family's ICC
    icc = PANELS[family]
    s = draw(family, 3, units=60)
    write(s, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "data.csv")))
    found = []
    for k in range(s.k):
        mine = [r for r in rows if r["series"] == f"k{k}"]
        units = sorted({r["unit"] for r in mine})
        periods = sorted({r["period"] for r in mine})
        block = np.full((len(units), len(periods)), np.nan)
        for r in mine:
            block[units.index(r["unit"]), periods.index(r["period"])] = float(r["value"])
        found.append(one_way_icc(block - block.mean(axis=0)))
    assert np.mean(found) == pytest.approx(icc, abs=0.05)


def test_the_declared_gains_are_the_true_standardised_gains_of_changes():
    # the KPI changes regressed on the lever and disturbance changes (independent noise) give
    # back the declared gains
    est = []
    for seed in range(20):
        s = draw("iid", seed)
        x = np.column_stack([np.diff(s.levers, axis=1).T, np.diff(s.disturbance)])
        y = np.diff(s.values, axis=1).T
        xs, ys = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
        est.append(np.linalg.lstsq(xs, ys, rcond=None)[0].T)
    truth = np.column_stack([s.gains, s.dist_gain])
    assert np.abs(np.mean(est, axis=0) - truth).max() < 0.08


def test_the_healthy_spec_is_well_designed():
    # without data, only what 10 KPIs on 4 levers must give: MS013 and a rank-deficient gain matrix
    for family in FAMILIES:
        s = draw(family, 1)
        codes = sorted({d.code for d in metricsense.check(spec_text(s, None), config={}).diagnostics})
        assert codes == ["MS013", "MS202"], family


@pytest.mark.parametrize("effect,rule,seeds", [("bunch20", "MS401", (1, 2, 3)), ("wrong_gain", "MS205", (1, 2, 3)),
                                               ("redundant", "MS101", (1, 2, 3)), ("near_target", "MS301", (1, 2)),
                                               ("noisy_trigger", "MS302", (1,))])
def test_the_harness_finds_planted_effects(effect, rule, seeds):
    family = "panel_icc05" if effect.startswith("bunch") else "iid"
    for seed in seeds:
        got = check_one(Task(family, seed, effect))
        assert got.crashed is None
        assert rule in got.raw, (effect, seed, sorted(got.raw))
        assert got.planted[0], (effect, seed)  # found on the KPI it was planted on
        assert "MS013" not in got.raw and "MS013" in got.design  # design findings are not counted


def test_the_command_prints_and_keeps_its_table(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Calibration\n\n<!-- calibration:start -->\nold\n<!-- calibration:end -->\n\nkept\n")
    assert main(["--reps", "2", "--families", "iid", "panel_icc05", "--effects", "bunch20", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "\nold\n" not in text and text.endswith("\n\nkept\n")
    assert "| iid |" in text and "| bunch20 | panel_icc05 | MS401 |" in text
    assert "The healthy-system goal" in text and "4 draws over 2 families" in text
    assert "python -m calibration --reps 2" in capsys.readouterr().out


def test_the_json_a_run_writes_is_what_explain_states(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    import metricsense.calibrated as calibrated
    from calibration.__main__ import per_test_rate
    from calibration.harness import run
    from metricsense.cli import cli

    out = tmp_path / "calibration.json"
    assert main(["--reps", "3", "--families", "iid", "--effects", "halve", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["run"]["reps"] == 3 and data["run"]["stated_size"] == 0.05
    assert set(data["rules"]) == set(STATISTICAL)
    # the same draws again (the seeds are fixed): the rates written are the harness's own
    again = [o for o in run([Task("iid", 21 * 10_000_000 + r) for r in range(3)])]
    for code in STATISTICAL:
        mean, se = per_test_rate(again, code)
        assert data["rules"][code]["families"]["iid"]["per_test"] == pytest.approx([mean, se], abs=1e-4)
    power = data["rules"]["MS403"]["power"]
    assert [p["effect"] for p in power] == ["halve"] and 0 <= power[0]["raw"][0] <= 1
    monkeypatch.setattr(calibrated, "measurements", lambda: data)
    text = CliRunner().invoke(cli, ["explain", "MS403"]).output
    assert "## Measured" in text and "3 simulated healthy KPI systems per family" in text
    mean, se = data["rules"]["MS403"]["families"]["iid"]["per_test"]
    assert f"{100 * mean:.1f}% ± {100 * se:.1f} (iid)" in text
    assert f"Power: {100 * power[0]['raw'][0]:.1f}%" in text and "halved" in text
    # a rule the suite does not measure has no such section
    assert "## Measured" not in CliRunner().invoke(cli, ["explain", "MS001"]).output


def test_explain_says_nothing_measured_when_the_file_is_missing(monkeypatch):
    import metricsense.calibrated as calibrated

    monkeypatch.setattr(calibrated, "measurements", lambda: {})
    assert calibrated.measured("MS205") is None


def test_one_check_gives_what_a_check_at_q_keeps(tmp_path):
    # the harness reads the BH decision at q = 0.05 from a check at q = 1 (its q-values): the same
    # findings as checking at q = 0.05
    from calibration.harness import kept_at
    from metricsense.fdr import p_value_of

    dropped = 0
    for family, seed, effect in [("iid", 1, None), ("improvement", 2, None), ("iid", 3, "wrong_gain"),
                                 ("panel_icc05", 4, "bunch10"), ("ragged", 5, None), ("iid", 6, "diverge"),
                                 ("rw", 7, "redundant")]:
        s = draw(family, seed, effect=effect)
        path = write(s, tmp_path / f"{family}-{seed}")
        every = metricsense.check(str(path), config={"fdr-q": 1.0}).diagnostics
        at_q = metricsense.check(str(path), config={"fdr-q": 0.05}).diagnostics
        key = (lambda d: (d.code, d.message))
        assert sorted(map(key, kept_at(every, 0.05))) == sorted(map(key, at_q)), (family, seed, effect)
        # every statistical finding carries its q-value
        assert all("q_value" in d.evidence for d in every if p_value_of(d) is not None)
        dropped += len(every) - len(at_q)
    assert dropped > 0  # some findings were dropped at q = 0.05: the comparison is not vacuous


def test_effects_measured_after_the_full_run_are_added_to_its_file(tmp_path, monkeypatch):
    import json

    import metricsense.calibrated as calibrated

    out = tmp_path / "calibration.json"
    assert main(["--reps", "2", "--families", "iid", "--effects", "halve", "--json", str(out)]) == 0
    before = json.loads(out.read_text())
    assert main(["--reps", "2", "--families", "--effects", "near_target", "--json", str(out), "--add-power"]) == 0
    after = json.loads(out.read_text())
    # everything the full run wrote is kept; the new effect joins its rule's power with its own run
    assert after["run"] == before["run"] and after["goal"] == before["goal"]
    assert after["rules"]["MS403"] == before["rules"]["MS403"]
    assert after["rules"]["MS301"]["families"] == before["rules"]["MS301"]["families"]
    [entry] = after["rules"]["MS301"]["power"]
    assert entry["effect"] == "near_target" and entry["run"]["reps"] == 2 and "--add-power" in entry["run"]["command"]
    # measured again, it replaces its entry
    assert main(["--reps", "3", "--families", "--effects", "near_target", "--json", str(out), "--add-power"]) == 0
    [entry] = json.loads(out.read_text())["rules"]["MS301"]["power"]
    assert entry["run"]["reps"] == 3
    monkeypatch.setattr(calibrated, "measurements", lambda: json.loads(out.read_text()))
    text = calibrated.measured("MS301")
    assert "control over the whole system's tests, 3 draws on" in text
    # a mistake: adding power needs a file and no healthy families
    with pytest.raises(SystemExit):
        main(["--reps", "2", "--families", "iid", "--effects", "near_target", "--json", str(out), "--add-power"])


def test_a_rule_measured_in_its_own_slice_states_that_run(monkeypatch):
    import metricsense.calibrated as calibrated

    fams = {"iid": {"per_test": [0.01, 0.002], "per_draw": [0.04, 0.01], "holds": True}}
    data = {"run": {"date": "2026-01-01", "reps": 1000, "stated_size": 0.05},
            "rules": {"MS402": {"families": fams, "holds": True, "power": [],
                                "run": {"date": "2026-01-02", "reps": 200, "stated_size": 0.05}},
                      "MS403": {"families": fams, "holds": True, "power": []}}}
    monkeypatch.setattr(calibrated, "measurements", lambda: data)
    assert "(2026-01-02, 200 simulated" in calibrated.measured("MS402")
    assert "(2026-01-01, 1000 simulated" in calibrated.measured("MS403")


def test_the_committed_measurements_cover_every_rule_and_family():
    # what `msense explain` states comes from a full run (1,000 draws per family) or, for a rule
    # changed after it, from that rule's own slice; every statistical rule, every family
    import json

    data = json.loads((Path(__file__).resolve().parents[2] / "metricsense" / "calibration.json").read_text())
    assert data["run"]["reps"] >= 1000 and data["goal"]["draws"] >= 1000 * len(FAMILIES)
    assert set(data["rules"]) == set(STATISTICAL)
    for code, rule in data["rules"].items():
        assert set(rule["families"]) == set(FAMILIES), code
        assert rule.get("run", data["run"])["reps"] >= 200, code
