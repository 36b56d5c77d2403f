"""Time from `didChange` to the diagnostics `msense lsp` publishes for that version.

    python -P benchmarks/bench_lsp.py [--repeat 15] [--kpis 2000]

Starts `msense lsp` on stdio (pygls's client), opens each spec of examples/ and a generated spec
of N KPIs (bench_parse.make_spec, without data lines), waits until the open has settled (the
data pass included), then sends edits one at a time (a comment line toggled at the end, so the
findings stay the same) and times each until the publication for its version arrives. Reported:
median and 90th percentile, with the server's default pause (debounce) and with none
(`initializationOptions: {"debounce": 0}`: the check's own time plus the round trip). The goal of
issue 22: structural diagnostics on the examples in under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


async def run_case(path: Path, text: str, repeat: int, debounce: float | None) -> list[float]:
    client = LanguageClient("bench", "1")
    arrived: dict[int, float] = {}
    wanted: dict[int, asyncio.Event] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams):
        if params.version is not None and params.version not in arrived:
            arrived[params.version] = time.perf_counter()
            if params.version in wanted:
                wanted[params.version].set()

    await client.start_io(sys.executable, "-P", "-m", "metricsense", "lsp")
    opts = {} if debounce is None else {"debounce": debounce}
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities(),
                                                         initialization_options=opts))
    client.initialized(types.InitializedParams())
    uri = path.resolve().as_uri()
    wanted[1] = asyncio.Event()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="msense", version=1, text=text)))
    await asyncio.wait_for(wanted[1].wait(), 120)
    await asyncio.sleep(1.0)  # let the data pass of the open finish: typing is what is timed
    times = []
    for i in range(repeat):
        version = i + 2
        wanted[version] = asyncio.Event()
        edited = text + ("# edit\n" if i % 2 == 0 else "")
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [types.TextDocumentContentChangeWholeDocument(text=edited)]))
        await asyncio.wait_for(wanted[version].wait(), 120)
        times.append(arrived[version] - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--kpis", type=int, default=2000)
    args = parser.parse_args()
    from bench_parse import make_spec

    cases = [(p, p.read_text("utf-8")) for p in sorted((ROOT / "examples").rglob("*.msense"))
             if "teams" not in p.parts]
    tmp = Path(tempfile.mkdtemp())
    big = tmp / f"kpis-{args.kpis}.msense"
    text = "".join(line + "\n" for line in make_spec(args.kpis)[0].splitlines() if "data " not in line)
    big.write_text(text, "utf-8")
    cases.append((big, text))
    print("| spec | lines | debounce 0: median | p90 | default debounce: median | p90 | goal |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for path, body in cases:
        bare = summary(asyncio.run(run_case(path, body, args.repeat, 0.0)))
        default = summary(asyncio.run(run_case(path, body, args.repeat, None)))
        example = path.is_relative_to(ROOT / "examples")
        goal = ("PASS" if default[0] < 100 else "MISS") if example else ""
        name = path.relative_to(ROOT).as_posix() if example else f"generated, {args.kpis} KPIs"
        print(f"| {name} | {body.count(chr(10))} | {bare[0]:.0f} ms | {bare[1]:.0f} ms | "
              f"{default[0]:.0f} ms | {default[1]:.0f} ms | {goal} |", flush=True)


if __name__ == "__main__":
    main()
