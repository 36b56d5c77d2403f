"""Every notebook in notebooks/ (MyST Markdown, kept as text by jupytext) runs top to bottom.

Each is read with jupytext and executed with nbclient in a kernel of this venv's Python, from the
notebooks folder (so their relative paths are the reader's). A failing cell fails the test with
the cell's source and traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import ROOT, require

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))


def kernel_env() -> dict[str, str]:
    """The kernel's environment: the venv's bin first on PATH (the editable install rebuilds the
    Cython kernel with the `cython` found there), and nothing that forces the pure-Python kernels."""
    env = {k: v for k, v in os.environ.items() if k != "METRICSENSE_PUREPYTHON"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def install_kernelspec() -> None:
    """The `python3` kernel of this venv (python -m ipykernel install --sys-prefix; idempotent)."""
    require("ipykernel")
    done = subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"],
                          capture_output=True, text=True, env=kernel_env(), timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def kernelspec():
    install_kernelspec()


_RUN: dict[Path, tuple[object, float]] = {}  # each notebook runs once per session


def run_notebook(path: Path, timeout: int = 300) -> tuple[object, float]:
    if path in _RUN:
        return _RUN[path]
    jupytext = require("jupytext")
    nbclient = require("nbclient")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    env = kernel_env()
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed\n{exc}", pytrace=False)
    _RUN[path] = nb, time.perf_counter() - started
    return _RUN[path]


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {"tour.md", "what-if.md"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kernelspec):
    nb, seconds = run_notebook(path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", ()) if o.output_type == "error"]
    assert not errors, errors
    print(f"{path.name}: {seconds:.1f} s")


def test_tour_shows_the_report_and_the_explorer(kernelspec):
    nb, _ = run_notebook(ROOT / "notebooks" / "tour.md")
    data = [o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", ())
            if o.output_type in ("execute_result", "display_data")]
    assert any('class="msense msense-report"' in d.get("text/html", "") for d in data)
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)


def test_the_jupyter_extra_opens_the_notebooks_as_notebooks():
    # The notebooks are text (MyST Markdown): the `jupyter` extra alone must bring what opens them
    # as notebooks in JupyterLab (jupytext and its lab extension, "Open With > Jupytext Notebook").
    import sys
    import tomllib
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["optional-dependencies"]["jupyter"]
    assert "jupytext" in {Requirement(r).name for r in extra}
    jupytext = require("jupytext")
    assert any(f.as_posix().startswith("share/jupyter/labextensions/jupyterlab-jupytext/")
               for f in (distribution("jupytext").files or ())) or \
        (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-jupytext").is_dir()
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert sum(c.cell_type == "code" for c in nb.cells) >= 3, path.name


def _ci_notebooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ci_notebooks", ROOT / "ci" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ipynb_beside_each_notebook_is_made_from_it():
    # A double-click in JupyterLab (or VS Code, Colab) opens an .ipynb as a notebook, and
    # `jupyter nbconvert --execute` reads one: each .md has one, equal to what ci/notebooks.py makes.
    nbformat = require("nbformat")
    require("jupytext")
    assert _ci_notebooks().differing() == [], "run: python ci/notebooks.py"
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path.with_suffix(".ipynb")), as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata
        assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")  # shipped without outputs
        text = jupytext_cells(path)
        assert [(c.cell_type, c.source) for c in nb.cells] == text, path.name


def jupytext_cells(path: Path) -> list[tuple[str, str]]:
    jupytext = require("jupytext")
    return [(c.cell_type, c.source) for c in jupytext.read(path).cells]


def test_an_edited_markdown_notebook_is_told_apart(tmp_path, monkeypatch):
    require("jupytext")
    ci = _ci_notebooks()
    for path in NOTEBOOKS[:1]:
        (tmp_path / path.name).write_text(path.read_text("utf-8"), "utf-8")
        (tmp_path / path.with_suffix(".ipynb").name).write_text(ci.ipynb_text(path), "utf-8")
    monkeypatch.setattr(ci, "NOTEBOOKS", tmp_path)
    assert ci.differing() == []
    md = tmp_path / NOTEBOOKS[0].name
    md.write_text(md.read_text("utf-8").replace("```{code-cell} ipython3\n", "```{code-cell} ipython3\nx = 1\n", 1), "utf-8")
    assert ci.differing() == [md.with_suffix(".ipynb")]
    assert ci.main(["--check"]) == 1
    assert ci.main([]) == 0 and ci.differing() == []
