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
    """Results in the order a run takes them: (spec, result number, segment, {finding: p}, brief).
    p-values tie often (0, 1, a few repeated values) and often fall between 0.05 and 1."""
    out = []
    repeated = rng.uniform(0, 0.01, 3).tolist()
    for seq in range(int(rng.integers(1, 60))):
        n = int(rng.integers(0, 12))
        brief = [KINDS[int(k)] for k in rng.integers(0, len(KINDS), n)]
        stat = {i: float(rng.choice([rng.uniform(), rng.uniform(0, 1e-4), 0.0, 1.0, *repeated])) for i in range(n)
                if rng.uniform() < 0.7}
        out.append((specs[int(rng.integers(0, len(specs)))], seq, f"s{seq:03d}", stat, brief))
    return out


def _oracle(taken, tests, q):
    """(result number, finding number) -> (q-value, family) of each finding kept, from every
    p-value of a spec at once (fdr.bh_adjust_array, and its list form)."""
    oracle = {}
    for spec in dict.fromkeys(t[0] for t in taken):
        mine = [(seq, i, p) for s, seq, _, stat, _ in taken if s == spec for i, p in stat.items()]
        if not mine:
            continue
        m = max(tests.get(spec, 0), len(mine))
        q_values = bh_adjust_array([p for _, _, p in mine], m)
        assert q_values.tolist() == bh_adjust([p for _, _, p in mine], m)
        oracle.update({(seq, i): (v, m) for (seq, i, _), v in zip(mine, q_values.tolist()) if v <= q})
    return oracle


@pytest.mark.parametrize("seed", range(40))
def test_decisions_from_disk_are_those_of_every_p_value_at_once_to_the_bit(seed, monkeypatch):
    from metricsense.segments import external

    rng = np.random.default_rng(seed)
    taken = _draw(rng)
    q = float(rng.choice([0.05, 0.5, 1.0, 1e-5]))
    block = int(rng.choice([1, 2, 3, 7, 64, 1 << 16]))
    monkeypatch.setattr(external, "_MIN_STEP", int(rng.choice([1, 2, 5, 4096])))  # runs read a few at a time
    waiting = Waiting(block=block)
    for spec, seq, segment, stat, brief in taken:
        if stat:
            waiting.add(spec, seq, segment, stat, brief, below=q)
    assert len(waiting) == sum(len(t[3]) for t in taken)
    assert waiting.count == sum(p <= q for t in taken for p in t[3].values())  # only those that can be kept
    assert len(waiting._buffer[0]) < max(block, 1)  # the rest is on disk
    tests = {"a.msense": int(rng.integers(0, 400)), "b.msense": int(rng.integers(0, 5))}
    decisions, oracle = waiting.decide(tests, q), _oracle(taken, tests, q)
    assert len(decisions) == len(oracle)
    assert list(decisions.items()) == sorted(oracle.items())
    # asked in result order (as the writer reads the spool), in a second pass, and out of order
    keys = [(seq, i) for _, seq, _, _, brief in taken for i in range(len(brief) + 1)]
    for ask in (keys, keys, list(reversed(keys))):
        assert [decisions.get(k) for k in ask] == [oracle.get(k) for k in ask]
    assert all((k in decisions) == (k in oracle) for k in keys)
    # what the rollup counts: each kept finding's spec, result and kind, in result order
    kinds = {(seq, i): (spec, KINDS.index(brief[i])) for spec, seq, _, stat, brief in taken for i in stat}
    got = [(waiting.names[s], seq, waiting.kinds[k]) for specs, seqs, kind in decisions.kept()
           for s, seq, k in zip(specs.tolist(), seqs.tolist(), kind.tolist())]
    assert got == [(kinds[key][0], key[0], KINDS[kinds[key][1]]) for key in sorted(oracle)]
    # the same, tallied per spec and kind (the rollup and the withheld counts read it)
    tally = {(waiting.names[s], waiting.kinds[k]): (n, results.tolist()) for (s, k), (_, n, results) in
             decisions.tally().items()}
    want: dict = {}
    for spec, seq, kind in got:
        n, results = want.setdefault((spec, kind), (0, []))
        want[(spec, kind)] = (n + 1, results if results[-1:] == [seq] else results + [seq])
    assert tally == want and decisions.tally() is decisions.tally()


def test_decisions_of_many_findings_with_many_ties_match_the_whole_adjustment():
    rng = np.random.default_rng(7)
    p = np.concatenate([np.zeros(3000), np.full(5000, 0.01), rng.uniform(0, 0.02, 40000), rng.uniform(0, 1, 20000)])
    rng.shuffle(p)
    waiting = Waiting(block=4096)
    for seq in range(0, len(p), 85):
        part = p[seq:seq + 85].tolist()
        waiting.add("a", seq, f"s{seq}", dict(enumerate(part)), [KINDS[0]] * len(part), below=0.05)
    decisions = waiting.decide({"a": 68000}, 0.05)
    q = bh_adjust_array(p, 68000)
    want = {(seq - seq % 85, seq % 85): (v, 68000) for seq, v in enumerate(q.tolist()) if v <= 0.05}
    assert len(decisions) == len(want) > 40000 and dict(decisions.items()) == want


def test_decide_refuses_a_level_above_the_one_findings_were_written_under():
    waiting = Waiting()
    waiting.add("a", 0, "s", {0: 0.01, 1: 0.2}, [KINDS[0]] * 2, below=0.05)
    with pytest.raises(ValueError):
        waiting.decide({}, 0.5)
    assert dict(waiting.decide({}, 0.05)) == {(0, 0): (0.02, 2)}


def test_decisions_empty_and_finding_numbers_up_to_31_bits():
    d = Decisions()
    assert len(d) == 0 and d.get((0, 0)) is None and list(d.items()) == [] and list(d.kept()) == []
    assert dict(Waiting().decide({}, 0.05)) == {}
    waiting = Waiting()
    waiting.add("a", 3, "s3", {0: 0.001, 2**31 - 1: 0.002}, {0: KINDS[0], 2**31 - 1: KINDS[1]}, below=0.05)
    waiting.add("a", 70000, "s", {5: 0.003}, {5: KINDS[2]}, below=0.05)
    d = waiting.decide({"a": 10**10}, 0.05)
    assert d.get((3, 1)) is None and d.get((4, 0)) is None and len(d) == 0  # 1e10 tests: none kept
    d = waiting.decide({"a": 10}, 0.05)
    assert d.get((3, 2**31 - 1)) == (0.002 * 10 / 2, 10) and d.get((70000, 5))[0] == 0.003 * 10 / 3
    with pytest.raises(KeyError):
        d[(3, 1)]


def test_decisions_read_as_the_dict_they_replace():
    # Report.streamed_fdr was a dict: a caller iterating it, or making a dict of it, still can
    waiting = Waiting()
    waiting.add("a", 2, "x", {0: 0.01}, [KINDS[0]], below=0.05)
    waiting.add("a", 5, "y", {1: 0.02}, [KINDS[0], KINDS[1]], below=0.05)
    d = waiting.decide({"a": 4}, 0.05)
    oracle = {(2, 0): (0.01 * 4 / 1, 4), (5, 1): (0.02 * 4 / 2, 4)}
    assert list(d) == list(oracle) and dict(d) == oracle and d == oracle
    assert list(d.keys()) == list(oracle) and list(d.values()) == list(oracle.values())
    assert dict(Decisions()) == {} and Decisions() == {}
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(d)) == oracle and copy.deepcopy(d) == oracle  # its files stay here


def test_rollup_fire_keeps_each_segment_once_in_the_order_added():
    roll = Rollup("unit")
    for seg in ("c", "a", "b", "d"):
        roll.order.setdefault("s", {})[seg] = len(roll.order.get("s", ())) + 1
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


def test_decisions_of_several_families_answer_each_with_its_own_family():
    waiting = Waiting(block=2)
    for seq, (spec, p) in enumerate([("a", 0.5), ("b", 0.3), ("a", 0.2), ("b", 0.4), ("b", 0.1), ("a", 0.0)]):
        waiting.add(spec, seq, f"s{seq}", {1: p}, [KINDS[0], KINDS[1]])
    d = waiting.decide({"a": 104, "b": 130}, 1.0)
    want = {(0, 1): (1.0, 104), (1, 1): (1.0, 130), (2, 1): (min(1.0, 0.2 * 104 / 2), 104),
            (3, 1): (1.0, 130), (4, 1): (min(1.0, 0.1 * 130 / 1), 130), (5, 1): (0.0, 104)}
    assert list(d.items()) == sorted(want.items()) and dict(d) == want and len(d) == 6
    assert [d.get(k) for k in sorted(want)] == [want[k] for k in sorted(want)] and d.get((2, 9)) is None


def test_each_block_keeps_its_decisions_in_a_few_pieces_however_many_merge_rounds(monkeypatch):
    # NOTE: a piece per merge round and block was 106,000 index entries (10 MB) at 850,000 findings
    from metricsense.segments import external

    monkeypatch.setattr(external, "_MIN_STEP", 1)  # many small rounds: each gives out about one run's step
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.01, 30000)
    waiting = Waiting(block=1000)
    for seq in range(0, len(p), 85):
        part = p[seq:seq + 85].tolist()
        waiting.add("a", seq, f"s{seq}", dict(enumerate(part)), [KINDS[0]] * len(part), below=0.05)
    rounds = []
    merge = external.merge_descending
    monkeypatch.setattr(external, "merge_descending", lambda *a: (rounds.append(1) or b for b in merge(*a)))
    d = waiting.decide({"a": len(p)}, 0.05)
    offsets, counts, starts = d._pieces
    assert len(d) == len(p) and len(rounds) > 200  # every one kept, in many rounds
    assert int(np.diff(starts).max()) <= len(p) // 1000 + 1 and int(counts.sum()) == len(p)
    q = bh_adjust_array(p, len(p))
    assert dict(d.items()) == {(seq - seq % 85, seq % 85): (v, len(p)) for seq, v in enumerate(q.tolist())}


@pytest.mark.parametrize("q, m", [(0.05, 23), (0.05, 29), (0.01, 7), (0.2, 46)])
def test_a_p_value_one_step_above_the_level_is_kept_when_its_q_value_rounds_to_the_level(q, m):
    # the largest of m p-values has q = p * m / m: one step above q, it rounds to q for these m
    # (kept by the adjustment over every p-value at once), and so do the q-values of those tied with it
    p = float(np.nextafter(q, 1))
    assert p * m / m <= q
    values = [q / 10] * 3 + [p] * (m - 3)
    waiting = Waiting(block=4)
    for seq in range(m):
        waiting.add("a", seq, f"s{seq}", {0: values[seq]}, [KINDS[0]], below=q)
    whole = bh_adjust_array(values, m)
    want = {(seq, 0): (v, m) for seq, v in enumerate(whole.tolist()) if v <= q}
    assert len(want) == m and dict(waiting.decide({"a": m}, q).items()) == want


@pytest.mark.parametrize("seed", range(12))
def test_q_values_of_tied_zeros_keep_the_sign_the_whole_adjustment_gives(seed, monkeypatch):
    # fdr.p_value_of passes -0.0 (a plugin's p-value): it ties with 0.0, and np.minimum of a tie
    # gives its second argument, so the sign of a q-value of 0 depends on the order of the ties
    import struct

    from metricsense.segments import external

    rng = np.random.default_rng(seed)
    monkeypatch.setattr(external, "_MIN_STEP", int(rng.choice([1, 2, 3])))
    taken = [(seq, {i: float(rng.choice([0.0, -0.0, 0.0, 0.5, 1e-3])) for i in range(int(rng.integers(1, 6)))})
             for seq in range(int(rng.integers(5, 60)))]
    waiting = Waiting(block=int(rng.choice([1, 2, 3, 5])))
    for seq, stat in taken:
        waiting.add("a", seq, f"s{seq}", stat, [KINDS[0]] * len(stat), below=0.05)
    values = [p for _, stat in taken for p in stat.values()]
    whole = bh_adjust_array(values, len(values)).tolist()
    keys = [(seq, i) for seq, stat in taken for i in stat]
    want = {k: (struct.pack("<d", v), len(values)) for k, v in zip(keys, whole) if v <= 0.05}
    got = {k: (struct.pack("<d", v), f) for k, (v, f) in waiting.decide({}, 0.05).items()}
    assert got == want
