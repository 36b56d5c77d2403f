"""What the calibration suite measured for each statistical rule, for `msense explain`.

``calibration.json`` beside this module is written by the last full run of the calibration suite
(`make calibrate`, `python -m calibration --json metricsense/calibration.json`): per rule, its
false-positive rate per test on each family of simulated healthy KPI systems (with its Monte
Carlo standard error) and its power at planted effects. `msense explain` states these numbers,
never a textbook property the data at hand may not have.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def measurements() -> dict[str, Any]:
    """The last full calibration run (empty when the file is missing or unreadable)."""
    try:
        text = resources.files("metricsense").joinpath("calibration.json").read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pct(pair) -> str:
    mean, se = pair
    return f"{100 * mean:.1f}% ± {100 * se:.1f}"


def measured(code: str) -> str | None:
    """The `## Measured` section of ``code``'s explanation, or None for a rule not calibrated."""
    data = measurements()
    rule = (data.get("rules") or {}).get(code)
    # NOTE: a rule changed after the full run carries the run of its own slice (`--select`)
    run = (rule or {}).get("run") or data.get("run") or {}
    if not rule or not rule.get("families"):
        return None
    fams = rule["families"]
    stated = run.get("stated_size", 0.05)
    worst = max(fams, key=lambda f: fams[f]["per_test"][0])
    best = min(fams, key=lambda f: fams[f]["per_test"][0])
    over = [f for f, v in fams.items() if not v.get("holds")]
    lines = ["## Measured",
             f"By the calibration suite ({run.get('date', '?')}, {run.get('reps', '?')} simulated healthy KPI systems "
             f"per family: 10 KPIs, 4 levers, two years of weekly data; see calibration/README.md). "
             f"False positives per test, before multiple-testing control, stated size {100 * stated:g}%: "
             f"highest {_pct(fams[worst]['per_test'])} ({worst}), lowest {_pct(fams[best]['per_test'])} ({best}), "
             f"over {len(fams)} families of noise."]
    if over:
        lines.append(f"Above the stated size (more than two standard errors) on: {', '.join(sorted(over))}.")
    else:
        lines.append("Within the stated size on every family.")
    for p in rule.get("power") or []:
        # a run with `--select` controls the false-discovery rate over the selected rules' tests
        # only; an effect measured after the full run (`--add-power`) carries its own run
        took = p.get("run") or rule.get("run") or run
        alone = "--select" in str(took.get("command", ""))
        control = "over this rule's tests alone" if alone else "over the whole system's tests"
        when = f", {took.get('reps', '?')} draws on {took.get('date', '?')}" if p.get("run") else ""
        lines.append(f"Power: {_pct(p['raw'])} of draws with {p['about']} found it on that KPI "
                     f"({_pct(p['bh'])} after the false-discovery-rate control {control}{when}).")
    return "\n".join(lines)
