"""The notebooks as .ipynb, made from their MyST Markdown source (notebooks/*.md).

The Markdown is the source (diffs that read, run by tests/test_notebooks.py); the .ipynb beside
each opens as a notebook on a double-click in JupyterLab, VS Code or Colab, and
`jupyter nbconvert --execute` reads it. They are kept equal by tests/test_notebooks.py.

    python ci/notebooks.py           # write notebooks/*.ipynb
    python ci/notebooks.py --check   # exit 1 naming each .ipynb that differs from its .md

Without outputs, with cell ids made from the file's name and the cell's number (so writing them
again changes nothing), and without jupytext's own metadata (the .ipynb is not paired: an edit
made to it in JupyterLab stays in it; edit the .md).
"""

from __future__ import annotations

import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def ipynb_text(md: Path) -> str:
    """The .ipynb's text for the Markdown notebook ``md``."""
    import jupytext
    import nbformat

    nb = jupytext.read(md)
    nb.metadata.pop("jupytext", None)
    nb.metadata["metricsense"] = {"source": md.name, "note": f"made from {md.name} by ci/notebooks.py: edit that"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{md.stem}-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def differing() -> list[Path]:
    """The .ipynb that are missing or differ from their .md (and any .ipynb with no .md)."""
    out = [md.with_suffix(".ipynb") for md in sorted(NOTEBOOKS.glob("*.md"))
           if not md.with_suffix(".ipynb").is_file() or md.with_suffix(".ipynb").read_text("utf-8") != ipynb_text(md)]
    return out + [nb for nb in sorted(NOTEBOOKS.glob("*.ipynb")) if not nb.with_suffix(".md").is_file()]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = differing()
        for path in bad:
            print(f"{path.relative_to(NOTEBOOKS.parent)} differs from its .md: run python ci/notebooks.py")
        return 1 if bad else 0
    for md in sorted(NOTEBOOKS.glob("*.md")):
        md.with_suffix(".ipynb").write_text(ipynb_text(md), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
