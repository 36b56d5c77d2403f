"""KPI x KPI matrices a record holds as one NumPy array and reads as the nested lists they stand for.

The correlation record of 10,000 KPIs held its matrix and pair counts as nested Python lists:
100 million float objects (3.2 GB) and 0.8 GB of list slots. ``Matrix`` keeps them as one
read-only array (float64 for r; the smallest unsigned integer type that holds the counts, or a
single count broadcast over every pair when all pairs share it) and gives every reader of the
record the reading it had: ``len``, ``matrix[i]`` and iteration give rows as lists (None where a
float is not finite), ``to_json()`` the nested lists the JSON report writes, and ``np.asarray``
the array itself without a copy.

NumPy is imported inside the functions: a spec without data never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _value(v: Any, floats: bool) -> Any:
    if floats:
        v = float(v)
        return v if v - v == 0.0 else None  # NaN and the infinities are None
    return int(v)


class Row:
    """One row of a Matrix, read as the list it stood for; ``row[j]`` converts one value."""

    __slots__ = ("_a", "_floats")

    def __init__(self, a: Any, floats: bool) -> None:
        self._a, self._floats = a, floats

    def __len__(self) -> int:
        return len(self._a)

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return list(self)[j]
        return _value(self._a[j], self._floats)

    def to_json(self) -> list:
        if self._floats:
            from metricsense.encoding import finite_lists

            return finite_lists(self._a)
        return self._a.tolist()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.to_json())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Row, list, tuple)):
            return self.to_json() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.to_json())


class Matrix:
    """A read-only 2-D array read as a list of rows (floats with None where not finite, or ints):
    ``matrix[i]`` is a Row, ``matrix[i][j]`` one value, ``matrix[i, j]`` too."""

    __slots__ = ("array",)

    def __init__(self, values: Any) -> None:
        import numpy as np

        a = values.array if isinstance(values, Matrix) else np.asarray(values)
        if a.dtype.kind not in "uif":
            a = np.asarray(a, dtype=np.float64)  # None (a list's missing value) -> NaN
        if a.ndim != 2:
            a = a.reshape(len(a), -1) if a.size else np.empty((len(a), 0))
        a = a.view()
        a.flags.writeable = False
        object.__setattr__(self, "array", a)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Matrix is read-only")

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape

    @property
    def dtype(self) -> Any:
        return self.array.dtype

    @property
    def nbytes(self) -> int:
        """The bytes it holds (0 for a single count broadcast over every pair)."""
        a = self.array
        return 0 if 0 in a.strides and a.size > 1 else a.nbytes

    def _row(self, row: Any) -> list:
        if self.array.dtype.kind == "f":
            from metricsense.encoding import finite_lists

            return finite_lists(row)
        return row.tolist()

    def __len__(self) -> int:
        return self.array.shape[0]

    def __getitem__(self, index: Any) -> Any:
        floats = self.array.dtype.kind == "f"
        if isinstance(index, slice):
            return [Row(row, floats) for row in self.array[index]]
        if isinstance(index, tuple):
            return _value(self.array[index], floats)
        return Row(self.array[index], floats)

    def __iter__(self) -> Iterator[Row]:
        floats = self.array.dtype.kind == "f"
        for row in self.array:
            yield Row(row, floats)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        import numpy as np

        if copy:
            return np.array(self.array, dtype=dtype)
        return self.array if dtype is None else np.asarray(self.array, dtype=dtype)

    def to_json(self) -> list[list]:
        """The nested lists (what the record held before, and what the JSON report writes)."""
        return self._row(self.array) if self.array.size else [[] for _ in range(len(self))]

    def __eq__(self, other: object) -> bool:
        import numpy as np

        if isinstance(other, Matrix):
            return self.shape == other.shape and bool(np.array_equal(self.array, other.array,
                                                                    equal_nan=self.array.dtype.kind == "f"))
        if isinstance(other, list):
            return self.to_json() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        import numpy as np

        a = self.array
        if a.size > 1 and not self.nbytes:  # one count over every pair: pickled as one
            return (_constant, (a.flat[0], a.shape))
        return (Matrix, (np.ascontiguousarray(a),))

    def __repr__(self) -> str:
        return f"Matrix({self.shape[0]} x {self.shape[1]}, {self.array.dtype})"


def _constant(value: Any, shape: tuple[int, int]) -> Matrix:
    import numpy as np

    return Matrix(np.broadcast_to(value, shape))


def floats(values: Any) -> Matrix:
    """A float64 matrix (None in nested lists read as NaN); an array of float64 is not copied."""
    import numpy as np

    if isinstance(values, Matrix) and values.dtype == np.float64:
        return values
    a = np.asarray(values.array if isinstance(values, Matrix) else values, dtype=np.float64)
    # NOTE: an infinity reads as None, as NaN does: NumPy readers get NaN for both, as they did
    # from the lists (by blocks of rows: no K x K temporary when there is none)
    if a.ndim == 2 and any(np.isinf(a[lo:hi]).any() for lo, hi in row_blocks(len(a), a.shape[1])):
        a = np.where(np.isinf(a), np.nan, a)
    return Matrix(a)


def counts(values: Any) -> Matrix:
    """Pair counts (non-negative integers) in the smallest unsigned type that holds them, or one
    count broadcast over every pair (no memory) when every pair has it."""
    import numpy as np

    if isinstance(values, Matrix) and values.array.dtype.kind == "u":
        return values
    a = np.asarray(values.array if isinstance(values, Matrix) else values)
    if a.size and a.ndim == 2:
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0:
            kind = np.uint8 if hi < 2**8 else np.uint16 if hi < 2**16 else np.uint32 if hi < 2**32 else np.int64
            if lo == hi:
                return Matrix(np.broadcast_to(kind(hi), a.shape))
            return Matrix(a.astype(kind, copy=False))
    return Matrix(a.astype(np.int64) if a.dtype.kind == "f" else a)


def pairwise_sum(size: int, values: Any, limit: int = 1 << 20) -> float:
    """The sum of the flat values ``values(lo, hi)`` over [0, size), bit for bit what NumPy's
    ``sum`` of the whole flat array gives (its pairwise summation split the same way: halves
    rounded down to a multiple of 8), made ``limit`` values at a time: the square of a 10,000 x
    10,000 matrix is never held whole."""
    return pairwise_sums(size, lambda lo, hi: [values(lo, hi)], limit)[0]


def pairwise_sums(size: int, values: Any, limit: int = 1 << 20) -> list:
    """``pairwise_sum`` of several flat arrays at once: ``values(lo, hi)`` gives a list of arrays
    (each array's values [lo, hi)), called once per leaf in order; each array's sum bit for bit
    what NumPy's ``sum`` of it whole gives."""
    import numpy as np

    def total(lo: int, n: int) -> list:
        if n <= limit:
            return [np.add.reduce(v) for v in values(lo, lo + n)]
        half = n // 2
        half -= half % 8
        return [a + b for a, b in zip(total(lo, half), total(lo + half, n - half))]

    return total(0, size)


def row_blocks(rows: int, width: int, cells: int = 1 << 22) -> Iterator[tuple[int, int]]:
    """[start, stop) of consecutive row blocks of about ``cells`` values each (at least one row)."""
    step = max(1, cells // max(width, 1))
    for start in range(0, rows, step):
        yield start, min(start + step, rows)
