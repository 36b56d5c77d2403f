"""The KPI system picture and the explorer's clicks, timed in Python (the kernel's side of a click).

    python benchmarks/bench_pictures.py [--repeat N]

Per example spec: building the picture's graph, writing it as Mermaid, drawing it as SVG, and
the explorer's two click handlers (a node of the Overview picture: its neighbours and findings;
a correlation heatmap cell: the two KPIs' change series and their chart), each as the median of
N runs, with a generated 300-KPI spec (60 levers, 50 key failures) beside them to show the caps
keep a large system cheap. The browser's side (input event to the frame that shows the result,
through the kernel) is measured by tests/test_jupyterlab_picture.py and written to
test-artifacts/picture-latency.json. Wall clock on a shared machine: read one run as a sample;
no test asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import metricsense
from metricsense.reports import picture
from metricsense.reports.picture_svg import svg

ROOT = Path(__file__).resolve().parent.parent


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _large_spec(folder: Path) -> Path:
    lines = ['mission "Big"'] + [f'lever l{j} "Lever {j}"' for j in range(60)]
    lines += [f'disturbance d{j} "Disturbance {j}"' for j in range(10)]
    lines += [f'failure f{i} "Failure {i}" at {("input", "process", "output", "outcome")[i % 4]}' for i in range(50)]
    for i in range(300):
        gains = ", ".join(f"l{(i + k) % 60} {0.1 + 0.01 * ((i * 7 + k) % 50):+.2f}" for k in range(3))
        lines.append(f'kpi k{i} "KPI {i}" {{\n  guards f{i % 50}\n  responds {gains}\n  disturbed d{i % 10} -0.2\n}}')
    path = folder / "large.msense"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    specs = sorted((ROOT / "examples").glob("*/*.msense"))
    with tempfile.TemporaryDirectory() as tmp:
        specs.append(_large_spec(Path(tmp)))
        print(f"| spec | nodes | edges | graph | Mermaid | SVG | click node | click cell |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for spec in specs:
            report = metricsense.check(spec, config={})
            root = next(iter(report.documents))
            pic = picture.of_report(report, root)
            graph = _median_ms(lambda: picture.of_report(report, root), args.repeat)
            mermaid = _median_ms(lambda: picture.mermaid(pic), args.repeat)
            drawn = _median_ms(lambda: svg(pic), args.repeat)
            node = cell = "n/a"
            try:
                from metricsense.widgets.explorer import explore
            except ImportError:
                explore = None
            if explore is not None:
                ex = explore(report)
                view = ex.views["Overview"]
                keys = [n.key for n in pic.nodes if n.kind == "kpi"][:5] or [pic.nodes[0].key]

                def click_node(keys=keys, view=view):
                    for k in keys:
                        view.picture.selected = k
                    view.picture.selected = ""

                node = f"{_median_ms(click_node, args.repeat) / (len(keys) + 1):.2f} ms"
                red = ex.views["Redundancy"]
                if ex.model.redundancy.get("correlation"):
                    def click_cell(red=red):
                        red.picture.selected = "cell-0-1"
                        red.picture.selected = "cell-1-0"

                    cell = f"{_median_ms(click_cell, args.repeat) / 2:.2f} ms"
            name = spec.name if spec.parent.parent != ROOT / "examples" else f"examples/{spec.parent.name}"
            print(f"| {name} | {len(pic.nodes)} | {len(pic.edges)} | {graph:.2f} ms | {mermaid:.2f} ms | {drawn:.2f} ms "
                  f"| {node} | {cell} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
