"""One spec through the pipeline: data, analysis, rules (their runner and time budget), suppressions, filters."""

from __future__ import annotations

import metricsense


# Review regression: a suppression naming its rule in lower case was not honoured.
def test_suppressions_name_rules_case_insensitively():
    spec = 'mission "M"\nlever idle "I"  # msense: ignore[ms017] reason "kept"\n'
    assert not [d for d in metricsense.check(spec, config={}).diagnostics if d.code in ("MS017", "MS007")]
