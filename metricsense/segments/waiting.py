"""A streamed segmented run's statistical findings, held compactly until the rollup's
multiple-testing control (``Waiting``), and what the control kept (``Decisions``).

NOTE: a statistical finding is held as a few numbers in flat arrays, never as an object: at
10,000 segments a streamed run may hold some 850,000 of them. A tuple each (and a dict entry
for each kept) took the client from 82 to 152 MiB at 3,000 segments; long-lived small objects
among each result's short-lived ones also kept the heap from being reused.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any


class Kinds:
    """Each kind of finding, (code, name, severity), once: ``of(brief)`` is its number, and
    ``kinds[number]`` gives it back."""

    def __init__(self) -> None:
        self._all: list[tuple[str, str, int]] = []
        self._number: dict[tuple[str, str, int], int] = {}

    def of(self, brief: Any) -> int:
        b = tuple(brief)
        k = self._number.get(b)
        if k is None:
            k = self._number[b] = len(self._all)
            self._all.append(b)
        return k

    def __getitem__(self, k: int) -> tuple[str, str, int]:
        return self._all[k]

    def __len__(self) -> int:
        return len(self._all)


class Waiting:
    """Per spec: result number, finding number, p-value and kind (an index into ``kinds``,
    each (code, name, severity) once) of each statistical finding, in the order added;
    ``segments`` names each result number that has one."""

    def __init__(self) -> None:
        self.specs: dict[str, tuple[array, array, array, array]] = {}
        self.kinds = Kinds()
        self.segments: dict[int, str] = {}

    def add(self, spec: str, seq: int, segment: str, stat: dict[int, float], brief: list,
            marks: frozenset = frozenset()) -> None:
        """Result ``seq``'s statistical findings (finding number -> p-value); ``brief`` gives each
        finding's (code, name, severity), and ``marks`` the numbers of those about one named
        person (``SegmentResult.marks``), whose kind is (code, name, severity, True)."""
        seqs, index, p, kind = self.specs.setdefault(spec, (array("i"), array("i"), array("d"), array("i")))
        self.segments[seq] = segment
        for i, value in stat.items():
            seqs.append(seq)
            index.append(i)
            p.append(value)
            kind.append(self.kinds.of((*brief[i], True) if i in marks else brief[i]))

    def by_spec(self):
        """(spec, (result numbers, finding numbers, p-values, kinds)) as NumPy arrays (views)."""
        import numpy as np

        for spec, arrays in self.specs.items():
            yield spec, tuple(np.frombuffer(a, dtype=np.float64 if a.typecode == "d" else np.intc)
                              for a in arrays)

    def __len__(self) -> int:
        return sum(len(a[0]) for a in self.specs.values())


class Decisions(Mapping):
    """The statistical findings the control kept: ``get((result number, finding number))`` is
    (q-value, family) for one kept, else None; as a dict would answer, from sorted arrays (a
    read-only Mapping: ``Report.streamed_fdr`` was a dict, and iterates, compares and copies as one).

    The writer asks in result order (it reads the spooled results back in order): each new
    result number looks its findings up once, and a result's few are kept in a small dict."""

    _SHIFT = 32  # key = result number << 32 | finding number

    def __init__(self) -> None:
        #: per family: (its keys, sorted; their q-values; the family's size): 16 bytes a finding
        self._parts: list[tuple[Any, Any, int]] = []
        self._seq: int | None = None
        self._current: dict[int, tuple[float, int]] = {}

    def keep(self, seq: Any, index: Any, q: Any, family: int) -> None:
        """Keep findings (NumPy arrays of result and finding numbers, and their q-values) of one family."""
        import numpy as np

        if len(q):
            keys = (np.asarray(seq, dtype=np.int64) << self._SHIFT) | np.asarray(index, dtype=np.int64)
            q = np.asarray(q, dtype=np.float64)
            if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):  # taken in order: seldom
                order = np.argsort(keys, kind="stable")
                keys, q = keys[order], q[order]
            self._parts.append((keys, q, int(family)))
            self._seq = None

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        seq, i = key
        if seq != self._seq:
            mask = (1 << self._SHIFT) - 1
            self._current = {}
            for keys, q, family in self._parts:
                lo, hi = (int(v) for v in keys.searchsorted([seq << self._SHIFT, (seq + 1) << self._SHIFT]))
                for k, v in zip(keys[lo:hi].tolist(), q[lo:hi].tolist()):
                    self._current.setdefault(k & mask, (v, family))
            self._seq = seq
        return self._current.get(i, default)

    def __getitem__(self, key: tuple[int, int]) -> tuple[float, int]:
        got = self.get(key)
        if got is None:
            raise KeyError(key)
        return got

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self.get(key) is not None

    def __iter__(self):
        return (key for key, _ in self.items())

    def items(self):
        """((result number, finding number), (q-value, family)) of each kept, in key order."""
        import heapq

        mask = (1 << self._SHIFT) - 1
        runs = [zip(keys.tolist(), q.tolist(), [family] * len(q)) for keys, q, family in self._parts]
        seen = None
        for k, v, family in heapq.merge(*runs, key=lambda t: t[0]):
            if k != seen:  # as ``get``: a key kept twice answers with the first
                seen = k
                yield (k >> self._SHIFT, k & mask), (v, family)

    def __len__(self) -> int:
        return sum(len(part[0]) for part in self._parts)
