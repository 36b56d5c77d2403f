"""What a segment's check gives back (packed for the trip from a worker) and the per-rule rollup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metricsense.diagnostics import Diagnostic
from metricsense.encoding import dumps
from metricsense.segments.discover import shown


@dataclass
class SegmentResult:
    """One segment's findings and analysis (diagnostics already carry the segment)."""

    spec: str
    segment: str
    diagnostics: list[Diagnostic]
    analysis: dict[str, Any]
    suppressed: int = 0
    exit_code: int = 0  # what this segment's findings alone call for (set where it was checked)
    #: The findings and the result as JSON text, made where the segment was checked (so the
    #: client, one process for every worker, only writes them): ([finding, ...], result).
    encoded: tuple[list[str], str] | None = None
    #: Hypothesis tests the rules ran on this segment: its share of the rollup's family
    #: (the statistical findings are adjusted for multiple testing over every segment).
    tests: int = 0
    #: (finding number, p-value) of its statistical findings, unadjusted (set where it was checked)
    p_values: list = field(default_factory=list)
    #: finding number -> where its evidence object closes in its JSON text (``encoded``), for
    #: each statistical finding whose q-value and family can be written there (``evidence_end``)
    evidence_ends: dict = field(default_factory=dict)
    #: Every key in its analysis is text (``text_keys``, found where it was checked): its JSON
    #: text reads back and writes again the same, so its head may be read alone (``result_head``)
    text_keys: bool = False
    #: One person's numbers (``segments.batches.one_person``): its analysis, like its findings
    #: (each marked personal), is shown only to a reader who asked (`--show-personal`).
    person: bool = False

    # NOTE: a worker sends its findings packed (one pickle within the pickle) with a brief of
    # each (code, name, severity): the client, one process for every worker, counts and writes
    # JSON from those and the encoded text, and unpickles the findings only if it reads them.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if "diagnostics" in state:
            state["_brief"] = self.brief()
            state["_marks"] = self.marks()
            # NOTE: compressed too: a batch's findings pickled were 1.9 MB (their evidence), and the
            # client of a JSON run never unpacks them (it writes their text)
            state["_packed"] = squeeze(state.pop("diagnostics"))
        if "encoded" in state:  # set (or made None: ``Report._public_segment``) since it arrived
            state.pop("_squeezed", None)
            encoded = state["encoded"]
            if encoded is not None and len(encoded[1]) + sum(map(len, encoded[0])) >= _SQUEEZE_FROM:
                state["_squeezed"] = squeeze(state.pop("encoded"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        # NOTE: not the dataclass's, which held every finding (a plugin's personal ones too) and
        # the analysis: a notebook listing `segment_results` saved them in its `text/plain`
        return f"<SegmentResult {self.segment!r} of {self.spec!r}: {len(self.brief())} findings>"

    def __copy__(self) -> SegmentResult:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the findings, or their and the result's JSON
        # text, of a result that has not unpacked them.
        # NOTE: set before the packed form is dropped, and dropped if still there: two threads
        # reading it at once each find one or the other (zlib lets go of the GIL meanwhile).
        here = self.__dict__
        packed_as = _PACKED_AS.get(name)
        packed = here.get(packed_as) if packed_as else None
        if packed is None:
            if packed_as and name in here:
                return here[name]
            raise AttributeError(name)
        here[name] = value = unsqueeze(packed)
        here.pop(packed_as, None)
        return value

    def brief(self) -> list[tuple[str, str, int]]:
        """(code, name, severity) of each finding, without unpacking them."""
        if "diagnostics" not in self.__dict__ and "_brief" in self.__dict__:
            return self.__dict__["_brief"]
        return [(d.code, d.name, int(d.severity)) for d in self.diagnostics]

    def marks(self) -> frozenset[int]:
        """The numbers of its findings about one named person (``Diagnostic.personal``), without
        unpacking them: what a reader who did not ask (`--show-personal`) is not told, not even in
        which segment a rule fired (``Rollup.public``). NOTE: never read from a finding's JSON
        text: a public finding's evidence may hold `"personal": true` too."""
        if "diagnostics" not in self.__dict__ and "_marks" in self.__dict__:
            return self.__dict__["_marks"]
        return frozenset(i for i, d in enumerate(self.diagnostics) if d.personal)

    def encode(self) -> tuple[list[str], str]:
        return [dumps(d.to_dict()) for d in self.diagnostics], dumps(self.to_dict())

    def find_evidence_ends(self) -> None:
        """``evidence_ends`` of the statistical findings, from ``encoded``."""
        found = self.encoded[0] if self.encoded else []
        self.evidence_ends = {i: at for i, _ in self.p_values
                              if (at := evidence_end(self.diagnostics[i], found[i])) is not None}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``analysis`` is already JSON-safe: made so where it was computed)."""
        counts: dict[str, int] = {}
        for d in self.diagnostics:
            counts[d.code] = counts.get(d.code, 0) + 1
        return {"spec": self.spec, "segment": self.segment, "diagnostics": len(self.diagnostics),
                "codes": dict(sorted(counts.items())), "suppressed": self.suppressed,
                "exit_code": self.exit_code, "analysis": self.analysis}


# NOTE: no class attribute for ``encoded`` (the dataclass's default, None, stays the default of
# ``__init__``): a result that travelled with its text squeezed has none in its ``__dict__``, and
# reading it must reach ``__getattr__``, which unsqueezes it, not the class's None.
del SegmentResult.encoded

#: JSON text (a result's findings and analysis) below this many characters travels as it is.
_SQUEEZE_FROM = 8192

#: What a result read from a worker holds packed until asked: attribute -> its packed form.
_PACKED_AS = {"diagnostics": "_packed", "encoded": "_squeezed"}


def squeeze(value: Any) -> bytes:
    """A result's findings or JSON text for the trip from a worker, pickled and compressed (zlib,
    level 1).

    NOTE: a batch's 32 results are some 4.6 MB of text; the client, one process for every
    worker, held each batch whole (read from the pipe, then unpickled: about twice its size)
    and finished batches waiting in the window, which set its peak memory. Compressed (6x for
    a segment's analysis) they cost the workers about 20 ms a batch and the client 11 ms."""
    import pickle
    import zlib

    return zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unsqueeze(squeezed: bytes) -> Any:
    import pickle
    import zlib

    return pickle.loads(zlib.decompress(squeezed))


def evidence_end(d: Diagnostic, line: str) -> int | None:
    """Where the evidence object of finding ``d`` closes in ``line`` (its JSON text, as
    ``dumps(d.to_dict())`` wrote it): there `, "q_value": q, "family": m` makes the text that
    adding them to its evidence and writing it again would; None when that is not so (no
    evidence, or evidence that has either key already: it is read and written again)."""
    evidence = d.evidence
    if not evidence or "q_value" in evidence or "family" in evidence or not text_keys(evidence):
        return None
    whole = d.to_dict()
    keys = list(whole)
    if "evidence" not in keys:
        return None
    after = {k: whole[k] for k in keys[keys.index("evidence") + 1:]}
    tail = "}" if not after else ", " + dumps(after)[1:]
    at = len(line) - len(tail) - 1
    if at < 0 or not line.endswith(tail) or line[at] != "}":
        return None
    return at


def text_keys(value: Any) -> bool:
    """Whether every object in ``value`` (a finding's evidence, a result's analysis) has only
    text keys, and nothing in it is written as an object through ``json_default``: then its JSON
    text reads back and writes again the same. NOTE: two keys JSON writes alike (``1`` and
    ``"1"``, ``True`` and ``"true"``) are both written, and reading them keeps the last: such a
    text is read and written again, as it always was."""
    stack = [value]
    while stack:
        v = stack.pop()
        kind = type(v)
        if kind is dict:
            if not set(map(type, v)) <= _TEXT:
                return False
            items: Any = v.values()
        elif kind is list or kind is tuple:
            items = v
        elif kind in _SCALARS or isinstance(v, float):
            continue
        elif kind.__module__.startswith("numpy") and getattr(getattr(v, "dtype", None), "kind", "O") != "O":
            continue  # a NumPy number or array of them: written as numbers
        else:
            return False
        if not set(map(type, items)) <= _SCALARS:  # NOTE: a list of numbers is looked at in C, not one by one
            stack.extend(x for x in items if type(x) not in _SCALARS)
    return True


_TEXT = frozenset({str})
_SCALARS = frozenset({str, int, float, bool, type(None)})


def with_q_value(line: str, at: int, q: float, family: int) -> str:
    """A statistical finding's JSON text with its q-value and family at the end of its evidence."""
    import math

    # NOTE: JSON writes a finite float as its repr and an int as its str (as ``dumps`` would,
    # without its 5 us a call)
    shown_q = repr(float(q)) if math.isfinite(q) else dumps(q)
    return f'{line[:at]}, "q_value": {shown_q}, "family": {int(family)}{line[at:]}'


_RESULT_HEAD = ["spec", "segment", "diagnostics", "codes", "suppressed", "exit_code"]


def result_head(whole: str) -> tuple[dict[str, Any], str] | None:
    """A segment result's JSON text (``SegmentResult.to_dict``) as its head, read (every key but
    the analysis), and the text of the rest (from `, "analysis": `), so that writing the head
    back (``dumps(head)[:-1] + rest``) makes the text of the whole; None when it cannot be split
    so (then it is read whole)."""
    import json

    at = whole.find(', "analysis": ')  # NOTE: quotes inside a JSON string are escaped
    if at < 0:
        return None
    try:
        head = json.loads(whole[:at] + "}")
    except ValueError:
        return None
    if not isinstance(head, dict) or list(head) != _RESULT_HEAD:
        return None
    return head, whole[at:]


@dataclass
class Rollup:
    """Per spec and rule, the segments it fired in (in segment order)."""

    by: str
    count: int = 0
    fired: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    specs: dict[str, int] = field(default_factory=dict)
    #: (spec, code) -> the segments listed in ``fired`` only for findings about one named person
    #: (``SegmentResult.marks``): a reader who did not ask is not told them (``public``).
    personal: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    #: spec -> segment -> the order it was added in (``fire`` keeps segment order).
    #: NOTE: per spec, not keyed by (spec, segment): the rollup is what the client keeps per
    #: segment, and a tuple and the spec's name (each result's own copy) cost 120 bytes of it.
    order: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def add(self, result: SegmentResult, skip: frozenset = frozenset()) -> None:
        """Count ``result``, leaving out its findings numbered in ``skip`` (statistical findings
        of a streamed run, added with ``fire`` once the rollup's multiple-testing control kept them)."""
        self.count += 1
        self.specs[result.spec] = self.specs.get(result.spec, 0) + 1
        self.order.setdefault(result.spec, {})[result.segment] = self.count
        marks = result.marks()
        brief = [b for i, b in enumerate(result.brief()) if i not in skip]
        public = {b[0] for i, b in enumerate(result.brief()) if i not in skip and i not in marks}
        for code in sorted({code for code, _, _ in brief}):
            self.fired.setdefault((result.spec, code), []).append(result.segment)
            if code not in public:
                self.personal.setdefault((result.spec, code), set()).add(result.segment)
        for code, name, _ in brief:
            self.names.setdefault(code, name)

    def fire(self, spec: str, segments: list[str], code: str, name: str, personal: bool = False) -> None:
        """Rule ``code`` fired in ``segments`` too (each kept once, in segment order: one sort);
        ``personal``: in findings about one named person."""
        if isinstance(segments, str):  # one segment's label, not its characters
            segments = [segments]
        segs = self.fired.setdefault((spec, code), [])
        had = set(segs)
        new = [s for s in dict.fromkeys(segments) if s not in had]
        if personal:
            self.personal.setdefault((spec, code), set()).update(new)
        elif (spec, code) in self.personal:
            self.personal[(spec, code)].difference_update(segments)
        if new:
            segs.extend(new)
            order = self.order.get(spec, {})
            segs.sort(key=lambda s: order.get(s, 0))
        self.names.setdefault(code, name)

    def public(self, codes: frozenset = frozenset()) -> Rollup:
        """The rollup a reader who did not ask for findings about named persons may see: no rule
        of ``codes`` (the personal rules), and no segment listed only for a personal finding
        (which segments a personal finding fired in names them: `--by manager_id`). The same
        object when nothing is left out."""
        from dataclasses import replace

        hide = {key: segs for key, segs in self.personal.items() if segs}
        if not hide and not any(code in codes for _, code in self.fired):
            return self
        fired = {}
        for key, segs in self.fired.items():
            if key[1] in codes:
                continue
            left = [s for s in segs if s not in hide[key]] if key in hide else segs
            if left:
                fired[key] = left
        return replace(self, fired=fired, personal={})

    def rules(self) -> list[dict[str, Any]]:
        return [{"spec": spec, "code": code, "name": self.names.get(code, ""), "fired": len(segs),
                 "of": self.specs.get(spec, 0), "segments": list(segs)}
                for (spec, code), segs in sorted(self.fired.items())]


def rollup_text(rollup: Rollup, limit: int = 8) -> list[str]:
    """The per-rule summary of a segmented run, for people."""
    lines = [f"Segments by `{rollup.by}`: {rollup.count} checked."]
    for item in rollup.rules():
        names = [shown(n) for n in item["segments"]]
        listed = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        lines.append(f"  {item['code']} {item['name']}: {item['fired']} of {item['of']} segments ({listed})")
    return lines
