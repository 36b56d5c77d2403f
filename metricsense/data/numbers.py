"""Numbers as organizations write them: `71.5%`, `1,001`, `1.234,5` with `decimal ","`, `$12` with
`currency "$"`. Each convention is explicit and checked over the whole column, never guessed.

- A plain number is ASCII digits with an optional sign, decimal mark and exponent (`4_2` and
  digits of other scripts are refused, never read as 42 or 4).
- Thousands separators are read only in thousands position (`1,001`, `12,345,678.5`): a comma
  anywhere else (`1,5`) is refused, naming the `decimal ","` option. With `decimal ","` the
  decimal mark is the comma and a point separates thousands (`1.234,5`); spaces (also no-break
  and narrow no-break) separate thousands with either mark.
- `71.5%` is read as 71.5 and the column's unit is noted as `%`. A column that writes some
  values with `%` and others without is refused (0.7 could be 70% or 0.7%); a bare 0 is the same
  on both scales and is accepted.
- A currency symbol is removed only when the data clause names it (`currency "€"`), before or
  after the number, and is then noted as the column's unit.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from metricsense.data.table import DataError, Labels, Table

#: Text read as a missing value in a numeric column (`#N/A` is Excel's "not available").
MISSING_TEXT = frozenset(("", "na", "n/a", "#n/a", "nan", "null", "none", "-"))

#: A number as written in a data file: ASCII digits, an optional sign, point and exponent. Python's
#: float() also takes `4_2` (as 42) and digits of other scripts (`４`, `٤`); neither is accepted here.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UNSIGNED = {".": re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"),
             ",": re.compile(r"(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)(?:[eE][+-]?[0-9]+)?")}
_SPACES = " \u00a0\u202f"
# A first group of 1-3 digits (not a leading 0), then groups of exactly three after one and the
# same separator: 1,001 and 12,345,678.5 are grouped; 1,5 and 0,125 and 1,0001 are not.
_GROUPED = {
    point: re.compile(rf"[1-9][0-9]{{0,2}}(?P<sep>[{re.escape(seps)}])[0-9]{{3}}(?:(?P=sep)[0-9]{{3}})*"
                      rf"(?:{re.escape(point)}[0-9]*)?")
    for point, seps in ((".", "," + _SPACES), (",", "." + _SPACES))
}

DECIMAL_MARKS = (".", ",")


def _currency_symbol(text: str) -> bool:
    return any(unicodedata.category(c) == "Sc" for c in text)


class NumberReader:
    """One column's numbers under a data clause's conventions, read batch after batch.

    ``unit`` is what the column was written in: ``"%"`` when its values carry a percent sign,
    the currency symbol when one was removed, else None. Call it on each batch of the column.
    """

    def __init__(self, column: str, decimal: str | None = None, currency: str | None = None) -> None:
        decimal = decimal or "."
        if decimal not in DECIMAL_MARKS:
            raise DataError("MS030", f'`decimal {decimal!r}`: the decimal mark is "." or ","')
        if currency is not None and (not currency.strip() or any(c.isdigit() or c in "+-.,%" for c in currency)):
            raise DataError("MS030", f"`currency {currency!r}` names the symbol to remove, such as \"$\" or \"EUR\"")
        self.column, self.decimal, self.currency = column, decimal, currency.strip() if currency else None
        self.percent_at: tuple[str, str] | None = None  # (where, text) of the first value with %
        self._bare_at: tuple[str, str] | None = None    # ... and of the first non-zero one without
        self._bare_later: tuple[np.ndarray, Table] | None = None  # a numeric batch not yet looked at
        self.money = False

    @property
    def bare_at(self) -> tuple[str, str] | None:
        """(where, text) of the first non-zero value without %."""
        self._settle()
        return self._bare_at

    def _settle(self) -> None:
        """Look at the numeric batch left for later. A numeric batch (no % in it) is looked at
        only when the next batch comes (or ``bare_at`` is asked): a wide file's thousands of
        numeric columns, each read in one batch, never are (about 50 us a column). Nothing had
        % before it (``percent_at`` is None), so this only finds ``bare_at``."""
        if self._bare_later is not None:
            out, table = self._bare_later
            self._bare_later = None
            self._note(np.zeros(len(out), dtype=bool), out, lambda i: out[i], table)

    @property
    def unit(self) -> str | None:
        if self.percent_at is not None:
            return "%"
        return self.currency if self.money else None

    # ---- one cell ---------------------------------------------------------------------------
    def parse(self, raw) -> tuple[float, bool] | None:
        """(value, written with %) for a cell, (NaN, False) when missing, None when not a number."""
        if raw is None:
            return np.nan, False
        if isinstance(raw, (float, np.floating)):
            return (float(raw), False) if np.isfinite(raw) or raw != raw else None
        if isinstance(raw, (int, np.integer)) and not isinstance(raw, (bool, np.bool_)):
            return float(raw), False
        text = str(raw).strip()
        if text.lower() in MISSING_TEXT:
            return np.nan, False
        if self.decimal == "." and self.currency is None and _NUMBER.fullmatch(text):  # the usual cell
            value = float(text)
            return (value, False) if np.isfinite(value) else None
        sign, t = "", text
        if t[:1] in "+-":
            sign, t = t[0], t[1:].lstrip()
        if self.currency:
            if t.startswith(self.currency):
                t, self.money = t[len(self.currency):].lstrip(), True
            elif t.endswith(self.currency):
                t, self.money = t[:-len(self.currency)].rstrip(), True
            if not sign and t[:1] in "+-":  # $-5
                sign, t = t[0], t[1:]
        percent = t.endswith("%")
        if percent:
            t = t[:-1].rstrip()
        if _UNSIGNED[self.decimal].fullmatch(t):
            plain = t.replace(",", ".")
        elif _GROUPED[self.decimal].fullmatch(t):
            group = _GROUPED[self.decimal].fullmatch(t).group("sep")
            plain = t.replace(group, "").replace(",", ".")
        else:
            return None
        value = float(sign + plain)
        return (value, percent) if np.isfinite(value) else None

    # ---- a column ---------------------------------------------------------------------------
    def __call__(self, values, table: Table) -> np.ndarray:
        """A float64 column; the first value that is not a number is a DataError naming its row."""
        self._settle()
        column = self.column
        if isinstance(values, Labels):  # each distinct label parsed once; code -1 is missing
            parsed = [self.parse(v) for v in values.labels] + [(np.nan, False)]
            codes = np.where(values.codes < 0, len(values.labels), values.codes)
            bad = np.array([p is None for p in parsed], dtype=bool)[codes]
            if bad.any():
                i = int(np.argmax(bad))
                raise self._not_a_number(values.labels[codes[i]], table, i)
            numbers = np.array([p[0] for p in parsed], dtype=np.float64)
            pct = np.array([p[1] for p in parsed], dtype=bool)
            self._note(pct[codes], numbers[codes], lambda i: values.labels[codes[i]], table)
            return numbers[codes]
        if values.dtype.kind in "fiub":
            out = values.astype(np.float64, copy=False)
            infinite = np.isinf(out)
            if infinite.any():
                bad = int(np.argmax(infinite))
                raise DataError("MS032", f"{_where(table, bad, column)}: column `{column}` holds {out[bad]}, "
                                         "not a finite number", row=bad + 1, line=table.line_of(bad), column=column)
            if self.percent_at is not None:
                self._note(np.zeros(len(out), dtype=bool), out, lambda i: out[i], table)
            elif self.bare_at is None:  # nothing here can have % (see bare_at)
                self._bare_later = (out, table)
            return out
        out = np.empty(len(values), dtype=np.float64)
        pct = np.zeros(len(values), dtype=bool)
        for i, raw in enumerate(values):
            parsed = self.parse(raw)
            if parsed is None:
                raise self._not_a_number(raw, table, i)
            out[i], pct[i] = parsed
        self._note(pct, out, lambda i: values[i], table)
        return out

    def _note(self, pct: np.ndarray, numbers: np.ndarray, text, table: Table) -> None:
        """Remember where the column first wrote a value with % and one without; both is MS032."""
        if self.percent_at is None and pct.any():
            i = int(np.argmax(pct))
            self.percent_at = (_where(table, i, self.column), str(text(i)).strip())
            first_pct = i
        else:
            first_pct = None
        bare = ~pct & (numbers != 0) & ~np.isnan(numbers)
        if self.bare_at is None and bare.any():
            i = int(np.argmax(bare))
            self._bare_at = (_where(table, i, self.column), _shown(text(i)))
            first_bare = i
        else:
            first_bare = None
        if self.percent_at is None or self.bare_at is None:
            return
        # Name the later of the two in this batch (or the one this batch brought).
        if first_bare is not None and (first_pct is None or first_bare > first_pct):
            i, other = first_bare, self.percent_at
        else:
            i = first_pct if first_pct is not None else int(np.argmax(bare))
            other = self.bare_at
        shown = _shown(text(i))
        raise DataError(
            "MS032", f"{_where(table, i, self.column)}: column `{self.column}` holds {shown!r} and {other[0]} "
                     f"{other[1]!r}: a column writes every value with `%` or none of them (which scale a number "
                     "without `%` is on would be a guess)", row=i + 1, line=table.line_of(i), column=self.column)

    def _not_a_number(self, raw, table: Table, i: int) -> DataError:
        text = str(raw).strip()
        shown = _shown(text)
        why = ""
        body = text.lstrip("+-").rstrip("%").strip()
        if "_" in text:
            why = " (no `_` between digits)"
        elif "\\x" in text:
            why = " (bytes that are not UTF-8 text)"
        elif any(c.isdigit() and not c.isascii() for c in text):
            why = " (digits are 0-9; other scripts' digits are refused, not guessed)"
        elif _currency_symbol(text) and self.currency is None:
            why = " (a currency symbol: name it in the data clause, `currency \"$\"`, to read such values)"
        elif self.decimal == "." and re.fullmatch(r"[0-9.,\s]*,[0-9.,\s]*", body):
            why = (" (a comma outside thousands position: if the file writes decimal commas, say `decimal \",\"` "
                   "in the data clause; a comma is read as a thousands separator only as in 1,001)")
        elif self.decimal == "," and re.fullmatch(r"[0-9.,\s]*\.[0-9.,\s]*", body):
            why = " (with `decimal \",\"` a point separates thousands only, as in 1.234,5)"
        return DataError("MS032", f"{_where(table, i, self.column)}: column `{self.column}` holds {shown!r}, "
                                  f"not a number{why}", row=i + 1, line=table.line_of(i), column=self.column)


def _shown(raw) -> str:
    text = str(raw).strip()
    return text if len(text) <= 40 else text[:37] + "..."


def _where(table, i: int, column: str) -> str:
    try:
        return table.where(i, column)
    except TypeError:  # a plugin's table-like object without cells
        return table.where(i)


def to_numeric(values: np.ndarray, table: Table, column: str, decimal: str | None = None,
               currency: str | None = None) -> np.ndarray:
    """A float64 column read under the given conventions (see NumberReader); its unit is dropped."""
    return NumberReader(column, decimal, currency)(values, table)
