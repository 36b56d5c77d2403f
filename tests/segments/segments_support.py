"""Helpers for the segment tests: the spec, its data as pandas frames, and how findings compare.

The oracle is independent of the segment machinery: each segment's rows are written to a file of
their own (with pandas) and checked by a plain `metricsense.check`; the segmented run must give
the same findings (prefixed with the segment) and the same analysis.
"""

from __future__ import annotations

import numpy as np

from support import require

TEAMS = ["north", "south", "east", "west", "7"]

SPEC = """mission "Serve every region well" { why "Regions are where customers are." }
DATA
lever lev "Staff hours" owner "ops"
disturbance weather "Weather"
failure f1 "Customers leave" at outcome
kpi a "Satisfaction" {
  kind outcome
  focus relationships
  better higher
  owner "ops"
  target >= 10 by 2027-01-01
  link "Satisfied customers stay"
  guards f1
  responds lev +0.5
  disturbed weather -0.2
}
kpi b "Wait time" {
  kind process
  better lower
  owner "ops"
  target <= 1 by 2027-01-01
  link "Waiting drives customers away"
  responds lev -0.5
}
trigger a_low when a < 0 for 2 periods {
  ask "What happened to satisfaction?"
  with one-to-one
}
trust value_question {
  managers "What value are you bringing?"
  team "What value did your manager bring?"
  scale 1..5
  data "survey.csv"
  gap > 1.0
  min_group 5
}
"""


def kpi_frame(seed: int = 3):
    pd = require("pandas")
    rng = np.random.default_rng(seed)
    rows = []
    for k, team in enumerate(TEAMS):
        lev = rng.normal(size=40).cumsum()
        weather = rng.normal(size=40)
        for i in range(40):
            a = 0.5 * lev[i] - 0.2 * weather[i] + rng.normal() * 0.2
            # north: b says what a says (MS101 there only); the others are independent.
            b = -a + rng.normal() * 0.01 if team == "north" else -0.5 * lev[i] + rng.normal()
            if team == "west" and i % 7 == 3:
                b = np.nan  # gaps stay gaps
            rows.append({"period": i + 1, "team": team, "lev": round(lev[i], 4), "weather": round(weather[i], 4),
                         "a": round(a, 4), "b": b if np.isnan(b) else round(b, 4)})
    return pd.DataFrame(rows)


def survey_frame():
    pd = require("pandas")
    rows = []
    sizes = {"north": 7, "south": 3, "east": 6, "west": 8, "7": 6}  # south: below the minimum
    for k, team in enumerate(TEAMS):
        own = 5 if team == "east" else 4
        rows.append({"team": team, "group": f"grp-{team}", "manager_id": f"mgr-{k}", "role": "manager",
                     "question": "managers", "score": own})
        for j in range(sizes[team]):
            score = 2 if team == "east" else (1 + (j * 7 + k) % 5 if team == "south" else 4 - (j % 2))
            rows.append({"team": team, "group": f"grp-{team}", "manager_id": f"mgr-{k}", "role": "team",
                         "question": "team", "score": score})
    return pd.DataFrame(rows)


def strip_segment(d: dict) -> tuple:
    message = d["message"]
    if d.get("segment") is not None:
        prefix = f"[team={d['segment']}] "
        assert message.startswith(prefix), message
        message = message[len(prefix):]
    return (d["code"], d["span"]["line"], d["span"]["column"], message)


def sorted_teams() -> list[str]:
    return sorted(TEAMS, key=lambda t: (0, float(t), t) if t.isdigit() else (1, 0.0, t))


def write_spec(folder, clause: str, name: str = "spec.msense"):
    (folder / name).write_text(SPEC.replace("DATA", clause), "utf-8")
    return folder / name
