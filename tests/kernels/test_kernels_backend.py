"""The compiled kernel must be the one in use, and the dispatch must honour METRICSENSE_PUREPYTHON."""

from __future__ import annotations

import importlib
import os

import metricsense.kernels as kernels

PUREPYTHON = os.environ.get("METRICSENSE_PUREPYTHON", "") not in ("", "0")


def test_backend_is_compiled():
    # NOTE: fails on purpose when the extension did not build or import; only
    # METRICSENSE_PUREPYTHON=1 (an explicit choice) may run the suite on the reference.
    if PUREPYTHON:
        assert kernels.BACKEND == "reference"
    else:
        assert kernels.BACKEND == "cython", "metricsense._kernel did not import: rebuild it"
        from metricsense import _kernel

        for name in kernels.COMPILED:
            assert getattr(kernels, name) is getattr(_kernel, name)


def test_purepython_forces_reference(monkeypatch):
    # In-process reload: a subprocess would pay for the editable install's rebuild check.
    monkeypatch.setenv("METRICSENSE_PUREPYTHON", "1")
    try:
        importlib.reload(kernels)
        assert kernels.BACKEND == "reference"
        assert kernels.pairwise_corr is kernels.reference.pairwise_corr
    finally:
        monkeypatch.undo()
        importlib.reload(kernels)


def test_public_names():
    for name in kernels.__all__:
        assert hasattr(kernels, name)
    for name in kernels.COMPILED:
        assert hasattr(kernels.reference, name)
