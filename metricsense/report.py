"""The Report: what a check found (diagnostics, each spec's analysis, segments) and its exit code."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from metricsense.diagnostics import Diagnostic, Severity
from metricsense.encoding import finite, json_default, json_list, json_pieces, json_value
from metricsense.model import Document
from metricsense.registry import Registry, exit_code_of

JSON_VERSION = 1


@dataclass
class Report:
    """The result of a check: diagnostics, numeric analysis per spec, and the exit code."""

    diagnostics: list[Diagnostic]
    analysis: dict[str, dict[str, Any]]
    files: list[str]
    fail_on: str = "warning"
    suppressed: int = 0
    registry: Registry | None = field(default=None, repr=False)
    documents: dict[str, Document] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict, repr=False)  # text checked inline

    #: Per-segment runs (`by`): the per-rule rollup, and each segment's result when kept.
    segments: Any = None
    segment_results: list = field(default_factory=list, repr=False)
    #: Findings of segments streamed out and not kept here (counted by severity), and the exit
    #: code they call for.
    streamed_counts: dict[str, int] = field(default_factory=dict, repr=False)
    streamed_exit: int = 0

    @property
    def exit_code(self) -> int:
        """3 a plugin crashed, 2 a spec, data or config error, 1 findings at or above fail-on, 0 clean."""
        return max(exit_code_of(self.diagnostics, self.registry, self.fail_on), self.streamed_exit)

    def summary(self) -> dict[str, Any]:
        counts = {str(s): 0 for s in sorted(Severity, reverse=True)}
        for d in self.diagnostics:
            counts[str(d.severity)] += 1
        for name, n in self.streamed_counts.items():
            counts[name] += n
        return {
            "total": sum(counts.values()),
            "by_severity": counts,
            "suppressed": self.suppressed,
            "fail_on": self.fail_on,
            "exit_code": self.exit_code,
        }

    def to_dict(self) -> dict[str, Any]:
        from metricsense.version import __version__

        return {
            "version": JSON_VERSION,
            "metricsense": __version__,
            "files": list(self.files),
            "diagnostics": [finite(d.to_dict()) for d in self.diagnostics],
            "analysis": finite(self.analysis),
            **({"segments": self.segments_dict()} if self.segments is not None else {}),
            "summary": self.summary(),
        }

    def segments_dict(self, results: Iterable[dict] | None = None) -> dict[str, Any]:
        """The `segments` key of a segmented run: the column, the count, the per-rule rollup, and
        each segment's result (given as dicts when they were streamed elsewhere)."""
        if results is None:
            results = [r.to_dict() for r in self.segment_results]
        return {"by": self.segments.by, "count": self.segments.count, "rules": self.segments.rules(),
                "results": results}

    def to_json(self, indent: int | None = 2) -> str:
        if self.segments is not None and indent == 2:
            return "".join(self.json_chunks())  # what the CLI streams, byte for byte
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False,
                          default=json_default)

    def json_chunks(self, more_diagnostics: Iterable[Any] = (), results: Iterable[Any] | None = None
                    ) -> Iterator[str]:
        """The JSON document (as `to_json()` writes it) in pieces, with findings and segment results
        that were kept outside the report (on disk) streamed in: memory does not grow with them."""
        doc = self.to_dict()
        yield "{"
        first = True
        for key, value in doc.items():
            yield ("\n  " if first else ",\n  ") + json.dumps(key) + ": "
            first = False
            if key == "diagnostics":
                yield from json_list(itertools.chain(value, more_diagnostics), 1)
            elif key == "segments":
                yield "{"
                for k, v in value.items():
                    if k == "results":
                        continue
                    yield "\n    " + json.dumps(k) + ": "
                    yield from json_pieces(v, 2)  # the rollup names every segment: in pieces
                    yield ","
                yield '\n    "results": '
                # NOTE: one line per segment (C encoder, already finite): the indenting encoder is
                # pure Python and cost more than checking the segment did.
                yield from json_list(value["results"] if results is None else results, 2, compact=True)
                yield "\n  }"
            else:
                yield json_value(value, 1)
        yield "\n}"
