"""A KPI system with scattered gaps: the distortion analysis when every output-outcome pair has its
own periods (MS402's spans), CPU seconds of one thread.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -P benchmarks/bench_gaps.py [--kpis 300] [--blank 0.2]

The spec is bench_scale.generate's (seeded by the number of KPIs) with a share of the KPIs' values
blanked at random (seeded), in benchmarks/.cache/scale/kN_gapsP/. With a fifth of the values blank
each pair's periods differ, so each pair is a span of its own with its own layout (81 error
models factored): 746 spans at 300 KPIs. Prints the analysis's CPU seconds and the spans.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import CACHE, generate  # noqa: E402


def gappy(n: int, blank: float) -> Path:
    """The spec of ``n`` KPIs with ``blank`` of their values left empty (made once, then reused)."""
    folder = CACHE / f"k{n}_gaps{round(blank * 100)}"
    spec = folder / "spec.msense"
    if spec.exists():
        return spec
    generate(n, folder)
    rng = np.random.default_rng(7)
    head, *rows = (folder / "data.csv").read_text().splitlines()
    cells = [row.split(",") for row in rows]
    for row in cells:
        for c in range(1, n + 1):  # the KPI columns (the levers after them keep every value)
            if rng.random() < blank:
                row[c] = ""
    (folder / "data.csv").write_text(head + "\n" + "\n".join(",".join(row) for row in cells) + "\n")
    return spec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kpis", type=int, default=300)
    ap.add_argument("--blank", type=float, default=0.2)
    args = ap.parse_args(argv)
    spec = gappy(args.kpis, args.blank)
    from metricsense.evaluators import distortion
    from metricsense.loader import load_path
    from metricsense.pipeline import load_data
    from metricsense.plugins import get_plugin_manager
    from metricsense.registry import build_registry

    doc = load_path(spec).document
    data, _ = load_data(doc, None, build_registry(get_plugin_manager()[0]), [])
    spans = []
    run = distortion._Steps.run

    def counted(self):
        spans.append(len(self.spans))
        return run(self)

    distortion._Steps.run = counted
    started = time.process_time()
    distortion.distortion_of(doc, data)
    print(f"{spec}: distortion analysis {time.process_time() - started:.2f} s CPU, {sum(spans)} spans")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
