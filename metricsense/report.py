"""The Report: what a check found (diagnostics, each spec's analysis, segments) and its exit code."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from metricsense.analysis import Record
from metricsense.collector import paused
from metricsense.diagnostics import Diagnostic, Severity
from metricsense.encoding import finite, json_default, json_indented, json_list, json_pieces, json_rows
from metricsense.model import Document
from metricsense.registry import Registry, exit_code_of

JSON_VERSION = 1


def is_personal(d: Diagnostic, registry: Registry | None = None) -> bool:
    """A finding about one named person: marked so, or reported by a personal rule (MS501)."""
    if d.personal:
        return True
    rule = registry.rules.get(d.code) if registry is not None else None
    return rule is not None and rule.personal


def personal_codes(registry: Registry | None) -> frozenset[str]:
    """The codes of the personal rules (every finding of theirs names a person)."""
    return frozenset(c for c, r in registry.rules.items() if r.personal) if registry is not None else frozenset()


def withheld_sentence(withheld: Mapping[str, Mapping[str, int]]) -> str:
    """What a format says in place of the personal findings it does not show: how many, and where
    to read them; never whom, which group, which number or where."""
    n = sum(sum(by.values()) for by in withheld.values())
    codes = ", ".join(sorted(withheld))
    return (f"{n} personal finding{'s' if n != 1 else ''} ({codes}) {'are' if n != 1 else 'is'} not shown here: "
            "see `msense agenda` or run with --show-personal")


def compact_value(value: Any) -> Any:
    """An analysis entry in its compact JSON form: a record's ``compact()``, and so for each record
    of a mapping of them (``distortion_options``: rule code -> record); anything else as it is."""
    if isinstance(value, Record):
        return value.compact()
    if isinstance(value, dict) and any(isinstance(v, Record) for v in value.values()):
        return {k: v.compact() if isinstance(v, Record) else v for k, v in value.items()}
    return value


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
    #: A streamed segmented run's multiple-testing decisions: (result number, finding number) ->
    #: (q-value, family) for a statistical finding kept; one dropped is not in it (SegmentRun;
    #: a segments.waiting.Decisions, which answers ``get`` and ``items`` as a dict would).
    streamed_fdr: Any = field(default_factory=dict, repr=False)
    #: Text, HTML and JSON may show findings about one named person (`--show-personal`).
    show_personal: bool = False
    #: Personal findings left out of this report, counted by code and severity
    #: (``{"MS501": {"warning": 2}}``): set on what ``for_reader`` returns.
    withheld: dict[str, dict[str, int]] = field(default_factory=dict)
    #: How the JSON writes the analysis: "compact" (linear in the KPIs: each record's
    #: ``compact()``) or "full" (``to_json()``, every matrix whole): `--analysis`.
    analysis_form: str = "compact"

    def __repr__(self) -> str:
        """What a notebook or a REPL shows as text: the files and the counts, never a finding nor
        a record. NOTE: the dataclass's repr held every finding and analysis record: a notebook
        saved the manager a personal finding names (MS501) and the trust table's named groups in
        each output's `text/plain`, beside HTML that left them out (``for_reader``)."""
        shown = self.for_reader(True)
        counts = ", ".join(f"{n} {name}{'s' if n != 1 and name != 'info' else ''}"
                           for name, n in self.summary()["by_severity"].items() if n)
        withheld = shown.withheld_dict() if shown.withheld else None
        return (f"<metricsense Report: {len(self.files)} file{'s' if len(self.files) != 1 else ''}, "
                f"{self.summary()['total']} findings{f' ({counts})' if counts else ''}, exit code {self.exit_code}"
                + (f", {withheld['personal']} personal not shown ({', '.join(withheld['codes'])})" if withheld else "")
                + (f", {self.segments.count} segments by `{self.segments.by}`" if self.segments is not None else "")
                + ">")

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

    def for_reader(self, shows_personal: bool = False) -> Report:
        """The report a format may write: the one place that decides what each format may show.

        A finding about one named person (``is_personal``: MS501 names a manager) is shown only
        by a format that opts in (``shows_personal``: text, HTML and JSON; see
        ``Registry.formats``) and only when the reader asked (``show_personal``). Otherwise it is
        left out, counted in ``withheld`` by code, and so is any segment it would name (the
        rollup's list of segments for a personal rule, or where a rule fired only in findings
        marked personal: ``Rollup.public``; a segment's count of its codes). The
        summary and the exit code still count it, so CI fails without naming anyone. Each analysis
        record is given as its ``public()`` copy (the trust record without its named groups).
        """
        if shows_personal and self.show_personal:
            return self
        analysis = self._public_analysis()
        codes = personal_codes(self.registry)
        hidden = [d for d in self.diagnostics if is_personal(d, self.registry)]
        results, changed = [], False
        for r in self.segment_results:
            public = self._public_segment(r, codes)
            changed = changed or public is not r
            results.append(public)
        segments = self.segments.public(codes) if self.segments is not None else None
        fired = segments is not self.segments
        if not hidden and not changed and not fired:
            return self if analysis is self.analysis else replace(self, analysis=analysis)
        withheld = {code: dict(by) for code, by in self.withheld.items()}
        counts = dict(self.streamed_counts)
        for d in hidden:
            by = withheld.setdefault(d.code, {})
            by[str(d.severity)] = by.get(str(d.severity), 0) + 1
            counts[str(d.severity)] = counts.get(str(d.severity), 0) + 1
        return replace(self, analysis=analysis,
                       diagnostics=[d for d in self.diagnostics if not is_personal(d, self.registry)],
                       streamed_counts=counts, streamed_exit=self.exit_code, withheld=dict(sorted(withheld.items())),
                       segments=segments, segment_results=results)

    def _public_analysis(self) -> dict[str, dict[str, Any]]:
        """Each spec's analysis with every record replaced by its ``public()`` copy (the same dict
        when no record changes)."""
        out, changed = {}, False
        for spec, found in self.analysis.items():
            if isinstance(found, dict):
                public = {k: v.public() if isinstance(v, Record) else v for k, v in found.items()}
                changed = changed or any(public[k] is not found[k] for k in found)
                out[spec] = public
            else:
                out[spec] = found
        return out if changed else self.analysis

    def _public_segment(self, result: Any, codes: frozenset[str]) -> Any:
        """A segment's result without its personal findings, and without its analysis when it is
        one person's numbers (``SegmentResult.person``); the same object when it has neither."""
        person = getattr(result, "person", False)
        if not any(code in codes for code, _, _ in result.brief()) and not result.marks() and not person:
            return result
        twin = copy.copy(result)
        kept = [i for i, d in enumerate(result.diagnostics) if not is_personal(d, self.registry)]
        shown = [result.diagnostics[i] for i in kept]
        # what is left is public: the twin is no one's numbers any more (for_reader of it is itself);
        # the findings kept are numbered again: a withheld one's p-value (from its evidence) is not kept
        at = {i: n for n, i in enumerate(kept)}
        twin.__dict__.update(diagnostics=shown, encoded=None,
                             p_values=[(at[i], p) for i, p in getattr(result, "p_values", ()) if i in at],
                             evidence_ends={at[i]: e for i, e in getattr(result, "evidence_ends", {}).items() if i in at},
                             **({"analysis": {}, "person": False} if person else {}))
        for packed in ("_brief", "_marks", "_packed", "_squeezed"):  # what it was sent as: all of it
            twin.__dict__.pop(packed, None)
        twin.exit_code = exit_code_of(shown, self.registry, self.fail_on)
        return twin

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: what a reader format may show (``for_reader``)."""
        return self._document(finite)

    def _document(self, each, analysis=finite) -> dict[str, Any]:
        """``to_dict()`` with each finding's dict passed through ``each`` and the analysis through
        ``analysis`` (``finite``, or as it is for a writer that makes it finite itself:
        ``json_chunks``)."""
        from metricsense.version import __version__

        shown = self.for_reader(True)
        if shown is not self:
            return shown._document(each, analysis)
        return {
            "version": JSON_VERSION,
            "metricsense": __version__,
            "files": list(self.files),
            "diagnostics": [each(d.to_dict()) for d in self.diagnostics],
            "analysis": self.analysis_json(each=analysis),
            "analysis_form": self.analysis_form,
            **({"segments": self.segments_dict()} if self.segments is not None else {}),
            **({"withheld": self.withheld_dict()} if self.withheld else {}),
            "summary": self.summary(),
        }

    def analysis_json(self, form: str | None = None, each=finite) -> dict[str, Any]:
        """The JSON `analysis` key: each spec's records in ``form`` ("compact" or "full";
        by default the report's ``analysis_form``), passed through ``each`` (``finite``)."""
        if (form or self.analysis_form) == "full":
            return each(self.analysis)
        return each({spec: {k: compact_value(v) for k, v in found.items()} if isinstance(found, dict) else found
                     for spec, found in self.analysis.items()})

    def withheld_dict(self) -> dict[str, Any]:
        """The JSON `withheld` key: how many personal findings are not in `diagnostics`, by code."""
        codes = {code: sum(by.values()) for code, by in self.withheld.items()}
        return {"personal": sum(codes.values()), "codes": codes}

    def segments_dict(self, results: Iterable[dict] | None = None) -> dict[str, Any]:
        """The `segments` key of a segmented run: the column, the count, the per-rule rollup, and
        each segment's result (given as dicts when they were streamed elsewhere)."""
        if results is None:
            results = [r.to_dict() for r in self.segment_results]
        return {"by": self.segments.by, "count": self.segments.count, "rules": self.segments.rules(),
                "results": results}

    @paused()
    def to_json(self, indent: int | None = 2, analysis: str | None = None) -> str:
        """The JSON report; ``analysis`` ("compact" or "full") overrides ``analysis_form``."""
        if analysis is not None and analysis != self.analysis_form:
            return replace(self, analysis_form=analysis).to_json(indent)
        if indent == 2:
            return "".join(self.json_chunks())  # what the CLI streams, byte for byte
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False, allow_nan=False,
                          default=json_default)

    def json_chunks(self, more_diagnostics: Iterable[Any] = (), results: Iterable[Any] | None = None
                    ) -> Iterator[str]:
        """The JSON document (as `to_json()` writes it) in pieces, with findings and segment results
        that were kept outside the report (on disk) streamed in: memory does not grow with them."""
        # json_list makes each finding finite as it writes it, json_rows and json_indented the analysis
        doc = self._document(_as_it_is, _as_it_is)
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
            elif key == "analysis" and doc.get("analysis_form") == "compact":
                # spec -> record indented; below, a line per KPI, pair or trigger (encoding.json_rows)
                yield from json_rows(value, 1, 2)
            else:
                yield json_indented(value, 1)  # as json_value(value, 1): the value is finite already
        yield "\n}"


def _as_it_is(value: Any) -> Any:
    return value
