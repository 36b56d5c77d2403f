"""Fuzz campaign target: `msense check` and `msense fmt` on arbitrary bytes.

Runs under atheris (coverage-guided libFuzzer, from PyPI):

    python fuzz/fuzz_check.py -max_total_time=600 fuzz/corpus

or without atheris, as a plain-Python random-mutation loop over the same corpus:

    python fuzz/fuzz_check.py --plain --seconds 600 [--seed N] [--findings DIR] [fuzz/corpus ...]

Every input is written to a spec file and checked as a user would (`metricsense.check(path)`),
then rendered in every output format (JSON and SARIF parsed strictly, JUnit parsed as XML, text
and GitHub free of raw control characters, Markdown rendered and free of markup that is not the
report's own, HTML), with the agenda, then formatted (`fmt`) when it parses. With `--data` the
spec is written into a copy of an example folder, beside its data (some of whose cells are
mutated: Unicode digits, digits with blanks, extremes) and SQLite files with `#`, `?` and `%`
in their names, so the data evaluators run; some inputs are checked twice and must give
byte-identical JSON; some are wrapped in a Markdown file (LF, CRLF or CR line ends). A *finding* is:
an exception escaping any of these (a Python traceback for the user), a `to_json` that fails (a
NaN or infinity leaking into the report), an MS005 naming a built-in evaluator (an internal
crash the engine caught), an exit code outside 0-3, an output its consumer cannot read, a file
created or changed in the spec's folder, two checks of one input that differ, a formatting that
changes the meaning or is not idempotent, or an input that takes longer than the time bound.

Known findings (reported to the owners, regression tests in tests/fuzz/ marked xfail) are
counted but do not stop the campaign; a new one is saved under the findings folder (plain mode)
or ends the run with the input saved by libFuzzer (atheris mode, unless --keep-going).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Seconds of CPU per input (ITIMER_PROF, not wall time: a loaded machine must not turn a slow
# moment into a finding; a runaway loop still burns CPU and is caught).
TIME_BOUND = float(os.environ.get("MSENSE_FUZZ_TIME_BOUND", "10"))

# Signatures (a regular expression over the finding's text) of findings already reported but not
# yet fixed: the campaign counts them and keeps going. Each has a strict-xfail regression test in
# tests/fuzz/. None is open today.
KNOWN: dict[str, str] = {}
# Fixed, no longer skipped: F1 (RecursionError in check and fmt), F2 (NaN in JSON, then a hang on
# 1e-320 gains), F3 (int max str digits), F4 (ENAMETOOLONG), F5 (fmt refused suppressions in a
# statement over lines), F6/F10 (NUL in paths), F7 (no value at all in noise), F8 (NaN in
# distortion), F9 (SVD on overflowing lever changes), F11 (ATTACH), F12 (secrets), F13 (a
# 400-digit lag), F15 (ragged CSV rows), F21 (an SQLite path read as a URI: `#`, `?`, `%`;
# D5) and F22 (a superscript digit in a period: D1), both fixed in data reading.


class Finding(Exception):
    """What the oracle found: ``kind`` names it, the message carries the traceback's tail."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message

    @property
    def known(self) -> str | None:
        for name, pattern in KNOWN.items():
            if re.search(pattern, self.message):
                return name
        return None

    @property
    def signature(self) -> str:
        """Where it happened (the innermost metricsense frame) and the exception type."""
        frames = re.findall(r'File "([^"]*metricsense[^"]*)", line (\d+)', self.message)
        last_type = re.findall(r"(?:^|: )(\w+(?:\.\w+)*(?:Error|Exception|Interrupt)):( \[Errno \d+\])?",
                               self.message, re.M)
        last_type = ["".join(t) for t in last_type]
        where = f"{Path(frames[-1][0]).name}:{frames[-1][1]}" if frames else "?"
        return f"{self.kind}|{where}|{last_type[-1] if last_type else '?'}"


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _tail(exc: BaseException, lines: int = 12) -> str:
    text = "".join(traceback.format_exception(exc))
    return "\n".join(text.strip().splitlines()[-lines:])


_WORK: Path | None = None


def _workdir() -> Path:
    global _WORK
    if _WORK is None:
        _WORK = Path(tempfile.mkdtemp(prefix="msense-fuzz-"))
    return _WORK


def check_bytes(data: bytes, *, name: str = "spec.msense", time_bound: float = TIME_BOUND,
                formats: bool = True, folder: Path | None = None, twice: bool = False) -> dict:
    """Run the whole pipeline on one input; raise Finding on anything a user must never see.

    ``folder``: where the spec is written (beside data files; nothing in it may change), else an
    empty work folder. ``twice``: check it again and compare the JSON, byte for byte.
    Returns a small summary (exit code, codes found, whether fmt ran) for statistics.
    """
    import metricsense
    from metricsense.syntax.fmt import FormatError, format_file_text, meaning

    spec = (folder or _workdir()) / name
    spec.write_bytes(data)
    before = _listing(folder) if folder is not None else None
    old = signal.signal(signal.SIGPROF, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, time_bound * (2 if twice else 1))
    stage = "check"
    try:
        report = metricsense.check(spec, config={})
        stage = "to_json"
        first = report.to_json()
        if report.exit_code not in (0, 1, 2, 3):
            raise Finding("exit-code", f"exit code {report.exit_code}")
        internal = [d.message for d in report.diagnostics
                    if d.code == "MS005" and "'metricsense." in d.message]
        if internal:
            raise Finding("internal-crash", internal[0])
        if before is not None and _listing(folder) != before:
            changed = sorted(set(_listing(folder).items()) ^ set(before.items()))
            raise Finding("wrote-a-file", f"check changed the spec's folder: {changed[:6]}")
        if twice:
            stage = "check-twice"
            again = metricsense.check(spec, config={}).to_json()
            if again != first:
                raise Finding("not-deterministic", _first_difference(first, again))
    except Finding:
        raise
    except _Timeout:
        raise Finding("timeout", f"{stage} took more than {time_bound:g} s of CPU") from None
    except BaseException as exc:  # noqa: BLE001  (everything else is a traceback for the user)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding(f"{stage}-raised", _tail(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
    summary = {"exit": report.exit_code, "codes": sorted({d.code for d in report.diagnostics}), "fmt": False}
    if formats:
        _render_all(report, time_bound)
    text = _decode(data)
    if text is not None:
        summary["fmt"] = _check_fmt(text, name, time_bound, meaning, format_file_text, FormatError)
    return summary


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (but the spec being fuzzed) with its size and modification time."""
    out = {}
    for f in folder.rglob("*"):
        if f.is_file() and not f.name.startswith("fuzz."):
            st = f.stat()
            out[f.relative_to(folder).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def _first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"the JSON of two checks differs at {i}: {a[max(0, i - 80):i + 80]!r} / {b[max(0, i - 80):i + 80]!r}"


#: Tags a Markdown report may render to (markdown-it, CommonMark with tables): anything else
#: (an image, a link, emphasis from the data) is markup that came from a spec or its data. h4: the
#: agenda's unit headings.
MARKDOWN_TAGS = {"h1", "h2", "h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "br", "em", "ul", "ol",
                 "li", "pre"}  # pre: only the KPI system's ```mermaid fence (checked below)
SARIF_VALIDATOR = None  # set by the tests to a jsonschema validator of SARIF 2.1.0


def _no_nan(value):
    raise ValueError(f"{value} in JSON")


def _markdown_html(text: str) -> str | None:
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def _readable(fmt: str, text: str, report=None) -> None:
    """Raise (AssertionError, ValueError...) when a consumer of ``fmt`` could not read ``text``."""
    import json
    import xml.etree.ElementTree as ET

    if fmt in ("json", "sarif", "agenda-json"):
        doc = json.loads(text, parse_constant=_no_nan)
        if fmt == "sarif" and SARIF_VALIDATOR is not None:
            SARIF_VALIDATOR.validate(doc)
    elif fmt == "junit":
        ET.fromstring(text.encode("utf-8"))  # strict: a lone surrogate cannot be encoded
    elif fmt in ("text", "github"):
        bad = [c for c in text if not c.isprintable() and c != "\n"]
        assert not bad, f"raw control characters in {fmt}: {sorted(set(bad))!r}"
        if fmt == "github":  # one workflow command per finding shown, then the summary line
            lines = text.rstrip("\n").split("\n")
            assert all(ln.startswith("::") for ln in lines[:-1]), "a finding split over lines"
            assert not lines[-1].startswith("::") and len(lines) - 1 <= len(report.diagnostics), "forged command"
    elif fmt in ("markdown", "agenda-markdown"):
        bad = [c for c in text if not c.isprintable() and c != "\n"]
        assert not bad, f"raw control characters in {fmt}: {sorted(set(bad))!r}"
        html = _markdown_html(text)
        if html is not None:
            tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)) - MARKDOWN_TAGS
            assert not tags, f"{fmt} renders markup that is not the report's: {sorted(tags)}"
            blocks = html.count("<pre")
            assert blocks == html.count('<pre><code class="language-mermaid">'), f"{fmt} has a code block of its own"
    text.encode("utf-8")


def _render_all(report, time_bound: float) -> None:
    """Every output format, and the agenda, each read back as its consumer reads it."""
    import importlib
    import json

    from metricsense.agenda import build
    from metricsense.reports import FORMATS

    def agenda_markdown(r, _):
        return build(r).to_markdown()

    def agenda_json(r, _):
        return json.dumps(build(r).to_dict(), indent=2, ensure_ascii=False, allow_nan=False)

    renderers = [(name, getattr(importlib.import_module(f"metricsense.reports.{name}"), f"render_{name}"))
                 for name in FORMATS]
    renderers += [("agenda-markdown", agenda_markdown), ("agenda-json", agenda_json)]
    old = signal.signal(signal.SIGPROF, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, time_bound)
    try:
        for stage, render in renderers:
            try:
                text = render(report, None)
            except _Timeout:
                raise Finding("timeout", f"{stage} took more than {time_bound:g} s of CPU") from None
            except Exception as exc:
                raise Finding(f"{stage}-raised", _tail(exc)) from None
            try:
                _readable(stage, text, report)
            except _Timeout:
                raise Finding("timeout", f"reading {stage} took more than {time_bound:g} s of CPU") from None
            except Exception as exc:
                raise Finding(f"{stage}-unreadable", f"{type(exc).__name__}: {str(exc)[:1500]}") from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _check_fmt(text: str, name: str, time_bound: float, meaning, format_file_text, FormatError) -> bool:
    old = signal.signal(signal.SIGPROF, _on_alarm)
    signal.setitimer(signal.ITIMER_PROF, time_bound)
    stage = "fmt"
    try:
        before = meaning(text, name)
        if isinstance(before, tuple) and before and before[0] == "errors":
            try:
                format_file_text(text, name)
            except FormatError:
                pass
            return False
        try:
            once = format_file_text(text, name)
        except FormatError as exc:
            note = " [input has a suppression comment]" if "msense:" in text else ""
            raise Finding("fmt-refused-valid-spec", str(exc) + note) from None
        stage = "fmt-twice"
        twice = format_file_text(once, name)
        if twice != once:
            raise Finding("fmt-not-idempotent", f"{once!r} -> {twice!r}"[:2000])
        if meaning(once, name) != before:
            raise Finding("fmt-changed-meaning", once[:2000])
        return True
    except Finding:
        raise
    except _Timeout:
        raise Finding("timeout", f"{stage} took more than {time_bound:g} s of CPU") from None
    except Exception as exc:
        raise Finding(f"{stage}-raised", _tail(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


# ---- plain-Python mutation -------------------------------------------------------------------

TOKENS = [
    b"mission", b"lever", b"disturbance", b"failure", b"kpi", b"trigger", b"trust", b"include", b"data",
    b"kind", b"focus", b"better", b"unit", b"owner", b"scope", b"target", b"link", b"guards", b"responds",
    b"disturbed", b"review every 1 week", b"lag 2 weeks", b"for 2 periods", b"when", b"ask", b"with team",
    b"managers", b"team", b"scale 1..5", b"gap > 1.0", b"min_group 5", b"open \"2025-Q2\"", b"scale 5..1", b"at outcome", b"by 2027-06-30",
    b"{", b"}", b"(", b")", b",", b".", b"%", b"% of ", b"..", b">=", b"<", b"==", b"!=", b"+", b"-", b"*", b"/",
    b"and", b"or", b"not", b"abs(", b"mean(a, 3)", b"change(a, 1)", b"lag(a, 2)", b"max(a, 0)", b"target(a)",
    b"\"", b"\"x\"", b"\"\\\"\"", b"\"\\\\\"", b"#", b"# msense: ignore[MS017] reason \"r\"\n",
    b"# msense: ignore[MS013]\n", b"\n", b"\r\n", b"\r", b"\t", b" ", b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xc3",
    "\u202e".encode(), "\u00e9".encode(), "\U0001f600".encode(), "\u0301".encode(), "\ufffd".encode(),
    b"0", b"1", b"-1", b"1e308", b"1e999", b"1e-320", b"0.0", b"99999999999999999999", b"9" * 5000,
    b"nan", b"inf", b"2027-02-30", b"0000-00-00", b"9999-12-31",
    b"data \"k.csv\"", b"data \"../x.csv\"", b"data \"/etc/passwd\"", b"include \"spec.msense\"",
    b"data sql \"SELECT 1\" from \"sqlite:///k.db\"", b"layout long", b"segment \"s\"", b"column \"c\"",
    b"<img src=x onerror=alert(1)>", b"${PGPASSWORD}",
]


def _nest(rng: random.Random) -> bytes:
    depth = rng.choice([10, 100, 244, 300, 400, 480, 1000, 3000])
    kind = rng.randrange(11)
    call = {6: (b"lag(", b", 1)"), 7: (b"mean(", b", 3)"), 8: (b"change(", b")"), 9: (b"max(", b", 0)")}
    if kind in call:
        core = call[kind][0] * depth + b"a" + call[kind][1] * depth
    elif kind == 10:  # calls of several kinds, nested in each other
        parts = [rng.choice(list(call.values())) for _ in range(depth)]
        core = b"".join(p[0] for p in parts) + b"a" + b"".join(p[1] for p in reversed(parts))
    else:
        core = {
            0: b"(" * depth + b"a" + b")" * depth,
            1: b"-" * depth + b"a",
            2: b"not " * depth + b"a > 1",
            3: b" + ".join([b"a"] * depth),
            4: b"abs(" * depth + b"a" + b")" * depth,
            5: b"25% of " * depth + b"a",
        }[kind]
    return b'kpi a "A" { target >= 1 }\ntrigger t when ' + core + b" > 1 {\n}\n"


#: SQLite databases written beside the data in ``--data`` mode, with characters a URI reads as
#: syntax (`#` a fragment, `?` a query, `%` an escape) or that need quoting.
SQLITE_NAMES = ["k.db", "k#1.db", "k?x.db", "k%41.db", "kA.db", "k 1.db", "k;1.db", "k'1.db", "k&mode=rw.db"]
TOKENS_DATA = [f'data sql "SELECT period, a FROM t" from "sqlite:///{n}"'.encode() for n in SQLITE_NAMES] + [
    b'data sql "SELECT period, a FROM t" from "sqlite:///data/../k#1.db"', b'data "data/kpis.csv"',
    b'data "data/k#1.csv"', b'data "data/k%41.csv"', b'data "data/k?.csv"']

#: Numbers a CSV cell may hold that are not plain ASCII: Unicode digits, and digits mixed with
#: blanks of every kind (NBSP, thin space, ideographic space, tab).
ODD_NUMBERS = ["\u0661\u0662\u0663", "\uff11\uff12", "\u0967\u0968.\u0969", "1 234", "1\u00a0234", "1\u2009000",
               " 12 ", "\t7\t", "\u30001", "\uff11 \uff12", "1\u202f5", "\u00a0", " ", "\u0661 2", "1e\u00a03",
               "\u2212" "3", "\uff0d1", "٣٫٥", "1,5", "\U0001d7d9", "\u00b2", "\u2155", "١e٣"]


def mutate_data(text: str, rng: random.Random) -> str:
    """A few cells of a CSV replaced by odd numbers, or a row duplicated, shuffled or cut."""
    lines = text.split("\n")
    if len(lines) < 3:
        return text
    for _ in range(rng.choice([1, 2, 4, 8, 30])):
        i = rng.randrange(1, len(lines))
        cells = lines[i].split(",")
        op = rng.randrange(6)
        if op <= 2 and cells:
            j = rng.randrange(len(cells))
            odd = rng.choice(ODD_NUMBERS)
            cells[j] = f'"{odd}"' if "," in odd or rng.random() < 0.3 else odd
            lines[i] = ",".join(cells)
        elif op == 3:
            lines.insert(i, lines[i])
        elif op == 4:
            j = rng.randrange(1, len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 5 and cells:
            lines[i] = ",".join(cells[: rng.randrange(len(cells) + 1)])
    if rng.random() < 0.1:  # a header with blanks and Unicode digits
        lines[0] = lines[0].replace(",", rng.choice([", ", ",\u00a0", ",\u0661"]), 1)
    return "\n".join(lines)


def wrap_markdown(data: bytes, rng: random.Random) -> bytes:
    """A spec inside a Markdown file: prose around, a ``` or ~~~ fence, LF, CRLF or CR line ends."""
    fence = rng.choice([b"```", b"~~~", b"````", b"   ```"])
    doc = (b"# KPIs\n\nSome prose with `kpi` in it.\n\n" + fence + b"msense\n" + data.rstrip(b"\n") + b"\n"
           + fence.strip() + b"\n\nMore prose.\n\n```python\nkpi nope\n```\n")
    eol = rng.choice([b"\n", b"\n", b"\r\n", b"\r"])
    return doc.replace(b"\n", eol) if eol != b"\n" else doc


def mutate(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    """A few random edits of ``data``: byte and token insertions, deletions, splices, truncation."""
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 5, 8])):
        op = rng.randrange(11)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:  # flip a byte
            i = rng.randrange(len(buf))
            buf[i] = rng.randrange(256)
        elif op == 1:  # insert a token
            buf[pos:pos] = rng.choice(TOKENS) + (b" " if rng.random() < 0.7 else b"")
        elif op == 2 and buf:  # delete a range
            end = min(len(buf), pos + rng.randint(1, 16))
            del buf[pos:end]
        elif op == 3 and buf:  # duplicate a range
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end] * rng.randint(1, 4)
        elif op == 4 and corpus:  # splice another corpus input in
            other = rng.choice(corpus)
            a = rng.randint(0, len(other))
            buf[pos:pos] = other[a:a + rng.randint(1, 200)]
        elif op == 5 and buf:  # truncate
            del buf[rng.randint(0, len(buf)):]
        elif op == 6:  # random bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 7:  # replace a number with an extreme one
            m = list(re.finditer(rb"\d+(\.\d+)?", bytes(buf)))
            if m:
                hit = rng.choice(m)
                buf[hit.start():hit.end()] = rng.choice([b"0", b"1e308", b"1e999", b"1e-320", b"99999999999999999999",
                                                         b"9" * rng.choice([19, 400, 4400]), b"0.0000001"])
        elif op == 8:  # line endings and BOM
            b2 = bytes(buf).replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b" \n"]))
            buf = bytearray((b"\xef\xbb\xbf" if rng.random() < 0.3 else b"") + b2)
        elif op == 9 and rng.random() < 0.1:  # deep nesting
            buf[pos:pos] = _nest(rng)
        elif op == 10:  # odd Unicode inside a string
            m = list(re.finditer(rb'"[^"\n]*"', bytes(buf)))
            if m:
                hit = rng.choice(m)
                odd = rng.choice(["\u202e", "\u0000", "\U0001f600" * 50, "\u0301" * 20, "<b>&amp;</b>",
                                  "\ud7ff", "\uffff", "\\", "\\q", "\\u0041"])
                buf[hit.start() + 1:hit.start() + 1] = odd.encode("utf-8", "surrogatepass")
    return bytes(buf[: 1 << 20])


def load_corpus(folders: list[Path]) -> list[bytes]:
    out = []
    for folder in folders:
        if folder.is_file():
            out.append(folder.read_bytes())
            continue
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.name.startswith(".") and f.suffix not in (".md", ".txt") or f.name.endswith(".msense"):
                if f.is_file():
                    out.append(f.read_bytes()[: 1 << 20])
    return out or [b'mission "M"\n']


def load_markdown(folders: list[Path]) -> list[bytes]:
    """The Markdown files among the seeds that hold an msense fence (checked as ``.md`` files)."""
    out = []
    for folder in folders:
        files = [folder] if folder.is_file() else sorted(folder.rglob("*.md"))
        for f in files:
            if f.suffix == ".md" and b"msense" in f.read_bytes():
                out.append(f.read_bytes()[: 1 << 20])
    return out


def data_folders(root: Path) -> list[Path]:
    """Copies of the example folders (specs and data) under ``root``, and SQLite files with odd
    names beside each; the specs fuzzed in them are written as ``fuzz.msense``/``fuzz.md``."""
    import shutil
    import sqlite3

    examples = HERE.parent / "examples"
    out = []
    for src in sorted(p for p in examples.iterdir() if (p / "data").is_dir()):
        dst = root / src.name
        if not dst.exists():
            shutil.copytree(src, dst)
            for name in SQLITE_NAMES:
                with sqlite3.connect(dst / name) as conn:  # NOTE: a plain path, no URI
                    conn.execute("CREATE TABLE t (period TEXT, a REAL)")
                    conn.executemany("INSERT INTO t VALUES (?, ?)",
                                     [(f"2024-{m:02d}-01", m * 1.5) for m in range(1, 13)])
                conn.close()
        out.append(dst)
    return out


def plain(seconds: float, folders: list[Path], seed: int, findings_dir: Path, quiet: bool = False,
          max_inputs: int | None = None, data: bool = False, formats: float = 0.2, twice: float = 0.0,
          markdown: float = 0.05) -> dict:
    """Random mutation over the corpus for ``seconds``; new findings saved in ``findings_dir``.

    ``data``: each input is a mutated example spec written beside the example's data (a copy),
    some of whose cells are mutated too. ``formats``, ``twice`` and ``markdown``: the share of
    inputs rendered in every format, checked twice, and wrapped in a Markdown file."""
    rng = random.Random(seed)
    corpus = load_corpus(folders)
    md_corpus = load_markdown(folders)
    places = data_folders(_workdir() / "data") if data else []
    seeds = {p: [f.read_bytes() for f in sorted(p.glob("*.msense"))] for p in places}
    stats = {"inputs": 0, "findings": 0, "known": {}, "new": {}, "seconds": 0.0, "fmt": 0, "exit": {},
             "markdown": 0, "with_data": 0, "data_mutated": 0, "twice": 0, "rendered": 0}
    start = time.monotonic()
    last_report = start
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    while time.monotonic() - start < seconds and (max_inputs is None or stats["inputs"] < max_inputs):
        folder = rng.choice(places) if places else None
        pool = corpus + seeds[folder] * 20 if folder is not None else corpus
        base = rng.choice(pool)
        if md_corpus and rng.random() < markdown / 2:
            base = rng.choice(md_corpus)
            data_bytes, name = mutate(base, rng, corpus), "spec.md"
        else:
            name = "spec.msense"
            if folder is not None and rng.random() < 0.5:
                # NOTE: most mutated specs do not parse, and then no data is read: half the inputs
                # of a data run keep the example's spec as it is (its data is what is mutated),
                # or add a statement reading odd data (an SQLite file with `#` in its name).
                data_bytes = rng.choice(seeds[folder])
                if rng.random() < 0.4:
                    data_bytes += b"\nkpi z \"Z\" { " + rng.choice(TOKENS_DATA) + b" }\n"
                if rng.random() < 0.3:
                    data_bytes += _nest(rng).replace(b'kpi a "A" { target >= 1 }\n', b"")
            else:
                data_bytes = mutate(base, rng, corpus) if rng.random() < 0.97 else _nest(rng)
            if rng.random() < markdown:
                data_bytes, name = wrap_markdown(data_bytes, rng), "spec.md"
        if folder is not None:
            name = "fuzz" + Path(name).suffix
        stats["markdown"] += name.endswith(".md")
        restore = None
        if folder is not None:
            stats["with_data"] += 1
            csvs = sorted((folder / "data").glob("*.csv"))
            if csvs and rng.random() < 0.6:
                target = rng.choice(csvs)
                restore = (target, target.read_bytes())
                target.write_text(mutate_data(restore[1].decode("utf-8"), rng), "utf-8")
                stats["data_mutated"] += 1
        do_formats, do_twice = rng.random() < formats, rng.random() < twice
        stats["inputs"] += 1
        stats["rendered"] += do_formats
        stats["twice"] += do_twice
        try:
            summary = check_bytes(data_bytes, name=name, formats=do_formats, folder=folder, twice=do_twice)
            stats["fmt"] += summary["fmt"]
            stats["exit"][summary["exit"]] = stats["exit"].get(summary["exit"], 0) + 1
            if summary["exit"] == 0 and len(corpus) < 5000 and rng.random() < 0.02:
                corpus.append(data_bytes)  # grow the pool with inputs that got all the way through
        except Finding as f:
            stats["findings"] += 1
            known = f.known
            if known:
                stats["known"][known] = stats["known"].get(known, 0) + 1
                continue
            sig = f.signature
            if sig not in stats["new"]:
                findings_dir.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha1(data_bytes).hexdigest()[:12]
                (findings_dir / f"{f.kind}-{digest}{Path(name).suffix}").write_bytes(data_bytes)
                where = f"folder: {folder.name}\n" if folder is not None else ""
                if restore is not None:
                    (findings_dir / f"{f.kind}-{digest}-{restore[0].name}").write_bytes(restore[0].read_bytes())
                    where += f"data mutated: {restore[0].name} (saved beside)\n"
                (findings_dir / f"{f.kind}-{digest}.txt").write_text(f"{sig}\n{where}\n{f.message}\n", "utf-8")
                stats["new"][sig] = 0
                if not quiet:
                    print(f"NEW {sig}\n{f.message[:3000]}\n", flush=True)
            stats["new"][sig] += 1
        finally:
            if restore is not None:
                restore[0].write_bytes(restore[1])
            if folder is not None:
                _tidy(folder)
        if not quiet and time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            print(f"[{last_report - start:6.0f}s] {stats['inputs']} inputs, {stats['findings']} findings "
                  f"(known {stats['known']}, new {len(stats['new'])})", flush=True)
    stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


def _tidy(folder: Path) -> None:
    """Take away what a finding left in a data folder (a file SQLite created), so the next input
    starts from the same folder."""
    keep = set(SQLITE_NAMES) | {"fuzz.msense", "fuzz.md"}
    for f in folder.iterdir():
        if f.is_file() and f.suffix not in (".msense", ".md", ".csv") and f.name not in keep:
            f.unlink()


# ---- atheris ---------------------------------------------------------------------------------


def _atheris_main(argv: list[str]) -> None:
    import atheris

    keep_going = "--keep-going" in argv
    argv = [a for a in argv if a != "--keep-going"]
    with atheris.instrument_imports(include=["metricsense"]):
        import metricsense  # noqa: F401
        import metricsense.reports.html  # noqa: F401
        import metricsense.reports.sarif  # noqa: F401
        import metricsense.syntax.fmt  # noqa: F401
    seen: dict[str, int] = {}

    def one_input(data: bytes) -> None:
        try:
            check_bytes(data, formats=len(data) % 4 == 0)
        except Finding as f:
            key = f.known or f.signature
            seen[key] = seen.get(key, 0) + 1
            if f.known or keep_going:
                if seen[key] == 1:
                    print(f"finding ({'known' if f.known else 'new'}) {key}", file=sys.stderr, flush=True)
                return
            raise

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    if "--plain" in argv:
        import argparse

        p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        p.add_argument("--plain", action="store_true")
        p.add_argument("--seconds", type=float, default=60.0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--findings", type=Path, default=HERE / "findings")
        p.add_argument("--max-inputs", type=int, default=None)
        p.add_argument("--data", action="store_true", help="write each spec beside an example's data")
        p.add_argument("--formats", type=float, default=0.2, help="share of inputs rendered in every format")
        p.add_argument("--twice", type=float, default=0.0, help="share of inputs checked twice (same JSON)")
        p.add_argument("--markdown", type=float, default=0.05, help="share of inputs wrapped in Markdown")
        p.add_argument("corpus", nargs="*", type=Path, default=[HERE / "corpus"])
        args = p.parse_args(argv[1:])
        stats = plain(args.seconds, args.corpus, args.seed, args.findings, max_inputs=args.max_inputs,
                      data=args.data, formats=args.formats, twice=args.twice, markdown=args.markdown)
        print(f"done: {stats}", flush=True)
        return 1 if stats["new"] else 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris); running the plain-Python fallback for 60 s",
              file=sys.stderr)
        return main([argv[0], "--plain", "--seconds", "60"])
    _atheris_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
