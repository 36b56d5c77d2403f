"""The built-in output formats, registered through the same hook a plugin would use."""

from __future__ import annotations

from metricsense.hookspecs import hookimpl


@hookimpl
def metricsense_register_formats(register):
    from metricsense.render import render_json, render_text

    register("text", render_text)
    register("json", render_json)
    for name in ("sarif", "junit", "github", "markdown", "html"):
        register(name, _lazy(name))


def _lazy(name: str):
    """A renderer that imports metricsense.reports.NAME only when used (keeps start-up light)."""

    def render(report, options=None) -> str:
        import importlib

        module = importlib.import_module(f"metricsense.reports.{name}")
        return getattr(module, f"render_{name}")(report, options)

    render.__name__ = f"render_{name}"
    render.__qualname__ = f"render_{name}"
    return render
