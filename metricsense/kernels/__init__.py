"""Numeric kernels: the compiled Cython double when available, the NumPy reference otherwise.

``METRICSENSE_PUREPYTHON=1`` forces the reference. ``BACKEND`` says which one is in use
("cython" or "reference"); ``COMPILED`` lists the functions that have a compiled double. The
others are small compositions shared by both backends and always come from the reference.

Correlation: ``pairwise_corr``, ``rolling_corr``, ``rolling_corr_matrix``, ``participation_ratio``.
Gain matrices (KPIs x levers): ``condition_number``, ``equilibrated_condition_number``,
``minimized_condition_number``, ``equilibrate``, ``rga``, ``rga_number``.
Pairs of rows: ``pair_dots`` (MS402's batched step tests).
Simulated AR(1) series: ``path_run_rates`` (MS301/MS302's run rates) and ``path_run_rates_rows``
(the same for many models of many series in one call), ``ar1_fill``, ``ar1_fill_many`` and
``ar1_fit_complete`` (their bootstrap's series and refits).
Each reference docstring states the formula and the NaN policy.
"""

from __future__ import annotations

import importlib
import os

from metricsense.kernels import reference as _reference

if os.environ.get("METRICSENSE_PUREPYTHON", "") not in ("", "0"):
    _impl = _reference
    BACKEND = "reference"
else:
    try:
        # NOTE: the compiled extension by its full name: `from metricsense import _kernel` reads, to
        # import-linter, as an import of the package's facade (and through it, of everything).
        _impl = importlib.import_module("metricsense._kernel")

        BACKEND = "cython"
    except ImportError:  # NOTE: a source checkout without a build; CI fails on this (tests/kernels)
        _impl = _reference
        BACKEND = "reference"

COMPILED = ("pairwise_corr", "rolling_corr", "rolling_corr_matrix", "condition_number", "rga", "path_run_rates", "ar1_fill",
            "pair_dots", "ar1_fit_complete", "path_run_rates_rows", "ar1_fill_many")

pairwise_corr = _impl.pairwise_corr
rolling_corr = _impl.rolling_corr
rolling_corr_matrix = _impl.rolling_corr_matrix
condition_number = _impl.condition_number
rga = _impl.rga
path_run_rates = _impl.path_run_rates
ar1_fill = _impl.ar1_fill
pair_dots = _impl.pair_dots
ar1_fit_complete = _impl.ar1_fit_complete
path_run_rates_rows = _impl.path_run_rates_rows
ar1_fill_many = _impl.ar1_fill_many

equilibrate = _reference.equilibrate
equilibrated_condition_number = _reference.equilibrated_condition_number
minimized_condition_number = _reference.minimized_condition_number
rga_number = _reference.rga_number
participation_ratio = _reference.participation_ratio

__all__ = [
    "BACKEND",
    "ar1_fill",
    "ar1_fill_many",
    "ar1_fit_complete",
    "COMPILED",
    "condition_number",
    "equilibrate",
    "equilibrated_condition_number",
    "minimized_condition_number",
    "pair_dots",
    "pairwise_corr",
    "path_run_rates",
    "path_run_rates_rows",
    "participation_ratio",
    "rga",
    "rga_number",
    "rolling_corr",
    "rolling_corr_matrix",
]
