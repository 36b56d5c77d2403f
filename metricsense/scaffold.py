"""`msense init --plugin NAME`: a separately installable evaluator plugin package, ready to test.

The package has what a third party needs to ship rules the way metricsense's own are shipped:
a pyproject with the `metricsense` entry point and its own code prefix, one rule with its
explanation in its docstring, a failing and a passing case, tests through `metricsense.testing`,
and a README. It installs and passes its own tests as written (tests/test_scaffold.py checks it).
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def prefix_of(name: str) -> str:
    """The plugin's rule-code prefix: 2 to 4 capital letters from its name, never metricsense's MS."""
    letters = re.sub(r"[^a-z]", "", name).upper()
    prefix = letters[:4] if len(letters) <= 4 else "".join(p[0] for p in name.split("-") if p)[:4].upper()
    if len(prefix) < 2:
        prefix = (letters + "XX")[:3]
    if prefix.startswith("MS"):
        prefix = "X" + prefix[:3]
    return prefix


def files_of(name: str) -> dict[str, str]:
    """Relative path -> text of every file of the plugin package ``metricsense-plugin-NAME``."""
    module = "metricsense_" + name.replace("-", "_")
    prefix = prefix_of(name)
    code = f"{prefix}001"
    return {
        "pyproject.toml": f'''[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "metricsense-plugin-{name}"
version = "0.1.0"
description = "metricsense rules: {name}"
readme = "README.md"
requires-python = ">=3.11"
license = "MIT"
dependencies = ["metricsense>=0.1"]
classifiers = ["Environment :: Plugins", "Programming Language :: Python :: 3"]

# The one line that makes this a metricsense plugin: `msense` finds the module through it.
[project.entry-points.metricsense]
{name.replace("-", "_")} = "{module}"

[project.optional-dependencies]
test = ["pytest>=8"]

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
''',
        f"src/{module}/__init__.py": f'''"""metricsense-plugin-{name}: rules with the code prefix {prefix}.

- {code} kpi-without-owner: a KPI names no owner.
"""

from __future__ import annotations

from collections.abc import Iterator

from metricsense import Diagnostic, Severity, hookimpl, rule

__version__ = "0.1.0"

#: The plugin API this plugin needs; metricsense refuses it with a clear message if older.
METRICSENSE_API = 1


@rule(code="{code}", name="kpi-without-owner", severity=Severity.WARNING)
def kpi_without_owner(ctx) -> Iterator[Diagnostic]:
    """A KPI names no owner.

    ## Why is this bad?
    A number nobody owns is watched by everyone and acted on by no one: when it moves, there is
    no one whose conversation it starts.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {{
      target >= 4.5 by 2027-06-30
    }}
    ```

    ## What to do instead
    ```msense
    kpi csat "Customer satisfaction" {{
      owner "support lead"
      target >= 4.5 by 2027-06-30
    }}
    ```
    """
    for kpi in ctx.spec.kpis:
        if kpi.owner is None:
            yield ctx.report(kpi, f"the KPI `{{kpi.name}}` names no owner",
                             help=f'add `owner "..."` to `{{kpi.name}}`: who starts the conversation when it moves?')


RULES = [kpi_without_owner]


@hookimpl
def metricsense_register_rules(register):
    for r in RULES:
        register(r)
''',
        f"tests/cases/{code}/fail.msense": f'''mission "Customers who come back"
kpi csat "Customer satisfaction" {{   # [{code}]
  target >= 4.5 by 2027-06-30
}}
''',
        f"tests/cases/{code}/pass.msense": '''mission "Customers who come back"
kpi csat "Customer satisfaction" {
  owner "support lead"
  target >= 4.5 by 2027-06-30
}
''',
        "tests/test_cases.py": f'''"""Every rule's cases: a spec whose offending lines end with `# [{prefix}00N]` is a test."""

from __future__ import annotations

from pathlib import Path

import pytest

import {module}
from metricsense.testing import assert_case, collect_cases, markers, with_plugins

CASES = Path(__file__).parent / "cases"
# The plugin's rules with the built-in ones, as `msense` would load it (no entry point needed).
PM = with_plugins({name.replace("-", "_")}={module})


@pytest.mark.parametrize(("code", "spec"), collect_cases(CASES), ids=lambda v: getattr(v, "name", v))
def test_case(code, spec):
    result = assert_case(spec, code, plugin_manager=PM)
    if spec.stem.startswith("fail"):
        assert result.expected, f"{{spec}} is a failing case but carries no [{{code}}] marker"
    else:
        assert not markers(spec.read_text()).get(code), f"{{spec}} is a passing case with a marker"


def test_every_rule_has_a_failing_and_a_passing_case():
    for r in {module}.RULES:
        specs = [p.stem for p in (CASES / r.code).glob("*.msense")]
        assert any(s.startswith("fail") for s in specs), f"{{r.code}} has no failing case"
        assert any(s.startswith("pass") for s in specs), f"{{r.code}} has no passing case"


def test_every_rule_is_explained():
    for r in {module}.RULES:
        for section in ("## Why is this bad?", "## Example", "## What to do instead"):
            assert section in r.explanation, (r.code, section)
''',
        "README.md": f'''# metricsense-plugin-{name}

metricsense rules with the code prefix `{prefix}`.

| code | name | what it finds |
|---|---|---|
| {code} | kpi-without-owner | a KPI that names no owner |

## Install and use

```
pip install ./metricsense-plugin-{name}
msense plugins            # lists it
msense check specs/       # its rules run with the built-in ones
msense explain {code}
```

## Develop

```
pip install -e './metricsense-plugin-{name}[test]'
pytest metricsense-plugin-{name}
```

A rule is a function decorated with `@rule` whose docstring is its explanation; each rule has a
folder of cases in `tests/cases/CODE/`: a `fail*.msense` whose offending lines end with
`# [CODE]`, and a `pass*.msense` with none.
''',
    }


def write(name: str, folder: Path, force: bool = False) -> Path:
    """Write the package into ``folder/metricsense-plugin-NAME``; ValueError for a bad name or an
    existing folder (unless ``force``)."""
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a plugin name: lower-case letters, digits and dashes (acme, my-team)")
    root = folder / f"metricsense-plugin-{name}"
    if root.exists() and not force:
        raise ValueError(f"{root} exists; use --force to overwrite it")
    for rel, text in files_of(name).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return root
