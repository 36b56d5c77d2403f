"""The layers of docs/architecture.md, enforced: import-linter's contracts (pyproject.toml) and sizes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# NOTE: the editable install finds the package through an import hook whose search path is not
# a folder; import-linter (grimp) walks folders, so it runs on the source tree with the hook removed.
_UNHOOKED = (
    "import sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'MesonpyMetaFinder']\n"
    f"sys.path.insert(0, {str(ROOT)!r})\n"
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _UNHOOKED + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_the_import_contracts_hold():
    result = _run("from importlinter.cli import lint_imports\nsys.exit(lint_imports(no_cache=True, no_logo=True))")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" KEPT") == 6  # every contract in pyproject.toml ran


def test_no_module_imports_the_package_facade():
    # `import metricsense` inside the package makes every module depend on every other (the facade
    # imports the engine, the explorer and the magic): modules import what they use by its full name.
    result = _run("import grimp\n"
                  "g = grimp.build_graph('metricsense')\n"
                  "print(sorted(g.find_modules_that_directly_import('metricsense')))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_engine_is_small_and_no_module_is_large():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text("utf-8").splitlines())
             for p in (ROOT / "metricsense").rglob("*.py")}
    assert sizes["metricsense/engine.py"] < 400
    assert {name: n for name, n in sizes.items() if n > 700} == {}
