"""nbconvert shows an explorer's snapshot, not its widget view: a preprocessor every template runs.

nbconvert's HTML templates write an output's ``application/vnd.jupyter.widget-view+json`` when
the notebook's widget state holds its model (``WidgetsDataTypeFilter``), and then load the widget
manager's script from a CDN for the whole page (``"widgets" in nb.metadata``). With state stored
(``nbconvert --execute``'s default, or a notebook JupyterLab saved with "Save Widget State
Automatically") an explorer would so be an empty box offline and widget code from a CDN online,
where its snapshot (the bundle's ``text/html``) says the same numbers with no script at all.

``SnapshotPreprocessor`` runs after the execution: in each output that carries the explorer's own
MIME type it drops the widget view, so the templates take the ``text/html``, and it keeps in the
notebook's widget state only the models the other widget views show (and those that name one, a
jslink), dropping the state when none is left (then the page names no widget manager). Other
outputs are left as they were.
It only sees the copy nbconvert converts: ``--to notebook`` (not a template) keeps everything.

nbconvert has no entry point for preprocessors; a template's ``conf.json`` may name them, and
nbconvert merges the ``conf.json`` of every template directory of the chain found in any Jupyter
data directory (``TemplateExporter._get_conf``). The wheel installs
``share/jupyter/nbconvert/templates/base/conf.json`` (nbconvert ships no ``conf.json`` for
``base``, which every template extends) naming this class, so ``jupyter nbconvert --to html``
(lab), ``--template classic``, slides and webpdf all run it with no option.

Imports nbconvert only (nbconvert imports this module): no ipywidgets, nothing of the core.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor

from metricsense.widgets import EXPLORER_MIME

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_REF = "IPY_MODEL_"


def _refs(value: Any, out: set[str]) -> set[str]:
    """Model ids a widget state names: ``IPY_MODEL_<id>`` strings and a nested view's ``model_id``."""
    if isinstance(value, str):
        if value.startswith(_REF):
            out.add(value[len(_REF):])
    elif isinstance(value, dict):
        view = value.get(WIDGET_VIEW)
        if isinstance(view, dict) and isinstance(view.get("model_id"), str):
            out.add(view["model_id"])
        for v in value.values():
            _refs(v, out)
    elif isinstance(value, list):
        for v in value:
            _refs(v, out)
    return out


def _reach(roots: set[str], state: dict) -> set[str]:
    """The models reachable from ``roots`` through the references in their state."""
    seen: set[str] = set()
    todo = [r for r in roots if r in state]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [r for r in _refs(state[m], set()) if r in state and r not in seen]
    return seen


def _outputs(nb: Any):
    for cell in nb.get("cells", []):
        yield from cell.get("outputs", None) or ()


def snapshot_outputs(nb: Any) -> Any:
    """``nb`` with each explorer output's widget view dropped and the state only explorers used."""
    explorers: set[str] = set()
    others: set[str] = set()
    for out in _outputs(nb):
        data = out.get("data") or {}
        view = data.get(WIDGET_VIEW)
        if not isinstance(view, dict):
            continue
        if EXPLORER_MIME in data and "text/html" in data:
            explorers.add(str(view.get("model_id")))
            del data[WIDGET_VIEW]
        else:
            others.add(str(view.get("model_id")))
    widgets = nb.get("metadata", {}).get("widgets")
    held = widgets.get(WIDGET_STATE) if isinstance(widgets, dict) else None
    state = held.get("state") if isinstance(held, dict) else None
    if not explorers or not isinstance(state, dict):
        return nb
    shown = _reach(others, state)
    # A model no other view shows renders nowhere on the page: the explorers' own go, and so does
    # what nothing shown names; a model that names a shown one stays (a jslink between two sliders).
    kept = {m for m, s in state.items() if m in shown or _refs(s, set()) & shown}
    # ... unless it names a model that goes (a link to the explorer's own slider): the page's widget
    # manager would look for a model the state no longer holds
    gone = set(state) - kept
    while dangling := {m for m in kept if _refs(state[m], set()) & gone}:
        kept -= dangling
        gone |= dangling
    held["state"] = {m: s for m, s in state.items() if m in kept}
    if not held["state"]:
        del widgets[WIDGET_STATE]
        if not widgets:
            del nb["metadata"]["widgets"]
    return nb


class SnapshotPreprocessor(Preprocessor):
    """Explorer outputs as their snapshot (see the module's text); other outputs untouched."""

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        return snapshot_outputs(nb), resources
