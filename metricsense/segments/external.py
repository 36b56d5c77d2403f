"""Benjamini-Hochberg over more p-values than a streamed segmented run holds in memory at once:
an external sort in blocks (sorted runs on disk, merged from the largest p-value down).

From the largest p-value down, the finding of ascending rank j (of n in a family of m) has
q = min(1, min over ranks >= j of p * m / rank): a running minimum, made a block at a time, the
same arithmetic as ``metricsense.fdr.bh_adjust_array`` on every p-value at once, to the bit. Tied
p-values get one q-value whatever order the merge gives them (the smallest p * m / rank of a tie
is at its highest rank, reached first). Once one finding is kept, every later one is.

NOTE: to the bit means its sign too: 0.0 and -0.0 tie, and ``np.minimum`` of a tie gives its
second argument, so the running minimum goes through the p-values in the very order
``bh_adjust_array`` does (ties from the last added down: the merge orders by p-value, then
position) and takes each as ``minimum(carry, next)`` (a block's first with the carry before it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

OUT = [("pos", "<i8"), ("q", "<f8")]  # a kept finding's record and its q-value
_MIN_STEP = 256  # records read from a run at a time, at least (a round gives out at most about a block)


def adjust(blocks: Iterable[tuple[int, Any]], families: list[int], q: float, size: int):
    """BH at level ``q`` over records (``waiting.RECORD``, read in ``blocks`` of ``size``, each
    (position of its first, records)), per spec (its family's size in ``families``).

    Returns (the first result number of each block; where the kept findings of each block are in
    ``out`` (``_Filed.index``); ``out``, a file of (position, q-value); how many kept)."""
    import numpy as np

    runs_file = (tempfile.TemporaryFile(), tempfile.TemporaryFile())  # -p, ascending; positions
    runs: dict[int, list[tuple[int, int]]] = {}
    firsts: list[int] = []
    written = 0
    for start, records in blocks:
        firsts.append(int(records["seq"][0]))
        pos = np.arange(start, start + len(records), dtype=np.int64)
        specs = records["spec"]
        present = np.unique(specs).tolist()
        for s in present:
            sel = specs == s if len(present) > 1 else slice(None)
            p = records["p"][sel]
            order = np.argsort(p, kind="stable")[::-1]
            (-p[order]).tofile(runs_file[0])
            pos[sel][order].tofile(runs_file[1])
            runs.setdefault(s, []).append((written, len(p)))
            written += len(p)
    out = _Filed(size)
    for s, its in runs.items():
        m = families[s]
        total, done, carry = sum(n for _, n in its), 0, np.inf
        for p, where in merge_descending(runs_file, its, size):
            ranks = np.arange(total - done, total - done - len(p), -1, dtype=np.int64)
            qv = np.minimum.accumulate(np.concatenate(([carry], p * m / ranks)))[1:]
            carry, done = float(qv[-1]), done + len(p)
            keep = np.minimum(qv, 1.0) <= q
            if keep.any():
                out.add(where[keep], np.minimum(qv[keep], 1.0))
    for f in runs_file:
        f.close()
    return np.asarray(firsts, dtype=np.int64), out.index(len(firsts)), out.file, out.kept


class _Filed:
    """Kept findings (position, q-value), gathered a block at a time and written sorted by the
    block of records they belong to: each write adds one piece per block it touches, so a
    block's kept findings are in at most (kept / block size) pieces, and the index of the
    pieces is a few arrays (NOTE: a piece per merge round and block was 106,000 tuples, 10 MB,
    at 850,000 findings)."""

    def __init__(self, size: int) -> None:
        from array import array

        self.size = size
        self.file = tempfile.TemporaryFile()
        self.kept = 0
        self._pos: list = []
        self._q: list = []
        self._held = 0
        self._home, self._offset, self._count = array("q"), array("q"), array("q")

    def add(self, pos: Any, q: Any) -> None:
        self._pos.append(pos)
        self._q.append(q)
        self._held += len(pos)
        if self._held >= self.size:
            self._flush()

    def _flush(self) -> None:
        import numpy as np

        if not self._held:
            return
        pos, q = np.concatenate(self._pos), np.concatenate(self._q)
        self._pos, self._q, self._held = [], [], 0
        home = pos // self.size
        order = np.argsort(home, kind="stable")
        piece = np.empty(len(pos), dtype=OUT)
        piece["pos"], piece["q"], home = pos[order], q[order], home[order]
        self.file.seek(self.kept * 16)
        piece.tofile(self.file)
        cuts = np.flatnonzero(np.r_[True, home[1:] != home[:-1]])
        self._home.extend(home[cuts].tolist())
        self._offset.extend((cuts + self.kept).tolist())
        self._count.extend(np.diff(np.r_[cuts, len(home)]).tolist())
        self.kept += len(pos)

    def index(self, blocks: int) -> tuple[Any, Any, Any]:
        """(offsets, counts, where each block's pieces start in them: ``starts[b]:starts[b + 1]``)."""
        import numpy as np

        self._flush()
        home = np.frombuffer(self._home, dtype=np.int64)
        order = np.argsort(home, kind="stable")
        offsets = np.frombuffer(self._offset, dtype=np.int64)[order]
        counts = np.frombuffer(self._count, dtype=np.int64)[order]
        return offsets, counts, np.searchsorted(home[order], np.arange(blocks + 1))


def _read(f: tuple[Any, Any], offset: int, count: int) -> tuple[Any, Any]:
    """``count`` records of a run from ``offset``: (-p, positions)."""
    import numpy as np

    f[0].seek(offset * 8)
    f[1].seek(offset * 8)
    return np.fromfile(f[0], dtype=np.float64, count=count), np.fromfile(f[1], dtype=np.int64, count=count)


def merge_descending(f: tuple[Any, Any], runs: list[tuple[int, int]], size: int) -> Iterator[tuple[Any, Any]]:
    """The records of ``runs`` ((offset, count) in ``f``, the files of -p and positions, each run
    sorted from the largest p-value down, then the largest position) merged, in that order, in
    blocks of about ``size`` (p-values, positions): each run is read a step at a time, and what no
    unread record can precede is given out."""
    import numpy as np

    if len(runs) == 1:
        offset, n = runs[0]
        for at in range(0, n, size):
            negp, pos = _read(f, offset + at, min(size, n - at))
            yield -negp, pos
        return
    # NOTE: a round gives out what is above every run's last read; with data spread evenly
    # that is about one step: steps of a block / runs (bounded memory), and plain arrays, not records
    step = max(size // len(runs), _MIN_STEP)
    nxt = [offset for offset, _ in runs]
    end = [offset + n for offset, n in runs]
    bufs = []
    for r in range(len(runs)):
        bufs.append(_read(f, nxt[r], min(step, end[r] - nxt[r])))
        nxt[r] += len(bufs[r][0])
    live = [r for r in range(len(runs)) if len(bufs[r][0])]
    while live:
        # every unread record of run r comes after the last read (by -p, then -position): what
        # comes before the last read of every run not read to its end is given out
        last = [(float(bufs[r][0][-1]), -int(bufs[r][1][-1])) for r in live if nxt[r] < end[r]]
        bound, after = min(last) if last else (np.inf, 0)
        parts_p, parts_pos = [], []
        for r in live:
            negp, pos = bufs[r]
            if negp[0] > bound:
                continue
            k = int(np.count_nonzero((negp < bound) | ((negp == bound) & (pos >= -after))))  # a prefix
            parts_p.append(negp[:k])
            parts_pos.append(pos[:k])
            negp, pos = negp[k:], pos[k:]
            if not len(negp) and nxt[r] < end[r]:
                negp, pos = _read(f, nxt[r], min(step, end[r] - nxt[r]))
                nxt[r] += len(negp)
            bufs[r] = (negp, pos)
        live = [r for r in live if len(bufs[r][0])]
        negp, pos = np.concatenate(parts_p), np.concatenate(parts_pos)
        order = np.lexsort((-pos, negp))
        yield -negp[order], pos[order]
