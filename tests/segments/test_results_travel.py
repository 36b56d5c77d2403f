"""A segment's result crosses from a worker with its text and findings compressed: unpacked
safely by two threads at once, and a reader's public view of it carries nothing withheld."""

from __future__ import annotations

import pickle
import random
import string
import threading

from metricsense.diagnostics import Diagnostic, Severity
from metricsense.segments.results import SegmentResult
from metricsense.span import Span


def _two_readers(result, read):
    errors = []
    barrier = threading.Barrier(2)

    def one():
        barrier.wait()
        try:
            read(result)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_threads_reading_encoded_of_a_result_from_a_worker():
    # __getattr__ pops `_squeezed` before it decompresses (the GIL released): the other thread
    # finds neither `encoded` nor `_squeezed` and gets AttributeError('encoded')
    big = "".join(random.Random(0).choice(string.ascii_letters) for _ in range(2_000_000))
    errors = []
    for _ in range(10):
        r = pickle.loads(pickle.dumps(SegmentResult("s", "g", [], {}, encoded=([big], big))))
        errors += _two_readers(r, lambda r: r.encoded[1])
    assert not errors, errors


def test_two_threads_reading_diagnostics_of_a_result_from_a_worker():
    # both decompress `_packed` (the GIL released), both set, the second `del` is KeyError('_packed')
    big = "".join(random.Random(1).choice(string.ascii_letters) for _ in range(2_000_000))
    d = Diagnostic("MS999", "x", Severity.WARNING, "m", Span("f", 1, 1, 1, 2), evidence={"blob": big})
    errors = []
    for _ in range(10):
        r = pickle.loads(pickle.dumps(SegmentResult("s", "g", [d] * 3, {})))
        errors += _two_readers(r, lambda r: r.diagnostics)
    assert not errors, errors


def test_a_public_twin_keeps_no_withheld_text():
    # Report._public_segment copies the result and sets encoded=None (its analysis withheld), but
    # the copy keeps the worker's `_squeezed`: the withheld JSON text, which a pickle carries
    from metricsense.report import Report
    import copy

    whole = '{"analysis": {"secret": "' + "s" * 9000 + '"}}'
    r = pickle.loads(pickle.dumps(SegmentResult("s", "g", [], {"secret": 1}, encoded=([], whole), person=True)))
    from types import SimpleNamespace

    twin = Report._public_segment(SimpleNamespace(registry=None, fail_on="error"), r, frozenset())
    assert twin is not r and twin.analysis == {} and twin.encoded is None
    back = pickle.loads(pickle.dumps(twin))
    assert "_squeezed" not in twin.__dict__ and "_squeezed" not in back.__dict__
    assert back.encoded is None and "secret" not in pickle.dumps(twin).decode("latin-1")
    # made by hand the same way, a pickle of it still carries no withheld text
    hand = copy.copy(r)
    hand.__dict__.update(diagnostics=[], encoded=None, analysis={}, person=False)
    assert "_squeezed" not in pickle.loads(pickle.dumps(hand)).__dict__
