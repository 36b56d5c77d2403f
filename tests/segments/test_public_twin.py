"""A reader's public view of a segment's result (Report._public_segment)
and its pickle carry nothing of the findings withheld from it."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

from metricsense.diagnostics import Diagnostic, Severity
from metricsense.segments.results import SegmentResult
from metricsense.span import Span


def test_a_public_twin_keeps_no_p_value_of_a_withheld_finding():
    # the twin drops the personal finding but keeps `p_values` (finding number, p-value) and
    # `evidence_ends` as the worker made them: the withheld finding's p-value (from its evidence)
    # is in the public view and its pickle, and the numbers no longer point at its findings
    # (finding 1 of two, where the twin has one)
    from metricsense.report import Report

    secret_p = 0.000123456789
    personal = Diagnostic("MS999", "about-one", Severity.WARNING, "manager m-7's team fell", Span("f", 1, 1, 1, 2),
                          evidence={"p_value": secret_p}, personal=True)
    public = Diagnostic("MS998", "drift", Severity.WARNING, "mood drifted", Span("f", 2, 1, 2, 2),
                        evidence={"p_value": 0.5})
    r = SegmentResult("s", "g", [public, personal], {}, tests=2, p_values=[(0, 0.5), (1, secret_p)])
    r.encoded = r.encode()
    r.find_evidence_ends()
    r = pickle.loads(pickle.dumps(r))  # as it comes from a worker
    twin = Report._public_segment(SimpleNamespace(registry=None, fail_on="error"), r, frozenset())
    assert twin is not r and [d.name for d in twin.diagnostics] == ["drift"]
    for seen in (twin, pickle.loads(pickle.dumps(twin))):
        assert secret_p not in [p for _, p in seen.p_values], seen.p_values
        assert all(i < len(seen.diagnostics) for i, _ in seen.p_values), seen.p_values
        assert all(i < len(seen.diagnostics) for i in seen.evidence_ends), seen.evidence_ends
