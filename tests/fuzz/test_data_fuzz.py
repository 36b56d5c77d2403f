"""Data fuzzing: NaN, infinities, 1e308, empty, one row, all-constant, strings in numeric columns,
mixed date formats, duplicate and unsorted periods: diagnostics, not crashes, and no NaN leaking
into a verdict (a diagnostic message, its evidence, or the JSON report).

One spec exercises every data evaluator (noise, correlation, gains, distortion, triggers); its
data comes from Hypothesis, as a CSV file and as in-memory columns. A trust signal's survey is
fuzzed the same way. `MSENSE_FUZZ_DATA_EXAMPLES` raises the number of examples for a long run.
"""

from __future__ import annotations

import datetime as dt
import os
import json
import re
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import metricsense

EXAMPLES = int(os.environ.get("MSENSE_FUZZ_DATA_EXAMPLES", "25"))
TIME_BOUND = 20  # seconds per check (the evaluators' statistics on up to 80 periods)
WORK = Path(tempfile.mkdtemp(prefix="msense-data-fuzz-"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

SPEC = '''mission "M"
data "k.csv"
lever l1 "L1"
lever l2 "L2"
disturbance d "D"
failure f "F" at outcome
failure g "G" at output
kpi a "A" {
  kind outcome
  better higher
  target >= 4.5 by 2025-06-30
  link "x"
  guards f
  responds l1 +0.5, l2 +0.1
  disturbed d -0.2
  review every 1 week
}
kpi b "B" {
  kind output
  better lower
  target <= 10 by 2025-01-01
  link "y"
  guards f, g
  responds l1 -0.3, l2 +0.4 lag 1 week
}
kpi c "C" {
  kind process
  focus relationships
  target >= 1
  link "z"
  responds l2 +1
}
trigger dip when a < target - 0.3 for 2 periods {
  ask "?"
  with team
}
trigger high when b > mean(b, 3) * 1.5 {
  ask "?"
  with manager
}
trigger jump when abs(change(c, 1)) > 25% of c {
  ask "?"
  with team
}
'''
SERIES = ("a", "b", "c", "l1", "l2", "d")

# ---- strategies --------------------------------------------------------------------------------

EDGE = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, 0.0, -0.0]


def _cell(x) -> str:
    if isinstance(x, str):
        return x
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


column = st.one_of(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=0, max_size=80),  # ordinary
    st.builds(lambda v, n: [v] * n, st.floats(-10, 10, allow_nan=False), st.integers(0, 80)),  # constant
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE)), max_size=80),
    st.lists(st.one_of(st.floats(-5, 5), st.sampled_from(["", "NA", "n/a", "null", "abc", "1,5", "4.5%", " 3 ",
                                                           "1e999", "-", "\u00e9", "0x10"])), max_size=80),
)
date_formats = [lambda d: d.isoformat(), lambda d: d.strftime("%d/%m/%Y"), lambda d: d.strftime("%Y%m%d"),
                lambda d: d.isoformat() + "T00:00:00", lambda d: f"{d.year}-{d.month}-{d.day}",
                lambda d: d.strftime("%b %d %Y")]


@st.composite
def periods(draw, n: int):
    kind = draw(st.sampled_from(["weekly", "monthly", "ints", "mixed", "duplicates", "unsorted", "daily-gaps"]))
    start = draw(st.dates(dt.date(1900, 1, 1), dt.date(2090, 1, 1)))
    if kind == "ints":
        first = draw(st.integers(-5, 10**6))
        return [str(first + i) for i in range(n)]
    step = {"monthly": 30}.get(kind, 7)
    days = [start + dt.timedelta(days=step * i) for i in range(n)]
    if kind == "daily-gaps":
        days = sorted({start + dt.timedelta(days=draw(st.integers(0, 400))) for _ in range(n)})
    out = [d.isoformat() for d in days]
    if kind == "mixed" and n:
        for i in draw(st.lists(st.integers(0, n - 1), max_size=3)):
            out[i] = draw(st.sampled_from(date_formats))(days[i])
    if kind == "duplicates" and n > 1:
        out[-1] = out[0]
    if kind == "unsorted":
        out = draw(st.permutations(out))
    return out[:n] if kind != "daily-gaps" else out


@st.composite
def tables(draw):
    cols = {name: draw(column) for name in SERIES}
    n = draw(st.sampled_from([0, 1, 2, 3, max((len(c) for c in cols.values()), default=0)]))
    p = draw(periods(n))
    n = len(p)
    fixed = {}
    for name, values in cols.items():
        values = list(values)[:n] + [""] * max(0, n - len(values))
        fixed[name] = values
    drop = draw(st.lists(st.sampled_from(SERIES), max_size=2, unique=True))
    return p, {k: v for k, v in fixed.items() if k not in drop}


# ---- the oracle --------------------------------------------------------------------------------

NONFINITE = re.compile(r"\b(nan|inf|infinity)\b", re.I)


# Open findings (each with a strict-xfail regression test below). The properties discard an
# example that hits one, so they keep looking for new ones. None is open: F7, F8, F9 and F15,
# found here, are fixed and have plain regression tests at the end of this file.
KNOWN: dict[str, str] = {}


class Known(Exception):
    pass


def _known(text: str) -> str | None:
    return next((tag for tag, pattern in KNOWN.items() if re.search(pattern, text)), None)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _check(spec: Path, data=None):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_BOUND)
    try:
        report = metricsense.check(spec, data=data, config={})
        internal = [d.message for d in report.diagnostics if d.code == "MS005"]
        if internal and all(_known(m) for m in internal):
            raise Known(_known(internal[0]))
        assert not internal, internal
        try:
            text = report.to_json()  # allow_nan=False: a NaN or infinity anywhere raises
        except ValueError as exc:
            if _known(str(exc)):
                raise Known(_known(str(exc))) from None
            raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert report.exit_code in (0, 1, 2)
    for d in report.diagnostics:
        if d.code.startswith("MS03"):
            continue  # data problems quote the offending cell, whatever it holds
        assert not NONFINITE.search(d.message), d.message
        assert not NONFINITE.search(d.help or ""), d.help
    # JSON's own NaN/Infinity tokens are what must never appear; a message may quote a cell.
    json.loads(text, parse_constant=_refuse_constant)
    return report


def _write(p: list[str], cols: dict[str, list]) -> Path:
    folder = Path(tempfile.mkdtemp(dir=WORK))
    names = list(cols)
    lines = [",".join(["period", *names])]
    for i, period in enumerate(p):
        lines.append(",".join([period, *(_cell(cols[c][i]) for c in names)]))
    (folder / "k.csv").write_text("\n".join(lines) + "\n", "utf-8")
    spec = folder / "k.msense"
    spec.write_text(SPEC, "utf-8")
    return spec


@SETTINGS
@given(tables())
def test_fuzzed_csv_gives_diagnostics_not_crashes(table):
    p, cols = table
    try:
        _check(_write(p, cols))
    except Known:
        reject()


@SETTINGS
@given(tables())
def test_fuzzed_in_memory_data_gives_diagnostics_not_crashes(table):
    p, cols = table
    spec = _write([], {})
    memory = {"period": np.array(p, dtype=object)}
    for name, values in cols.items():
        if all(not isinstance(v, str) for v in values):
            memory[name] = np.array(values, dtype=float)
        else:
            memory[name] = np.array(values, dtype=object)
    try:
        _check(spec, data={"k.csv": memory})
    except Known:
        reject()


# Found by the in-memory fuzz test once (after changes moved to a regular calendar): a lever with
# no value and a KPI observed 4 weeks of 16 made a calendar of fewer changes than the lags tried,
# and the lag estimate sliced arrays of different lengths (MS005 from the noise evaluator).
def test_regression_a_calendar_shorter_than_the_lags_tried():
    p = [str(np.datetime64("2000-01-01") + 7 * i) for i in range(16)]
    cols = {"a": [0.0] * 4 + [""] * 12, "b": [""] * 16, "c": [""] * 16, "l1": [""] * 16, "l2": [""] * 16,
            "d": [0.0] * 16}
    memory = {"period": np.array(p, dtype=object)}
    for name, values in cols.items():
        memory[name] = (np.array(values, dtype=float) if all(not isinstance(v, str) for v in values)
                        else np.array(values, dtype=object))
    _check(_write([], {}), data={"k.csv": memory})
    _check(_write(p, cols))


def _refuse_constant(token: str):
    raise AssertionError(f"the JSON holds {token}")


def _open(tag: str, why: str):
    return pytest.mark.xfail(strict=True, raises=Known, reason=f"open finding {tag}: {why}")


SHAPES = ["empty", "header-only", "one-row", "two-rows",
          "all-constant",
          "all-nan",  # F7, found here and fixed: a trigger over series with no value is not evaluated
          "all-inf",
          "1e308",  # F9, found here and fixed: overflowing changes count as missing
          "strings", "mixed-dates", "ints-and-dates"]


@pytest.mark.parametrize("shape", SHAPES)
def test_named_data_shapes(shape):
    n = 30
    days = [(dt.date(2024, 1, 1) + dt.timedelta(days=7 * i)).isoformat() for i in range(n)]
    ramp = [float(i % 7) for i in range(n)]
    cols = {s: ramp for s in SERIES}
    p = days
    if shape == "empty":
        spec = _write([], {})
        (spec.parent / "k.csv").write_text("")
        _check(spec)
        return
    if shape == "header-only":
        p = []
    elif shape == "one-row":
        p = days[:1]
    elif shape == "two-rows":
        p = days[:2]
    elif shape == "all-constant":
        cols = {s: [3.0] * n for s in SERIES}
    elif shape == "all-nan":
        cols = {s: [float("nan")] * n for s in SERIES}
    elif shape == "all-inf":
        cols = {s: [float("inf") if i % 2 else float("-inf") for i in range(n)] for s in SERIES}
    elif shape == "1e308":
        cols = {s: [1e308 * (1 if i % 2 else -1) for i in range(n)] for s in SERIES}
    elif shape == "strings":
        cols = {**cols, "a": ["high"] * n}
    elif shape == "mixed-dates":
        p = [d if i % 3 else dt.date.fromisoformat(d).strftime("%d/%m/%Y") for i, d in enumerate(days)]
    elif shape == "ints-and-dates":
        p = [d if i % 2 else str(i) for i, d in enumerate(days)]
    cols = {k: v[: len(p)] for k, v in cols.items()}
    report = _check(_write(p, cols))
    codes = {d.code for d in report.diagnostics}
    if shape in ("header-only",):
        assert "MS034" in codes
    if shape in ("strings", "mixed-dates", "ints-and-dates"):
        assert "MS032" in codes


# ---- survey data for a trust signal ------------------------------------------------------------

TRUST_SPEC = '''mission "M"
trust value_question {
  managers "What value are you bringing?"
  team "What value did your manager bring?"
  scale 1..5
  data "survey.csv"
  gap > 1.0
  min_group 3
}
'''

score = st.one_of(st.integers(-3, 9).map(str), st.sampled_from(["", "NaN", "inf", "-inf", "1e308", "x", "4.5"]))
row = st.tuples(st.sampled_from(["2024-01-01", "2024-02-01", "7", "", "bad"]),
                st.sampled_from(["g1", "g2", "", "<b>g</b>"]), st.sampled_from(["m1", "m2", ""]),
                st.sampled_from(["manager", "team", "self", "other", ""]),
                st.sampled_from(["managers", "team", "value_question", "other"]), score)


@SETTINGS
@given(st.lists(row, max_size=60))
def test_fuzzed_survey_gives_diagnostics_not_crashes(rows):
    folder = Path(tempfile.mkdtemp(dir=WORK))
    lines = ["period,group,manager_id,role,question,score"] + [",".join(r) for r in rows]
    (folder / "survey.csv").write_text("\n".join(lines) + "\n", "utf-8")
    spec = folder / "t.msense"
    spec.write_text(TRUST_SPEC, "utf-8")
    try:
        report = _check(spec)
    except Known:
        reject()
    # Confidentiality holds on any input: a group under min_group is never named.
    text = report.to_json()
    counts = {}
    for r in rows:
        if r[3] == "team":
            counts[r[1]] = counts.get(r[1], 0) + 1
    assert "<b>g</b>" not in text or counts.get("<b>g</b>", 0) >= 3


# ---- open findings, as regression tests ----------------------------------------------------------

def _weekly(n: int) -> list[str]:
    return [(dt.date(2024, 1, 1) + dt.timedelta(days=7 * i)).isoformat() for i in range(n)]


RAMP = [float((i * 37) % 11) for i in range(30)]


# F7, found here and fixed: with no value at all the trigger's own periods were empty and the
# noise evaluator indexed the first of them (IndexError, MS005 for the analysis and MS301-MS303).
@pytest.mark.parametrize("periods,cell", [(1, ""), (30, float("nan")), (30, "")], ids=["one-empty-row", "all-nan", "all-empty"])
def test_series_without_a_value_give_no_noise_verdict(periods, cell):
    report = metricsense.check(_write(_weekly(periods), {s: [cell] * periods for s in SERIES}), config={})
    assert not [d for d in report.diagnostics if d.code == "MS005"]
    assert not [d for d in report.diagnostics if d.code.startswith("MS3")]
    from metricsense.evaluators.records import NoiseAnalysis

    noise = NoiseAnalysis.of(next(iter(report.analysis.values()))).kpis
    for kpi in ("a", "b", "c"):
        assert noise[kpi].noise is None and noise[kpi].level is None and noise[kpi].changes == 0
        for info in noise[kpi].triggers.values():
            assert info["status"] == f"not evaluated: no values for `{kpi}`"
    json.loads(report.to_json(), parse_constant=_refuse_constant)


# F8 and F9 were found here and fixed by their owners during this work: now plain regression tests.
@pytest.mark.parametrize("value", [float("inf"), "1e999", "1e308"], ids=["inf", "1e999-text", "1e308"])
def test_an_infinite_kpi_value_keeps_the_report_finite(value):
    a = RAMP[:5] + [value] + RAMP[6:] if value != "1e308" else [1e308 * (1 if i % 2 else -1) for i in range(30)]
    report = metricsense.check(_write(_weekly(30), {**{s: RAMP for s in SERIES}, "a": a}), config={})
    report.to_json()


def test_an_infinite_lever_value_is_not_an_internal_crash():
    l1 = RAMP[:5] + [float("inf")] + RAMP[6:]
    report = metricsense.check(_write(_weekly(30), {**{s: RAMP for s in SERIES}, "l1": l1}), config={})
    assert not [d.message for d in report.diagnostics if d.code == "MS005"]


# F15 was found here and fixed: a ragged CSV row is MS032 with Arrow's message naming the row.
def test_a_ragged_csv_row_is_a_data_diagnostic():
    spec = _write(_weekly(3), {**{s: [1.0, 2.0, 3.0] for s in SERIES}, "d": [1.0, "1,5", 2.0]})
    report = metricsense.check(spec, config={})
    assert not [d for d in report.diagnostics if d.code == "MS005"]
    assert "MS032" in {d.code for d in report.diagnostics}
