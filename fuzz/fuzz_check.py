"""Fuzz campaign target: `msense check` and `msense fmt` on arbitrary bytes.

Runs under atheris (coverage-guided libFuzzer, from PyPI):

    python fuzz/fuzz_check.py -max_total_time=600 fuzz/corpus

or without atheris, as a plain-Python random-mutation loop over the same corpus:

    python fuzz/fuzz_check.py --plain --seconds 600 [--seed N] [--findings DIR] [fuzz/corpus ...]

Every input is written to a spec file and checked as a user would (`metricsense.check(path)`),
then rendered to JSON, SARIF and HTML, then formatted (`fmt`) when it parses. A *finding* is:
an exception escaping any of these (a Python traceback for the user), a `to_json` that fails (a
NaN or infinity leaking into the report), an MS005 naming a built-in evaluator (an internal
crash the engine caught), an exit code outside 0-3, a formatting that changes the meaning or is
not idempotent, or an input that takes longer than the time bound (a hang).

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
TIME_BOUND = float(os.environ.get("MSENSE_FUZZ_TIME_BOUND", "10"))  # seconds per input

# Signatures (a regular expression over the finding's text) of findings already reported but not
# yet fixed: the campaign counts them and keeps going. Each has a strict-xfail regression test in
# tests/fuzz/. None is open today.
KNOWN: dict[str, str] = {}
# Fixed, no longer skipped: F1 (RecursionError in check and fmt), F2 (NaN in JSON, then a hang on
# 1e-320 gains), F3 (int max str digits), F4 (ENAMETOOLONG), F5 (fmt refused suppressions in a
# statement over lines), F6/F10 (NUL in paths), F7 (no value at all in noise), F8 (NaN in
# distortion), F9 (SVD on overflowing lever changes), F11 (ATTACH), F12 (secrets), F13 (a
# 400-digit lag), F15 (ragged CSV rows).


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
                formats: bool = True) -> dict:
    """Run the whole pipeline on one input; raise Finding on anything a user must never see.

    Returns a small summary (exit code, codes found, whether fmt ran) for statistics.
    """
    import metricsense
    from metricsense.syntax.fmt import FormatError, format_file_text, meaning

    spec = _workdir() / name
    spec.write_bytes(data)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_bound)
    stage = "check"
    try:
        report = metricsense.check(spec, config={})
        stage = "to_json"
        report.to_json()
        if report.exit_code not in (0, 1, 2, 3):
            raise Finding("exit-code", f"exit code {report.exit_code}")
        internal = [d.message for d in report.diagnostics
                    if d.code == "MS005" and "'metricsense." in d.message]
        if internal:
            raise Finding("internal-crash", internal[0])
    except Finding:
        raise
    except _Timeout:
        raise Finding("timeout", f"{stage} took longer than {time_bound:g} s") from None
    except BaseException as exc:  # noqa: BLE001  (everything else is a traceback for the user)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Finding(f"{stage}-raised", _tail(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    summary = {"exit": report.exit_code, "codes": sorted({d.code for d in report.diagnostics}), "fmt": False}
    if formats:
        _render_all(report, time_bound)
    text = _decode(data)
    if text is not None:
        summary["fmt"] = _check_fmt(text, name, time_bound, meaning, format_file_text, FormatError)
    return summary


def _render_all(report, time_bound: float) -> None:
    from metricsense.reports.html import render_html
    from metricsense.reports.sarif import render_sarif

    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_bound)
    try:
        for stage, render in (("sarif", render_sarif), ("html", render_html)):
            try:
                render(report)
            except _Timeout:
                raise Finding("timeout", f"{stage} took longer than {time_bound:g} s") from None
            except Exception as exc:
                raise Finding(f"{stage}-raised", _tail(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _check_fmt(text: str, name: str, time_bound: float, meaning, format_file_text, FormatError) -> bool:
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_bound)
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
        raise Finding("timeout", f"{stage} took longer than {time_bound:g} s") from None
    except Exception as exc:
        raise Finding(f"{stage}-raised", _tail(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- plain-Python mutation -------------------------------------------------------------------

TOKENS = [
    b"mission", b"lever", b"disturbance", b"failure", b"kpi", b"trigger", b"trust", b"include", b"data",
    b"kind", b"focus", b"better", b"unit", b"owner", b"scope", b"target", b"link", b"guards", b"responds",
    b"disturbed", b"review every 1 week", b"lag 2 weeks", b"for 2 periods", b"when", b"ask", b"with team",
    b"managers", b"team", b"scale 1..5", b"gap > 1.0", b"min_group 5", b"at outcome", b"by 2027-06-30",
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
    depth = rng.choice([10, 100, 400, 1000, 3000])
    kind = rng.randrange(6)
    core = {
        0: b"(" * depth + b"a" + b")" * depth,
        1: b"-" * depth + b"a",
        2: b"not " * depth + b"a > 1",
        3: b" + ".join([b"a"] * depth),
        4: b"abs(" * depth + b"a" + b")" * depth,
        5: b"25% of " * depth + b"a",
    }[kind]
    return b'kpi a "A" { target >= 1 }\ntrigger t when ' + core + b" > 1 {\n}\n"


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


def plain(seconds: float, folders: list[Path], seed: int, findings_dir: Path, quiet: bool = False,
          max_inputs: int | None = None) -> dict:
    """Random mutation over the corpus for ``seconds``; new findings saved in ``findings_dir``."""
    rng = random.Random(seed)
    corpus = load_corpus(folders)
    stats = {"inputs": 0, "findings": 0, "known": {}, "new": {}, "seconds": 0.0, "fmt": 0, "exit": {}}
    start = time.monotonic()
    last_report = start
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    while time.monotonic() - start < seconds and (max_inputs is None or stats["inputs"] < max_inputs):
        base = rng.choice(corpus)
        data = mutate(base, rng, corpus) if rng.random() < 0.97 else _nest(rng)
        name = "spec.md" if rng.random() < 0.05 else "spec.msense"
        if name == "spec.md":
            data = b"# doc\n\n```msense\n" + data + b"\n```\n"
        stats["inputs"] += 1
        try:
            summary = check_bytes(data, name=name, formats=rng.random() < 0.2)
            stats["fmt"] += summary["fmt"]
            stats["exit"][summary["exit"]] = stats["exit"].get(summary["exit"], 0) + 1
            if summary["exit"] == 0 and len(corpus) < 5000 and rng.random() < 0.02:
                corpus.append(data)  # grow the pool with inputs that got all the way through
        except Finding as f:
            stats["findings"] += 1
            known = f.known
            if known:
                stats["known"][known] = stats["known"].get(known, 0) + 1
                continue
            sig = f.signature
            if sig not in stats["new"]:
                findings_dir.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha1(data).hexdigest()[:12]
                (findings_dir / f"{f.kind}-{digest}{Path(name).suffix}").write_bytes(data)
                (findings_dir / f"{f.kind}-{digest}.txt").write_text(f"{sig}\n\n{f.message}\n", "utf-8")
                stats["new"][sig] = 0
                if not quiet:
                    print(f"NEW {sig}\n{f.message[:3000]}\n", flush=True)
            stats["new"][sig] += 1
        if not quiet and time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            print(f"[{last_report - start:6.0f}s] {stats['inputs']} inputs, {stats['findings']} findings "
                  f"(known {stats['known']}, new {len(stats['new'])})", flush=True)
    stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


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
        p.add_argument("corpus", nargs="*", type=Path, default=[HERE / "corpus"])
        args = p.parse_args(argv[1:])
        stats = plain(args.seconds, args.corpus, args.seed, args.findings, max_inputs=args.max_inputs)
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
