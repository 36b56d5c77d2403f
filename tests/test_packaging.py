"""Packaging: the wheel carries the grammar and the kernel; imports keep their layering."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from support import EXAMPLES, IN_CI, ROOT


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_parses_the_examples(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (raw,) = dist.glob("metricsense-*.whl")
    # the release wheel (make wheel): auditwheel makes it manylinux, vendoring the OpenMP runtime
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    repair = subprocess.run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", str(tmp_path / "wheel"),
                             str(raw)], capture_output=True, text=True, timeout=600, env=env)
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("metricsense-*.whl")
    assert "-manylinux_" in wheel.name and "linux_x86_64" not in wheel.name.replace("manylinux_", ""), wheel.name
    assert any(n.startswith("metricsense.libs/libgomp") for n in zipfile.ZipFile(wheel).namelist())
    _assert_has_labextension(wheel)
    # nbconvert's base template conf naming the explorer's snapshot preprocessor (every template merges it)
    assert NBCONVERT_CONF_IN_WHEEL in zipfile.ZipFile(wheel).namelist()
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
        "import metricsense._lalr\n"
        "from metricsense.syntax import compiled\n"
        "assert compiled.available()\n"
        "specs = sorted(pathlib.Path('examples').rglob('*.msense'))\n"
        "assert specs\n"
        "for p in specs: metricsense.load(p)\n"
        "from metricsense.syntax.transformer import ModelBuilder\n"
        "for p in specs: compiled.parse(p.read_text(), ModelBuilder())\n"
        "print(len(specs))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "METRICSENSE_PUREPYTHON")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the throwaway venv's parser tables go with it
    result = subprocess.run([str(py), "-c", probe], cwd=work, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    msense = subprocess.run([str(env_dir / "bin" / "msense"), "check", "--exit-zero", "examples"], cwd=work,
                            capture_output=True, text=True, env=env)
    assert msense.returncode == 0, msense.stdout + msense.stderr
    assert "error[MS001]" not in msense.stdout


LABEXT_IN_WHEEL = "metricsense-0.1.0.data/data/share/jupyter/labextensions/metricsense/"
NBCONVERT_CONF_IN_WHEEL = "metricsense-0.1.0.data/data/share/jupyter/nbconvert/templates/base/conf.json"


def _labextension_built() -> bool:
    """Whether jupyterlab/labextension is built (`make labextension`); CI must have built it."""
    if (ROOT / "jupyterlab" / "labextension" / "package.json").is_file():
        return True
    if IN_CI:
        pytest.fail("the JupyterLab extension is not built (make labextension)")
    return False


def _assert_has_labextension(wheel: Path) -> None:
    """The wheel installs the prebuilt extension where JupyterLab looks: <prefix>/share/jupyter/labextensions."""
    import zipfile

    if not _labextension_built():
        return
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("package.json", "install.json"):
        assert LABEXT_IN_WHEEL + name in names, sorted(n for n in names if ".data/" in n)
    assert any(n.startswith(LABEXT_IN_WHEEL + "static/remoteEntry.") for n in names)


@pytest.mark.slow
def test_the_sdist_carries_the_extension_sources_and_its_build(tmp_path):
    """`pip install` of the sdist needs no Node: the built extension is in it (jupyterlab/dist.py)."""
    import tarfile

    if not _labextension_built():
        pytest.skip("the JupyterLab extension is not built (make labextension)")
    build = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (sdist,) = tmp_path.glob("metricsense-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for name in ("jupyterlab/package.json", "jupyterlab/package-lock.json", "jupyterlab/src/index.ts",
                 "jupyterlab/src/language.ts", "jupyterlab/labextension/package.json",
                 "jupyterlab/labextension/install.json", "metricsense/lsp/jupyter.py"):
        assert name in names, name
    assert not any(n.startswith("jupyterlab/node_modules") for n in names)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    import ast

    tree = ast.parse(path.read_text("utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_import_layering_contracts():
    """The layers of house-style section 1, checked on the source: model, span and diagnostics
    are leaves; Lark and the compiled parser stay inside metricsense.syntax; the core never
    imports the CLI."""
    files = {_module(p): _imports(p) for p in (ROOT / "metricsense").rglob("*.py")}
    assert len(files) > 20
    leaves = {"metricsense.span": set(), "metricsense.model": {"metricsense.span"},
              "metricsense.diagnostics": {"metricsense.span"}}
    for module, allowed in leaves.items():
        internal = {m for m in files[module] if m.startswith("metricsense") and m != "metricsense"}
        assert {m for m in internal if not any(m == a or m.startswith(a + ".") for a in allowed)} == set(), module
    for module, imported in files.items():
        uses_lark = {m for m in imported if m == "lark" or m.startswith("lark.") or m.startswith("lark_")}
        if not module.startswith("metricsense.syntax"):
            assert not uses_lark, f"{module} imports {uses_lark}: Lark belongs in metricsense.syntax"
            # The compiled parser runs on Lark's tables: it is part of the syntax layer too.
            assert "metricsense._lalr" not in imported, f"{module} imports the compiled parser"
        if module not in ("metricsense.cli", "metricsense.__main__"):
            assert not {m for m in imported if m.startswith("metricsense.cli")}, f"{module} imports the CLI"


def test_cli_start_up_imports_nothing_heavy():
    code = (
        "import sys\n"
        "sys.argv = ['msense', 'rules']\n"
        "from metricsense.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'ipywidgets', 'IPython', 'pandas', 'scipy', 'jupyterlab', 'pygls', 'lsprotocol')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    flags = ["-S"] if sys.flags.no_site else []
    result = subprocess.run([sys.executable, *flags, "-P", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checking_a_spec_without_data_imports_neither_lark_nor_numpy(tmp_path):
    """The start-up goal's path: a valid spec without data or gains is parsed by the compiled
    parser (no Lark) and checked without NumPy."""
    from metricsense.syntax import compiled, parse_text

    if not compiled.available():
        pytest.skip("metricsense._lalr is not built")
    parse_text("lever warm\n")  # the compiled parser's tables are cached by now
    starter = (ROOT / "metricsense" / "starter.msense").read_text("utf-8")
    spec = tmp_path / "small.msense"
    spec.write_text("\n".join(line for line in starter.splitlines() if "responds" not in line) + "\n")
    (tmp_path / "msense.toml").write_text("")
    code = (
        "import sys\n"
        "sys.argv = ['msense', 'check', 'small.msense']\n"
        "from metricsense.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "heavy = sorted(m for m in ('lark', 'numpy', 'pyarrow', 'ipywidgets', 'IPython') if m in sys.modules)\n"
        "print(code, heavy, file=sys.stderr)\n"
        "assert code == 1 and not heavy, (code, heavy)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "METRICSENSE_PUREPYTHON"}
    result = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "MS017" in result.stdout  # it did check: the levers no KPI responds to


def test_a_kernel_can_have_the_widgets_without_jupyterlab():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]
    widgets = " ".join(extras["widgets"])
    assert "ipywidgets" in widgets and "ipython" in widgets and "jupyterlab" not in widgets
    assert set(extras["widgets"]) < set(extras["jupyter"]) and any(d.startswith("jupyterlab") for d in extras["jupyter"])


def test_the_package_carries_its_license_types_and_links():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == "MIT" and "MIT License" in (ROOT / "LICENSE").read_text("utf-8")
    assert project["license-files"] == ["LICENSE"] and (ROOT / "metricsense" / "py.typed").is_file()
    assert "Typing :: Typed" in project["classifiers"] and {"Homepage", "Changelog"} <= set(project["urls"])
    assert (ROOT / "CHANGELOG.md").is_file()


def test_the_version_is_the_same_in_every_place_a_release_sets_it():
    import re
    import tomllib

    from metricsense.version import __version__

    meson = re.search(r"version:\s*'([^']+)'", (ROOT / "meson.build").read_text()).group(1)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert meson == project == __version__
    assert LABEXT_IN_WHEEL.startswith(f"metricsense-{__version__}.data/")


def test_make_wheel_leaves_only_this_builds_artefacts_in_dist():
    # docs/releasing.md uploads `dist/*`: an earlier version's files, or an unrepaired
    # linux_x86_64 wheel from a plain `python -m build`, were left there and uploaded with them
    lines = (ROOT / "Makefile").read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("wheel:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    first = recipe[0].split()
    assert first[:2] == ["rm", "-rf"] and "dist/metricsense-*" in first, recipe[0]
    assert "twine upload dist/*" in (ROOT / "docs" / "releasing.md").read_text("utf-8")
