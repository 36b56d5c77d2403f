"""Fixtures for the kernel tests: both backends (helpers live in kernel_support.py)."""

from kernel_support import backend  # noqa: F401  (the parametrized fixture)
