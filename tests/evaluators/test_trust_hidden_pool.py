"""Found by a cold attack on trust secondary suppression: a department shown beside one shown team is an
equation about the hidden teams' pool (dept - team = the others), the same equation as a total
beside hidden groups, which trust.py refuses because answers are bounded. With min_group 5: dept
(10) = team-1 (5, shown) + team-2 (2) + team-3 (3); dept and team-1 are both shown (their only
classes are 5 and 5), and when the pool of 5 all answered 1, 10 x mean(dept) - 5 x mean(team-1)
= 5 says team-2's and team-3's means (1.0); the favourable counts (3 - 3 = 0) say their
favourable share (0) whatever the answers.
Found by a cold attack; uses test_trust_linked's helpers."""

from __future__ import annotations

import pytest

from test_trust_linked import _check, _respondent_rows

T1 = [f"a{i}" for i in range(5)]


@pytest.mark.parametrize("pool", [(2, 3), (1, 4), (2, 2, 1)])
def test_a_department_and_a_shown_team_say_nothing_of_the_hidden_teams_pool(tmp_path, pool):
    others, units, k = [], {}, 0
    for j, size in enumerate(pool):
        people = [f"h{k + i}" for i in range(size)]
        k += size
        units[f"team-h{j}"] = people
        others += people
    units = {"dept": T1 + others, "team-1": T1, **units}
    score = {**dict(zip(T1, [2, 3, 4, 4, 5])), **{p: 1 for p in others}}
    _, info = _check(tmp_path, _respondent_rows(units, score))
    shown = {g.group for g in info.groups}
    assert not {"dept", "team-1"} <= shown, "dept minus team-1 is the hidden teams' pool"
