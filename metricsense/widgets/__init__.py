"""Notebook support (the ``jupyter`` extra): rich display and the explorer.

``display`` needs neither IPython nor ipywidgets; ``explorer`` needs ipywidgets and is imported
only when ``metricsense.explore`` is called.
"""

from __future__ import annotations

from typing import Any

#: The explorer's own MIME type in its output bundle (the widget's model id), which the JupyterLab
#: extension renders (jupyterlab/src/snapshot.ts: the widget view when its model is in the kernel,
#: else the text/html) and nbconvert's preprocessor reads (``widgets.nbconvert_snapshot``).
EXPLORER_MIME = "application/vnd.metricsense.explorer+json"


def explore(report: Any, spec: str | None = None, data: Any = None, **kwargs: Any):
    """The ipywidgets explorer of one spec of a report (see ``metricsense.explore``)."""
    from metricsense.widgets.explorer import explore as _explore

    return _explore(report, spec=spec, data=data, **kwargs)
