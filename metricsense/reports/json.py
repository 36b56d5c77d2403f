"""The JSON report: the stable contract for programs (the encoder is metricsense.encoding)."""

from __future__ import annotations


def render_json(report, options=None) -> str:
    return report.to_json() + "\n"
