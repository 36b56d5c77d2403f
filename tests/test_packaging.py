"""Packaging: the wheel carries the grammar and the kernel; imports keep their layering."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import EXAMPLES, IN_CI, ROOT


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_parses_the_examples(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("metricsense-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                             timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLES, work / "examples")
    probe = (
        "import metricsense, metricsense.kernels as k, pathlib\n"
        "from importlib import resources\n"
        "assert 'site-packages' in metricsense.__file__, metricsense.__file__\n"
        "assert resources.files('metricsense').joinpath('grammar_data').joinpath('metricsense.lark').is_file()\n"
        "assert k.BACKEND == 'cython', k.BACKEND\n"
        "specs = sorted(pathlib.Path('examples').rglob('*.msense'))\n"
        "assert specs\n"
        "for p in specs: metricsense.load(p)\n"
        "print(len(specs))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "METRICSENSE_PUREPYTHON")}
    result = subprocess.run([str(py), "-c", probe], cwd=work, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    msense = subprocess.run([str(env_dir / "bin" / "msense"), "check", "--exit-zero", "examples"], cwd=work,
                            capture_output=True, text=True, env=env)
    assert msense.returncode == 0, msense.stdout + msense.stderr
    assert "error[MS001]" not in msense.stdout


def test_import_layering_contracts():
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        if IN_CI:
            pytest.fail("import-linter is required in CI")
        pytest.skip("import-linter is not installed")
    result = subprocess.run([linter, str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_start_up_imports_nothing_heavy():
    code = (
        "import sys\n"
        "sys.argv = ['msense', 'rules']\n"
        "from metricsense.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'ipywidgets', 'IPython', 'pandas', 'scipy', 'jupyterlab') if m in sys.modules]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    flags = ["-S"] if sys.flags.no_site else []
    result = subprocess.run([sys.executable, *flags, "-P", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
