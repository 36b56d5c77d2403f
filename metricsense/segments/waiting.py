"""A streamed segmented run's statistical findings, waiting on disk for the rollup's
multiple-testing control (``Waiting``), and what the control kept (``Decisions``).

NOTE: the client's memory stays flat however many segments a run has. A statistical finding is
a record of 24 bytes in a temporary file, never an object and never an array held whole: at
10,000 segments a streamed run may hold some 850,000 of them (in flat arrays in memory they took
the client from 75 to 125 MiB between 1,000 and 10,000 segments). Benjamini-Hochberg needs the
p-values in order (metricsense.segments.external: an external sort, in blocks), and the writer
asks for the decisions in result order, which is the order the records were written in: the
decisions are kept in blocks of that order, and read back one block at a time.
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterator, Mapping
from typing import Any

#: One waiting finding on disk: result number, finding number, p-value, kind (an index into
#: ``Waiting.kinds``) and spec (an index into ``Waiting.names``).
RECORD = [("seq", "<i4"), ("index", "<i4"), ("p", "<f8"), ("kind", "<i4"), ("spec", "<i4")]


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
    """Each statistical finding of a streamed run that the control could keep, as a record on
    disk, in the order added (result order); ``segments`` names each result number that has one.

    Only a finding with p <= ``below`` (the run's ``fdr-q``), give or take a rounding, is written:
    one with a larger p-value has a q-value above it and is never kept (its q-value is at least
    its p-value), and it changes neither the ranks nor the q-values of those that can be (every
    one of them has a smaller p-value). NOTE: "at least" in exact arithmetic only: the largest of
    m p-values has q = p * m / m, which rounds to one below p for some m (p one step above 0.05
    and m = 23 gives 0.05, kept), so a p-value a few roundings above ``below`` is written too
    (``_limit``). ``seen`` counts every p-value of a spec: its share of the family's size."""

    def __init__(self, block: int = 1 << 14) -> None:
        self.kinds = Kinds()
        self.segments: dict[int, str] = {}
        self.names: list[str] = []  # spec index -> spec
        self.seen: list[int] = []  # spec index -> p-values seen, written or not
        self.below = 0.0  # the largest threshold a finding was written under
        self.block = block  # records per block, read and sorted at a time
        self.written = 0  # records in the file
        self._spec: dict[str, int] = {}
        self._buffer: tuple[array, ...] = _buffers()
        self._file: Any = None

    def add(self, spec: str, seq: int, segment: str, stat: dict[int, float], brief: list,
            below: float = 1.0, marks: frozenset = frozenset()) -> None:
        """Result ``seq``'s statistical findings (finding number -> p-value in [0, 1]); ``brief``
        gives each finding's (code, name, severity), and ``marks`` the numbers of those about one
        named person (``SegmentResult.marks``), whose kind is (code, name, severity, True); only
        those with p <= ``below`` are written."""
        s = self._spec.get(spec)
        if s is None:
            s = self._spec[spec] = len(self.names)
            self.names.append(spec)
            self.seen.append(0)
        self.below = max(self.below, below)
        self.segments[seq] = segment
        self.seen[s] += len(stat)
        seqs, index, p, kind, specs = self._buffer
        limit = _limit(below)
        for i, value in stat.items():
            if value <= limit:
                seqs.append(seq)
                index.append(i)
                p.append(value)
                kind.append(self.kinds.of((*brief[i], True) if i in marks else brief[i]))
                specs.append(s)
        if len(seqs) >= self.block:
            self._flush()

    def _flush(self) -> None:
        import numpy as np

        seqs = self._buffer[0]
        if not seqs:
            return
        out = np.empty(len(seqs), dtype=RECORD)
        for name, a in zip(("seq", "index", "p", "kind", "spec"), self._buffer):
            out[name] = np.frombuffer(a, dtype=np.float64 if a.typecode == "d" else np.intc)
        if self._file is None:
            self._file = tempfile.TemporaryFile()
        self._file.seek(0, 2)
        out.tofile(self._file)
        self.written += len(out)
        self._buffer = _buffers()

    @property
    def count(self) -> int:
        """Records written (to the file, or in the block not yet flushed)."""
        return self.written + len(self._buffer[0])

    def blocks(self, size: int | None = None) -> Iterator[tuple[int, Any]]:
        """(position of its first record, records) of each block of records, in the order added."""
        import numpy as np

        self._flush()
        size = size or self.block
        for start in range(0, self.count, size):
            self._file.seek(start * _ITEM)
            yield start, np.fromfile(self._file, dtype=RECORD, count=min(size, self.count - start))

    def decide(self, tests: Mapping[str, int], q: float) -> Decisions:
        """Benjamini-Hochberg at level ``q`` over each spec's findings (its family: the tests its
        segments' rules ran, at least the p-values seen): the findings kept, with their q-values,
        to the bit what ``metricsense.fdr.bh_adjust_array`` gives over every p-value at once."""
        from metricsense.segments.external import adjust

        self._flush()
        if q > self.below and self.count < sum(self.seen):
            raise ValueError(f"findings were written under p <= {self.below}, not {q}")
        families = [max(int(tests.get(name, 0)), seen) for name, seen in zip(self.names, self.seen)]
        # NOTE: at most a few hundred blocks, each read a few at a time (their number stays bounded)
        size = max(self.block, -(-self.count // 256))
        firsts, pieces, out, kept = adjust(self.blocks(size), families, q, size)
        return Decisions(self, size, firsts, pieces, out, families, kept)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        """The statistical findings added (written or not)."""
        return sum(self.seen)


def _limit(below: float) -> float:
    """The largest p-value written under ``below``: any larger has p * m / rank (each rounded once,
    m >= rank, so at least p * (1 - 2**-52)) above ``below``, and a q-value no rounding keeps."""
    return below * (1 + 2**-48)


def _buffers() -> tuple[array, ...]:
    return array("i"), array("i"), array("d"), array("i"), array("i")


_ITEM = 24  # bytes of a RECORD


class Decisions(Mapping):
    """The statistical findings the control kept: ``get((result number, finding number))`` is
    (q-value, family) for one kept, else None; as a dict would answer (a read-only Mapping:
    ``Report.streamed_fdr`` was a dict, and iterates, compares and copies as one).

    The writer asks in result order (it reads the spooled results back in order, once for the
    findings and once for the results): the decisions of one block of records are read at a time."""

    def __init__(self, waiting: Waiting | None = None, size: int = 1, firsts: Any = None, pieces: Any = None,
                 out: Any = None, families: list[int] | None = None, kept: int = 0) -> None:
        self._waiting, self._size = waiting, size
        self._firsts = firsts if firsts is not None else []  # first result number of each block
        #: where each block's kept (position, q-value) are in ``out``: (offsets, counts, starts), the
        #: pieces of block b are ``starts[b]:starts[b + 1]`` (external._Filed.index)
        self._pieces = pieces
        self._out, self._families, self._kept = out, families or [], kept
        self._block: tuple[int, Any, Any] | None = None  # (number, its records, q-values: NaN when dropped)
        self._seq: int | None = None
        self._current: dict[int, tuple[float, int]] = {}
        self._tally: dict | None = None

    def _load(self, b: int) -> tuple[int, Any, Any]:
        import numpy as np

        if self._block is None or self._block[0] != b:
            start = b * self._size
            w = self._waiting
            w._file.seek(start * _ITEM)
            records = np.fromfile(w._file, dtype=RECORD, count=min(self._size, w.count - start))
            q = np.full(len(records), np.nan)
            offsets, counts, starts = self._pieces
            for offset, count in zip(offsets[starts[b]:starts[b + 1]].tolist(), counts[starts[b]:starts[b + 1]].tolist()):
                self._out.seek(offset * 16)
                got = np.fromfile(self._out, dtype=[("pos", "<i8"), ("q", "<f8")], count=count)
                q[got["pos"] - start] = got["q"]
            self._block = (b, records, q)
        return self._block

    def _has(self, b: int) -> bool:
        """Whether block ``b`` has a kept finding."""
        starts = self._pieces[2]
        return bool(starts[b + 1] > starts[b])

    def _find(self, seq: int) -> dict[int, tuple[float, int]]:
        import numpy as np

        found: dict[int, tuple[float, int]] = {}
        if not self._kept:
            return found
        b = max(int(np.searchsorted(self._firsts, seq, side="left")) - 1, 0)
        while b < len(self._firsts) and self._firsts[b] <= seq:
            if self._has(b):
                _, records, q = self._load(b)
                lo, hi = (int(v) for v in np.searchsorted(records["seq"], [seq, seq + 1]))
                for i, v, s in zip(records["index"][lo:hi].tolist(), q[lo:hi].tolist(),
                                   records["spec"][lo:hi].tolist()):
                    if v == v:  # not NaN: kept
                        found[i] = (v, self._families[s])
            b += 1
        return found

    def get(self, key: tuple[int, int], default: Any = None) -> Any:
        seq, i = key
        if seq != self._seq:
            self._current = self._find(int(seq))
            self._seq = seq
        return self._current.get(i, default)

    def kept(self) -> Iterator[tuple[Any, Any, Any]]:
        """(spec indexes, result numbers, kinds) of the kept findings, a block at a time, in result order."""
        for b in range(len(self._firsts)):
            if self._has(b):
                _, records, q = self._load(b)
                mask = q == q
                yield records["spec"][mask], records["seq"][mask], records["kind"][mask]

    def tally(self) -> dict[tuple[int, int], tuple[int, int, Any]]:
        """Per (spec index, kind) of the kept findings: (where the first is, in result order; how
        many; the result numbers they are in, sorted), each spec in order and its kinds in the
        order each was first kept. Read once (the rollup and the withheld counts both ask)."""
        if self._tally is None:
            import numpy as np

            width = max(len(self._waiting.kinds), 1) if self._waiting is not None else 1
            seen: dict[tuple[int, int], list] = {}
            at = 0
            for specs, seqs, kind in self.kept():
                pairs = specs.astype(np.int64) * width + kind
                present, first, count = np.unique(pairs, return_index=True, return_counts=True)
                for pair, f, n in zip(present.tolist(), first.tolist(), count.tolist()):
                    entry = seen.setdefault(divmod(pair, width), [at + f, 0, []])
                    entry[1] += n
                    entry[2].append(np.unique(seqs[pairs == pair]))
                at += len(seqs)
            self._tally = {key: (first, n, np.unique(np.concatenate(results)))
                           for key, (first, n, results) in sorted(seen.items(), key=lambda i: (i[0][0], i[1][0]))}
        return self._tally

    def kinds_kept(self) -> dict[tuple, int]:
        """How many findings of each kind (``Waiting.kinds``: (code, name, severity), and True
        after them when about one named person) were kept."""
        counts: dict[tuple, int] = {}
        for (_, k), (_, n, _) in self.tally().items():
            key = self._waiting.kinds[k]
            counts[key] = counts.get(key, 0) + n
        return counts

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
        for b in range(len(self._firsts)):
            if self._has(b):
                _, records, q = self._load(b)
                for seq, i, v, s in zip(records["seq"].tolist(), records["index"].tolist(), q.tolist(),
                                        records["spec"].tolist()):
                    if v == v:
                        yield (seq, i), (v, self._families[s])

    def __len__(self) -> int:
        return self._kept

    def __reduce__(self):
        # NOTE: its records are in temporary files of this process: a copy (pickled, or deep-copied
        # with the report) is the dict it answers as
        return dict, (dict(self.items()),)
