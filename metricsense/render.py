"""Kept for scripts written against earlier releases: the text report is metricsense.reports.text."""

from metricsense.reports.json import render_json  # noqa: F401
from metricsense.reports.text import SourceCache, render_diagnostics, render_text, summary_line  # noqa: F401
