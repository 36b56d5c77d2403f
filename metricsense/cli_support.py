"""Pieces of the command line kept out of cli.py: the progress bar, the baseline, fmt's line ends.

Nothing heavy is imported at module level (the CLI's start-up stays light).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


def _usage_error(message: str) -> None:
    """A usage mistake: the message, exit 2 (never a traceback)."""
    click.echo(f"msense: {message}", err=True)
    sys.exit(2)


def _write_file(output: str, text: str) -> None:
    """Write a command's result to ``-o PATH``; a path that cannot be written is a message, exit 2."""
    try:
        Path(output).write_text(text, "utf-8")
    except OSError as exc:
        click.echo(f"msense: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(2)


class ProgressBar:
    """A one-line progress bar on standard error, drawn only after `delay` seconds.

    Used only when standard error is a terminal: piped or redirected output never sees it. As wide
    as the terminal (less one column, so it never wraps); the text after the bar is clipped from
    the left, so the end of a long path and the rule at work stay in view.
    """

    def __init__(self, delay: float = 0.5, stream=None, width: int | None = None) -> None:
        import time

        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.delay = delay
        self.drawn = False
        self.width = width

    def columns(self) -> int:
        """The columns the bar may use: the terminal's (of the stream it draws on, not standard
        output, which is often redirected) less one; ``COLUMNS`` wins, as for shutil."""
        if self.width is not None:
            return max(self.width, 1)
        import os

        try:
            cols = int(os.environ.get("COLUMNS", ""))
        except ValueError:
            cols = 0
        if cols <= 0:
            try:
                cols = os.get_terminal_size(self.stream.fileno()).columns
            except (AttributeError, ValueError, OSError):
                cols = 0
        return max((cols or 80) - 1, 1)

    def __call__(self, done: int, total: int, what: str) -> None:
        import time

        if time.monotonic() - self.start < self.delay:
            return
        cols = self.columns()
        share = min(max(done / max(total, 1), 0.0), 1.0)
        if cols < 20:  # a narrow terminal: the share alone, never wider than the line
            line = f"{100 * share:3.0f}%"[:cols]
        else:
            bar = max(min(24, cols // 4), 5)
            filled = int(bar * share)
            head = f"[{'#' * filled}{'.' * (bar - filled)}] {100 * share:3.0f}% "
            line = head + _clip_left(what, cols - len(head))
        self.stream.write("\r" + line + " " * (cols - _cells(line)))
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * self.columns() + "\r")
            self.stream.flush()


def _cells(text: str) -> int:
    """The terminal columns ``text`` takes: wide (East Asian) characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1
               for c in text)


def _clip_left(text: str, room: int) -> str:
    """``text`` on one line in ``room`` columns, clipped from the left behind an ellipsis."""
    text = "".join(c if c.isprintable() else " " for c in text)
    if _cells(text) <= room:
        return text
    out, used = [], 1
    for c in reversed(text):
        w = _cells(c)
        if used + w > room:
            break
        out.append(c)
        used += w
    return "…" + "".join(reversed(out))


def read_baseline(path: str):
    """The baseline's fingerprints, counted (a finding twice in the baseline hides two)."""
    import json
    from collections import Counter

    try:
        data = json.loads(Path(path).read_text("utf-8"))
        found = Counter(str(f["fingerprint"]) for f in data["findings"])
    except OSError as exc:
        _usage_error(f"cannot read the baseline {path}: {exc.strerror}")
    except (ValueError, KeyError, TypeError):
        _usage_error(f"{path} is not a metricsense baseline (write one with --write-baseline)")
    return found


def write_baseline(path: str, report) -> None:
    """The run's findings as a baseline: rule, file, segment, fingerprint and message. Personal
    findings (about one named person) are never written: a baseline is committed for all to read."""
    import json

    from metricsense.report import is_personal

    findings = [{"code": d.code, "file": d.span.file, "segment": d.segment, "fingerprint": d.fingerprint(),
                 "message": d.message}
                for d in sorted(report.diagnostics, key=lambda d: d.sort_key())
                if not is_personal(d, report.registry)]
    _write_file(path, json.dumps({"version": 1, "findings": findings}, indent=1, ensure_ascii=False) + "\n")


def without_baseline(report, known) -> tuple[Any, int]:
    from collections import Counter
    from dataclasses import replace

    left, kept, hidden = Counter(known), [], 0
    rules = report.registry.rules if report.registry is not None else {}
    for d in report.diagnostics:
        key = d.fingerprint()
        rule = rules.get(d.code)
        if rule is not None and (rule.exit_code or 0) >= 2:
            kept.append(d)  # a spec, data or plugin error is never baselined: it stops the check
        elif left[key] > 0:
            left[key] -= 1
            hidden += 1
        else:
            kept.append(d)
    return replace(report, diagnostics=kept), hidden


def keep_line_ends(raw: str, format_text) -> str:
    """``format_text`` on ``raw`` with its line ends kept: a file written with CRLF throughout is
    formatted as LF and written back with CRLF (it would otherwise always "need" reformatting)."""
    if "\r\n" in raw and raw.count("\r\n") == raw.count("\n"):
        return format_text(raw.replace("\r\n", "\n")).replace("\n", "\r\n")
    return format_text(raw)


def fmt_failure(exc: BaseException) -> str:
    """Why a file was not formatted, in the checker's words (a syntax error: its line and column)."""
    if isinstance(exc, RecursionError):
        return "the spec nests too deeply to format; it is left as it is"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)


class RawJSON(str):
    """JSON text already encoded (a segment's finding or result), written as it is."""


class _SegmentSpool:
    """Segment results of a segmented run, kept on disk as they arrive (JSON lines).

    Each line starts with a tag: `-` for what every reader may see, `P` for a personal finding
    or a segment's result that counts one; what is written is decided at the end, when the
    report says whether the reader asked to see them (``Report.for_reader``, as for every
    format)."""

    def __init__(self, fmt: str, color: bool, registry=None) -> None:
        import tempfile

        from metricsense.report import personal_codes
        from metricsense.segments.waiting import Kinds

        self.fmt, self.color = fmt, color
        self.personal = personal_codes(registry)
        self.registry = registry
        self.withheld: dict[str, dict[str, int]] = {}
        self.diagnostics = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.results = tempfile.TemporaryFile("w+", encoding="utf-8") if fmt == "json" else None
        # A segment with statistical findings waits for the rollup's multiple-testing control to
        # say which are kept (Report.streamed_fdr). Its findings and result are spooled with what
        # the writer needs to know of them (each finding's flags: 1 statistical, 2 personal; and
        # its kind, an index into ``kinds``), nothing of them is held here: as JSON, lines
        # `H<number> <finding> <where its evidence closes, or -1> <flags> <JSON>` and
        # `H<number> <flags> <kinds> <JSON>`; as text, `H<number> <statistical> <the findings, pickled>`.
        # NOTE: holding each segment's whole result (its analysis) took the client from 61 to 237
        # MiB at 1,000 segments; a byte of flags and the kind of each finding, 7 MB at 10,000.
        self.seq = 0
        self.decisions: Any = {}
        self.kinds = Kinds()  # each (code, name, severity) once
        self._whole: set[int] = set()  # held results read whole (``_public``: not ``text_keys``)
        self._person: set[int] = set()  # held results of one person's numbers (their analysis withheld)

    def _count(self, code: str, severity: str, n: int = 1) -> None:
        by = self.withheld.setdefault(code, {})
        by[severity] = by.get(severity, 0) + n

    def add(self, result) -> None:
        from metricsense.diagnostics import Severity

        seq, self.seq = self.seq, self.seq + 1
        marks = self._marks(result)
        if result.p_values:
            stat = frozenset(i for i, _ in result.p_values)
            if self.fmt == "json":
                found, whole = result.encoded or result.encode()
                brief = [tuple(b) for b in result.brief()]
                flags = "".join(str((i in stat) | (i in marks) << 1) for i in range(len(brief)))
                ends = result.evidence_ends
                self.diagnostics.writelines(f"H{seq} {i} {ends.get(i, -1)} {flags[i]} {line}\n"
                                            for i, line in enumerate(found))
                kinds = ",".join(str(self.kinds.of(b)) for b in brief)
                self.results.write(f"H{seq} {flags or '-'} {kinds or '-'} {whole}\n")
                if not result.text_keys:
                    self._whole.add(seq)
                if getattr(result, "person", False):
                    self._person.add(seq)
            else:
                import base64
                import pickle
                from dataclasses import replace

                # NOTE: without their evidence, which the text shows none of: a rule's evidence may
                # hold anything (a function: pickling it failed where the findings were held)
                bare = [replace(d, evidence={}) for d in result.diagnostics]
                packed = base64.b64encode(pickle.dumps(bare, protocol=pickle.HIGHEST_PROTOCOL))
                self.diagnostics.write(f"H{seq} {','.join(map(str, sorted(stat)))} {packed.decode('ascii')}\n")
            for i, (code, _, severity) in enumerate(result.brief()):
                if i not in stat and i in marks:  # a kept statistical one is counted when decided
                    self._count(code, str(Severity(severity)))
            return
        if self.fmt == "json":
            found, whole = result.encoded or result.encode()
            brief = result.brief()
            marked = [i in marks for i in range(len(brief))]
            for line, mark, (code, _, severity) in zip(found, marked, brief):
                self.diagnostics.write(("P" if mark else "-") + line + "\n")
                if mark:
                    self._count(code, str(Severity(severity)))
            person = bool(getattr(result, "person", False))
            if any(marked) or person:
                import json

                self.results.write("P" + json.dumps([whole, [b for b, m in zip(brief, marked) if m],
                                                     [b for b, m in zip(brief, marked) if not m],
                                                     result.text_keys, person]) + "\n")
            else:
                self.results.write("-" + whole + "\n")
        else:
            import json

            from metricsense.report import is_personal
            from metricsense.reports.text import render_diagnostics

            personal = [d for d in result.diagnostics if is_personal(d, self.registry)]
            public = [d for d in result.diagnostics if not is_personal(d, self.registry)]
            for d in personal:
                self._count(d.code, str(d.severity))
            self.diagnostics.write("-" + json.dumps(render_diagnostics(public, self.color)) + "\n")
            if personal:
                self.diagnostics.write("P" + json.dumps(render_diagnostics(personal, self.color)) + "\n")

    def _public(self, whole: str, hidden: list, shown: list, fail_on: str, head: bool = False,
                person: bool = False) -> str:
        """A segment's JSON result without its personal findings: codes, count and exit code
        (``head``: only its head read and written again, when its text allows: ``text_keys``);
        ``person``: without its analysis either (one person's numbers)."""
        import json
        from types import SimpleNamespace

        from metricsense.diagnostics import Severity
        from metricsense.encoding import dumps
        from metricsense.registry import exit_code_of
        from metricsense.segments.results import result_head

        # NOTE: only the head is read and written again, not the analysis (0.6 s per 1,000 segments)
        split = result_head(whole) if head else None
        doc, rest = split if split is not None else (json.loads(whole), None)
        codes = dict(doc.get("codes", {}))
        for code, _, _ in hidden:
            codes[code] -= 1
            if not codes[code]:
                del codes[code]
        doc.update(codes=codes, diagnostics=len(shown), exit_code=exit_code_of(
            [SimpleNamespace(code=c, severity=Severity(s)) for c, _, s in shown], self.registry, fail_on))
        if person:
            doc["analysis"] = {}
            return dumps(doc) if rest is None else dumps(doc)[:-1] + ', "analysis": {}}'
        return dumps(doc) if rest is None else dumps(doc)[:-1] + rest

    def _kept(self, seq: int, i: int):
        """(q-value, family) when the statistical finding ``i`` of result ``seq`` is kept, else None."""
        return self.decisions.get((seq, i))

    def _held(self, text: str, show: bool):
        """A held segment's lines, as ``_tagged`` gives them: without its dropped statistical
        findings, the kept ones with their q-value and family."""
        import json

        from metricsense.encoding import dumps

        if self.fmt == "json":
            from metricsense.segments.results import with_q_value

            seq_, i_, at_, flags_, line = text.split(" ", 4)
            seq, i, at, flags = int(seq_), int(i_), int(at_), int(flags_)
            if flags & 1:
                kept = self._kept(seq, i)
                if kept is None:
                    return
                if at >= 0:  # NOTE: written in place: reading and writing each again took 2.6 s per 1,000 segments
                    line = with_q_value(line, at, *kept)
                else:
                    doc = json.loads(line)
                    doc["evidence"] = {**doc.get("evidence", {}), "q_value": kept[0], "family": kept[1]}
                    line = dumps(doc)
            if show or not flags & 2:
                yield line
            return
        import base64
        import pickle

        from metricsense.report import is_personal
        from metricsense.reports.text import render_diagnostics

        seq_, stat_, packed = text.split(" ", 2)
        seq = int(seq_)
        stat = {int(i) for i in stat_.split(",") if i}
        # spooled without their evidence (``add``): the text shows none of it, nor the q-values
        kept = [d for i, d in enumerate(pickle.loads(base64.b64decode(packed)))
                if i not in stat or self._kept(seq, i) is not None]
        yield json.dumps(render_diagnostics([d for d in kept if not is_personal(d, self.registry)], self.color))
        personal = [d for d in kept if is_personal(d, self.registry)]
        if personal and show:
            yield json.dumps(render_diagnostics(personal, self.color))

    def _tagged(self, spool, show: bool):
        """The spooled lines this reader may see, without their tags."""
        spool.flush()
        spool.seek(0)
        for line in spool:
            tag, text = line[0], line[1:].rstrip("\n")
            if tag == "H":
                yield from self._held(text, show)
            elif tag == "-" or (tag == "P" and show):
                yield text

    def _results(self, show: bool, fail_on: str):
        """Each segment's JSON result, without its personal findings unless the reader asked."""
        import json

        self.results.flush()
        self.results.seek(0)
        for line in self.results:
            tag, text = line[0], line[1:].rstrip("\n")
            if tag == "H":
                seq_, flags_, kinds_, whole = text.split(" ", 3)
                seq = int(seq_)
                flags = [int(f) for f in flags_.strip("-")]
                brief = [self.kinds[int(k)] for k in kinds_.split(",") if k != "-"]
                dropped = [bool(flags[i] & 1) and self._kept(seq, i) is None for i in range(len(brief))]
                gone = [b for b, d in zip(brief, dropped) if d]
                left = [(i, b) for i, b in enumerate(brief) if not dropped[i]]
                hidden = gone + [b for i, b in left if not show and flags[i] & 2]
                shown = [b for i, b in left if show or not flags[i] & 2]
                yield RawJSON(self._public(whole, hidden, shown, fail_on, seq not in self._whole,
                                           not show and seq in self._person))
            elif tag == "-":
                yield RawJSON(text)
            else:
                whole, hidden, shown, head, person = json.loads(text)
                yield RawJSON(whole if show else self._public(whole, hidden, shown, fail_on, head, person))

    def _marks(self, result) -> frozenset[int]:
        """The numbers of ``result``'s findings about one named person: marked so, or of a
        personal rule. NOTE: never read from a finding's JSON text (`"personal": true` may be in
        a public finding's evidence)."""
        return result.marks() | {i for i, (code, _, _) in enumerate(result.brief()) if code in self.personal}

    def _count_kept(self) -> None:
        """Count the personal statistical findings the multiple-testing control kept (held until
        it decided): they are not shown either, and the reader is told how many."""
        from metricsense.diagnostics import Severity

        kinds_kept = getattr(self.decisions, "kinds_kept", None)
        for (code, _, severity, *marked), n in (kinds_kept() if kinds_kept is not None else {}).items():
            if marked or code in self.personal:
                self._count(code, str(Severity(severity)), n)

    def chunks(self, report):
        from dataclasses import replace

        self.decisions = getattr(report, "streamed_fdr", {}) or {}
        show = report.show_personal
        if not show:
            self._count_kept()
        view = report.for_reader(True)  # what a reader format may show of the report itself
        if not show and self.withheld:
            merged = {code: dict(by) for code, by in view.withheld.items()}
            for code, by in self.withheld.items():
                for severity, n in by.items():
                    merged.setdefault(code, {})[severity] = merged.get(code, {}).get(severity, 0) + n
            view = replace(view, withheld=dict(sorted(merged.items())))
        if self.fmt == "json":
            yield from view.json_chunks((RawJSON(t) for t in self._tagged(self.diagnostics, show)),
                                        self._results(show, report.fail_on))
            yield "\n"
            return
        import json

        from metricsense.reports.text import render_diagnostics, summary_lines
        from metricsense.segments.results import rollup_text

        head = render_diagnostics(view.diagnostics, self.color, getattr(view, "sources", None))
        if head:
            yield head
        for text in self._tagged(self.diagnostics, show):
            yield json.loads(text)
        yield "\n".join(rollup_text(view.segments)) + "\n\n"
        yield summary_lines(view) + "\n"
