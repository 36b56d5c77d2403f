"""Names in messages: a handful named and how many more, and did-you-mean suggestions whose cost
does not grow with the square of the names.

A message names at most ``SHOWN`` items and says how many it leaves out ("`a`, `b`, `c`, `d`,
`e` and 995 more"); the full list belongs in the finding's evidence. A spec of a thousand KPIs
otherwise wrote one message of 159 KB (MS013 naming every lever and KPI).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: How many items a message names before it says "and N more".
SHOWN = 5

#: How many candidate comparisons a Suggester makes in all, over every name it is asked about:
#: a spec with 50,000 undefined names among 50,000 declared ones asked difflib for 2.5e9.
#: Beyond it only exact (case- and separator-insensitive) matches are suggested.
BUDGET = 100_000


def listed(items: Iterable[str], shown: int = SHOWN, quote: bool = True, last: str = " and ") -> str:
    """`a`, `b` and `c` (``last=", "``: `a`, `b`, `c`); beyond ``shown`` items, the first
    ``shown`` and "and N more"."""
    items = list(items)
    said = [f"`{i}`" if quote else str(i) for i in items[:shown]]
    if len(items) > shown:
        return ", ".join(said) + f" and {len(items) - shown:,} more"
    if len(said) <= 1:
        return "".join(said)
    return ", ".join(said[:-1]) + last + said[-1]


def first(items: Iterable, shown: int = SHOWN) -> list:
    """The first ``shown`` items (what a finding's related locations keep of a long list)."""
    out = []
    for item in items:
        if len(out) >= shown:
            break
        out.append(item)
    return out


def _folded(name: str) -> str:
    return name.casefold().replace("-", "_")


class Suggester:
    """The candidate a name most likely misspells (difflib's ratio at ``cutoff``), or None.

    The fuzzy search stops for good once ``budget`` candidate comparisons have been made; after
    that only a match up to case and `-`/`_` is suggested (a dict lookup). Asking about n names
    among m candidates costs O(n + m + budget), not O(n x m)."""

    def __init__(self, candidates: Sequence[str], cutoff: float = 0.75, budget: int = BUDGET):
        self.candidates = list(candidates)
        self.cutoff = cutoff
        self.left = budget
        self._folded: dict[str, str] = {}
        for c in self.candidates:
            self._folded.setdefault(_folded(c), c)
        self._memo: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name in self._memo:
            return self._memo[name]
        if self.left >= len(self.candidates):
            import difflib

            self.left -= len(self.candidates)
            hits = difflib.get_close_matches(name, self.candidates, n=1, cutoff=self.cutoff)
            hit = hits[0] if hits else None
        else:
            self.left = 0
            hit = self._folded.get(_folded(name))
        self._memo[name] = hit
        return hit
