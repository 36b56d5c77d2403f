"""The output formats: one module per format, imported only when chosen.

This package is also the built-in plugin that registers them (``metricsense_register_formats``),
through the same hook a third-party format uses. A new format is one module here with a
``render_<name>(report, options) -> str`` and its name in ``FORMATS``.
"""

from __future__ import annotations

from metricsense.encoding import printable  # noqa: F401 - the formats escape text with it
from metricsense.hookspecs import hookimpl

#: The built-in formats, in the order `msense plugins` lists them.
FORMATS = ("text", "json", "sarif", "junit", "github", "gitlab", "markdown", "html")
#: The formats a reader reads for themselves: they show findings about one named person (MS501)
#: when the reader asks (`--show-personal`). Every other format, a plugin's included unless it
#: sets ``render.shows_personal = True``, is given ``report.for_reader(False)`` by the registry:
#: it never sees them, only their count (``report.withheld``; ``withheld_line`` says it).
READER_FORMATS = ("text", "json", "html")


@hookimpl
def metricsense_register_formats(register):
    for name in FORMATS:
        register(name, _lazy(name))


def _lazy(name: str):
    """A renderer that imports metricsense.reports.NAME only when used (keeps start-up light)."""

    def render(report, options=None) -> str:
        import importlib

        module = importlib.import_module(f"metricsense.reports.{name}")
        return getattr(module, f"render_{name}")(report, options)

    render.__name__ = f"render_{name}"
    render.__qualname__ = f"render_{name}"
    render.shows_personal = name in READER_FORMATS
    return render


def withheld_line(report) -> str | None:
    """The sentence a format writes in place of the personal findings it was not given, or None."""
    from metricsense.report import withheld_sentence

    withheld = getattr(report, "withheld", None)
    return withheld_sentence(withheld) if withheld else None


def rules_of(report) -> list:
    """Every rule the registry knows, sorted by code (empty without a registry)."""
    registry = getattr(report, "registry", None)
    return sorted(registry.rules.values(), key=lambda r: r.code) if registry else []


def is_file(name: str) -> bool:
    """False for the pseudo-files diagnostics use when there is no file (`<plugins>`, `<string>`)."""
    return not (name.startswith("<") and name.endswith(">"))


def spec_files_of(report) -> list[str]:
    """The files to report on: every file read, then any other file a diagnostic names."""
    out = list(report.files)
    for d in report.diagnostics:
        if d.span.file not in out:
            out.append(d.span.file)
    return out
