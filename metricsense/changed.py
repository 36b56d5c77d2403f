"""`msense check --changed FILE...`: the specs to check when these files changed (pre-commit).

A changed spec that another spec includes is checked through the specs that include it (alone it
would miss the names its parent declares: MS002); a changed data file, through the specs that
read it; a changed msense.toml or pyproject.toml, through the specs under its folder. Specs are
found under the working folder.
"""

from __future__ import annotations

from pathlib import Path

from metricsense.filenames import unusable


def specs_for(changed: list[str], root: Path) -> list[str]:
    """The spec files to check, in a stable order (each once)."""
    from metricsense.engine import spec_files
    from metricsense.loader import load_path

    specs, _missing = spec_files([str(root)])
    includers: dict[Path, set[Path]] = {}
    readers: dict[Path, set[Path]] = {}
    for spec in specs:
        spec = spec.resolve()
        try:
            loaded = load_path(spec)
        except Exception:  # noqa: BLE001 - a spec that cannot be loaded is checked as itself
            continue
        for inc in loaded.included:
            includers.setdefault(Path(inc).resolve(), set()).add(spec)
        doc = loaded.document
        if doc is None:
            continue
        sources = [n.data for n in (*doc.kpis, *doc.levers, *doc.disturbances, *doc.trusts) if n.data is not None]
        for src in (*sources, *doc.data_defaults):
            if src.kind == "file" and src.path and unusable(src.path) is None:
                base = Path(src.span.file).parent if src.span.file != "<string>" else root
                readers.setdefault((base / src.path).resolve(), set()).add(spec)
    chosen: set[Path] = set()
    included = set(includers)
    for name in changed:
        path = Path(name).resolve()
        if path.name in ("msense.toml", "pyproject.toml"):
            chosen.update(s.resolve() for s in specs if s.resolve().is_relative_to(path.parent))
        elif path in includers:
            chosen.update(_roots(path, includers))
        elif path in readers:
            for spec in readers[path]:
                chosen.update(_roots(spec, includers) if spec in included else {spec})
        elif path.suffix.lower() in (".msense", ".md") and path.exists():
            chosen.add(path)
    return sorted(_shown(p) for p in chosen)


def _roots(path: Path, includers: dict[Path, set[Path]]) -> set[Path]:
    """The specs that include ``path``, followed up to those no spec includes."""
    out, todo, seen = set(), [path], {path}
    while todo:
        current = todo.pop()
        parents = includers.get(current)
        if not parents:
            if current != path:
                out.add(current)
            continue
        for p in parents - seen:
            seen.add(p)
            todo.append(p)
    return out or {path}


def _shown(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()
