"""A streamed run's statistical findings held in flat arrays (segments.waiting) against plain
Python containers: the same decisions, in the same order, whatever the findings' layout."""

from __future__ import annotations

import numpy as np
import pytest

from metricsense.fdr import bh_adjust, bh_adjust_array
from metricsense.segments.results import Rollup
from metricsense.segments.waiting import Decisions, Waiting

KINDS = [("MS205", "spurious-correlation", 1), ("MS301", "x", 1), ("MS401", "y", 2)]


def _draw(rng, specs=("a.msense", "b.msense")):
    """Results in the order a run takes them: (spec, result number, segment, {finding: p}, brief)."""
    out = []
    for seq in range(int(rng.integers(1, 60))):
        n = int(rng.integers(0, 12))
        brief = [KINDS[int(k)] for k in rng.integers(0, len(KINDS), n)]
        stat = {i: float(rng.choice([rng.uniform(), rng.uniform(0, 1e-4), 0.0, 1.0])) for i in range(n)
                if rng.uniform() < 0.7}
        out.append((specs[int(rng.integers(0, len(specs)))], seq, f"s{seq:03d}", stat, brief))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_waiting_and_decisions_answer_as_tuples_and_a_dict_would(seed):
    rng = np.random.default_rng(seed)
    taken = _draw(rng)
    waiting, tuples = Waiting(), []
    for spec, seq, segment, stat, brief in taken:
        if stat:
            waiting.add(spec, seq, segment, stat, brief)
            tuples.extend((spec, seq, i, p, *brief[i], segment) for i, p in stat.items())
    assert len(waiting) == len(tuples)
    decisions, oracle = Decisions(), {}
    for spec, (seq, index, p, kind) in waiting.by_spec():
        mine = [t for t in tuples if t[0] == spec]  # the order added, per spec
        assert seq.tolist() == [t[1] for t in mine] and index.tolist() == [t[2] for t in mine]
        assert p.tolist() == [t[3] for t in mine]
        assert [waiting.kinds[k] for k in kind.tolist()] == [t[4:7] for t in mine]
        assert [waiting.segments[s] for s in seq.tolist()] == [t[7] for t in mine]
        m = len(mine) + int(rng.integers(0, 50))
        q = bh_adjust_array(p, m)
        assert q.tolist() == bh_adjust([t[3] for t in mine], m)  # the list form is the same numbers
        kept = q <= 0.05
        decisions.keep(seq[kept], index[kept], q[kept], m)
        oracle.update({(t[1], t[2]): (qv, m) for t, qv in zip(mine, q.tolist()) if qv <= 0.05})
    assert len(decisions) == len(oracle)
    assert list(decisions.items()) == sorted(oracle.items())
    # asked in result order (as the writer reads the spool), in a second pass, and out of order
    keys = [(seq, i) for _, seq, _, _, brief in taken for i in range(len(brief) + 1)]
    for ask in (keys, keys, list(reversed(keys))):
        assert [decisions.get(k) for k in ask] == [oracle.get(k) for k in ask]
    assert all((k in decisions) == (k in oracle) for k in keys)


def test_decisions_empty_and_keys_past_32_bits_of_findings():
    d = Decisions()
    assert len(d) == 0 and d.get((0, 0)) is None and list(d.items()) == []
    d.keep(np.array([3, 3, 70000]), np.array([0, 2**31 - 1, 5]), np.array([0.01, 0.02, 0.03]), 10**10)
    assert d.get((3, 2**31 - 1)) == (0.02, 10**10) and d.get((4, 0)) is None and d.get((70000, 5))[0] == 0.03
    with pytest.raises(KeyError):
        d[(3, 1)]


def test_decisions_read_as_the_dict_they_replace():
    # Report.streamed_fdr was a dict: a caller iterating it, or making a dict of it, still can
    d = Decisions()
    d.keep(np.array([5, 2]), np.array([1, 0]), np.array([0.04, 0.01]), 7)
    oracle = {(2, 0): (0.01, 7), (5, 1): (0.04, 7)}
    assert list(d) == list(oracle) and dict(d) == oracle and d == oracle
    assert list(d.keys()) == list(oracle) and list(d.values()) == list(oracle.values())
    assert dict(Decisions()) == {} and Decisions() == {}


def test_rollup_fire_keeps_each_segment_once_in_the_order_added():
    roll = Rollup("unit")
    for seg in ("c", "a", "b", "d"):
        roll.order[("s", seg)] = len(roll.order) + 1
    roll.fire("s", ["b", "d", "b"], "MS205", "spurious")
    roll.fire("s", ["a", "d", "c"], "MS205", "spurious")
    assert roll.fired[("s", "MS205")] == ["c", "a", "b", "d"] and roll.names["MS205"] == "spurious"
    roll.fire("s", "ab", "MS301", "x")  # a label, not a list of its characters
    assert roll.fired[("s", "MS301")] == ["ab"]


def _finding(evidence, segment="s}1\"", personal=False, message='a "quoted" } message {'):
    from metricsense.diagnostics import Diagnostic, Severity
    from metricsense.span import Span

    return Diagnostic("MS205", "spurious-correlation", Severity.WARNING, message, Span.point("<x>"),
                      help="h}", evidence=evidence, segment=segment, personal=personal)


@pytest.mark.parametrize("evidence, segment, personal", [
    ({"p_value": 0.001}, "s1", False),
    ({"p_value": 0.001, "pairs": [["a}", "b{"]], "r": float("nan"), "deep": {"x": {"y": [1, None]}}}, 's}"\\', True),
    ({"p_value": 1e-300, "name": "\u2028é\U0001F600", "inf": float("inf")}, None, False),
    ({"p_value": 0.5, "segment": "not the key"}, "ü", True),
])
def test_q_value_written_in_place_is_the_text_of_reading_and_writing_again(evidence, segment, personal):
    import json

    from metricsense.encoding import dumps
    from metricsense.segments.results import evidence_end, with_q_value

    d = _finding(evidence, segment, personal)
    line = dumps(d.to_dict())
    at = evidence_end(d, line)
    assert at is not None
    for q, family in ((0.0123456789, 12), (1.0, 10**12), (5e-324, 1)):
        doc = json.loads(line)
        doc["evidence"] = {**doc.get("evidence", {}), "q_value": q, "family": family}
        assert with_q_value(line, at, q, family) == dumps(doc)


@pytest.mark.parametrize("evidence", [{}, {"p_value": 0.01, "q_value": 0.2}, {"p_value": 0.01, "family": 3}])
def test_evidence_that_has_no_place_for_a_q_value_is_read_and_written_again(evidence):
    from metricsense.encoding import dumps
    from metricsense.segments.results import evidence_end

    d = _finding(evidence)
    assert evidence_end(d, dumps(d.to_dict())) is None
    assert evidence_end(_finding({"p_value": 0.01}), dumps(d.to_dict()) + " ") is None  # not its text


@pytest.mark.parametrize("segment, codes", [
    ("s1", {"MS205": 3}), ('s, "analysis": {}', {"MS205": 1, "XYZ9": 2}), ("ü}\"", {}),
])
def test_a_result_head_written_back_makes_the_whole_text(segment, codes):
    import json

    from metricsense.encoding import dumps
    from metricsense.segments.results import SegmentResult, result_head

    r = SegmentResult("a.msense", segment, [], {"a.msense": {"noise": {"x": [1.5, None, "}"]}}})
    whole = dumps(r.to_dict() | {"codes": codes})
    head, rest = result_head(whole)
    assert list(head) == ["spec", "segment", "diagnostics", "codes", "suppressed", "exit_code"]
    assert head["segment"] == segment and head["codes"] == codes
    assert dumps(head)[:-1] + rest == whole
    head.update(codes={}, diagnostics=0, exit_code=1)
    doc = json.loads(whole)
    doc.update(codes={}, diagnostics=0, exit_code=1)
    assert dumps(head)[:-1] + rest == dumps(doc)
    # a rule code named like the key, or text that is no result, is read whole
    assert result_head(dumps({"spec": "a", "codes": {"A": 1, "analysis": 2}, "analysis": {}})) is None
    assert result_head("[1]") is None and result_head('{"x": 1, "analysis": 2}') is None


def test_decisions_of_several_families_out_of_order_answer_each_with_its_own_family():
    d = Decisions()
    d.keep(np.array([5, 0, 2]), np.array([1, 9, 3]), np.array([0.5, 0.0, 0.2]), 104)  # not in key order
    d.keep(np.array([1, 3, 4]), np.array([5, 1, 0]), np.array([0.3, 0.4, 0.1]), 130)
    want = {(0, 9): (0.0, 104), (1, 5): (0.3, 130), (2, 3): (0.2, 104), (3, 1): (0.4, 130), (4, 0): (0.1, 130),
            (5, 1): (0.5, 104)}
    assert list(d.items()) == sorted(want.items()) and dict(d) == want and len(d) == 6
    assert [d.get(k) for k in sorted(want)] == [want[k] for k in sorted(want)] and d.get((2, 9)) is None
