"""The pre-commit hooks file: valid YAML, each hook runs an msense command on spec files."""

from __future__ import annotations

import re

from support import ROOT, require


def test_hooks():
    yaml = require("yaml")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"msense-check", "msense-fmt", "msense-fmt-check"}
    for h in hooks:
        assert h["entry"].startswith("msense ") and h["language"] == "python" and h["name"]
        assert re.search(h["files"], "kpis/customer.msense") and not re.search(h["files"], "data.csv")
    assert by_id["msense-fmt-check"]["entry"] == "msense fmt --check"
