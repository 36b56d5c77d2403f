"""A segment's result from a worker: packed for the trip, unpacked only when read."""

from __future__ import annotations


import pytest

import metricsense


def test_a_result_from_a_worker_unpacks_its_findings_only_when_read(folder):
    import pickle

    report = metricsense.check(folder / "csv.msense", by="team", config={})
    result = next(r for r in report.segment_results if r.diagnostics)
    copy = pickle.loads(pickle.dumps(result))
    assert "diagnostics" not in copy.__dict__  # still packed
    assert copy.brief() == [(d.code, d.name, int(d.severity)) for d in result.diagnostics]
    assert "diagnostics" not in copy.__dict__
    assert copy.diagnostics == result.diagnostics  # unpacked on first use, then kept
    assert "diagnostics" in copy.__dict__ and "_packed" not in copy.__dict__
    assert copy.brief() == result.brief() and copy.encoded == result.encoded
    with pytest.raises(AttributeError):
        copy.no_such_field  # noqa: B018
    assert pickle.loads(pickle.dumps(copy)).diagnostics == result.diagnostics  # packed again


def test_a_copy_of_a_packed_result_stays_packed_and_complete(folder):
    import copy
    import pickle

    report = metricsense.check(folder / "csv.msense", by="team", config={})
    result = next(r for r in report.segment_results if r.diagnostics)
    packed = pickle.loads(pickle.dumps(result))
    twin = copy.copy(packed)
    assert type(twin) is type(packed) and "diagnostics" not in twin.__dict__
    assert twin.brief() == result.brief() and twin.diagnostics == result.diagnostics
    assert "diagnostics" not in packed.__dict__  # unpacking the copy left the original packed
    assert packed.diagnostics == result.diagnostics


def test_a_results_text_travels_squeezed_and_reads_back_the_same():
    """A result's JSON text (its analysis: some 145 KB a segment) crosses from a worker
    compressed, and is unpacked only when read; a small one travels as it is."""
    import copy
    import pickle

    from metricsense.segments.results import _SQUEEZE_FROM, SegmentResult

    big = SegmentResult("spec", "a", [], {"series": [i / 7 for i in range(_SQUEEZE_FROM)], "name": "é\u2028\n"})
    big.encoded = big.encode()
    big.analysis = {}  # as a worker sends it when the client streams the JSON text
    sent = pickle.dumps(big)
    assert len(sent) < len(big.encoded[1]) / 2  # compressed on the way
    arrived = pickle.loads(sent)
    assert "encoded" not in arrived.__dict__ and "_squeezed" in arrived.__dict__
    twin = copy.copy(arrived)
    assert arrived.encoded == big.encoded  # read: unpacked once, then kept
    assert "encoded" in arrived.__dict__ and "_squeezed" not in arrived.__dict__
    assert twin.encoded == big.encoded and pickle.loads(pickle.dumps(arrived)).encoded == big.encoded
    small = SegmentResult("spec", "b", [], {"x": 1})
    small.encoded = small.encode()
    back = pickle.loads(pickle.dumps(small))
    assert "_squeezed" not in back.__dict__ and back.encoded == small.encoded
    # a result made here, never encoded, still reads None (the dataclass's default)
    assert SegmentResult("spec", "c", [], {}).encoded is None
