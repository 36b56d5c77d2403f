"""A trust signal's survey: which answers it reads, and what makes a survey unsafe to read (MS037).

Survey answers are personal (seed 000, seed 001): a survey is read only by the trust signals
that name it, only the rows of their own questions, one round at a time, and every message
about it names a line and a column, never an answer. What cannot be read safely is refused
with MS037 rather than read approximately, because every approximation found so far published
a small group: questions or rounds pooled when a name did not match (a two-person team shown as
six), two signals' tables of the same answers subtracted, a KPI reading the survey file, a
reader's error quoting a whole row (a person's e-mail, a comment).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from metricsense.data.table import DataError, Labels, Table

#: The columns every survey has (see README, "Survey data").
SURVEY_COLUMNS = ("role", "manager_id", "group", "question", "score")
#: A survey column naming who answered: a respondent answering twice in a round counts once.
RESPONDENT_COLUMNS = ("respondent", "respondent_id")
#: Columns that usually hold survey rounds; one of them holding several values, with no round
#: column declared, would pool rounds (six rounds of a three-person team counted as n=18).
_ROUND_LIKE = re.compile(
    r"^(?:survey[ _-]?)?(?:wave|round|cycle|pulse|edition|date|week|month|quarter|year|term|"
    r"semester|period|survey|fielded|sent|submitted)(?:[ _-]?(?:id|no|number|label|date|start|end))?$",
    re.IGNORECASE,
)
_SAFE_DETAIL = re.compile(r"expected \d+ columns?,? (?:but )?got \d+|(?:row|line) #?\d+", re.IGNORECASE)
_PRIVATE = "not shown: survey answers are personal"


def text(column: Any) -> np.ndarray:
    """A survey column as stripped strings; a missing cell (None, NaN, Labels' -1) is ``""``."""
    values = np.asarray(column, dtype=object) if not isinstance(column, Labels) else np.asarray(column)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = ""
        else:
            out[i] = str(v).strip()
    return out


def questions_of(signal) -> set[str]:
    """The question labels a signal reads: its two question texts, its name, and the codes
    ``managers`` and ``team`` (a survey exported with codes rather than texts)."""
    return {"managers", "team", signal.name, signal.managers or "", signal.team or ""} - {""}


def asked(signal, table: Table) -> np.ndarray:
    """The rows holding the signal's own questions; MS037 when that cannot be told.

    A survey whose question column is blank throughout, or that asks one question of the
    managers and one of the teams, asks this signal's question however it is worded: every row.
    A survey with more questions reads only the rows of this signal's; none of them, or rows with
    no question beside rows with one, is MS037: pooling every question would publish a group once
    per question it answered (a two-person team shown as six).
    """
    question = text(table.columns["question"])
    blank = question == ""
    if blank.all():
        return np.ones(len(question), dtype=bool)
    wanted = questions_of(signal)
    rows = np.array([q in wanted for q in question], dtype=bool)
    if not rows.any() and not blank.any() and _one_question_each_way(table, question):
        return np.ones(len(question), dtype=bool)  # one question asked each way: nothing to pool
    if not rows.any():
        found = sorted(set(question[~blank]))
        shown = ", ".join(f"`{q[:60]}`" for q in found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        raise DataError("MS037", f"`{table.origin}` asks {shown}; none is trust signal `{signal.name}`'s question: "
                                 "give its `managers` and `team` questions as the survey words them (or the codes "
                                 "`managers` and `team`); answers to other questions are never pooled in")
    if blank.any():
        i = int(np.argmax(blank))
        raise DataError("MS037", f"{table.where(i)}: an answer with no `question`, in a survey that names its "
                                 "questions: which question it answers would be a guess", row=i + 1,
                        line=table.line_of(i), column="question")
    return rows


def _one_question_each_way(table: Table, question: np.ndarray) -> bool:
    role = np.array([r.lower() for r in text(table.columns["role"])], dtype=object)
    managers = {"manager", "managers", "self"}
    asked_managers = {q for q, r in zip(question, role) if r in managers}
    asked_teams = {q for q, r in zip(question, role) if r not in managers}
    return len(asked_managers) <= 1 and len(asked_teams) <= 1


def check(signal, table: Table, scale: tuple[int, int] | None, round_column: str) -> None:
    """MS037 for a survey that cannot be read safely for ``signal`` (see the module docstring)."""
    rows = asked(signal, table)
    score = np.asarray(table.columns["score"], dtype=float)
    scored = rows & ~np.isnan(score)
    if scale is not None and scale[0] < scale[1]:
        off = scored & ((score < scale[0]) | (score > scale[1]))
        if off.any():
            idx = np.flatnonzero(off)
            lines = ", ".join(_where(table, int(i)) for i in idx[:3]) + (" ..." if len(idx) > 3 else "")
            raise DataError("MS037", f"`{table.origin}`: {len(idx)} score{'s' if len(idx) != 1 else ''} outside the "
                                     f"scale {scale[0]}..{scale[1]} of trust signal `{signal.name}` ({lines}; the "
                                     f"values are {_PRIVATE}): a mean off the scale is no answer",
                            row=int(idx[0]) + 1, line=table.line_of(int(idx[0])), column="score")
    if round_column in table.columns:
        rounds = text(table.columns[round_column])
        missing = scored & (rounds == "")
        if missing.any():
            i = int(np.argmax(missing))
            raise DataError("MS037", f"{table.where(i)}: an answer with no round in column `{round_column}`: rounds "
                                     "are never pooled, and which round it belongs to would be a guess",
                            row=i + 1, line=table.line_of(i), column=round_column)
        return
    for name, column in table.columns.items():
        if name in SURVEY_COLUMNS or name in RESPONDENT_COLUMNS or not _ROUND_LIKE.match(str(name)):
            continue
        distinct = set(text(column)[scored]) - {""}
        if len(distinct) > 1:
            raise DataError("MS037", f"`{table.origin}` has no round column `{round_column}`, but its column "
                                     f"`{name}` holds {len(distinct)} values: if they are survey rounds, say so "
                                     f"with `period \"{name}\"` in the data clause (rounds are never pooled); if "
                                     "not, leave the column out of the export", column=str(name))
    ids = next((text(table.columns[c]) for c in RESPONDENT_COLUMNS if c in table.columns), None)
    if ids is not None:
        question = text(table.columns["question"])
        seen: dict[tuple, int] = {}
        for i in np.flatnonzero(scored):
            if not ids[i]:
                continue
            key = (ids[i], question[i])
            if key in seen:
                raise DataError("MS037", f"{table.where(int(i))}: a respondent answers the same question a second "
                                         f"time (first at {_where(table, seen[key])}) and the survey has no round "
                                         f"column `{round_column}`: several rounds would be pooled; declare the "
                                         "round column with `period \"...\"`",
                                row=int(i) + 1, line=table.line_of(int(i)), column=round_column)
            seen[key] = int(i)


def _where(table: Table, i: int) -> str:
    line = table.line_of(i)
    return f"line {line}" if line is not None else f"row {i + 1}"


def private(exc: DataError, origin: str | None) -> DataError:
    """``exc`` as it may be shown for a survey: the reader's details can quote a whole row (a
    person's e-mail, a comment) or a value, so only its line, column and a safe gist remain."""
    if exc.code not in ("MS030", "MS032"):
        return exc
    if exc.code == "MS032" and exc.column is not None:
        where = f"{origin} line {exc.line}" if exc.line is not None and origin else (origin or "the survey")
        message = f"{where}: column `{exc.column}` holds a value that is not a number (the value is {_PRIVATE})"
    else:
        head = exc.message.split(": ", 1)[0]
        details = [m.group(0) for m in _SAFE_DETAIL.finditer(exc.message[len(head):])]
        gist = f" ({'; '.join(details)})" if details else ""
        message = f"{head}{gist}; the reader's details are {_PRIVATE}" if head != exc.message else exc.message
    return DataError(exc.code, message, row=exc.row, line=exc.line, column=exc.column)


def overlaps(first: np.ndarray, second: np.ndarray) -> bool:
    """Two signals reading one survey read some of the same answers."""
    return len(first) == len(second) and bool((first & second).any())
