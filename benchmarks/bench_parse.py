"""Parse speed and CLI start-up, side by side with the tools a user would otherwise use.

    python -P benchmarks/bench_parse.py [--kpis 10000] [--repeat 5]

Generates a spec of N KPIs (about 11 lines each), writes the same content as TOML and YAML,
and reports lines per second for metricsense's parse (the compiled parser, model built; and
Lark alone for reference), tomllib and PyYAML's C loader in one run, as medians and ratios; the
candidates take turns repetition by repetition, so load from other processes hits all of them.
Then times `msense check` on a spec without data from a cold start (new process each run)
against `python -c pass`, `import lark` and `import numpy`. Both goals of issue 2 are printed
with PASS/MISS. Start-up is meant to be read from a wheel install: an editable install checks
its build on every import.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path


def make_spec(n: int) -> tuple[str, dict]:
    levers = max(2, n // 10)
    lines = ['mission "Serve customers well" {', '  why "They stay."', "}"]
    data: dict = {"mission": {"text": "Serve customers well", "why": "They stay."}, "lever": [], "kpi": []}
    for j in range(levers):
        lines.append(f'lever l{j} "Lever {j}" owner "team {j % 7}"')
        data["lever"].append({"name": f"l{j}", "label": f"Lever {j}", "owner": f"team {j % 7}"})
    for i in range(n):
        a, b = i % levers, (i * 7 + 3) % levers
        lines += [
            f'kpi k{i} "KPI number {i}" {{',
            "  kind output",
            "  focus results",
            "  better higher",
            '  unit "points"',
            f"  target >= {i % 50 + 0.5} by 2027-06-30",
            f'  link "KPI {i} serves the mission"',
            f'  data "data/kpis.csv" column "k{i}"',
            f"  responds l{a} +0.{i % 9 + 1}, l{b} -0.{(i + 3) % 9 + 1}",
            f'  owner "team {i % 7}"',
            "}",
        ]
        data["kpi"].append({
            "name": f"k{i}", "label": f"KPI number {i}", "kind": "output", "focus": "results",
            "better": "higher", "unit": "points",
            "target": {"cmp": ">=", "value": i % 50 + 0.5, "by": "2027-06-30"},
            "link": f"KPI {i} serves the mission", "data": {"path": "data/kpis.csv", "column": f"k{i}"},
            "responds": {f"l{a}": float(f"0.{i % 9 + 1}"), f"l{b}": -float(f"0.{(i + 3) % 9 + 1}")},
            "owner": f"team {i % 7}",
        })
    return "\n".join(lines) + "\n", data


def to_toml(data: dict) -> str:
    out = [f'[mission]\ntext = "{data["mission"]["text"]}"\nwhy = "{data["mission"]["why"]}"\n']
    for lv in data["lever"]:
        out.append(f'[[lever]]\nname = "{lv["name"]}"\nlabel = "{lv["label"]}"\nowner = "{lv["owner"]}"\n')
    for k in data["kpi"]:
        t = k["target"]
        resp = ", ".join(f"{n} = {v}" for n, v in k["responds"].items())
        out.append(
            f'[[kpi]]\nname = "{k["name"]}"\nlabel = "{k["label"]}"\nkind = "{k["kind"]}"\nfocus = "{k["focus"]}"\n'
            f'better = "{k["better"]}"\nunit = "{k["unit"]}"\n'
            f'target = {{ cmp = ">=", value = {t["value"]}, by = 2027-06-30 }}\nlink = "{k["link"]}"\n'
            f'data = {{ path = "data/kpis.csv", column = "{k["name"]}" }}\nresponds = {{ {resp} }}\n'
            f'owner = "{k["owner"]}"\n'
        )
    return "\n".join(out)


def median_times(fns: dict, repeat: int) -> dict[str, float]:
    """Median seconds of each function, the functions taking turns in every repetition."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def cold(cmds: dict[str, list[str]], repeat: int, cwd: str) -> dict[str, float]:
    """Median wall time of each command in new processes, the commands taking turns."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kpis", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--starts", type=int, default=9, help="new processes per start-up figure")
    args = ap.parse_args()

    import yaml

    import metricsense
    from metricsense.syntax import compiled, parse_text
    from metricsense.syntax.parser import parse_text_with_lark

    text, data = make_spec(args.kpis)
    n_lines = text.count("\n")
    toml_text = to_toml(data)
    yaml_text = yaml.dump(data, Dumper=yaml.CDumper, sort_keys=False)
    parse_text("lever warm \"up\"\n")  # build (or load) the parser tables first
    parse_text_with_lark("lever warm \"up\"\n")
    if not compiled.available():
        print("NOTE: the compiled parser is not available (METRICSENSE_PUREPYTHON=1, or metricsense._lalr "
              "is not built): parse_text is Lark alone")
    else:
        from metricsense.syntax.transformer import ModelBuilder

        compiled.parse(text, ModelBuilder())  # raises if the compiled parser would hand this text to Lark

    ours = "metricsense (compiled LALR + model)"
    results = median_times({
        ours: lambda: parse_text(text, "big.msense"),
        "metricsense, Lark alone": lambda: parse_text_with_lark(text, "big.msense"),
        "tomllib": lambda: tomllib.loads(toml_text),
        "PyYAML CLoader": lambda: yaml.load(yaml_text, Loader=yaml.CLoader),
    }, args.repeat)
    doc = parse_text(text, "big.msense")
    assert len([s for s in doc.statements if type(s).__name__ == "KPI"]) == args.kpis
    print(f"Parse: {args.kpis} KPIs, {n_lines} lines of .msense (median of {args.repeat})")
    base = results[ours]
    for name, secs in results.items():
        print(f"  {name:<36} {secs:7.3f} s  {n_lines / secs:>9,.0f} lines/s  time vs ours {secs / base:5.2f}x")
    goal = results["PyYAML CLoader"]
    print(f"  goal: at least as fast as PyYAML's C loader: {'PASS' if base <= goal else 'MISS'} "
          f"({goal / base:.2f}x its speed)")

    with tempfile.TemporaryDirectory() as tmp:
        starter = Path(metricsense.__file__).with_name("starter.msense").read_text()
        # No data and no gains: the decoupling analysis of `responds` gains needs NumPy.
        (Path(tmp) / "small.msense").write_text(
            "\n".join(line for line in starter.splitlines() if "responds" not in line) + "\n")
        (Path(tmp) / "gains.msense").write_text(starter)
        (Path(tmp) / "msense.toml").write_text("")
        py = sys.executable
        check = [py, "-P", "-m", "metricsense", "check"]
        rows = cold({
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import lark'": [py, "-c", "import lark"],
            "python -c 'import numpy'": [py, "-c", "import numpy"],
            "msense check small.msense": check + ["small.msense"],
            "msense check gains.msense": check + ["gains.msense"],
        }, args.starts, tmp)
        print(f"Cold start (median of {args.starts} new processes; small = the starter without its gains, "
              "gains = the starter)")
        for name, secs in rows.items():
            print(f"  {name:<36} {secs:7.3f} s")
        msense = rows["msense check small.msense"]
        print(f"  goal: msense check without data <= 0.25 s: {'PASS' if msense <= 0.25 else 'MISS'} ({msense:.3f} s)")


if __name__ == "__main__":
    main()
