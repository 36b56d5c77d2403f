"""Long rows into one array per series: the period index, the pivot cube, and row positions for messages."""

from __future__ import annotations

import numpy as np

from metricsense.data.table import DataError, Labels, Table


class Rows:
    """A table's rows at ``positions``, for messages: row i here is row positions[i] there."""

    def __init__(self, table: Table, positions: np.ndarray) -> None:
        self.table, self.positions = table, positions

    def line_of(self, row_index: int) -> int | None:
        return self.table.line_of(int(self.positions[row_index]))

    def where(self, row_index: int, column: str | None = None) -> str:
        return self.table.where(int(self.positions[row_index]), column)


class PeriodIndex:
    """Periods numbered in the order met, for a long source read in batches."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray] = []  # distinct keys (int64) of each batch that brought new ones
        self.count = 0
        self.dtype: np.dtype | None = None
        self.lo = 0
        self.lut = np.empty(0, dtype=np.int64)  # key - lo -> number, -1 where not met
        self.map: dict[int, int] | None = None  # instead of lut, when the keys are spread out

    def add(self, periods: np.ndarray, where, column: str) -> np.ndarray:
        """The number of each period (datetime64[D] or int64), numbering new ones."""
        if self.dtype is None:
            self.dtype = periods.dtype
        elif periods.dtype.kind != self.dtype.kind:
            raise DataError("MS032", f"{where.where(0)}: periods mix whole numbers and dates in one period "
                                     "column", row=1, line=where.line_of(0), column=column)
        keys = periods.view(np.int64)
        lo, hi = int(keys.min()), int(keys.max())
        if self.map is None and self._fits(lo, hi):
            self._cover(lo, hi)
            found = self.lut[keys - self.lo]
            new = found < 0
            if new.any():
                fresh = np.unique(keys[new])
                self.lut[fresh - self.lo] = np.arange(self.count, self.count + len(fresh))
                self.keys.append(fresh)
                self.count += len(fresh)
                found = self.lut[keys - self.lo]
            return found
        if self.map is None:  # too spread out for a table: a dict of the distinct keys
            self.map = {int(k): i for i, k in enumerate(self.all_keys())}
        uniq, inverse = np.unique(keys, return_inverse=True)
        number = np.empty(len(uniq), dtype=np.int64)
        for j, key in enumerate(uniq.tolist()):
            got = self.map.get(key)
            if got is None:
                got = self.map[key] = self.count
                self.keys.append(np.array([key], dtype=np.int64))
                self.count += 1
            number[j] = got
        return number[inverse]

    def _fits(self, lo: int, hi: int) -> bool:
        lo = min(lo, self.lo) if len(self.lut) else lo
        hi = max(hi, self.lo + len(self.lut) - 1) if len(self.lut) else hi
        return hi - lo < max(1 << 16, 16 * (self.count + 1))

    def _cover(self, lo: int, hi: int) -> None:
        if len(self.lut) and lo >= self.lo and hi < self.lo + len(self.lut):
            return
        new_lo = min(lo, self.lo) if len(self.lut) else lo
        new_hi = max(hi, self.lo + len(self.lut) - 1) if len(self.lut) else hi
        lut = np.full(new_hi - new_lo + 1, -1, dtype=np.int64)
        if len(self.lut):
            lut[self.lo - new_lo:self.lo - new_lo + len(self.lut)] = self.lut
        self.lut, self.lo = lut, new_lo

    def all_keys(self) -> np.ndarray:
        return np.concatenate(self.keys) if self.keys else np.empty(0, dtype=np.int64)

    def sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """The periods in order, and for each position there the number it was given."""
        periods = self.all_keys().view(self.dtype or np.int64)
        order = np.argsort(periods, kind="stable")  # as dates: NaT last, as np.unique has it
        return periods[order], order


class Pivot:
    """One value column's cells, series x period x segment, filled batch by batch."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.cube: np.ndarray | None = None  # float64, NaN where no row gave a value
        self.filled: np.ndarray | None = None  # 1 where a row gave the cell (even a missing value)
        self.cells = 0
        self.seen = np.zeros(members, dtype=bool)

    def _grow(self, periods: int, segments: int) -> None:
        if self.cube is not None and periods <= self.cube.shape[1] and segments <= self.cube.shape[2]:
            return
        old_p, old_s = (0, 0) if self.cube is None else self.cube.shape[1:]
        # Room for half as many again, so a file sorted by period grows its axis a few times.
        cap_p = periods if old_p == 0 or periods <= old_p else max(periods, old_p + old_p // 2)
        cap_s = segments if old_s == 0 or segments <= old_s else max(segments, old_s + old_s // 2)
        cube = np.full((self.members, cap_p, cap_s), np.nan)
        filled = np.zeros((self.members, cap_p, cap_s), dtype=np.uint8)
        if self.cube is not None:
            cube[:, :old_p, :old_s] = self.cube
            filled[:, :old_p, :old_s] = self.filled
        self.cube, self.filled = cube, filled

    def put(self, member, period, segment, values, periods: int, segments: int, table: Table,
            positions, offset: int, seg_col: str | None) -> None:
        self._grow(periods, segments)
        assert self.cube is not None and self.filled is not None
        _, cap_p, cap_s = self.cube.shape
        flat = member * cap_p
        flat += period
        flat *= cap_s
        if segment is not None:
            flat += segment
        filled = self.filled.reshape(-1)
        again = filled[flat]
        filled[flat] = 1
        cells = self.cells + len(flat)
        if again.any() or np.count_nonzero(filled) != cells:
            self._repeated(flat, again, table, positions, offset, seg_col)
        self.cells = cells
        self.cube.reshape(-1)[flat] = values
        self.seen[member] = True

    @staticmethod
    def _repeated(flat, again, table: Table, positions, offset: int, seg_col: str | None) -> None:
        # The first row of the batch that repeats a cell, given before or earlier in the batch.
        first = int(np.argmax(again)) if again.any() else len(flat)
        order = np.argsort(flat, kind="stable")
        later = order[1:][flat[order][1:] == flat[order][:-1]]
        if len(later):
            first = min(first, int(later.min()))
        row = first if positions is None else int(positions[first])
        line = table.line_of(row)
        shown = (f"{table.origin} line {line}" if line is not None
                 else f"{table.origin} row {offset + row + 1}")
        raise DataError("MS033", f"{shown} repeats a period already given for the same "
                                 f"series{' and ' + seg_col if seg_col else ''}",
                        row=offset + row + 1, line=line)

    def finish(self, p_order: np.ndarray, s_order: np.ndarray) -> np.ndarray:
        """The cube with periods and segments in order (in place, a series at a time)."""
        assert self.cube is not None
        cube = self.cube[:, :len(p_order), :len(s_order)]
        self.filled = None
        p_same = bool(np.all(p_order == np.arange(len(p_order))))
        s_same = bool(np.all(s_order == np.arange(len(s_order))))
        if not (p_same and s_same):
            for i in range(self.members):
                cube[i] = cube[i][p_order][:, s_order]
        return cube


def as_labels(column) -> Labels:
    """A text column as Labels (codes into distinct values), whatever the reader returned."""
    if isinstance(column, Labels):
        return column
    values = np.asarray(column).astype(str)
    uniq, inverse = np.unique(values, return_inverse=True)
    return Labels(inverse.astype(np.int32), uniq.astype(object))


def take(column, mask: np.ndarray):
    if mask.all():
        return column
    return column[mask]
