"""Notebook support (the ``jupyter`` extra): rich display and the explorer.

``display`` needs neither IPython nor ipywidgets; ``explorer`` needs ipywidgets and is imported
only when ``metricsense.explore`` is called.
"""

from __future__ import annotations

from typing import Any


def explore(report: Any, spec: str | None = None, data: Any = None, **kwargs: Any):
    """The ipywidgets explorer of one spec of a report (see ``metricsense.explore``)."""
    from metricsense.widgets.explorer import explore as _explore

    return _explore(report, spec=spec, data=data, **kwargs)
