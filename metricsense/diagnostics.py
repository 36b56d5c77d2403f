"""Severity, Rule, Diagnostic: what every evaluator produces and every format renders."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from metricsense.span import Span

CODE_PATTERN = re.compile(r"^[A-Z]{2,4}[0-9]{3}$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class Severity(enum.IntEnum):
    """LSP-style severities; the integer order is used by `fail-on`."""

    HINT = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; expected error, warning, info or hint") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Option:
    """A rule option: its default, its type, its allowed values and what it means.

    ``choices`` lists the values a text option may take; ``minimum`` and ``maximum`` bound a
    number (inclusive). A value outside them is a configuration error (MS006), never a crash.
    """

    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any) -> Any:
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(map(repr, self.choices))}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"expected at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"expected at most {self.maximum:g}, got {value!r}")
        return value


@dataclass(frozen=True)
class Rule:
    """A rule, declared once with the @rule decorator in the file that implements it."""

    code: str
    name: str
    severity: Severity
    func: Callable[..., Iterator[Diagnostic]] | None
    summary: str
    explanation: str
    options: Mapping[str, Option] = field(default_factory=dict)
    exit_code: int = 1  # 2 for spec, data and config errors, 3 for a plugin crash
    plugin: str = "metricsense"
    #: Never switched off (select/ignore) or suppressed: without it a broken run would look clean.
    always: bool = False
    #: Its findings are about one named person (MS501: a manager): shown only where their audience
    #: reads them (the agenda's private sections; text, HTML and JSON with `--show-personal`),
    #: never in a format made for CI or a pull request. Every finding it reports is marked.
    personal: bool = False

    @property
    def family(self) -> str:
        return self.code[:-2]

    def __call__(self, *args, **kwargs):
        assert self.func is not None
        return self.func(*args, **kwargs)


def rule(
    *,
    code: str,
    name: str,
    severity: Severity,
    options: Mapping[str, Option] | None = None,
    exit_code: int = 1,
    personal: bool = False,
) -> Callable[[Callable], Rule]:
    """Declare a rule: the decorated function's docstring is its summary and explanation.

    ``personal=True``: every finding names one person (see ``Rule.personal``)."""

    def wrap(func: Callable) -> Rule:
        return _make_rule(func, code=code, name=name, severity=severity, options=options, exit_code=exit_code,
                          personal=personal)

    return wrap


def declare(*, code: str, name: str, severity: Severity, doc: str, exit_code: int = 1,
            always: bool = False) -> Rule:
    """A rule reported by the engine itself (syntax, includes, config) rather than an evaluator."""
    import sys

    module = sys._getframe(1).f_globals.get("__name__", "")
    return _make_rule(None, code=code, name=name, severity=severity, options=None, exit_code=exit_code, doc=doc,
                      module=module, always=always)


#: The rules each module declared, in order (``@rule`` and ``declare`` collect them: no second list).
_DECLARED: dict[str, list[Rule]] = {}


def rules_of(module: str) -> tuple[Rule, ...]:
    """The rules declared in ``module`` (a module's ``__name__``), in the order they were declared.

    A family registers them all with ``for r in rules_of(__name__): register(r)``."""
    return tuple(_DECLARED.get(module, ()))


def cleandoc(text: str) -> str:
    """A docstring without its common indentation (as inspect.cleandoc; inspect costs start-up)."""
    lines = text.expandtabs().split("\n")
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents) if indents else 0
    body = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    while body and not body[-1]:
        body.pop()
    while body and not body[0]:
        body.pop(0)
    return "\n".join(body)


def _make_rule(func, *, code, name, severity, options, exit_code, doc=None, module=None, always=False,
               personal=False) -> Rule:
    text = cleandoc(doc if doc is not None else (func.__doc__ or ""))
    summary, _, body = text.partition("\n")
    module = module if module is not None else (getattr(func, "__module__", "") or "")
    builtin = module == "metricsense" or module.startswith("metricsense.")
    plugin = "metricsense" if builtin or not module else module.split(".")[0]
    made = Rule(
        code=code,
        name=name,
        severity=severity,
        func=func,
        summary=summary.strip(),
        explanation=body.strip(),
        options=dict(options or {}),
        exit_code=exit_code,
        plugin=plugin,
        always=always,
        personal=bool(personal),
    )
    declared = _DECLARED.setdefault(module, [])
    declared[:] = [r for r in declared if r.code != code]  # a module run again (reload) declares anew
    declared.append(made)
    return made


@dataclass(frozen=True)
class Related:
    span: Span
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"span": self.span.to_dict(), "message": self.message}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a rule's code and name, a message naming the objects, where, and why."""

    code: str
    name: str
    severity: Severity
    message: str
    span: Span
    related: tuple[Related, ...] = ()
    help: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: The segment it was found in (`msense check --by`), None for the spec as a whole.
    segment: str | None = None
    #: About one named person (its rule is personal, or the rule marked this finding): see
    #: ``Rule.personal``. Formats decide what to show with ``Report.for_reader``.
    personal: bool = False

    @property
    def key(self) -> tuple:
        """What makes two findings the same one (dedupe, and a segment leaving out the spec's own)."""
        return (self.code, self.span, self.message)

    def fingerprint(self) -> str:
        """A finding's identity across edits and data updates (a baseline's key): its rule, file,
        segment and message with the numbers taken out, never its line (moving a KPI keeps it)."""
        import hashlib
        import re

        words = re.sub(r"[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?", "#", self.message)
        text = "\0".join((self.code, self.span.file, self.segment or "", words))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "message": self.message,
            "span": self.span.to_dict(),
            "related": [r.to_dict() for r in self.related],
            "help": self.help,
            "evidence": dict(self.evidence),
        }
        if self.segment is not None:
            out["segment"] = self.segment
        if self.personal:
            out["personal"] = True
        return out


@dataclass(frozen=True)
class Problem:
    """A user mistake met before the rules run (syntax, includes, data, config, plugins).

    The one problem type: loading, data reading, configuration and plugin loading all hand
    these on, and ``Registry.from_problem`` turns each into a Diagnostic under ``code``.
    """

    code: str
    span: Span
    message: str
    help: str | None = None
    related: tuple[tuple[Span, str], ...] = ()
    #: Whom it is about, when that is not a place in a file (a plugin's name), and what went wrong
    #: without it (`msense plugins` lists the two apart).
    subject: str | None = None
    detail: str | None = None


def anchor(node: Any) -> Span:
    """Where a finding about ``node`` points: its name when it has one, else its whole span."""
    if isinstance(node, Span):
        return node
    return getattr(node, "name_span", None) or node.span


@dataclass
class EvalContext:
    """What a rule sees: the spec, its data (when loaded), its options, the analyses, and a way to report."""

    spec: Any  # metricsense.model.Document
    rule: Rule
    options: Mapping[str, Any]
    data: Any = None
    analysis: dict[str, Any] = field(default_factory=dict)
    #: How many hypothesis tests the rule ran in this check (``tests``): the size of its share of
    #: the spec's multiple-testing family (metricsense.fdr).
    tested: int = 0
    #: The plugins whose analysis of this spec crashed or ran past its time budget (an MS005 says
    #: so): a rule that would compute that analysis again itself (its options differ, or the
    #: record is missing) should not, or it meets the same end a second time.
    stopped: frozenset = frozenset()

    def option(self, name: str) -> Any:
        return self.options[name]

    def tests(self, n: int) -> None:
        """Say that the rule ran ``n`` more hypothesis tests (call once per batch of tests).

        Every test counts, whether or not it gave a finding: the pipeline's Benjamini-Hochberg
        control over the spec's statistical findings (those with ``evidence["p_value"]``) uses
        the sum over its rules as the family size."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"tests(n) takes a whole number of tests, not {n!r}")
        self.tested += n

    def report(
        self,
        node: Any,
        message: str,
        *,
        related: Iterable[tuple[Any, str]] = (),
        help: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        personal: bool = False,
    ) -> Diagnostic:
        """A Diagnostic against a model node (its name when it has one) or a Span.

        ``personal=True`` marks one finding as naming a person (a rule whose findings only
        sometimes do); a personal rule's findings are all marked."""
        return Diagnostic(
            code=self.rule.code,
            name=self.rule.name,
            severity=self.rule.severity,
            message=message,
            span=anchor(node),
            related=tuple(Related(anchor(n), m) for n, m in related),
            help=help,
            evidence=dict(evidence or {}),
            personal=self.rule.personal or personal,
        )
