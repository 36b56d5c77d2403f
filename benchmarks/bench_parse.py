"""Parse speed and CLI start-up, side by side with the tools a user would otherwise use.

    python -P benchmarks/bench_parse.py [--kpis 10000] [--repeat 3]

Generates a spec of N KPIs (about 11 lines each), writes the same content as TOML and YAML,
and reports lines per second for metricsense (Lark LALR, model built), tomllib and PyYAML's C
loader in one run, as medians and ratios. Then times `msense check` on a spec without data from a
cold start (new process each run) against `python -c pass`, `import lark` and `import numpy`.
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


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cold(cmd: list[str], repeat: int, cwd: str) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kpis", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import yaml

    import metricsense
    from metricsense.syntax import parse_text

    text, data = make_spec(args.kpis)
    n_lines = text.count("\n")
    toml_text = to_toml(data)
    yaml_text = yaml.dump(data, Dumper=yaml.CDumper, sort_keys=False)
    parse_text("lever warm \"up\"\n")  # build (or load) the parser tables first

    results = {
        "metricsense (Lark LALR + model)": median_time(lambda: parse_text(text, "big.msense"), args.repeat),
        "tomllib": median_time(lambda: tomllib.loads(toml_text), args.repeat),
        "PyYAML CLoader": median_time(lambda: yaml.load(yaml_text, Loader=yaml.CLoader), args.repeat),
    }
    doc = parse_text(text, "big.msense")
    assert len([s for s in doc.statements if type(s).__name__ == "KPI"]) == args.kpis
    print(f"Parse: {args.kpis} KPIs, {n_lines} lines of .msense (median of {args.repeat})")
    base = results["metricsense (Lark LALR + model)"]
    for name, secs in results.items():
        print(f"  {name:<34} {secs:7.3f} s  {n_lines / secs:>9,.0f} lines/s  metricsense/this = {base / secs:5.2f}x")
    goal = results["PyYAML CLoader"]
    print(f"  goal: at least as fast as PyYAML's C loader: {'MET' if base <= goal else 'MISSED'} "
          f"({goal / base:.2f}x of its speed)")

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "small.msense"
        spec.write_text(Path(metricsense.__file__).with_name("starter.msense").read_text())
        (Path(tmp) / "msense.toml").write_text("")
        py = sys.executable
        rows = {
            "python -c pass": cold([py, "-c", "pass"], 7, tmp),
            "python -c 'import lark'": cold([py, "-c", "import lark"], 7, tmp),
            "python -c 'import numpy'": cold([py, "-c", "import numpy"], 7, tmp),
            "msense check small.msense": cold([py, "-P", "-m", "metricsense", "check", "small.msense"], 7, tmp),
        }
        print("Cold start (median of 7 new processes)")
        for name, secs in rows.items():
            print(f"  {name:<34} {secs:7.3f} s")
        msense = rows["msense check small.msense"]
        print(f"  goal: msense check without data <= 0.25 s: {'MET' if msense <= 0.25 else 'MISSED'} ({msense:.3f} s)")


if __name__ == "__main__":
    main()
