"""The registry: every rule, format, data source and analysis record the plugins registered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from metricsense.analysis import Record
from metricsense.diagnostics import CODE_PATTERN, NAME_PATTERN, Diagnostic, Problem, Related, Rule, Severity
from metricsense.span import Span

class RegistrationError(Exception):
    pass


@dataclass
class Registry:
    """Every rule and format the plugins registered, with the plugin each came from."""

    rules: dict[str, Rule] = field(default_factory=dict)
    by_name: dict[str, Rule] = field(default_factory=dict)
    formats: dict[str, tuple[Callable[..., str], str]] = field(default_factory=dict)
    readers: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)
    analyses: dict[str, tuple[type, str]] = field(default_factory=dict)  # name -> (Record type, plugin)
    problems: list[Problem] = field(default_factory=list)  # plugins that failed while registering (MS005)

    def add_rule(self, rule: Rule, plugin: str) -> None:
        if not isinstance(rule, Rule):
            raise RegistrationError(f"registered {rule!r}, which is not a rule made with @metricsense.rule")
        if not CODE_PATTERN.match(rule.code):
            raise RegistrationError(f"rule code {rule.code!r} is not 2-4 capital letters and 3 digits")
        if not NAME_PATTERN.match(rule.name):
            raise RegistrationError(f"rule name {rule.name!r} is not kebab-case")
        rule = _with_plugin(rule, plugin)
        taken = self.rules.get(rule.code) or self.by_name.get(rule.name)
        if taken is not None:
            what = f"code {rule.code}" if taken.code == rule.code else f"name {rule.name!r}"
            raise RegistrationError(
                f"plugin {plugin!r} registers {what}, already registered by plugin {taken.plugin!r}"
            )
        self.rules[rule.code] = rule
        self.by_name[rule.name] = rule

    def get(self, ref: str) -> Rule | None:
        return self.rules.get(ref.upper()) or self.by_name.get(ref)

    def diagnostic(self, code: str, span: Span, message: str, help: str | None = None,
                   evidence: dict[str, Any] | None = None) -> Diagnostic:
        """A finding under a registered rule's code, made by the engine, the pipeline or segments (not a rule
        function), with the rule's name and severity."""
        rule = self.rules[code]
        return Diagnostic(code, rule.name, rule.severity, message, span, (), help, dict(evidence or {}))

    def from_problem(self, problem: Problem) -> Diagnostic:
        """The one place a Problem (syntax, include, data, config, plugin) becomes a Diagnostic."""
        rule = self.rules[problem.code]
        return Diagnostic(problem.code, rule.name, rule.severity, problem.message, problem.span,
                          tuple(Related(s, m) for s, m in problem.related), problem.help, {})

    def matching(self, ref: str) -> list[Rule]:
        """Rules selected by a code, a code prefix (`MS0`, `MS01`) or a name."""
        exact = self.get(ref)
        if exact is not None:
            return [exact]
        return [r for c, r in self.rules.items() if c.startswith(ref.upper())] if ref else []


def _for_readers(render: Callable[..., str]) -> Callable[..., str]:
    """A format as the registry hands it out: given ``report.for_reader(...)``, never the report.

    Formats show no finding about one named person (MS501) unless they opt in with
    ``render.shows_personal = True`` (text, HTML and JSON do), and then only when the reader asked
    (``--show-personal``): a format made for CI or a pull request, a plugin's included, is safe
    by default. What is left out is counted in the report's ``withheld``.
    """
    shows = getattr(render, "shows_personal", False) is True

    def render_for_readers(report, *args, **kwargs):
        view = report.for_reader(shows) if callable(getattr(report, "for_reader", None)) else report
        return render(view, *args, **kwargs)

    render_for_readers.shows_personal = shows
    render_for_readers.__wrapped__ = render
    render_for_readers.__name__ = getattr(render, "__name__", "render")
    render_for_readers.__qualname__ = getattr(render, "__qualname__", "render")
    render_for_readers.__doc__ = getattr(render, "__doc__", None)
    return render_for_readers


def _with_plugin(rule: Rule, plugin: str) -> Rule:
    return replace(rule, plugin=plugin)


def _frozen_record(kind: Any) -> bool:
    """A record type: a frozen dataclass deriving from Record (its values cannot change under a report)."""
    params = getattr(kind, "__dataclass_params__", None)
    return isinstance(kind, type) and issubclass(kind, Record) and params is not None and params.frozen


def build_registry(pm) -> Registry:
    """Call every plugin's registration hooks, one plugin at a time, isolating failures."""
    # NOTE: cached on the manager itself; an id()-keyed cache would hand a new manager the
    # registry of a dead one that happened to have the same id.
    cached = getattr(pm, "_metricsense_registry", None)
    if cached is not None:
        return cached
    registry = Registry()
    hooks = (("metricsense_register_rules", "rules"), ("metricsense_register_formats", "formats"),
             ("metricsense_register_data_sources", "readers"), ("metricsense_register_analyses", "analyses"))
    for hook, kind in hooks:
        for impl in getattr(pm.hook, hook).get_hookimpls():  # registration order: built-ins first
            plugin = impl.plugin_name

            def register(*args, _plugin=plugin, _kind=kind):
                if _kind == "rules":
                    registry.add_rule(args[0], _plugin)
                    return
                name, func = args
                table = getattr(registry, _kind)
                if _kind == "analyses" and not _frozen_record(func):
                    raise RegistrationError(f"analysis {name!r}: {func!r} is not a frozen dataclass deriving "
                                            "from metricsense.analysis.Record")
                if _kind == "analyses" and func.name != name:
                    raise RegistrationError(f"analysis {name!r}: {func.__name__}.name is {func.name!r} "
                                            f"(Record.of looks it up by that name): register it as {func.name!r}")
                if _kind == "formats":
                    func = _for_readers(func)
                if name in table:
                    what = {"formats": "format", "readers": "data source", "analyses": "analysis"}[_kind]
                    raise RegistrationError(
                        f"plugin {_plugin!r} registers {what} {name!r}, already registered by plugin {table[name][1]!r}"
                    )
                table[name] = (func, _plugin)

            try:
                impl.function(*[{"register": register}[a] for a in impl.argnames])
            except Exception as exc:
                what = f"{type(exc).__name__}: {exc}"
                registry.problems.append(Problem("MS005", Span.point("<plugins>"),
                                                 f"plugin {plugin!r} failed while registering: {what}",
                                                 subject=plugin, detail=what))
    pm._metricsense_registry = registry
    return registry


def exit_code_of(diagnostics: Iterable[Diagnostic], registry: Registry | None, fail_on: str) -> int:
    """3 a plugin crashed, 2 a spec, data or config error, 1 findings at or above fail-on, 0 clean."""
    code = 0
    threshold = None if fail_on == "never" else Severity.parse(fail_on)
    for d in diagnostics:
        rule = registry.rules.get(d.code) if registry else None
        if rule is not None and rule.exit_code >= 2:  # a crash (3) or a spec, data or config error (2)
            code = max(code, rule.exit_code)
        elif threshold is not None and d.severity >= threshold:
            code = max(code, 1)
    return code
