"""The `jupyter_lsp_spec_v1` entry point: jupyter-lsp starts `msense lsp` for msense documents.

jupyter-lsp (the server half of jupyterlab-lsp) loads this in the Jupyter server and calls
``spec(manager)``; JupyterLab then sends the `.msense` files and `%%msense` cells it shows (MIME
type ``text/x-msense``, set by the labextension) to the server, and jupyterlab-lsp draws the
diagnostics. Light on purpose: nothing here imports pygls or the checker.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

LANGUAGE = "msense"
MIME = "text/x-msense"


def spec(manager=None) -> dict:
    """The language server spec, keyed by its name; ``argv`` is empty without the `lsp` extra."""
    installed = all(find_spec(m) is not None for m in ("pygls", "lsprotocol"))
    # The Jupyter server's own Python: the entry point was found in it, so metricsense is too.
    argv = [sys.executable, "-m", "metricsense", "lsp"] if installed else []
    log = getattr(manager, "log", None)
    if not installed and log is not None:
        # NOTE: jupyter-lsp drops a spec with no argv without a word: say why in the server's log.
        log.warning("metricsense: no live diagnostics for msense specs in JupyterLab: `msense lsp` needs "
                    "pygls (pip install 'metricsense[lsp]' into the Python that runs JupyterLab, then "
                    "restart it); highlighting works without it")
    return {
        "msense": {
            "version": 2,
            "argv": argv,
            "languages": [LANGUAGE],
            "mime_types": [MIME],
            "display_name": "metricsense (msense lsp)",
            "config_schema": {"type": "object", "properties": {}},
            "urls": {"home": "https://github.com/metricsense/metricsense#editors"},
            "install": {"pip": "pip install 'metricsense[lsp]'"},
        }
    }
