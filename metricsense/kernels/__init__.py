"""Numeric kernels: the compiled Cython double when available, the NumPy reference otherwise.

``METRICSENSE_PUREPYTHON=1`` forces the reference. ``BACKEND`` says which one is in use.
"""

from __future__ import annotations

import os

from metricsense.kernels import reference as _reference

if os.environ.get("METRICSENSE_PUREPYTHON", "") not in ("", "0"):
    _impl = _reference
    BACKEND = "reference"
else:
    try:
        from metricsense import _kernel as _impl  # type: ignore[attr-defined]

        BACKEND = "cython"
    except ImportError:  # NOTE: a source checkout without a build; CI fails on this (tests/kernels)
        _impl = _reference
        BACKEND = "reference"

pairwise_corr = _impl.pairwise_corr

__all__ = ["BACKEND", "pairwise_corr"]
