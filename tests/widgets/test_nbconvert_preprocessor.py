"""The nbconvert preprocessor: explorer outputs lose their widget view, other widgets keep theirs.

In-process, on small notebooks written here: what the templates then choose (nbconvert's own
HTMLExporter, lab and classic, with the conf.json the install places), and which models stay in
the widget state. tests/test_nbconvert_snapshot.py runs the real command on the tour.
"""

from __future__ import annotations

import pytest

from support import require

VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
EXPLORER = "application/vnd.metricsense.explorer+json"


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def _notebook(nbformat, *, slider: bool = True, link: bool = True):
    explorer = {VIEW: {"model_id": "ex", "version_major": 2, "version_minor": 0}, EXPLORER: {"model_id": "ex"},
                "text/html": '<div class="msense msense-snapshot">snapshot of the explorer</div>',
                "text/plain": "metricsense explorer: tour"}
    cells = [nbformat.v4.new_code_cell("explorer", outputs=[nbformat.v4.new_output("display_data", data=explorer)])]
    state = {"ex": _model("VBoxModel", children=["IPY_MODEL_tab"], layout="IPY_MODEL_exl"),
             "exl": _model("LayoutModel"), "tab": _model("TabModel", children=["IPY_MODEL_html"]),
             "html": _model("HTMLModel", value="<b>x</b>"), "left": _model("HTMLModel", value="made, never shown")}
    if slider:
        cells.append(nbformat.v4.new_code_cell("slider", outputs=[nbformat.v4.new_output(
            "display_data", data={VIEW: {"model_id": "sl", "version_major": 2, "version_minor": 0},
                                  "text/plain": "IntSlider(value=3)"})]))
        state |= {"sl": _model("IntSliderModel", value=3, layout="IPY_MODEL_sll"), "sll": _model("LayoutModel")}
        if link:
            state["ln"] = _model("LinkModel", source=["IPY_MODEL_sl", "value"], target=["IPY_MODEL_other", "value"])
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_the_explorer_loses_its_view_and_its_models_other_widgets_stay():
    nbformat = require("nbformat")
    from metricsense.widgets.nbconvert_snapshot import snapshot_outputs

    nb = snapshot_outputs(_notebook(nbformat))
    explorer, slider = (c.outputs[0]["data"] for c in nb.cells)
    assert VIEW not in explorer and EXPLORER in explorer and "text/html" in explorer
    assert VIEW in slider  # another widget's view is left alone
    # the slider, its layout and the link that names it stay; the explorer's models and the
    # model nothing shows go
    assert set(nb.metadata["widgets"][STATE]["state"]) == {"sl", "sll", "ln"}


def test_with_only_explorers_the_widget_state_goes():
    nbformat = require("nbformat")
    from metricsense.widgets.nbconvert_snapshot import snapshot_outputs

    nb = snapshot_outputs(_notebook(nbformat, slider=False))
    assert "widgets" not in nb.metadata
    assert VIEW not in nb.cells[0].outputs[0]["data"]


def test_a_notebook_without_an_explorer_is_left_as_it_was():
    nbformat = require("nbformat")
    from metricsense.widgets.nbconvert_snapshot import snapshot_outputs

    nb = _notebook(nbformat)
    nb.cells = nb.cells[1:]
    before = nbformat.writes(nb)
    assert nbformat.writes(snapshot_outputs(nb)) == before


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_nbconverts_templates_run_it_with_no_option(template):
    """The conf.json the install places (share/jupyter/nbconvert/templates/base) names the
    preprocessor: nbconvert's own HTMLExporter, as configured by default, runs it."""
    nbformat = require("nbformat")
    require("nbconvert")
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=template)
    assert any(type(p).__name__ == "SnapshotPreprocessor" for p in exporter._preprocessors), \
        "nbconvert does not name metricsense's preprocessor: is share/jupyter/nbconvert/templates/base/conf.json installed (make install)?"
    html, _ = exporter.from_notebook_node(_notebook(nbformat, slider=False))
    assert "snapshot of the explorer" in html
    assert VIEW not in html and STATE not in html and "html-manager" not in html
    # with another widget on the page, that one keeps its view (and the page its widget manager)
    html, _ = exporter.from_notebook_node(_notebook(nbformat))
    assert "snapshot of the explorer" in html and html.count(f'<script type="{VIEW}">') == 1 and "html-manager" in html


def test_a_link_to_one_of_the_explorers_models_does_not_stay_pointing_at_nothing():
    # Found by an attack: a user's slider jslinked to the explorer's threshold slider. The explorer's
    # slider goes with the explorer; the link naming it stayed (it names the shown slider too), so
    # the page's widget state held a reference to a model it no longer has.
    import re

    nbformat = require("nbformat")
    from metricsense.widgets.nbconvert_snapshot import snapshot_outputs

    nb = _notebook(nbformat, link=False)
    state = nb.metadata["widgets"][STATE]["state"]
    state["thr"] = _model("FloatSliderModel", value=0.9)
    state["tab"]["state"]["children"].append("IPY_MODEL_thr")
    state["ln2"] = _model("LinkModel", source=["IPY_MODEL_thr", "value"], target=["IPY_MODEL_sl", "value"])
    kept = snapshot_outputs(nb).metadata["widgets"][STATE]["state"]
    named = set(re.findall(r"IPY_MODEL_(\w+)", str(dict(kept))))
    assert named <= set(kept), f"the widget state names models it does not hold: {named - set(kept)}"
    assert {"sl", "sll"} <= set(kept)
