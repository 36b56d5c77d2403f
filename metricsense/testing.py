"""The case runner metricsense uses for its own rules, for plugin authors too.

A case is a spec whose offending lines carry a marker comment naming the codes expected there:

    kpi lead_time "Lead time" {   # [MS013]

``run_case(path, code)`` checks the spec and compares, for ``code``, the lines diagnostics
point at with the lines that carry the marker. ``assert_case`` also compares the spec's
snapshot, when it has one, with the rendered text output for that code (ruff's and insta's
snapshots: a changed message shows in review). The snapshot of ``fail.msense`` is
``fail.expected.txt`` beside it; a folder's plain ``expected.txt`` is the snapshot of a spec
that has no snapshot of its own (one spec a folder: ``model.msense`` and ``expected.txt``).
The output is rendered from the spec's folder, so the paths in it are the spec's file name,
never absolute. A passing case needs no snapshot: its markers already say that nothing is
reported for the code. With ``METRICSENSE_UPDATE_SNAPSHOTS=1`` in the environment,
``assert_case`` writes the snapshot instead of comparing it: the snapshot a spec has, or
``<stem>.expected.txt`` for a case with markers; review the difference before committing.
A folder of cases per code (``cases/MS013/fail.msense``, ``cases/MS013/pass.msense``) becomes
pytest parameters with ``collect_cases``. A ``<stem>.toml`` beside a case (``fail_ratio.toml`` for ``fail_ratio.msense``)
is its configuration, shaped like ``msense.toml`` (``[rules.MS019] ratio = 2.0``); data files
are named by the spec itself (``data "kpis.csv"``, relative to the spec).

A plugin's own tests run its rules without installing it: ``with_plugins(serve=my_module)`` is a
plugin manager with the built-in plugins and ``my_module``, to pass as ``plugin_manager=``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Set to 1 to write the snapshots instead of comparing them.
UPDATE_SNAPSHOTS = "METRICSENSE_UPDATE_SNAPSHOTS"

_MARKER = re.compile(r"#\s*\[([A-Z]{2,4}[0-9]{3}(?:\s*,\s*[A-Z]{2,4}[0-9]{3})*)\]")


@dataclass(frozen=True)
class CaseResult:
    code: str
    expected: list[int]
    found: list[int]
    report: Any

    @property
    def ok(self) -> bool:
        return self.expected == self.found

    def explain(self) -> str:
        lines = [f"{self.code}: expected on lines {self.expected}, reported on lines {self.found}"]
        for d in self.report.diagnostics:
            lines.append(f"  {d.code} {d.span}: {d.message}")
        return "\n".join(lines)


def markers(text: str) -> dict[str, list[int]]:
    """Code -> sorted line numbers carrying a `# [CODE]` marker (Markdown fences included)."""
    out: dict[str, list[int]] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        for match in _MARKER.finditer(line):
            for code in match.group(1).split(","):
                out.setdefault(code.strip(), []).append(lineno)
    return {k: sorted(v) for k, v in out.items()}


def run_case(path: str | Path, code: str, *, data: Any = None, config: Any = None, plugin_manager=None) -> CaseResult:
    """Check the case spec and compare the lines reported for ``code`` with its markers."""
    from metricsense.engine import check

    path = Path(path)
    expected = markers(path.read_text("utf-8")).get(code, [])
    report = check(path, data=data, config=config or case_config(path), plugin_manager=plugin_manager)
    found = sorted(d.span.line for d in report.diagnostics if d.code == code and Path(d.span.file).name == path.name)
    return CaseResult(code, expected, found, report)


def case_config(path: str | Path) -> Path | dict:
    """The case's own configuration file (``<stem>.toml`` beside it), or no configuration at all.

    NOTE: never the nearest msense.toml or pyproject.toml: a case must not depend on where the
    repository keeps its own configuration.
    """
    toml = Path(path).with_name(Path(path).stem + ".toml")
    return toml if toml.is_file() else {}


def with_plugins(*modules: Any, **named: Any):
    """A plugin manager with the built-in plugins and the given plugin modules, no entry points.

    ``with_plugins(my_plugin)`` registers the module under its ``__name__``;
    ``with_plugins(serve=my_plugin)`` under the name its entry point will have.
    """
    from metricsense.plugins import get_plugin_manager

    pm, problems = get_plugin_manager(entrypoints=False)
    assert not problems, problems
    for module in modules:
        pm.register(module, name=module.__name__)
    for name, module in named.items():
        pm.register(module, name=name)
    return pm


def rendered(report, code: str) -> str:
    """The text output restricted to one code, as compared with a case's expected.txt."""
    from dataclasses import replace

    from metricsense.reports.text import render_text

    only = replace(report, diagnostics=[d for d in report.diagnostics if d.code == code])
    return render_text(only)


def collect_cases(root: str | Path) -> list[tuple[str, Path]]:
    """(code, spec path) for every spec below ``root/<CODE>/``: the parameters of a case test."""
    root = Path(root)
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for spec in sorted(folder.glob("*.msense")) + sorted(folder.glob("*.md")):
            cases.append((folder.name, spec))
    return cases


def snapshot_file(path: str | Path) -> Path | None:
    """The spec's snapshot: ``<stem>.expected.txt`` beside it, else the folder's ``expected.txt``."""
    path = Path(path)
    own = path.with_name(path.stem + ".expected.txt")
    if own.is_file():
        return own
    shared = path.with_name("expected.txt")
    return shared if shared.is_file() else None


def assert_case(path: str | Path, code: str, **kwargs: Any) -> CaseResult:
    """pytest helper: run the case, fail with the diagnostics when the markers or the snapshot disagree."""
    result = run_case(path, code, **kwargs)
    assert result.ok, result.explain()
    # A case that cannot be read, crashed a plugin or has a bad config checks nothing: any finding of a
    # rule that is never switched off (syntax, include, crash, config) other than the case's own.
    rules = result.report.registry.rules if result.report.registry else {}
    unexpected = [d for d in result.report.diagnostics
                  if d.code != code and d.code in rules and rules[d.code].always]
    assert not unexpected, "the case itself is broken:\n" + result.explain()
    path = Path(path)
    snapshot = snapshot_file(path)
    update = os.environ.get(UPDATE_SNAPSHOTS, "") not in ("", "0")
    if snapshot is None and update and result.expected:
        snapshot = path.with_name(path.stem + ".expected.txt")
    if snapshot is None:
        return result
    here = os.getcwd()
    try:
        os.chdir(path.parent)  # the paths in the output are the spec's name, wherever the tests run
        text = rendered(metricsense_check_here(path.name, kwargs), code)
    finally:
        os.chdir(here)
    if update:
        if not snapshot.is_file() or snapshot.read_text("utf-8") != text:
            snapshot.write_text(text, "utf-8")
    else:
        assert text == snapshot.read_text("utf-8"), f"rendered output differs from {snapshot.name}:\n{text}"
    return result


def metricsense_check_here(name: str, kwargs: dict) -> Any:
    """Check the spec ``name`` in the current folder as ``run_case`` does."""
    from metricsense.engine import check

    return check(name, data=kwargs.get("data"), config=kwargs.get("config") or case_config(name),
                             plugin_manager=kwargs.get("plugin_manager"))
