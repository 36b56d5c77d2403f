"""Periods as analysts export them (issue 20): each form read as pandas reads it, calendar buckets,
changes that never bridge a gap, survey rounds, `since`, and the nearest configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricsense
from metricsense.data.periods import round_key
from support import require

pd = require("pandas")

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]


def _pandas(form: str, text: str):
    """The first day of the period pandas reads from ``text`` (its own parsers, one per form)."""
    if form == "month":
        return pd.Period(text, freq="M").start_time.date()
    if form == "quarter":
        if text.upper().startswith("Q"):  # pandas has no `Q1 2024`: read as `2024Q1`
            text = text.split()[1] + text.split()[0]
        return pd.Period(text, freq="Q").start_time.date()
    if form == "week":
        return pd.to_datetime(text + "-1", format="%G-W%V-%u").date()
    if form == "year":
        return pd.Period(text, freq="Y").start_time.date()
    if form == "named":
        return pd.to_datetime(text, format="%b %Y").date()
    return pd.Timestamp(text).date()  # dates and timestamps: the date as written, zone kept


FORMS = {
    "month": MONTHS,
    "quarter": ["2023-Q3", "2023-Q4", "2024-Q1", "2024-Q2", "2024-Q3"],
    "quarter-compact": ["2023Q3", "2023Q4", "2024Q1", "2024Q2"],
    "quarter-first": ["Q3 2023", "Q4 2023", "Q1 2024", "Q2 2024"],
    "statsmodels": ["1959-Q1", "1959-Q2", "1959-Q3", "1959-Q4", "1960-Q1"],
    "week": ["2024-W01", "2024-W02", "2024-W03", "2024-W52", "2025-W01"],
    "year": ["2019", "2020", "2021", "2022"],
    "named": ["Oct 2024", "Nov 2024", "Dec 2024", "Jan 2025"],
    "date": ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"],
    "timestamp": ["2024-01-31 09:00:00", "2024-02-29 09:00:00", "2024-03-31 23:59:59"],
    "timestamp-zone": ["2024-01-31T23:30:00-05:00", "2024-02-29T23:30:00-05:00", "2024-03-31T23:30:00+02:00"],
    "timestamp-utc": ["2024-01-31T10:00:00Z", "2024-02-29T10:00:00Z", "2024-03-31T10:00:00Z"],
}


def _check(tmp_path, csv: str, clause: str = "", kpis=("a",), extra: str = ""):
    (tmp_path / "k.csv").write_text(csv)
    body = "".join(f'kpi {k} "{k}" {{ data "k.csv"{clause} }}\n' for k in kpis)
    (tmp_path / "k.msense").write_text('mission "M"\n' + body + extra)
    return metricsense.check(tmp_path / "k.msense", config={})


def _dataset(tmp_path, csv: str, clause: str = ""):
    from metricsense.data.dataset import build
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    (tmp_path / "k.csv").write_text(csv)
    doc = metricsense.load(f'mission "M"\nkpi a "A" {{ data "k.csv"{clause} }}\n')
    registry = build_registry(get_plugin_manager(entrypoints=False)[0])
    data, problems, _ = build(doc, None, registry.readers, [tmp_path], tmp_path)
    return data, problems


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_form_reads_as_pandas_reads_it(tmp_path, name):
    labels = FORMS[name]
    form = name.split("-")[0] if name not in ("statsmodels",) else "quarter"
    csv = "period,a\n" + "".join(f"{p},{i + 1}\n" for i, p in enumerate(labels))
    data, problems = _dataset(tmp_path, csv)
    assert not problems, problems
    # the period pandas reads, put on the series' calendar bucket (a month ending is its month)
    want = [_pandas(form, p) for p in labels]
    frame = pd.DataFrame({"a": range(1, len(labels) + 1)}, index=pd.to_datetime(want))
    unit = data.frequency
    freq = {"month": "M", "quarter": "Q", "year": "Y", "week": "W-SUN", "day": "D"}[unit]
    starts = frame.index.to_period(freq).start_time.date
    assert [str(p) for p in data.periods] == [str(d) for d in starts]
    np.testing.assert_array_equal(data.series("a").values, frame["a"].to_numpy(dtype=float))


def test_excel_serials_and_a_format(tmp_path):
    data, problems = _dataset(tmp_path, "period,a\n45322,1\n45351,2\n45382,3\n", ' format "excel"')
    assert not problems
    want = pd.to_datetime([45322, 45351, 45382], unit="D", origin="1899-12-30").to_period("M").start_time
    assert [str(p) for p in data.periods] == [str(d.date()) for d in want] and data.frequency == "month"
    data, problems = _dataset(tmp_path, "week_start,a\n01/02/2024,1\n08/02/2024,2\n15/02/2024,3\n",
                              ' period "week_start" format "%d/%m/%Y"')
    assert not problems
    want = pd.to_datetime(["01/02/2024", "08/02/2024", "15/02/2024"], format="%d/%m/%Y")
    assert [str(p) for p in data.periods] == [str(d.date()) for d in want.to_period("W-SUN").start_time]


@pytest.mark.parametrize("value, says", [
    ("03/04/2024", 'format "%d/%m/%Y"'),     # day-first or month-first: never guessed
    ("31/12/2024", "day-first or month-first"),
    ("1_0", "not a period"),
    ("inf", "not a period"),
    ("２０２４", "not a period"),
    ("2024-02-30", "not a calendar date"),
    ("2024-W53", "has no week 53"),
    ("", "blank"),
])
def test_a_period_that_is_none_is_refused_naming_row_value_and_format(tmp_path, value, says):
    report = _check(tmp_path, f"period,a\n2024-01-01,1\n{value},2\n")
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "k.csv line 3" in d.message and says in d.message and (value in d.message or not value)
    assert report.exit_code == 2


def test_mixed_forms_in_one_column_are_refused(tmp_path):
    report = _check(tmp_path, "period,a\n2024-03,1\n2024-Q2,2\n")
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "line 3" in d.message and "2024-Q2" in d.message and "mixes" in d.message


def test_month_ends_and_month_starts_are_the_same_period(tmp_path):
    """Before: the union of 2024-03-31 and 2024-03-01 was a "27 days" frequency, every series half
    missing, and no gain could be estimated."""
    rng = np.random.default_rng(3)
    n = 30
    lever = rng.normal(size=n).cumsum()
    kpi = 2 * lever + rng.normal(scale=0.1, size=n)
    ends = pd.date_range("2022-01-31", periods=n, freq="ME")
    (tmp_path / "lever.csv").write_text("period,u\n" + "".join(f"{d.date()},{v}\n" for d, v in zip(ends, lever)))
    starts = pd.date_range("2022-01-01", periods=n, freq="MS")
    (tmp_path / "kpi.csv").write_text("period,y\n" + "".join(f"{d.date()},{v}\n" for d, v in zip(starts, kpi)))
    (tmp_path / "s.msense").write_text('mission "M"\nlever u "U" { data "lever.csv" }\n'
                                       'kpi y "Y" { data "kpi.csv" responds u +1 }\n')
    report = metricsense.check(tmp_path / "s.msense", config={})
    info = json.loads(report.to_json(analysis="full"))["analysis"][str(tmp_path / "s.msense")]
    assert info["data"]["frequency"] == "month" and info["data"]["periods"] == n
    assert info["gain"]["estimated"]["n"] == [n - 1]  # every month but the first has its change
    assert info["gain"]["estimated"]["matrix"][0][0] == pytest.approx(1.0, abs=0.05)


def test_a_change_never_bridges_a_gap(tmp_path):
    """Two identical KPIs, one with 5 of 30 periods missing: their changes correlate at 1.0 (before:
    0.896, because a 2-period change was paired with 1-period changes) and MS101 says so."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=30).cumsum() * 3 + rng.normal(size=30)
    gappy = x.copy()
    gappy[[4, 9, 15, 21, 26]] = np.nan
    weeks = pd.date_range("2024-01-01", periods=30, freq="7D")
    rows = "".join(f"{d.date()},{a},{'' if np.isnan(b) else b}\n" for d, a, b in zip(weeks, x, gappy))
    report = _check(tmp_path, "period,a,b\n" + rows, kpis=())
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi a "A" { }\nkpi b "B" { }\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    info = json.loads(report.to_json(analysis="full"))["analysis"][str(tmp_path / "k.msense")]["correlation"]
    assert info["matrix"][0][1] == pytest.approx(1.0, abs=1e-12)
    want = pd.Series(x).diff().corr(pd.Series(gappy).diff())
    assert info["matrix"][0][1] == pytest.approx(want, abs=1e-12)
    assert any(d.code == "MS101" for d in report.diagnostics)


def test_a_gap_does_not_bias_an_estimated_gain(tmp_path):
    n = 60
    rng = np.random.default_rng(5)
    u = rng.normal(size=n).cumsum()
    y = 0.5 * u
    y_gappy = y.copy()
    y_gappy[::6] = np.nan
    days = pd.date_range("2020-01-31", periods=n, freq="ME")
    rows = "".join(f"{d.date()},{a},{'' if np.isnan(b) else b}\n" for d, a, b in zip(days, u, y_gappy))
    (tmp_path / "k.csv").write_text("period,u,y\n" + rows)
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nlever u "U"\nkpi y "Y" { responds u +1 }\n')
    info = json.loads(metricsense.check(tmp_path / "k.msense", config={}).to_json(analysis="full"))
    gain = info["analysis"][str(tmp_path / "k.msense")]["gain"]["estimated"]["matrix"][0][0]
    assert gain == pytest.approx(1.0, abs=1e-9)  # y moves exactly with u: standardised gain 1


def test_mixed_frequencies_are_said_never_silent(tmp_path):
    weeks = pd.date_range("2024-01-01", periods=26, freq="7D")
    (tmp_path / "w.csv").write_text("period,u\n" + "".join(f"{d.date()},{i % 4}\n" for i, d in enumerate(weeks)))
    (tmp_path / "m.csv").write_text("period,y\n" + "".join(f"{m},{i}\n" for i, m in enumerate(MONTHS[:6])))
    (tmp_path / "s.msense").write_text('mission "M"\nlever u "U" { data "w.csv" }\nkpi y "Y" { data "m.csv" }\n')
    report = metricsense.check(tmp_path / "s.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS038"]
    assert "weekly: `u`" in d.message and "monthly: `y`" in d.message and "mean per month" in d.message
    assert d.severity.name == "INFO"


# ---- an export and the same data in ISO dates give the same findings and numbers --------------

def _iso(form: str, label: str) -> str:
    """The same period written as an ISO date (the last day of a month, quarter or year)."""
    start = pd.Timestamp(_pandas(form, label))
    freq = {"month": "M", "quarter": "Q", "year": "Y"}.get(form)
    if freq is None:
        return str(start.date())
    return str(start.to_period(freq).end_time.date())


@pytest.mark.parametrize("form, labels", [
    ("month", [f"{y}-{m:02d}" for y in (2021, 2022, 2023) for m in range(1, 13)]),
    ("quarter", [f"{y}-Q{q}" for y in range(2015, 2024) for q in range(1, 5)]),
    ("week", [f"{y}-W{w:02d}" for y in (2023,) for w in range(1, 41)]),
    ("year", [str(y) for y in range(1990, 2024)]),
])
def test_an_export_and_its_iso_rewrite_give_the_same_report(tmp_path, form, labels):
    rng = np.random.default_rng(len(labels))
    n = len(labels)
    u = rng.normal(size=n).cumsum()
    a = 0.8 * u + rng.normal(scale=0.3, size=n)
    b = a + rng.normal(scale=0.05, size=n)
    a[[3, 7]] = np.nan
    spec = ('mission "M"\ndata "k.csv"\nlever u "U"\n'
            'kpi a "A" { kind outcome link "l" target >= 1 by 2030-01-01 since ' + _iso(form, labels[n // 2]) +
            ' responds u +0.8 }\nkpi b "B" { kind output link "l" responds u +0.8 }\n'
            'trigger dip when a < target - 1 for 2 periods { ask "why?" with team }\n')
    reports = []
    for kind in ("export", "iso"):
        folder = tmp_path / kind
        folder.mkdir()
        rows = "".join(f"{p if kind == 'export' else _iso(form, p)},{x},{'' if np.isnan(y) else y},{z}\n"
                       for p, x, y, z in zip(labels, u, a, b))
        (folder / "k.csv").write_text("period,u,a,b\n" + rows)
        (folder / "s.msense").write_text(spec)
        out = json.loads(metricsense.check(folder / "s.msense", config={}).to_json())
        reports.append(json.dumps(out, sort_keys=True).replace(str(folder), "<folder>"))
    assert reports[0] == reports[1]
    assert '"frequency": "%s"' % form in reports[0]


# ---- survey rounds -----------------------------------------------------------------------------

def _survey(tmp_path, rounds, option=' period "round"'):
    rows = ["round,group,manager_id,role,question,score"]
    for r in rounds:
        for g in ("a", "b"):
            rows.append(f"{r},{g},m-{g},manager,managers,4")
            rows += [f"{r},{g},m-{g},team,team,{3 + i % 2}" for i in range(6)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"' + option + "\n}\n")
    report = metricsense.check(tmp_path / "s.msense", config={})
    info = json.loads(report.to_json())["analysis"][str(tmp_path / "s.msense")].get("trust", {})
    return report, info


def test_round_labels_order_by_time():
    from metricsense.evaluators.trust import period_key

    assert period_key("nan") < period_key("2024-Q1")  # before: free text sorted after every date
    labels = ["2025-W52", "Nov 2024", "2024-12-31", "Q1 2025", "2025-06"]
    assert sorted(labels, key=round_key) == ["Nov 2024", "2024-12-31", "Q1 2025", "2025-06", "2025-W52"]
    # never a number, never the latest: a blank, nan, inf, 1_0, full-width digits, free text
    for bad in ("", "nan", "inf", "1_0", "１０", "pilot", "31/12/2024"):
        assert round_key(bad) < round_key("2001-01-01") and round_key(bad) < round_key("1")


@pytest.mark.parametrize("rounds, says", [
    (["2024-Q4", ""], "blank"),
    (["2024-Q4", "pilot"], "not a period"),
    (["2024-12-31", "31/12/2025"], "format"),
])
def test_a_bad_round_is_refused_never_a_round_named_nan(tmp_path, rounds, says):
    report, info = _survey(tmp_path, rounds)
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert "survey.csv line" in d.message and says in d.message
    assert "nan" not in json.dumps(info)


def test_the_format_option_is_honoured_for_rounds(tmp_path):
    report, info = _survey(tmp_path, ["31/12/2024", "30/06/2025", "31/01/2025"],
                           ' period "round" format "%d/%m/%Y"')
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")]
    assert info["signals"]["vq"]["period"] == "2025-06-30"


# ---- where the target was set ------------------------------------------------------------------

def test_since_in_the_spec_sets_the_distortion_split(tmp_path):
    months = pd.date_range("2020-01-31", periods=48, freq="ME")
    rows = "".join(f"{d.date()},{50 + (i % 7)}\n" for i, d in enumerate(months))
    report = _check(tmp_path, "period,a\n" + rows)
    (tmp_path / "k.msense").write_text('mission "M"\nkpi a "A" { data "k.csv" target >= 52 by 2030-01-01 '
                                       "since 2021-03-15 }\n")
    out = json.loads(metricsense.check(tmp_path / "k.msense", config={}).to_json())
    entry = out["analysis"][str(tmp_path / "k.msense")]["distortion"]["a"]
    assert entry["set"] == "2021-03" and entry["set_from"] == "since"
    assert report is not None


def test_an_impossible_since_date_is_a_syntax_finding():
    report = metricsense.check('mission "M"\nkpi a "A" { target >= 1 by 2030-01-01 since 2023-02-30 }\n', config={})
    assert any("since 2023-02-30" in d.message for d in report.diagnostics if d.code == "MS001")


def test_each_spec_in_a_checked_folder_uses_its_nearest_configuration(tmp_path):
    team = tmp_path / "teams" / "a"
    team.mkdir(parents=True)
    (team / "msense.toml").write_text('ignore = ["MS011"]\n')
    (team / "s.msense").write_text('mission "M"\nkpi a "A" { }\n')
    found = {d.code for d in metricsense.check(tmp_path / "teams").diagnostics}
    assert "MS011" not in found and "MS012" in found  # before: the parent's (no) configuration was used
    assert "MS011" in {d.code for d in metricsense.check(team / "s.msense", config={}).diagnostics}


# Attack regressions (issue 20, F4): dates written as whole numbers were read as counted periods
# and every change across a year boundary (202412 -> 202501) was silently lost.
@pytest.mark.parametrize("labels,form", [
    ([f"{y}{m:02d}" for y in (2023, 2024) for m in range(1, 13)], "%Y%m"),
    ([f"2024{m:02d}01" for m in range(1, 13)], "%Y%m%d"),
    ([str(45292 + 30 * i) for i in range(12)], "excel"),
])
def test_dates_written_as_whole_numbers_are_refused_naming_the_format(tmp_path, labels, form):
    import metricsense

    rows = ["period,v"] + [f"{p},{i}" for i, p in enumerate(labels)]
    (tmp_path / "k.csv").write_text("\n".join(rows) + "\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ndata "k.csv"\nkpi v "V" { }\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    (d,) = [d for d in report.diagnostics if d.code == "MS032"]
    assert f'format "{form}"' in d.message and "line 2" in d.message
    (tmp_path / "s.msense").write_text(f'mission "M"\ndata "k.csv" format "{form}"\nkpi v "V" {{ }}\n', "utf-8")
    report = metricsense.check(tmp_path / "s.msense", config={})
    assert not [d for d in report.diagnostics if d.code.startswith("MS03")]
    (tmp_path / "s.msense").write_text('mission "M"\ndata "k.csv" every period\nkpi v "V" { }\n', "utf-8")
    assert not [d for d in metricsense.check(tmp_path / "s.msense", config={}).diagnostics if d.code == "MS032"]


def test_decimal_comma_applies_to_columns_that_look_like_plain_numbers(tmp_path):
    # attack F1: `1.234` in a `decimal ","` file is 1234, not 1.234
    import metricsense
    from metricsense.data.dataset import build

    (tmp_path / "k.csv").write_text("period;visits\n2024-01;1.234\n2024-02;2.345\n2024-03;3.456\n", "utf-8")
    (tmp_path / "s.msense").write_text('mission "M"\ndata "k.csv" decimal ","\nkpi visits "V" { }\n', "utf-8")
    doc = metricsense.load(tmp_path / "s.msense")
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    readers = build_registry(get_plugin_manager(entrypoints=False)[0]).readers
    data, problems, _ = build(doc, None, readers, [tmp_path], tmp_path)
    assert not problems
    assert data.series("visits").values.tolist() == [1234.0, 2345.0, 3456.0]


def test_weekly_series_dated_on_different_weekdays_are_said(tmp_path):
    # attack F3: a lever dated by each week's Sunday start, a KPI by its Saturday end
    import metricsense

    sundays = [str(np.datetime64("2024-01-07") + 7 * i) for i in range(30)]
    saturdays = [str(np.datetime64("2024-01-13") + 7 * i) for i in range(30)]
    (tmp_path / "l.csv").write_text("period,l\n" + "".join(f"{d},{i % 5}\n" for i, d in enumerate(sundays)))
    (tmp_path / "k.csv").write_text("period,k\n" + "".join(f"{d},{i % 7}\n" for i, d in enumerate(saturdays)))
    (tmp_path / "s.msense").write_text('mission "M"\nlever l "L" { data "l.csv" }\n'
                                       'kpi k "K" { data "k.csv"\n responds l 0.5 }\n', "utf-8")
    notes = [d for d in metricsense.check(tmp_path / "s.msense", config={}).diagnostics if d.code == "MS038"]
    assert len(notes) == 1 and "Saturdays: `k`" in notes[0].message and "Sundays: `l`" in notes[0].message
    (tmp_path / "k.csv").write_text("period,k\n" + "".join(f"{d},{i % 7}\n" for i, d in enumerate(sundays)))
    assert not [d for d in metricsense.check(tmp_path / "s.msense", config={}).diagnostics if d.code == "MS038"]


@pytest.mark.parametrize("label", ["2024/01/15", "2024.01.15"])
def test_a_year_first_date_with_slashes_or_dots_is_no_ambiguity(label):
    # attack F11: called ambiguous, though a year first is never day-first
    from metricsense.data.periods import parse_label

    assert parse_label(label)[0] == np.datetime64("2024-01-15")


def _groups_survey(tmp_path, groups):
    rows = ["group,manager_id,role,question,score"]
    for k, g in enumerate(groups):
        rows.append(f"{g},m-{k},manager,managers,5")
        rows += [f"{g},m-{k},team,team,{1 + i % 2}" for i in range(6)]
    (tmp_path / "survey.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "s.msense").write_text('mission "M"\ntrust vq {\n  scale 1..5\n  data "survey.csv"\n  gap > 1\n}\n')
    return metricsense.check(tmp_path / "s.msense", config={}, show_personal=True)


def test_a_group_named_na_is_a_group_and_an_answer_without_one_is_refused(tmp_path):
    # A group `NA` was read as missing and shown, with answers that had no group, as group ``.
    report = _groups_survey(tmp_path, ["NA", "nan", "B"])
    named = sorted(d.message.split("`")[3] for d in report.diagnostics if d.code == "MS501")
    assert named == ["B", "NA", "nan"]
    report = _groups_survey(tmp_path, ["A", "", "B"])
    (d,) = [d for d in report.diagnostics if d.code == "MS037"]
    assert "survey.csv line 9: an answer with no `group`" in d.message
    assert not [d for d in report.diagnostics if d.code == "MS501"]
