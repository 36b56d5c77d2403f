"""The plugin manager: built-in evaluators and third-party plugins through the same door."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

import pluggy

from metricsense import hookspecs
from metricsense.diagnostics import Problem
from metricsense.span import Span

ENTRY_POINT_GROUP = "metricsense"

#: Built-in plugins, registered exactly the way a third-party plugin would be.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "metricsense.evaluators.core",
    "metricsense.evaluators.structure",
    "metricsense.evaluators.correlation",
    "metricsense.evaluators.decoupling",
    "metricsense.evaluators.selection",
    "metricsense.evaluators.trust",
    "metricsense.evaluators.conversation",
    "metricsense.evaluators.noise",
    "metricsense.evaluators.distortion",
    "metricsense.data.plugin",
    "metricsense.formats",
)

#: Where a built-in plugin whose name is not its module lives. NOTE: the output formats moved into
#: metricsense.reports; the plugin keeps its name, which `METRICSENSE_DISABLE_PLUGINS` and
#: `msense plugins` use.
_MODULES = {"metricsense.formats": "metricsense.reports"}


def _problem(label: str, what: str) -> Problem:
    """A plugin that could not be loaded: named, with what went wrong (reported as MS005)."""
    return Problem("MS005", Span.point("<plugins>"), f"plugin {label} {what}", subject=label, detail=what)


def disabled_from_env() -> set[str]:
    raw = os.environ.get("METRICSENSE_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def get_plugin_manager(
    entrypoints: bool = True, disabled: Iterable[str] = ()
) -> tuple[pluggy.PluginManager, list[Problem]]:
    """A fresh plugin manager (a factory, not a global) and the problems met loading plugins.

    ``disabled`` (and ``METRICSENSE_DISABLE_PLUGINS``, comma-separated) name plugins to leave
    out: an entry point's name, or ``all`` for every third-party plugin.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = set(disabled) | disabled_from_env()
    problems: list[Problem] = []
    for name in DEFAULT_PLUGINS:
        if name in blocked:
            pm.set_blocked(name)
            continue
        pm.register(importlib.import_module(_MODULES.get(name, name)), name=name)
    if entrypoints and "all" not in blocked:
        problems.extend(_load_entrypoints(pm, blocked))
    pm.check_pending()
    return pm, problems


def _may_have_plugins() -> bool:
    """Whether any installed distribution declares a `metricsense` entry point.

    A quick scan of the ``entry_points.txt`` files on ``sys.path``: the common case (no plugin)
    then never imports importlib.metadata, which alone costs a fifth of the CLI's start-up.
    """
    import os
    import sys

    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as fh:
                        if f"[{ENTRY_POINT_GROUP}]" in fh.read():
                            return True
                except OSError:
                    continue
    return False


def _load_entrypoints(pm: pluggy.PluginManager, blocked: set[str]) -> list[Problem]:
    if not _may_have_plugins():
        return []
    from importlib.metadata import entry_points

    problems = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in blocked:
            pm.set_blocked(ep.name)
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        label = f"{ep.dist.name if ep.dist else '?'}[{ep.name}]"
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin is reported and skipped, never fatal
            problems.append(_problem(label, f"could not be loaded: {type(exc).__name__}: {exc}"))
            continue
        needed = getattr(plugin, "METRICSENSE_API", 1)
        if isinstance(needed, int) and needed > hookspecs.API_VERSION:
            problems.append(
                _problem(
                    label,
                    f"needs plugin API {needed}, but this metricsense provides API "
                    f"{hookspecs.API_VERSION}: upgrade metricsense",
                )
            )
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            problems.append(_problem(label, f"could not be registered: {exc}"))
    return problems


def plugin_versions() -> dict[str, str]:
    """Entry-point name -> 'distribution version', for ``msense plugins``."""
    from importlib.metadata import entry_points

    out = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out[ep.name] = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "?"
    return out
