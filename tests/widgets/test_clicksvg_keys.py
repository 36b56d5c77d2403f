"""Found by an attack on the explorer's keys: ``selected`` comes from the page unchecked, and a key
metricsense never writes (a Unicode digit, thousands of digits) raised in a view's callback."""

from __future__ import annotations

import pytest

import metricsense
from support import EXAMPLES, require

CRAFTED = ["cell-²-0", "cell-0-٣", "kpi-²", "pair-²", "cell-" + "9" * 5000 + "-1", "kpi-" + "9" * 5000,
           '"]<script>', "\u202ek1"]


@pytest.fixture(scope="module")
def pictures():
    require("ipywidgets")
    require("anywidget")
    from metricsense.widgets.clicksvg import ClickSVG
    from metricsense.widgets.explorer import explore

    ex = explore(metricsense.check(EXAMPLES / "customer-love" / "customer-love.msense", config={}))
    found = []

    def walk(widget):
        if isinstance(widget, ClickSVG):
            found.append(widget)
        for child in getattr(widget, "children", ()) or ():
            walk(child)

    walk(ex)
    for view in ex.views.values():
        walk(view)
    assert len(found) >= 4
    return ex, found


@pytest.mark.parametrize("key", CRAFTED)
def test_a_key_metricsense_did_not_write_selects_nothing_and_raises_nothing(pictures, key):
    ex, found = pictures
    for picture in found:
        picture.selected = key  # what the page would sync
        assert picture.selected == ""
        picture.click(key)
        picture._message(picture, {"click": key}, [])
        assert key not in picture.snapshot_html()
    ex.snapshot()
