"""Configuration from `[tool.metricsense]` in pyproject.toml, or from msense.toml.

Unknown keys, unknown rules and values of the wrong type are errors (exit 2), never silence.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricsense.diagnostics import Problem, Severity
from metricsense.span import Span

FAIL_ON = ("error", "warning", "info", "hint", "never")
_TOP_KEYS = {"select", "ignore", "severity", "fail-on", "rules", "allow-paths", "max-include-depth", "time-budget",
             "by", "jobs", "scheduler", "show-personal", "data", "fdr-q", "analysis"}
ANALYSIS_FORMS = ("compact", "full")
_DATA_KEYS = ("max-rows", "query-timeout")


class ConfigError(Exception):
    """A configuration mistake: the file, the line when known, and what was expected."""

    def __init__(self, message: str, file: str = "<config>", line: int = 1, column: int = 1,
                 more: list[ConfigError] | None = None) -> None:
        super().__init__(message)
        self.message, self.file, self.line, self.column = message, file, line, column
        self.more = more or []  # the other mistakes found in the same file (every one is reported)

    @property
    def problem(self) -> Problem:
        return Problem("MS006", Span(self.file, self.line, self.column, self.line, self.column + 1), self.message)

    @property
    def problems(self) -> list[Problem]:
        """Every mistake found: this one first, then the others in the file's order."""
        return [self.problem, *(e.problem for e in self.more)]


@dataclass
class Config:
    """Settings for one run. Rule references (`select`, `ignore`, ...) are codes, prefixes or names."""

    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str = "warning"
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    allow_paths: list[str] = field(default_factory=list)
    max_include_depth: int = 16
    time_budget: float = 30.0  # seconds one evaluator (a rule, or one plugin's analysis) may take
    by: str | None = None  # a segment column: check every segment on its own (msense check --by)
    jobs: int = 1  # worker processes for segments
    scheduler: str | None = None  # a Dask scheduler address for segments
    #: Text, HTML and JSON show findings about one named person (MS501); CI formats never do.
    show_personal: bool = False
    max_rows: int = 10_000_000  # [data] max-rows: rows a `data sql` query may return
    query_timeout: float = 60.0  # [data] query-timeout: seconds a `data sql` query may run
    #: The false discovery rate kept over a spec's statistical findings (Benjamini-Hochberg,
    #: metricsense.fdr, q = 0.05 by default); 1 keeps every finding a rule reports.
    fdr_q: float = 0.05
    #: How the JSON report writes the analysis: "compact" (linear in the KPIs) or "full"
    #: (every matrix whole): `msense check --analysis`.
    analysis: str = "compact"
    source: str | None = None  # the file it came from
    base: Path = field(default_factory=Path.cwd)  # relative allow-paths resolve against this
    _lines: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str | None = None, text: str = "") -> Config:
        cfg = cls(source=source, _lines=text.split("\n"))
        if source:
            cfg.base = Path(source).resolve().parent
        # NOTE: every mistake is reported, not only the first: each key is checked on its own and
        # its error kept; the file is refused (MS006) with all of them at once.
        errors: list[ConfigError] = []
        for key, value in data.items():
            try:
                cfg._set(key, value)
            except ConfigError as exc:
                errors.append(exc)
        if errors:
            errors.sort(key=lambda e: (e.line, e.column))
            first = errors[0]
            raise ConfigError(first.message, first.file, first.line, first.column, errors[1:])
        return cfg

    def _set(self, key: str, value: Any) -> None:
        """Check one key and its value, and set it (a ConfigError names the key's line)."""
        cfg = self
        if key not in _TOP_KEYS:
            import difflib

            guess = key.replace("_", "-") if key.replace("_", "-") in _TOP_KEYS else next(
                iter(difflib.get_close_matches(key, sorted(_TOP_KEYS), n=1, cutoff=0.7)), None)
            hint = f"; did you mean `{guess}`?" if guess else f"; expected one of {', '.join(sorted(_TOP_KEYS))}"
            raise cfg.error(f"unknown key `{key}`{hint}", key)
        attr = key.replace("-", "_")
        if key in ("select", "ignore", "allow-paths"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise cfg.error(f"`{key}` must be a list of strings", key)
        elif key == "severity":
            if not isinstance(value, dict):
                raise cfg.error("`severity` must be a table of rule = severity", key)
            for rule_ref, sev in value.items():
                try:
                    Severity.parse(str(sev))
                except ValueError as exc:
                    raise cfg.error(str(exc), rule_ref) from None
        elif key == "fail-on":
            if value not in FAIL_ON:
                raise cfg.error(f"`fail-on` must be one of {', '.join(FAIL_ON)}, not {value!r}", key)
        elif key == "rules":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise cfg.error("`rules` holds one table of options per rule: [rules.MS013]", key)
        elif key == "time-budget":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise cfg.error("`time-budget` must be a positive number of seconds", key)
            value = float(value)
        elif key in ("by", "scheduler"):
            if not isinstance(value, str) or not value:
                raise cfg.error(f"`{key}` must be a non-empty string", key)
        elif key == "jobs":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise cfg.error("`jobs` must be a whole number of at least 1", key)
        elif key == "analysis":
            if value not in ANALYSIS_FORMS:
                raise cfg.error(f"`analysis` must be one of {', '.join(ANALYSIS_FORMS)}, not {value!r}", key)
        elif key == "show-personal":
            if not isinstance(value, bool):
                raise cfg.error(f"`show-personal` must be true or false, not {value!r}", key)
        elif key == "data":
            if not isinstance(value, dict):
                raise cfg.error("`data` is a table: [data] max-rows = ..., query-timeout = ...", key)
            for name, setting in value.items():
                if name == "max-rows":
                    if not isinstance(setting, int) or isinstance(setting, bool) or setting < 1:
                        raise cfg.error("`data.max-rows` must be a whole number of at least 1", name)
                    cfg.max_rows = setting
                elif name == "query-timeout":
                    if isinstance(setting, bool) or not isinstance(setting, (int, float)) or not setting > 0:
                        raise cfg.error("`data.query-timeout` must be a positive number of seconds", name)
                    cfg.query_timeout = float(setting)
                else:
                    raise cfg.error(f"unknown key `data.{name}`; expected one of {', '.join(_DATA_KEYS)}", name)
            return
        elif key == "fdr-q":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise cfg.error(f"`fdr-q` must be a number above 0 and at most 1, not {value!r}", key)
            value = float(value)
        elif key == "max-include-depth":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise cfg.error("`max-include-depth` must be a whole number of at least 1", key)
        setattr(cfg, attr, value)

    def error(self, message: str, key: str | None = None) -> ConfigError:
        """A ConfigError pointing at the line where ``key`` appears, when it can be found."""
        line, column = 1, 1
        if key:
            pattern = re.compile(r"^\s*(\[[^\]]*)?[\"']?" + re.escape(key) + r"[\"']?\s*[=\].]")
            for i, text in enumerate(self._lines, 1):
                if pattern.search(text) or re.search(r"\b" + re.escape(key) + r"\b\s*=", text):
                    line, column = i, text.find(key) + 1
                    break
        return ConfigError(message, self.source or "<config>", line, max(column, 1))

    def check_rules(self, registry) -> None:
        """Every rule reference names a known rule, and every option is known and well typed;
        every mistake is reported (a ConfigError with the others in ``more``)."""
        errors: list[ConfigError] = []
        for key in ("select", "ignore"):
            for ref in getattr(self, key):
                if not registry.matching(ref):
                    errors.append(self.error(f"`{key}` names {ref!r}, which matches no rule", ref))
        for ref in self.severity:
            if not registry.matching(ref):
                errors.append(self.error(f"`severity` names {ref!r}, which matches no rule", ref))
        by_code: dict[str, dict[str, Any]] = {}
        for ref, opts in self.rules.items():
            rule = registry.get(ref)
            if rule is None:
                errors.append(self.error(f"`rules.{ref}` names no rule; use a code (MS013) or a name", ref))
                continue
            if rule.code in by_code:
                errors.append(self.error(f"`rules.{ref}` and another table both set options of {rule.code}; keep one",
                                         ref))
                continue
            by_code[rule.code] = opts
            for name, value in opts.items():
                option = rule.options.get(name)
                if option is None:
                    known = ", ".join(sorted(rule.options)) or "none"
                    errors.append(self.error(f"rule {rule.code} has no option `{name}` (its options: {known})", name))
                    continue
                try:
                    option.check(value)
                except ValueError as exc:
                    errors.append(self.error(f"option `{name}` of {rule.code}: {exc}", name))
        if errors:
            errors.sort(key=lambda e: (e.line, e.column))
            raise ConfigError(errors[0].message, errors[0].file, errors[0].line, errors[0].column, errors[1:])
        self.rules = by_code  # from here on keyed by code, whatever the file used


def load_config(path: str | Path) -> Config:
    """Read a config file: msense.toml (top level) or pyproject.toml ([tool.metricsense])."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration: {exc.strerror}", str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("the configuration is not UTF-8 text", str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        if match:
            line, col = int(match.group(1)), int(match.group(2))
        else:  # "at end of document"
            lines = text.rstrip("\n").split("\n")
            line, col = len(lines), len(lines[-1]) + 1
        raise ConfigError(f"invalid TOML: {exc}", str(path), line, col) from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("metricsense", {})
    return Config.from_mapping(data, str(path), text)


def discover(start: Path) -> Config:
    """The nearest msense.toml, or pyproject.toml with [tool.metricsense], from ``start`` up."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "msense.toml"
        if candidate.is_file():
            return load_config(candidate)
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if "[tool.metricsense" in text:
                return load_config(candidate)
    return Config()
