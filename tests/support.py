"""Helpers shared by the tests (imported as `support`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import metricsense
from metricsense.diagnostics import Severity

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_PASSWORD = "not-a-real-secret-5150"
#: The smallest spec a plugin rule can act on: one lever, one KPI named csat.
PLUGIN_SPEC = 'mission "M"\nlever deploys "D"\nkpi csat "C" { responds deploys +1 }\n'

# A run without site (a developer's source-tree run) passes that on to the subprocess.
_FLAGS = ["-S"] if sys.flags.no_site else []


def require(module: str):
    """Import ``module``; skip without it locally, fail without it in CI."""
    try:
        return __import__(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{module} is required in CI but is not installed")
        pytest.skip(f"{module} is not installed")


def run_msense(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `msense` as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, *_FLAGS, "-P", "-m", "metricsense", *args],
        cwd=cwd or ROOT, capture_output=True, text=True, env=full_env, timeout=120,
    )


def manager_with(*plugins):
    """A plugin manager with the built-in plugins and ``plugins``, named test-plugin-0, 1, ..."""
    from metricsense.plugins import get_plugin_manager

    pm, problems = get_plugin_manager(entrypoints=False)
    assert not problems
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"test-plugin-{i}")
    return pm


def fake_distribution(folder: Path, dist: str, entry: str, source: str) -> Path:
    """A module and a dist-info declaring it under the `metricsense` entry point group."""
    folder.mkdir(parents=True, exist_ok=True)
    module = dist.replace("-", "_")
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[metricsense]\n{entry} = {module}\n")
    return folder


def plugin_module(name, **hooks):
    """A module named ``name`` holding the given hook implementations."""
    import types

    mod = types.ModuleType(name)
    for key, value in hooks.items():
        setattr(mod, key, value)
    return mod


@metricsense.rule(code="XYZ001", name="kpi-named-csat", severity=Severity.INFO)
def kpi_named_csat(ctx):
    """A KPI is called csat.

    ## Why is this bad?
    It is not; this rule exists to test the plugin door (seed 002).
    ## Example
    ## What to do instead
    """
    for kpi in ctx.spec.kpis:
        if kpi.name == "csat":
            yield ctx.report(kpi, "a KPI named csat", evidence={"n": 1})


# ---- a survey with groups that must stay hidden (test_confidentiality, the explorer) -------------

GROUPS = {
    # group: (manager id, the manager's own answer, the team's answers)
    "grp-quokka": ("mgr-zx81", 5, [1, 1, 2]),            # 3 < 5: suppressed
    "grp-wombat": ("mgr-qv42", 5, [1, 2, 1]),            # 3 < 5: suppressed
    "grp-otter": ("mgr-aa11", 4, [4, 4, 4, 5, 3, 4, 4, 4]),
    "grp-badger": ("mgr-bb22", 5, [3, 3, 2, 3, 3, 3, 3, 3, 3]),  # gap 2.11: MS501, shown
}
HIDDEN = ("grp-quokka", "grp-wombat")
# Both hidden groups have a team mean of 1.333... and a gap of 3.666...; their counts are 3 (and 6
# together, which is not published either: no total beside a hidden group).
FORBIDDEN = ["grp-quokka", "mgr-zx81", "grp-wombat", "mgr-qv42", "quokka", "wombat", "zx81", "qv42",
             "1.33", "1.333", "3.67", "3.666", "3.667", "n=3", "n=6", '"n": 3', '"n": 6', "n: 3", "n: 6"]


# ---- colours, for the layout tests in the browser -------------------------------------------------


def _rgba(css: str) -> tuple[float, ...]:
    inside = css[css.index("(") + 1: css.index(")")].replace("/", ",")
    v = [float(x) for x in inside.replace(" ", ",").split(",") if x]
    return tuple(v[:3]) + (v[3] if len(v) > 3 else 1.0,)


def contrast(text: str, background: str) -> float:
    """WCAG 2 contrast ratio of a CSS text colour (its alpha blended over the background) and the background."""
    *bg, _ = _rgba(background)
    *fg, a = _rgba(text)
    fg = [a * f + (1 - a) * b for f, b in zip(fg, bg)]

    def lum(c):
        ch = [v / 255 for v in c]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def weekly_trigger_check(folder, x, trigger: str, rules=("MS302",)):
    """`metricsense.check` of one weekly KPI `x` (values ``x`` from 2025-01-06) with one trigger
    `up when TRIGGER`, written into ``folder``; only ``rules`` run."""
    import datetime as dt

    import metricsense

    start = dt.date(2025, 1, 6)
    (folder / "d.csv").write_text("period,x\n" + "".join(
        f"{start + dt.timedelta(weeks=i)},{v:.5f}\n" for i, v in enumerate(x)))
    (folder / "s.msense").write_text(
        'mission "m" { why "w" owner "o" }\ndata "d.csv"\nkpi x "X" {\n  better higher\n}\n'
        f'trigger up when {trigger} {{\n  ask "why?"\n}}\n')
    return metricsense.check(str(folder / "s.msense"), config={"select": list(rules)})


def gain_number(view, kind: str) -> str:
    """The ``condition``, ``rank`` or ``pairing`` part of a Decoupling view's numbers box (HTML)."""
    import re

    found = re.search(rf'<div class="msense-{kind}">(.*?)</div>(?=<div class="msense-|$)', view.numbers.value, re.S)
    assert found, (kind, view.numbers.value)
    return found.group(1)


def coarse_clock(monkeypatch, suffix: str) -> None:
    """``os.stat`` of files ending in ``suffix`` with times in whole seconds (vfat, sshfs: ctime
    as mtime), then wait for the start of a second: two writes next in a test share their times."""
    import time

    real = os.stat

    class Coarse:
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return getattr(self._st, name)

        st_mtime_ns = property(lambda self: self._st.st_mtime_ns // 10**9 * 10**9)
        st_ctime_ns = st_mtime_ns

    monkeypatch.setattr(os, "stat", lambda p, *a, **k: Coarse(real(p, *a, **k)) if str(p).endswith(suffix)
                        else real(p, *a, **k))
    while time.time() % 1 > 0.3:
        time.sleep(0.02)


#: A survey's header, and answers of a large group `big` and a group `tiny` below any min_group
SURVEY_HEADER = ["round", "group", "manager_id", "role", "question", "score"]
SURVEY_ANSWERS = [("big", s) for s in (4, 4, 3, 5, 2, 4)] + [("tiny", 1), ("tiny", 5)]


def edit_zip(path, member: str, fn) -> None:
    """Rewrite the members of a zip (a workbook) whose names match the pattern ``member`` through
    ``fn`` (bytes -> bytes): a part damaged the way a writer or a transfer damages it."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in items:
            z.writestr(info, fn(data) if re.search(member, info.filename) else data)
