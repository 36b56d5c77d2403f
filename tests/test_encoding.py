"""The one JSON encoder: streamed pieces, the non-finite rule, records."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from metricsense.analysis import Record
from metricsense.encoding import dumps, finite


def test_json_pieces_make_the_same_text_as_the_whole_value():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from metricsense.encoding import json_pieces, json_value

    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=4))
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                         max_leaves=20)

    @settings(max_examples=300, deadline=None)
    @given(value, st.integers(0, 3))
    def same(v, level):
        assert "".join(json_pieces(v, level)) == json_value(v, level)

    same()
    rules = [{"code": "MS101", "segments": [f"s{i:05d}" for i in range(1000)]}]
    assert max(len(p) for p in json_pieces(rules, 2)) < 100  # no piece holds the list


def test_the_one_pass_indenter_writes_what_the_standard_encoder_writes():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from metricsense.encoding import json_indented, json_value

    # any float (NaN and infinities become null), odd strings, tuples, NumPy values and
    # non-string keys (those parts go the standard way)
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
                     st.floats().map(np.float64), st.integers(-5, 5).map(np.int64))
    key = st.one_of(st.text(max_size=3), st.integers(-3, 3))
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                       st.dictionaries(key, inner, max_size=4)),
                         max_leaves=20)

    @settings(max_examples=400, deadline=None)
    @given(value, st.integers(0, 3))
    def same(v, level):
        assert json_indented(v, level) == json_value(finite(v), level)

    same()
    assert json_indented({"a": [float("nan"), "\u2028\n\"é"], "b": {}}, 1) == \
        '{\n    "a": [\n      null,\n      "\u2028\\n\\"é"\n    ],\n    "b": {}\n  }'


def test_finite_turns_every_non_finite_number_into_null_on_the_way_down():
    value = {"a": [1.0, math.nan, math.inf], "b": np.array([-np.inf, 2.5]), "c": np.float64(math.nan), "d": (3,)}
    assert finite(value) == {"a": [1.0, None, None], "b": [None, 2.5], "c": None, "d": [3]}
    assert json.loads(dumps(value)) == finite(value)


def test_a_record_is_written_as_its_json_form():
    @dataclass(frozen=True)
    class Noise(Record):
        name = "noise"
        noise: float
        kpis: tuple[str, ...]

    assert finite({"noise": Noise(math.nan, ("a",))}) == {"noise": {"noise": None, "kpis": ["a"]}}
    assert dumps(Noise(1.5, ("a", "b"))) == '{"noise": 1.5, "kpis": ["a", "b"]}'


def test_a_record_s_nested_parts_are_written_by_their_own_to_json():
    # Review regression: plain() wrote a nested dataclass's raw fields although it had a to_json,
    # and json_default wrote a record holding NaN as a NaN token (invalid JSON).
    from metricsense.analysis import plain
    from metricsense.encoding import json_default

    @dataclass(frozen=True)
    class Part:
        x: float

        def to_json(self):
            return {"x": self.x, "kind": "part"}

    @dataclass(frozen=True)
    class Whole(Record):
        name = "whole"
        parts: tuple[Part, ...]

    assert plain(Whole((Part(1.0),))) == {"parts": [{"x": 1.0, "kind": "part"}]}
    text = json.dumps({"w": Whole((Part(math.nan),))}, default=json_default, allow_nan=False)
    assert json.loads(text) == {"w": {"parts": [{"x": None, "kind": "part"}]}}


def test_a_record_name_is_a_class_variable_not_a_field():
    import pytest

    with pytest.raises(TypeError, match="must be a ClassVar"):
        @dataclass(frozen=True)
        class Wrong(Record):
            name: str = "wrong"


def test_finite_lists_is_finite_in_one_numpy_pass():
    import numpy as np

    from metricsense.encoding import finite, finite_lists

    rng = np.random.default_rng(7)
    for shape in [(), (5,), (4, 6), (3, 4, 5), (0,), (0, 3)]:
        a = rng.normal(size=shape)
        if a.size:
            a.flat[::3] = np.nan
        if a.size > 2:
            a.flat[1] = -np.inf
        assert finite_lists(a) == finite(a), shape
    assert finite_lists(np.array([[1.0, np.nan]])) == [[1.0, None]]


@dataclass(frozen=True)
class _Part(Record):
    name = "part"
    x: float
    m: object


def _reference_rows(value, level, depth, line):
    """What json_rows wrote before it encoded in one pass: ``finite`` first, then each container
    encoded whole and, when longer than ``line``, encoded again item by item."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value) and depth > 0:
        pad = "\n" + "  " * (level + 1)
        out, sep = [], "{"
        for k, v in value.items():
            out.append(sep + pad + json.dumps(k, ensure_ascii=False) + ": " + _reference_rows(v, level + 1, depth - 1, line))
            sep = ","
        return "".join(out) + "\n" + "  " * level + "}"
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    if len(text) <= line or not isinstance(value, (dict, list)) or not value:
        return text
    pad = "\n" + "  " * (level + 1)
    items = [(json.dumps(k, ensure_ascii=False) + ": " if isinstance(value, dict) else "") +
             _reference_rows(v, level + 1, 0, line)
             for k, v in (value.items() if isinstance(value, dict) else enumerate(value))]
    return ("{" if isinstance(value, dict) else "[") + ",".join(pad + i for i in items) + \
        "\n" + "  " * level + ("}" if isinstance(value, dict) else "]")


def test_rows_are_written_as_finite_then_split_would_write_them(monkeypatch):
    # json_rows converts records, tuples and NumPy values and nulls non-finite numbers as it
    # writes, and splits a container it knows to be too long without encoding it whole: the text
    # is the one the two-pass writer made (finite, then encode and split at each level).
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from metricsense import encoding
    from metricsense.encoding import json_rows

    monkeypatch.setattr(encoding, "LINE", 40)  # small, so that every level is split somewhere
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                     st.sampled_from(["NaN", "-Infinity", 'say "NaN"', "\\", "\u2028"]),
                     st.floats().map(np.float64), st.integers(-5, 5).map(np.int64),
                     st.lists(st.floats(), max_size=5).map(np.array),
                     st.builds(_Part, st.floats(), st.lists(st.text(max_size=3), max_size=3).map(tuple)))
    value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=6), st.tuples(inner, inner),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=6)),
                         max_leaves=40)

    @settings(max_examples=400, deadline=None)
    @given(value, st.integers(0, 3), st.integers(0, 2))
    def same(v, level, depth):
        assert "".join(json_rows(v, level, depth)) == _reference_rows(finite(v), level, depth, 40)

    same()


def test_one_line_nulls_only_the_numbers_never_a_string():
    value = {"NaN": ["NaN", float("nan"), "x\"NaN\"", -math.inf], "Infinity": math.inf, "t": '\\"Infinity'}
    assert dumps(value) == json.dumps(finite(value), ensure_ascii=False, allow_nan=False)
    assert json.loads(dumps(value)) == {"NaN": ["NaN", None, "x\"NaN\"", None], "Infinity": None, "t": '\\"Infinity'}


def test_the_indenter_writes_records_and_numpy_values_as_finite_would():
    from metricsense.encoding import json_indented, json_value

    value = {"a": _Part(math.nan, np.array([[1.0, np.inf], [np.nan, 2.0]])), "b": (np.float64(0.1), np.bool_(True)),
             "c": [_Part(1.5, None)], "d": np.int64(3)}
    assert json_indented(value, 1) == json_value(finite(value), 1)
