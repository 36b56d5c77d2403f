"""Found by a cold attack on --analysis compact: the `noise` record is written whole in both forms, and a
trigger is copied under every KPI it reads, each copy with all its comparisons and `kpis`: one
trigger reading m KPIs writes m x m entries. Measured before the fix: m = 50 -> noise 1.13 MB,
m = 200 -> 17.8 MB of a 18.9 MB report (spec 14 KB); at 2,000 KPIs about 1.8 GB."""

from __future__ import annotations

import json

import numpy as np

import metricsense


def _noise_bytes(tmp_path, m: int) -> int:
    rng = np.random.default_rng(0)
    names = [f"k{i}" for i in range(m)]
    weeks = np.datetime64("2024-01-01") + 7 * np.arange(30)
    rows = ["period," + ",".join(names)] + [f"{w}," + ",".join(f"{v:.3f}" for v in 50 + rng.normal(size=m)) for w in weeks]
    folder = tmp_path / str(m)
    folder.mkdir()
    (folder / "d.csv").write_text("\n".join(rows) + "\n")
    spec = ['data "d.csv"', 'failure f "F" at output']
    spec += [f'kpi {k} "K {k}" {{ kind output better higher guards f }}' for k in names]
    spec.append("trigger t when " + " or ".join(f"{k} > 60" for k in names) + ' for 1 period {\n  ask "Why?"\n  with team\n}')
    (folder / "s.msense").write_text("\n".join(spec) + "\n")
    report = metricsense.check(folder / "s.msense", config={})
    record = next(iter(json.loads(report.to_json())["analysis"].values()))["noise"]
    return len(json.dumps(record))


def test_one_trigger_over_many_kpis_is_written_linearly(tmp_path):
    small, large = _noise_bytes(tmp_path, 40), _noise_bytes(tmp_path, 160)
    assert large < 6 * small, (small, large)  # 4x the KPIs: about 4x the bytes, not 16x
