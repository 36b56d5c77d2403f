"""The JSON report: one encoder, non-finite numbers as null."""

from __future__ import annotations

import json

import metricsense


# Review regression: NaN in an analysis (a constant KPI) once broke the JSON report.
def test_constant_data_never_breaks_the_json(tmp_path):
    (tmp_path / "k.csv").write_text("period,k1,k2\n" + "".join(f"{i},5,{i % 3}\n" for i in range(1, 40)))
    (tmp_path / "k.msense").write_text('mission "M"\ndata "k.csv"\nkpi k1 "K1" { target >= 6 by 2027-01-01 }\n'
                                       'kpi k2 "K2" { }\n')
    report = metricsense.check(tmp_path / "k.msense", config={})
    doc = json.loads(report.to_json())  # NaN in an analysis becomes null, never a crash
    assert any(d["code"] == "MS103" for d in doc["diagnostics"])
