"""Rules the engine itself reports: syntax, includes, plugin crashes, configuration, suppressions."""

from __future__ import annotations

from metricsense.diagnostics import Severity, declare, rules_of
from metricsense.hookspecs import hookimpl

SYNTAX_ERROR = declare(
    code="MS001", name="syntax-error", severity=Severity.ERROR, exit_code=2, always=True,
    doc='''The spec is not valid .msense syntax.

    ## Why is this bad?
    A spec that does not parse says nothing: no rule can run on it, so the KPI system it
    describes goes unchecked. The message says where the parse stopped, what was found and, in
    plain words, what could have come there; a hint follows when the mistake is a common one.
    Every error in the file is reported, not only the first: parsing resumes at the next line
    that starts a statement at column 1.

    ## Example
    ```msense
    kpi csat "Customer satisfaction" {
      target 4.5          # a target needs a comparison
    }
    ```

    ## What to do instead
    ```msense
    kpi csat "Customer satisfaction" {
      target >= 4.5 by 2027-06-30
    }
    ```
    ''',
)

INCLUDE_ERROR = declare(
    code="MS004", name="include-error", severity=Severity.ERROR, exit_code=2, always=True,
    doc='''An `include` (or a spec named on the command line) cannot be read.

    ## Why is this bad?
    A large organization splits its spec across files; a missing, cyclic or too deeply nested
    include silently drops part of the KPI system from every check. An include that leaves the
    spec's folder is refused too: a spec is data, and it may only read what it was allowed to
    (`--allow-path DIR` or `allow-paths` in the configuration widen that).

    ## Example
    ```msense
    include "teams/support.msense"   # no such file
    include "../../etc/passwd"       # outside the spec's folder
    ```

    ## What to do instead
    Include files that exist beside the spec, with no cycles; keep nesting below
    `max-include-depth` (16 by default).
    ''',
)

PLUGIN_CRASHED = declare(
    code="MS005", name="plugin-crashed", severity=Severity.ERROR, exit_code=3, always=True,
    doc='''An evaluator plugin failed: it raised, returned garbage, or could not be loaded.

    ## Why is this bad?
    A crashed evaluator checked nothing, so a clean report would lie. The crash is reported as
    a diagnostic naming the plugin and the rule, every other evaluator still runs, and the exit
    code is 3 so that CI notices.

    ## Example
    A third-party rule that divides by the number of levers crashes on a spec with none.

    ## What to do instead
    Report it to the plugin's authors; meanwhile switch the plugin off with
    `-p no:NAME` or `METRICSENSE_DISABLE_PLUGINS=NAME`.
    ''',
)

CONFIG_ERROR = declare(
    code="MS006", name="config-error", severity=Severity.ERROR, exit_code=2, always=True,
    doc='''The configuration (`msense.toml`, or `[tool.metricsense]` in pyproject.toml) is wrong.

    ## Why is this bad?
    A misspelt key or rule would otherwise be ignored, and the check would run with settings
    nobody chose. Unknown keys, unknown rules, unknown options and values of the wrong type are
    errors, reported with the file and line.

    ## Example
    ```toml
    [tool.metricsense]
    fail_on = "warning"      # the key is `fail-on`
    ```

    ## What to do instead
    ```toml
    [tool.metricsense]
    fail-on = "warning"
    ignore = ["MS016"]
    [tool.metricsense.rules.MS019]
    ratio = 1.5
    ```
    ''',
)

INVALID_SUPPRESSION = declare(
    code="MS007", name="invalid-suppression", severity=Severity.WARNING,
    doc='''A suppression comment gives no reason, or names no rule.

    ## Why is this bad?
    `# msense: ignore[MS013]` silences a finding about the KPI system; without a reason the next
    reader cannot tell a considered choice from a shortcut (seed 000: double-check each other,
    don't hide from the check). A suppression without a reason still suppresses, but is
    reported; one that names an unknown rule suppresses nothing.

    ## Example
    ```msense
    kpi uptime "Uptime" {   # msense: ignore[MS018]
    }
    ```

    ## What to do instead
    ```msense
    kpi uptime "Uptime" {   # msense: ignore[MS018] reason "moved by the vendor, tracked for the contract"
    }
    ```
    A comment on a line of its own suppresses on the next line.
    ''',
)


@hookimpl
def metricsense_register_rules(register):
    for r in rules_of(__name__):
        register(r)
