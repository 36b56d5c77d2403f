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

from metricsense.data import periods as P
from metricsense.data.table import DataError, Labels, Table

#: The columns every survey has (see README, "Survey data").
SURVEY_COLUMNS = ("role", "manager_id", "group", "question", "score")
#: A survey column naming who answered: a respondent answering twice in a round counts once.
RESPONDENT_COLUMNS = ("respondent", "respondent_id")
#: Columns that usually hold survey rounds; one of them holding several values, with no round
#: column declared, would pool rounds (six rounds of a three-person team counted as n=18).
_ROUND_LIKE = re.compile(
    r"(?:^|[ _.-])(?:wave|round|cycle|pulse|edition|date|week|month|quarter|qtr|year|term|semester|period|"
    r"survey|fielded|sent|submitted|timestamp|time|created|recorded|started|ended|start|end|when)(?:$|[ _.\d-])"
    r"|(?:date|time|stamp)$|^(?:startdate|enddate|recordeddate|submitdate|createdat|submittedat)$",
    re.IGNORECASE,
)
#: Values that are dates, months, quarters or weeks: a column of several of them is rounds (or
#: answer times, which pool rounds just the same when no round column is declared).
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}(?:[-/.]\d{1,2})?(?:[T ].*)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?:[T ,].*)?|"
    r"\d{4}\s*[-/ ]?\s*[QqWwHh]\d{1,2}|[QqHh]\d\s*[-/ ]?\s*\d{4}|"
    r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{4})$"
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
        elif isinstance(v, (float, np.floating)) and float(v).is_integer() and abs(v) < 2**53:
            out[i] = str(int(v))  # a group or round 7 read as a float is `7`, not `7.0`
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
        found = len(set(question[~blank]))
        # NOTE: the questions are counted, not quoted: a query can put anything in that column.
        raise DataError("MS037", f"`{table.origin}` asks {found} question{'s' if found != 1 else ''}; none is "
                                 f"trust signal `{signal.name}`'s: give its `managers` and `team` questions as the "
                                 "survey words them (or the codes `managers` and `team`); answers to other "
                                 "questions are never pooled in")
    if blank.any():
        i = int(np.argmax(blank))
        raise DataError("MS037", f"{table.where(i)}: an answer with no `question`, in a survey that names its "
                                 "questions: which question it answers would be a guess", row=i + 1,
                        line=table.line_of(i), column="question")
    if not _one_question_each_way(table, question, rows):
        raise DataError("MS037", f"`{table.origin}`: trust signal `{signal.name}` matches more than one question "
                                 "asked of the managers, or of the teams (by its name, its `managers` and its "
                                 "`team` text): one question each way, or answers of several would be pooled",
                        column="question")
    return rows


_MANAGERS = {"manager", "managers", "self"}


def _one_question_each_way(table: Table, question: np.ndarray, rows: np.ndarray | None = None) -> bool:
    role = np.array([r.lower() for r in text(table.columns["role"])], dtype=object)
    rows = np.ones(len(question), dtype=bool) if rows is None else rows
    asked_managers = {q for q, r, k in zip(question, role, rows) if k and r in _MANAGERS}
    asked_teams = {q for q, r, k in zip(question, role, rows) if k and r not in _MANAGERS}
    return len(asked_managers) <= 1 and len(asked_teams) <= 1


def check_round_values(signal, table: Table, round_column: str) -> None:
    """MS037 for a declared round column that does not say it holds rounds: neither its name
    (`wave`, `round`, `cycle`, `quarter`, `date`...) nor its values as written (dates, months,
    quarters, weeks). Any column can be read as rounds, and a column that is no round splits the
    answers: a one-off survey read whole and then `period "tenure"` published a team of 6 and
    the 5 of it with tenure 3, so the sixth person's answer was the difference (an attack).
    Whole numbers and bare years count rounds only in a column named like rounds."""
    if round_column not in table.columns or _ROUND_LIKE.search(round_column):
        return
    column = table.columns[round_column]
    if np.asarray(column).dtype.kind == "M":
        return
    values = set(text(column)) - {""}
    if values and all(_DATE_LIKE.match(v) for v in values):
        return
    raise DataError("MS037", f"`{round_column}` is the round column of trust signal `{signal.name}`, but neither its "
                             "name nor its values say it holds survey rounds: read as rounds, a column such as "
                             "tenure or level splits each team, and two runs would differ by a person's answer; "
                             "name the export's round column after what it is (`wave`, `round`, `cycle`, "
                             "`quarter`, `date`...)", column=round_column)


def check_round_column(signal, round_column: str) -> None:
    """MS037 when the round column is one of the survey's own columns (`period "manager_id"`:
    every manager a round, and the rounds' checks off)."""
    if round_column in SURVEY_COLUMNS or round_column in RESPONDENT_COLUMNS:
        raise DataError("MS037", f"`{round_column}` cannot be the round column of trust signal `{signal.name}`: it "
                                 "is one of the survey's own columns", column=round_column)


#: The minimum group when a signal writes none, and the floor below which it is not taken (the
#: trust evaluator's ``settings`` applies the same rule: tests/evaluators/test_trust_linked.py).
DEFAULT_MIN_GROUP, FLOOR_MIN_GROUP = 5, 3
#: Team roles, as the trust evaluator reads them (any other role is not read).
TEAM_ROLES = {"team", "member", "members", "report", "reports", "direct", "directs"}


def min_group_of(signal) -> int:
    """The signal's minimum group as the trust evaluator applies it."""
    written = getattr(signal, "min_group", None)
    return written if written is not None and written >= FLOOR_MIN_GROUP else DEFAULT_MIN_GROUP


def could_be_shown(table: Table, rows: np.ndarray, round_column: str, min_group: int) -> np.ndarray:
    """The rows of ``rows`` that belong to a group (a group and its manager, in one round) with at
    least ``min_group`` team respondents: the only answers any published number can hold. A group
    below the minimum is never shown and no total is shown beside it, so nothing read from its
    answers may be published either, not even whether one lies off the scale."""
    role = np.array([r.lower() for r in text(table.columns["role"])], dtype=object)
    group, manager = text(table.columns["group"]), text(table.columns["manager_id"])
    rounds = text(table.columns[round_column]) if round_column in table.columns else np.full(len(role), "")
    ids = next((text(table.columns[c]) for c in RESPONDENT_COLUMNS if c in table.columns), None)
    people: dict[tuple, set] = {}
    for i in np.flatnonzero(rows):
        if role[i] in TEAM_ROLES:
            who = ids[i] if ids is not None and ids[i] else ("", int(i))
            people.setdefault((rounds[i], group[i], manager[i]), set()).add(who)
    large = {unit for unit, who in people.items() if len(who) >= min_group}
    return rows & np.array([(rounds[i], group[i], manager[i]) in large for i in range(len(role))], dtype=bool)


def held_back(signal, table: Table, round_column: str) -> np.ndarray:
    """The rows of the round ``open`` holds back (every round it overlaps, as the trust evaluator
    reads it; every row when there is no round column): nothing read from them is published, not
    even whether an answer lies off the scale (a late respondent's answer flipped MS037 on and off
    between two runs)."""
    still_open = getattr(signal, "open_round", None)
    if still_open is None:
        return np.zeros(table.rows, dtype=bool)
    if round_column not in table.columns:
        return np.ones(table.rows, dtype=bool)
    labels = text(table.columns[round_column])
    held = {label for label in set(labels.tolist()) if label and P.overlaps(label, still_open.strip())}
    return np.array([label in held for label in labels.tolist()], dtype=bool)


def check(signal, table: Table, scale: tuple[int, int] | None, round_column: str) -> None:
    """MS037 for a survey that cannot be read safely for ``signal`` (see the module docstring)."""
    rows = asked(signal, table)
    score = np.asarray(table.columns["score"], dtype=float)
    scored = rows & ~np.isnan(score)
    if scale is not None and scale[0] < scale[1]:
        # NOTE: only the answers of groups that reach the minimum: with hidden groups' answers in
        # it, the one bit (is any answer off this scale?) over a few scales gave a hidden person's
        # answer (the shown group's mean of 3.00 on 3..5 said it held only 3s; 1..3 refused, 1..4
        # did not: the one hidden answer was 4)
        off = could_be_shown(table, scored & ~held_back(signal, table, round_column), round_column,
                             min_group_of(signal)) & ((score < scale[0]) | (score > scale[1]))
        if off.any():
            # NOTE: neither how many nor where: the spec sets the scale, and counts or lines of the
            # scores outside it, over several scales, were every answer's histogram (hidden groups'
            # too). The finding says only that some score is off the scale.
            raise DataError("MS037", f"`{table.origin}` holds scores outside the scale {scale[0]}..{scale[1]} of "
                                     f"trust signal `{signal.name}` (where and how many is {_PRIVATE}): check the "
                                     "export's `score` column, or the `scale`", column="score")
    for name in ("group", "manager_id", "role"):
        blank = scored & (text(table.columns[name]) == "")
        if blank.any():
            i = int(np.argmax(blank))
            # NOTE: answers with no group were one group named `` (shown, and pooled with a group
            # `NA` that the reader took for missing): whose answer it is would be a guess.
            raise DataError("MS037", f"{table.where(i)}: an answer with no `{name}`: which "
                                     f"{'group' if name == 'group' else 'manager' if name == 'manager_id' else 'role'}"
                                     " it belongs to would be a guess, and answers are never pooled by guess",
                            row=i + 1, line=table.line_of(i), column=name)
    check_round_column(signal, round_column)
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
        if name in SURVEY_COLUMNS or name in RESPONDENT_COLUMNS:
            continue
        values = text(column)
        distinct = set(values[scored]) - {""}
        if len(distinct) < 2:
            continue
        if _ROUND_LIKE.search(str(name)) or all(_DATE_LIKE.match(v) for v in distinct) or (
                np.asarray(column).dtype.kind == "M"):
            raise DataError("MS037", f"`{table.origin}` has no round column `{round_column}`, but its column "
                                     f"`{name}` holds {len(distinct)} values: if they are survey rounds, say so "
                                     f"with `period \"{name}\"` in the data clause (rounds are never pooled); if "
                                     "not, leave the column out of the export", column=str(name))
    ids = next((text(table.columns[c]) for c in RESPONDENT_COLUMNS if c in table.columns), None)
    if ids is not None:
        question = text(table.columns["question"])
        role = [r.lower() in _MANAGERS for r in text(table.columns["role"])]
        group, manager = text(table.columns["group"]), text(table.columns["manager_id"])
        seen: dict[tuple, int] = {}
        for i in np.flatnonzero(scored):
            if not ids[i]:
                continue
            # one person may answer as a manager and as a team member, or in two teams
            key = (ids[i], question[i], role[i], group[i], manager[i])
            if key in seen:
                raise DataError("MS037", f"{table.where(int(i))}: a respondent answers the same question a second "
                                         f"time (first at {_where(table, seen[key])}) and the survey has no round "
                                         f"column `{round_column}`: several rounds would be pooled; declare the "
                                         "round column with `period \"...\"`",
                                row=int(i) + 1, line=table.line_of(int(i)), column=round_column)
            seen[key] = int(i)


def _where(table: Table, i: int) -> str:
    """Where row ``i`` is, without the source's name: `line 7`, `sheet S row 7`, `row 7`."""
    line = table.line_of(i)
    if line is not None and getattr(table, "sheet", None):
        return f"sheet `{table.sheet}` row {line}"
    return f"line {line}" if line is not None else f"row {i + 1}"


def private(exc: DataError, origin: str | None) -> DataError:
    """``exc`` as it may be shown for a survey: the reader's details can quote a whole row (a
    person's e-mail, a comment) or a value, so only its line, column and a safe gist remain."""
    if exc.code in ("MS031", "MS034"):
        # NOTE: names from the header row, which is a person's answer when the export has no
        # header (`columns 6 and 9 are both named `4``, an e-mail): the names are not quoted
        message = re.sub(r"both named `[^`\n]*`", f"named alike (the name is {_PRIVATE})", exc.message)
        message = re.sub(r"(row \d+) \(.*\) is read as the header", r"\1 is read as the header", message, flags=re.S)
        return DataError(exc.code, message, row=exc.row, line=exc.line, column=None) if message != exc.message else exc
    if exc.code not in ("MS030", "MS032"):
        return exc
    if exc.code == "MS032" and exc.column is not None:
        where = f"{origin} line {exc.line}" if exc.line is not None and origin else (origin or "the survey")
        if exc.column == "score":
            message = f"{where}: column `{exc.column}` holds a value that is not a number (the value is {_PRIVATE})"
        else:  # a round: what kind of problem, from the reader's own words, never the value
            low = exc.message.lower()
            why = [w for w in ("blank", "not a period", "day-first", "month-first", "one form") if w in low]
            hint = "; say how it is written with the `format` option" if "format" in low else ""
            message = (f"{where}: column `{exc.column}` holds a value it cannot hold"
                       f"{' (' + ', '.join(why) + ')' if why else ''}{hint} (the value is {_PRIVATE})")
    else:
        head = exc.message.split(": ", 1)[0]
        details = [m.group(0) for m in _SAFE_DETAIL.finditer(exc.message[len(head):])]
        gist = f" ({'; '.join(details)})" if details else ""
        message = f"{head}{gist}; the reader's details are {_PRIVATE}" if head != exc.message else exc.message
    return DataError(exc.code, message, row=exc.row, line=exc.line, column=exc.column)


def overlaps(first: np.ndarray, second: np.ndarray) -> bool:
    """Two signals reading one survey read some of the same answers."""
    return len(first) == len(second) and bool((first & second).any())


def is_survey_file(path: str) -> bool:
    """A CSV, Parquet or Excel file whose header holds every survey column (a workbook: any row of
    any sheet): survey answers, whoever reads it. ``path``: as its reader opens it.

    NOTE: looked at every time (a CSV's header, a Parquet footer; a workbook's scan is kept by the
    digest of its bytes, data.excel.layout): an answer kept by the file's times and size missed a
    rewrite within a coarse clock's second, and a folder of Parquet parts whose part was rewritten."""
    from metricsense.data.sources import header_names

    names = header_names(path, tuple(SURVEY_COLUMNS)) or []
    return set(SURVEY_COLUMNS) <= {n.strip().lower() for n in names}


def check_one_place(b, need, origin: str) -> None:
    """MS037 for a workbook holding survey answers in more than one place (sheets, or an Excel
    table narrower than its sheet), and for one part of a folder of Parquet parts: each can be
    part of another's answers (the folder's, another sheet's), and the two tables subtract to a
    person's answer, as ranges one row apart did. A survey is read whole, from one place."""
    from pathlib import Path

    made = b.request(need.source)
    path = made[1].path if made is not None else None
    if path is None:
        return
    folder = next((p for p in Path(path).resolve().parents if p.suffix.lower() in (".parquet", ".pq")
                   and p.is_dir()), None)
    if folder is not None:
        raise DataError("MS037", f"`{origin}` is one part of the folder of Parquet parts `{folder.name}`: a survey "
                                 "is read whole (a part and the folder are two tables of the same answers, "
                                 "which can be subtracted to reveal a person's); name the folder")
    if str(path).lower().rsplit(".", 1)[-1] not in ("xlsx", "xlsm"):
        return
    from metricsense.data.excel import LayoutProblem, answer_places

    try:
        places = answer_places(path, SURVEY_COLUMNS)
    except LayoutProblem as exc:
        raise DataError("MS037", f"`{origin}`: {exc}, so it cannot be told whether the workbook holds survey "
                                 "answers in another place too (one can hold some of another's answers, and two "
                                 "tables of the same answers can be subtracted to reveal a person's); mend the "
                                 "workbook, or give the survey its own") from None
    if len(places) > 1:
        listed = ", ".join(places[:6]) + (f" and {len(places) - 6} more" if len(places) > 6 else "")
        raise DataError("MS037", f"`{origin}` holds survey answers in {len(places)} places ({listed}): a survey "
                                 "is read whole, from one place (one can hold some of another's answers, and two "
                                 "tables of the same answers can be subtracted to reveal a person's); keep a "
                                 "survey's answers on one sheet, its rounds in a round column, or give each "
                                 "its own workbook")


def read_surveys(b, needs: list) -> dict:
    """Each trust signal's survey, checked (``data.survey.check``); what cannot be read safely is
    MS037 and no survey, and no message about a survey quotes an answer (``survey.private``)."""
    import sys
    from dataclasses import replace

    from metricsense.data.sources import Survey, period_column as _period_column, problem as _problem
    from metricsense.data.sources import reader_plugin as _reader_plugin, shown as _shown
    from metricsense.data.numbers import NumberReader

    sv = sys.modules[__name__]

    surveys: dict[str, Survey] = {}
    read: dict[tuple, list[tuple[str, np.ndarray]]] = {}  # identity -> (signal, rows it reads)
    for need in needs:
        origin = None
        try:
            if need.source.cells:
                # NOTE: a range picks rows: ranges one row apart give totals whose difference is one
                # person's answer, and one that leaves the round column out pools the rounds
                raise DataError("MS037", f"trust signal `{need.name}` reads `range \"{need.source.cells}\"` of its "
                                         "survey: a survey is read whole (ranges one row apart can be subtracted "
                                         "to reveal a person's answer, and rounds left out are pooled); give the "
                                         "answers their own sheet or Excel table and name that")
            table = b.read_all(need.source, layout=SURVEY_COLUMNS)  # a workbook is opened once (check_one_place)
            origin = table.origin
            sv.check_one_place(b, need, table.origin)
            missing = [c for c in SURVEY_COLUMNS if c not in table.columns]
            if missing:
                raise DataError("MS031", f"`{table.origin}` has no column {', '.join(f'`{m}`' for m in missing)}; "
                                         f"survey data needs {', '.join(SURVEY_COLUMNS)}")
            if need.source.period:  # a declared round column must be there: rounds are never pooled
                _period_column(need.source, table)
            cols = dict(table.columns)
            rounds = need.source.period or "period"
            sv.check_round_column(need.node, rounds)  # before it is read as periods
            sv.check_round_values(need.node, table, rounds)  # as written, before a `format` reads them
            if rounds in cols:
                cols[rounds] = _round_labels(cols[rounds], table, rounds, need.source)
            cols["score"] = NumberReader("score", need.source.decimal, need.source.currency)(cols["score"], table)
            checked = replace(table, columns=cols)
            # the default scale (1..5, evaluators.trust) is checked too when none is written
            sv.check(need.node, checked, need.node.scale or (1, 5), need.source.period or "period")
            rows = sv.asked(need.node, checked)
            identity = b.identity(need.source)
            for other, other_rows in read.get(identity, []) if identity is not None else []:
                if sv.overlaps(rows, other_rows):
                    raise DataError("MS037", f"trust signals `{other}` and `{need.name}` read the same answers of "
                                             f"`{table.origin}`: two tables of the same answers can be subtracted "
                                             "to reveal a person's; give each signal its own questions")
            if identity is not None:
                read.setdefault(identity, []).append((need.name, rows))
            surveys[need.name] = Survey(need.name, cols, table.origin, need.source.period)
        except DataError as exc:
            b.problems.append(_problem(sv.private(exc, origin or _shown(need.source)), need.source, [need]))
        except Exception as exc:
            b.crashes.append((_reader_plugin(b, need.source), f"{type(exc).__name__}"))
    return surveys


def _round_labels(column, table: Table, name: str, src: DataSource) -> np.ndarray:
    """A survey's round column, checked: every round is a period of one form (MS032 naming the
    row otherwise: a blank round, free text, `31/12/2024` without a `format`), so rounds order by
    time (``trust.period_key``). Labels stay as written, except with a `format` (and for dates a
    reader gave as dates), which become ISO labels the trust evaluator can order."""
    parsed = P.read_periods(column, table, name, src.period_format, src.frequency)
    arr = column.labels[column.codes] if hasattr(column, "codes") else np.asarray(column)
    if src.period_format is None and arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.tolist()):
        return np.array([v.strip() for v in arr.tolist()], dtype=object)
    if parsed.unit == "period":
        return parsed.keys.astype(str).astype(object)
    return np.array(P.labels(parsed.keys, parsed.unit), dtype=object)
