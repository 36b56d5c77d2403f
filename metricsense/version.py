"""The version of metricsense (one place: the package, the CLI and every report read it here)."""

__version__ = "0.1.0"
