"""The built-in output formats, registered through the same hook a plugin would use."""

from __future__ import annotations

from metricsense.hookspecs import hookimpl


@hookimpl
def metricsense_register_formats(register):
    from metricsense.render import render_json, render_text

    register("text", render_text)
    register("json", render_json)
