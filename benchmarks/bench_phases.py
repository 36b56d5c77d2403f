"""CPU seconds per evaluator of one `msense check` (each analysis and rule, reading, the JSON).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -P benchmarks/bench_phases.py SPEC [TOP]

The check's progress callback marks where one evaluator ends and the next starts; the time between
marks is process time (CPU), so other load on the machine counts less than in a wall time. The
time budget is lifted, so no evaluator is left out (MS005). With bench_scale.py's generated specs
(benchmarks/.cache/scale/kN/spec.msense) this is the per-evaluator table of benchmarks/README.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec, top = Path(args[0]), int(args[1]) if len(args) > 1 else 14
    import metricsense
    from metricsense.reports.json import render_json

    marks: list[tuple[str, float]] = []
    last = [time.process_time(), "start (read, parse, data)"]

    def progress(done, total, what):
        now = time.process_time()
        marks.append((last[1], now - last[0]))
        last[:] = [now, what.split(": ", 1)[-1]]

    started = time.process_time()
    report = metricsense.check(spec, config={"time-budget": 1e9}, progress=progress)
    checked = time.process_time()
    marks.append((last[1], checked - last[0]))
    render_json(report)
    rendered = time.process_time()
    total: dict[str, float] = {}
    for name, took in marks:
        total[name] = total.get(name, 0.0) + took
    print(f"check {checked - started:.2f} s CPU, JSON render {rendered - checked:.2f} s")
    for name, took in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {took:7.2f} s  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
