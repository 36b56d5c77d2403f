"""Numbers as exports write them (`71.5%`, `1,001`, decimal commas, currency), against pandas."""

from __future__ import annotations

import io

import numpy as np
import pytest

from metricsense.data.numbers import NumberReader
from metricsense.data.table import DataError, Labels, Table
from support import require
from test_sources import SPEC, dataset_of, series


def problems(report):
    return [d for d in report.diagnostics if d.code.startswith("MS03")]


def read(values, decimal=None, currency=None):
    """(values, unit) of one text column, as the data layer reads it."""
    reader = NumberReader("x", decimal, currency)
    table = Table({"x": np.array(values, dtype=object)}, "t.csv", 2)
    return reader(np.array(values, dtype=object), table), reader.unit


def test_percent_thousands_and_currency_match_pandas_reading_the_same_file(tmp_path):
    pd = require("pandas")
    text = ("period,share,visits,revenue\n"
            '2026-01-05,71.5%,"1,001",$12.50\n'
            '2026-01-12,70%,"12,345,678.25","$1,200"\n'
            "2026-01-19,,999,-$3\n"
            '2026-01-26,0.25%,"-2,000",$0\n')
    (tmp_path / "kpis.csv").write_text(text)
    data, report = dataset_of(tmp_path, SPEC + 'data "kpis.csv" currency "$"\n'
                                               'kpi share "S" { }\nkpi visits "V" { }\nkpi revenue "R" { }\n')
    assert not problems(report)
    frame = pd.read_csv(io.StringIO(text), thousands=",")
    share = frame["share"].str.rstrip("%").astype(float)
    revenue = frame["revenue"].str.replace("$", "", regex=False).str.replace(",", "").astype(float)
    np.testing.assert_array_equal(data.matrix(["share", "visits", "revenue"]),
                                  np.column_stack([share, frame["visits"].astype(float), revenue]))
    assert series(report, "share")["unit"] == "%" and series(report, "revenue")["unit"] == "$"
    assert "unit" not in series(report, "visits")
    assert data.series("share").unit == "%"


def test_decimal_comma_file_with_semicolons_matches_pandas(tmp_path):
    pd = require("pandas")
    text = "period;csat;cost\n2026-01-05;4,5;1.234,5\n2026-01-12;4,25;999\n2026-01-19;;12.345.678,75\n"
    (tmp_path / "kpis.csv").write_text(text)
    data, report = dataset_of(tmp_path, SPEC + 'data "kpis.csv" decimal ","\nkpi csat "C" { }\nkpi cost "K" { }\n')
    assert not problems(report)
    frame = pd.read_csv(io.StringIO(text), sep=";", decimal=",", thousands=".")
    np.testing.assert_array_equal(data.matrix(["csat", "cost"]), frame[["csat", "cost"]].to_numpy(dtype=float))


def test_a_comma_outside_thousands_position_names_the_decimal_option(tmp_path):
    (tmp_path / "kpis.csv").write_text('period,x\n2026-01-05,"1,001"\n2026-01-12,"1,5"\n')
    _, report = dataset_of(tmp_path, SPEC + 'data "kpis.csv"\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert d.code == "MS032" and "line 3" in d.message and "'1,5'" in d.message
    assert '`decimal ","`' in d.message
    assert report.exit_code == 2


@pytest.mark.parametrize("text", ["1,5", "0,125", "1,0001", "1,00", "1,001,5", "1,,001", ",001", "1,001 234",
                                  "1 001,5", "12,34,567"])
def test_commas_not_in_thousands_position_are_refused(text):
    with pytest.raises(DataError) as err:
        read(["1,001", text])
    assert err.value.code == "MS032" and err.value.row == 2


@pytest.mark.parametrize(("text", "value"), [("1,001", 1001.0), ("-1,001", -1001.0), ("+12,345.5", 12345.5),
                                              ("1 001", 1001.0), ("1\u202f001.5", 1001.5), ("999", 999.0),
                                              ("1,001%", 1001.0)])
def test_thousands_separators_in_thousands_position(text, value):
    assert read([text])[0][0] == value


@pytest.mark.parametrize(("text", "value"), [("1,5", 1.5), ("1.234,5", 1234.5), ("-0,25", -0.25), (",5", 0.5),
                                              ("1 234,5", 1234.5), ("12", 12.0), ("71,5%", 71.5)])
def test_decimal_comma(text, value):
    assert read([text], decimal=",")[0][0] == value


@pytest.mark.parametrize("text", ["1.5", "1.2345", "1.234.5", "0.125"])
def test_with_decimal_comma_a_point_outside_thousands_position_is_refused(text):
    with pytest.raises(DataError, match="point separates thousands only"):
        read([text], decimal=",")


def test_a_column_mixing_percent_and_bare_numbers_is_refused_naming_both_rows():
    with pytest.raises(DataError) as err:
        read(["71.5%", "", "0.7"])
    assert err.value.row == 3 and "'0.7'" in str(err.value) and "'71.5%'" in str(err.value)
    with pytest.raises(DataError) as err:  # the other order: the row with % is the one named
        read(["0.7", "71.5%"])
    assert err.value.row == 2
    values, unit = read(["71.5%", "0", "NA", "12%"])  # 0 is 0 on both scales
    assert unit == "%" and values[1] == 0 and np.isnan(values[2]) and values[3] == 12


def test_percent_convention_holds_across_batches():
    reader = NumberReader("x")
    first = Table({"x": np.array([0.5, 0.7])}, "t.csv", 2)  # Arrow's floats: bare numbers
    reader(first.columns["x"], first)
    later = Table({"x": Labels(np.array([0, 0], dtype=np.int32), np.array(["80%"], dtype=object))}, "t.csv", 4)
    with pytest.raises(DataError) as err:
        reader(later.columns["x"], later)
    assert "line 4" in str(err.value) and "line 2" in str(err.value)


def test_currency_is_stripped_only_when_asked():
    with pytest.raises(DataError, match='currency "\\$"'):
        read(["$5"])
    with pytest.raises(DataError):
        read(["$5"], currency="€")
    values, unit = read(["5 €", "€-2", "-€1.234,5", "7"], decimal=",", currency="€")
    assert values.tolist() == [5.0, -2.0, -1234.5, 7.0] and unit == "€"
    values, unit = read(["EUR 12", "3 EUR"], currency="EUR")
    assert values.tolist() == [12.0, 3.0] and unit == "EUR"


@pytest.mark.parametrize(("option", "value"), [("decimal", ";"), ("currency", "1"), ("currency", " ")])
def test_a_bad_option_value_is_a_clear_error(tmp_path, option, value):
    (tmp_path / "kpis.csv").write_text("period,x\n2026-01-05,1\n")
    _, report = dataset_of(tmp_path, SPEC + f'data "kpis.csv" {option} "{value}"\nkpi x "X" {{ }}\n')
    (d,) = problems(report)
    assert d.code == "MS030" and option in d.message


def test_plain_numbers_keep_their_old_rules():
    for text in ("4_2", "４", "1e400", "0x10", "1.2.3", "--5", "5-", "%", "1%%"):
        with pytest.raises(DataError):
            read([text])
    values, unit = read(["#N/A", "n/a", "-", "1e3", ".5"])
    assert np.isnan(values[:3]).all() and values[3:].tolist() == [1000.0, 0.5] and unit is None


def test_separators_after_arrows_first_block_are_read_not_refused(tmp_path):
    pd = require("pandas")
    rows = "".join(f"{i},{i}.5\n" for i in range(1, 200_001)) + '200001,"1,001"\n200002,"2,002.5"\n'
    (tmp_path / "big.csv").write_text("period,x\n" + rows)
    data, report = dataset_of(tmp_path, SPEC + 'data "big.csv"\nkpi x "X" { }\n')
    assert not problems(report)
    expected = pd.read_csv(tmp_path / "big.csv", thousands=",")["x"].to_numpy(dtype=float)
    np.testing.assert_array_equal(data.series("x").values, expected)


def test_a_percent_after_arrows_first_block_in_a_long_file_is_refused_naming_its_line(tmp_path):
    rows = "".join(f"{i},x,{i}.5\n" for i in range(1, 200_001)) + "200001,x,71.5%\n"
    (tmp_path / "long.csv").write_text("period,series,value\n" + rows)
    _, report = dataset_of(tmp_path, SPEC + 'data "long.csv" layout long\nkpi x "X" { }\n')
    (d,) = problems(report)
    assert d.code == "MS032" and "line 200002" in d.message and "'71.5%'" in d.message


def test_long_layout_notes_the_unit_and_matches_a_pandas_pivot(tmp_path):
    pd = require("pandas")
    text = ("period,series,store,value\n2026-01-05,share,a,71.5%\n2026-01-05,share,b,69%\n"
            "2026-01-12,share,a,72%\n2026-01-12,share,b,\n")
    (tmp_path / "long.csv").write_text(text)
    data, report = dataset_of(tmp_path, SPEC + 'data "long.csv" layout long segment "store"\nkpi share "S" { }\n')
    assert not problems(report)
    frame = pd.read_csv(io.StringIO(text))
    frame["value"] = frame["value"].str.rstrip("%").astype(float)
    wide = frame.pivot_table(index="period", columns="store", values="value", aggfunc="first", dropna=False)
    np.testing.assert_array_equal(data.series("share").by_segment, wide.to_numpy())
    assert series(report, "share")["unit"] == "%"
