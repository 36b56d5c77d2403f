"""Peak memory per evaluator of one check, then each report format's CPU time and size.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -P benchmarks/bench_reports.py SPEC [--formats json html ...]

The check runs in this process with the time budget lifted (nothing left out, MS005); after each
evaluator the process's peak and resident memory (VmHWM, VmRSS) and the evaluator's CPU seconds
are printed. Then the report is written in each format (`--analysis` from `--analysis`), timed
in CPU seconds, with its size. With bench_scale.py's generated specs
(benchmarks/.cache/scale/kN/spec.msense) these are the memory and report-writing figures of
benchmarks/README.md; run it with another checkout's Python for its side.
"""

from __future__ import annotations

import argparse
import time


def memory() -> tuple[int, int]:
    """(peak, resident) of this process in MiB."""
    found = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM:", "VmRSS:")):
                found[line.split(":")[0]] = int(line.split()[1]) // 1024
    return found.get("VmHWM", 0), found.get("VmRSS", 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--formats", nargs="*", default=["json", "html", "markdown", "sarif"])
    ap.add_argument("--analysis", choices=["compact", "full"], default="compact")
    args = ap.parse_args(argv)
    import metricsense
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    last = [time.process_time(), "reading, parsing, the data"]

    def progress(done, total, what):
        now = time.process_time()
        peak, rss = memory()
        if now - last[0] >= 0.05 or done == total:
            print(f"{now - last[0]:8.2f} s CPU  peak {peak:7,} MiB  resident {rss:7,} MiB  {last[1]}", flush=True)
        last[:] = [now, what.split(": ", 1)[-1]]

    started = time.process_time()
    report = metricsense.check(args.spec, config={"time-budget": 1e9, "analysis": args.analysis}, progress=progress)
    progress(1, 1, "")
    peak, rss = memory()
    print(f"check {time.process_time() - started:.1f} s CPU, peak {peak:,} MiB, {len(report.diagnostics):,} findings")
    formats = build_registry(get_plugin_manager()[0]).formats
    for name in args.formats:
        render = formats[name][0]
        began = time.process_time()
        text = render(report, {"color": False})
        took = time.process_time() - began
        peak, rss = memory()
        print(f"{name:9} {len(text.encode('utf-8')) / 1e6:9.1f} MB  {took:7.2f} s CPU  peak {peak:7,} MiB", flush=True)
        del text
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
