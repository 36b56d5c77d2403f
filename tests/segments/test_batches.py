"""A batch in a worker: what a segment's result keeps of each analysis record."""

from __future__ import annotations

from dataclasses import dataclass

from metricsense.analysis import Record
from metricsense.segments.batches import _lean


def test_a_segment_keeps_what_each_record_keeps_and_plugins_values_whole():
    @dataclass(frozen=True)
    class Secretive(Record):
        name = "secretive"
        shown: int
        hidden: int

        def in_segment(self):
            return Secretive(self.shown, 0)

    plugin_value = {"series": [1, 2], "signals": {"x": {"suppressed": 3}}}
    lean = _lean({"s.msense": {"secretive": Secretive(1, 9), "plugin": plugin_value}})
    assert lean == {"s.msense": {"secretive": Secretive(1, 0), "plugin": plugin_value}}
