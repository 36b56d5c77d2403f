"""The explorer on a large KPI system: model build, widget payload and each interaction, in Python.

    python -P benchmarks/bench_explorer.py [--kpis 500] [--repeat 5] [--against OTHER_PYTHON]

The system is bench_scale.py's generated spec (issue 25: each KPI with its own weekly column of
104 periods, a target, two `responds` gains, a `guards` failure, a trigger), with data where the
KPIs come in families (``families``): every tenth family's KPIs are near copies (redundant at
|r| >= 0.90), the others share a weaker common change. The check runs once (``select``: the
correlation and decoupling families, what the explorer reads); then, each the median of REPEAT
runs: building the ExplorerModel, building the Explorer's widgets, the widgets' state as sent to
the page (JSON bytes, the heatmap's own part), the snapshot's bytes, and the Python side of each
interaction: the threshold 0.90 -> 0.60 and back, unticking a KPI, unticking a lever, a click on
a heatmap cell (the full heatmap's, or a block and then a cell of its KPIs) and a search of the
pair list. The browser's side is measured by tests/test_jupyterlab_scale.py
(test-artifacts/explorer-500-latency.json). `--against` runs the same in another checkout's
Python, side by side. Wall clock on a shared machine: read a run as a sample; no test asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scale import generate  # noqa: E402

CACHE = HERE / ".cache" / "explorer"


def families(n: int, folder: Path, seed: int = 25) -> Path:
    """bench_scale's spec of ``n`` KPIs with data in families of 10: family f's KPIs share a common
    weekly change with weight 0.97 when f % 10 == 0 (redundant), else 0.6 (correlated, not
    redundant); levers independent. Reused when present."""
    spec = generate(n, folder)
    marker = folder / "families"
    if marker.exists():
        return spec
    rng = np.random.default_rng(seed)
    t, nl = 104, max(n // 10, 2)
    nf = (n + 9) // 10
    common = rng.standard_normal((nf, t))
    weight = np.array([0.97 if f % 10 == 0 else 0.6 for f in range(nf)])
    fam = np.arange(n) // 10
    steps = weight[fam, None] * common[fam] + np.sqrt(1 - weight[fam, None] ** 2) * rng.standard_normal((n, t))
    values = 50 + np.cumsum(steps, axis=1)
    levers = np.cumsum(rng.standard_normal((nl, t)), axis=1)
    start = dt.date(2024, 1, 1)
    with open(folder / "data.csv", "w") as fh:
        fh.write("period," + ",".join(f"k{i}" for i in range(n)) + "," + ",".join(f"l{j}" for j in range(nl)) + "\n")
        for w in range(t):
            fh.write((start + dt.timedelta(weeks=w)).isoformat() + "," + ",".join(f"{v:.3f}" for v in values[:, w])
                     + "," + ",".join(f"{v:.3f}" for v in levers[:, w]) + "\n")
    marker.write_text("families of 10, seed 25\n")
    return spec


def _median_ms(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def measure(spec: Path, repeat: int) -> dict:
    import metricsense
    from metricsense.widgets.explorer import Explorer, ExplorerModel

    t = time.perf_counter()
    report = metricsense.check(spec, config={"select": ["MS1", "MS2"]})
    out: dict = {"check_s": time.perf_counter() - t}
    out["model_ms"] = _median_ms(lambda: ExplorerModel(report), max(1, repeat // 2))
    model = ExplorerModel(report)
    out["explorer_ms"] = _median_ms(lambda: Explorer(model), max(1, repeat // 2))
    ex = Explorer(model)
    states = [(w, len(json.dumps(w.get_state(), default=str))) for w in _walk(ex)]
    out["widgets"] = len(states)
    out["payload_bytes"] = sum(n for _, n in states)
    view = ex.views["Redundancy"]
    out["heatmap_bytes"] = sum(n for w, n in states if w in (view.picture, getattr(view, "detail", None)))
    out["snapshot_bytes"] = len(ex.snapshot())
    out["clusters"] = len(model.clusters)

    def threshold():
        model.threshold = 0.6
        model.threshold = 0.9
    out["threshold_ms"] = _median_ms(threshold, repeat) / 2
    kpi, lever = model.kpis[1], model.levers[1]

    def untick(trait, name):
        every = list(getattr(model, trait))
        setattr(model, trait, [n for n in every if n != name])
        setattr(model, trait, every)
    out["untick_kpi_ms"] = _median_ms(lambda: untick("kpis_on", kpi), repeat) / 2
    out["untick_lever_ms"] = _median_ms(lambda: untick("levers_on", lever), repeat) / 2
    large = getattr(view, "_blocks", None) is not None

    turn = [0]

    def cell():  # another cell each time (the same pair twice draws nothing)
        turn[0] += 1
        other = f"cell-0-{1 + turn[0] % 2}"
        if large:
            view.picture.selected = other
            view.detail.selected = other
        else:
            view.picture.selected = other
    out["cell_click_ms"] = _median_ms(cell, repeat)
    if large:
        def search():
            view.search.value = "k7"
            view.search.value = ""
        out["search_ms"] = _median_ms(search, repeat) / 2
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kpis", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", help="also measure this Python (another checkout's venv), side by side")
    ap.add_argument("--json", action="store_true", help="print this Python's figures as JSON (used by --against)")
    args = ap.parse_args(argv)
    spec = families(args.kpis, CACHE / str(args.kpis))
    mine = measure(spec, args.repeat)
    if args.json:
        print(json.dumps(mine))
        return 0
    cols = [("here", mine)]
    if args.against:
        done = subprocess.run([args.against, "-P", __file__, "--kpis", str(args.kpis), "--repeat", str(args.repeat),
                               "--json"], capture_output=True, text=True, cwd=HERE.parent)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        cols.insert(0, ("against", json.loads(done.stdout.strip().splitlines()[-1])))
    keys = [k for k in mine if k != "check_s"] + ["check_s"]
    print(f"| {args.kpis} KPIs | " + " | ".join(name for name, _ in cols) + (" | ratio |" if len(cols) == 2 else " |"))
    print("| --- |" + " ---: |" * (len(cols) + (1 if len(cols) == 2 else 0)))
    for k in keys:
        vals = [c.get(k) for _, c in cols]
        cells = [f"{v:,.1f}" if isinstance(v, float) else (f"{v:,}" if v is not None else "") for v in vals]
        ratio = ""
        if len(cols) == 2 and all(isinstance(v, (int, float)) and v for v in vals):
            ratio = f" {vals[0] / vals[1]:.1f}x |"
        print(f"| {k} | " + " | ".join(cells) + (" |" + ratio if len(cols) == 2 else " |"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
