"""The JSON report of a 2,000-KPI system stays under 10 MB (issue 25), and stays linear.

Fast path, said plainly: the spec (2,000 KPIs, 200 levers, two gains, a target, `guards` and a
trigger each) is checked for real without data (the structural rules: MS013 once named every
KPI and lever in one message); the data evaluators' records are then put in at their worst
shapes for this size instead of being computed (the statistical rules on 2,000 series take
longer than a unit test may): a correlation matrix with a common factor (every pair above the
reporting floor), declared gains with dense estimates beside them, 2,000 triggers that each fired
20 times with their series, a noise entry per KPI, and a divergence test for every output and
outcome pair (500 x 500). The compaction is what is tested; benchmarks/bench_scale.py measures
the real run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.records import (
    CorrelationAnalysis,
    DistortionAnalysis,
    EstimatedGains,
    GainAnalysis,
    KpiDistortion,
    KpiNoise,
    KpiSeries,
    NoiseAnalysis,
    TriggerEvaluation,
    TriggerEvent,
    TriggersAnalysis,
    Variance,
)

N, LEVERS, T = 2000, 200, 104
KINDS = ("input", "process", "output", "outcome")
LIMIT = 10_000_000


def _spec(n: int) -> str:
    out = ['mission "Serve people well" { owner "director" }']
    out += [f'lever l{j} "Lever {j}"' for j in range(n // 10)]
    out += [f'failure f_{k} "Things go wrong at the {k}" at {k}' for k in KINDS]
    for i in range(n):
        out.append(f'kpi k{i} "KPI {i}" {{\n  kind {KINDS[i % 4]}\n  better higher\n  target >= 60 by 2026-12-31\n'
                   f'  guards f_{KINDS[i % 4]}\n  responds l{i % (n // 10)} +0.3, l{(i * 7 + 1) % (n // 10)} +0.2\n}}')
        out.append(f'trigger t{i} when k{i} < target - 10 for 2 periods {{\n  ask "What held k{i} back?"\n'
                   "  with one-to-one\n}")
    return "\n".join(out) + "\n"


def _records(kpis: list[str], levers: list[str], rng) -> dict:
    k, m = len(kpis), len(levers)
    common = rng.standard_normal(T)
    x = 0.9 * common[:, None] + 0.4 * rng.standard_normal((T, k))  # one factor: every |r| > 0.5
    r = np.corrcoef(x, rowvar=False)
    corr = CorrelationAnalysis("changes", "pearson", tuple(kpis), r.tolist(), np.full((k, k), T - 1).tolist(),
                               12.5, k, tuple(kpis))
    g = np.zeros((k, m))
    g[np.arange(k), np.arange(k) % m] = 0.3
    g[np.arange(k), (np.arange(k) * 7 + 1) % m] = 0.2
    est = EstimatedGains(tuple(kpis), tuple(levers), rng.normal(0, 0.1, (k, m)).tolist(),
                         np.full((k, m), 0.1).tolist(), [T - 1] * k, 0,
                         lags={a: {b: 0 for b in levers} for a in kpis}, controls={a: [] for a in kpis})
    gain = GainAnalysis(tuple(kpis), tuple(levers), g.tolist(), "declared", 2.1, 1.8, None, m,
                        list(np.linspace(2, 1, m)), (g * 0.1).tolist(), {f"k{j}": f"l{j}" for j in range(m)}, 45.6,
                        est)
    labels = tuple(str(np.datetime64("2024-01-01") + np.timedelta64(7 * w, "D")) for w in range(T))
    series = {a: KpiSeries(labels, tuple(float(v) for v in 50 + x[:, i]), 60.0) for i, a in enumerate(kpis)}
    events = tuple(TriggerEvent(labels[w], labels[w + 1], 2, None, {"k": 41.5}, 60.0, "k", Variance(41.5, "<", 50.0, -8.5),
                                held=(labels[w - 1], labels[w], labels[w + 1])) for w in range(1, T - 2, 5))
    fired = {f"t{i}": TriggerEvaluation(a, "one-to-one", f"What held {a} back?", labels[::2], "evaluated", 2, None, T,
                                        len(events) * 2, 0.4, events) for i, a in enumerate(kpis)}
    noise = NoiseAnalysis({a: KpiNoise(1.03, T - 1, 23.6, 3, None, 26.15, ">=", 2.5, 2.02, False, None,
                                       {"t": {"trigger": "t", "for_periods": 2, "join": "and", "status": "evaluated",
                                              "rate": 0.7, "rate_per_run": 0.69, "kpis": [a]}},
                                       1.24, 1, {"method": "moves over the review period", "moves": 101,
                                                 "mean_move": -0.54, "df": 30.8}, 0.99) for a in kpis})
    outcomes = [a for i, a in enumerate(kpis) if KINDS[i % 4] == "outcome"]
    test = {"intercept": 45.7, "slope": 0.10, "residual_sd": 0.80, "mean_residual": 0.46, "se": 1.05, "t": 0.44,
            "df": 99.0, "n_before": 52, "n_after": 52, "r1": 0.74, "rho": 0.6, "q": 1.0, "t_iid": 22.4,
            "output_change": -0.28, "outcome_change": 7.3, "p": 0.67, "p_iid": 1.0, "theory_holds": True,
            "status": "evaluated"}
    dist = DistortionAnalysis({a: KpiDistortion(
        "2024-12-30", "midpoint", {"n": 52, "cutoff": 42.66, "meets": "above", "status": "evaluated"},
        {"of": "period-to-period changes", "before": 1.1, "after": 0.96, "ratio": 0.89, "p": 0.56},
        {o: {**test, "p": float(j) / len(outcomes)} for j, o in enumerate(outcomes)} if KINDS[i % 4] == "output" else None)
        for i, a in enumerate(kpis)})
    return {"correlation": corr, "gain": gain, "triggers": TriggersAnalysis(series, fired), "noise": noise,
            "distortion": dist}


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    """The 2,000-KPI spec checked without data, its analysis filled with the worst-shaped records."""
    spec = tmp_path_factory.mktemp("big") / "big.msense"
    spec.write_text(_spec(N), "utf-8")
    report = metricsense.check(spec, config={})
    analysis = report.analysis[str(spec)] if str(spec) in report.analysis else next(iter(report.analysis.values()))
    kpis, levers = [f"k{i}" for i in range(N)], [f"l{j}" for j in range(N // 10)]
    analysis.update(_records(kpis, levers, np.random.default_rng(25)))
    return report


def test_a_2000_kpi_report_stays_under_10_mb(big_report):
    report = big_report
    assert report.analysis_form == "compact"
    text = report.to_json()
    size = len(text.encode("utf-8"))
    assert size < LIMIT, f"{size / 1e6:.1f} MB"
    doc = json.loads(text)
    assert doc["version"] == 1 and doc["analysis_form"] == "compact"
    got = next(iter(doc["analysis"].values()))
    # every pair is above the floor (one common factor), and only 5 per KPI are written
    assert got["correlation"]["pairs_above_floor"] == N * (N - 1) // 2
    assert len(got["correlation"]["pairs"]) == 5 * N and "matrix" not in got["correlation"]
    top = got["correlation"]["pairs"][0]
    assert abs(top["r"]) == max(abs(p["r"]) for p in got["correlation"]["pairs"])
    assert got["gain"]["gains_nonzero"] == 2 * N and len(got["gain"]["gains"]) == 2 * N
    assert "series" not in got["triggers"] and got["triggers"]["fired"]["t0"]["events_total"] == 21
    assert len(got["triggers"]["fired"]["t0"]["latest_events"]) == 3
    estimated = got["gain"]["estimated"]
    assert estimated["gains_estimated"] == N * (N // 10) and "matrix" not in estimated
    assert 2 * N <= len(estimated["gains"]) <= 2 * N + N + N // 10
    divergence = got["distortion"]["k2"]
    assert divergence["divergence_total"] == N // 4 and len(divergence["divergence_shown"]) == 5
    assert [t["p"] for t in divergence["divergence_shown"].values()] == sorted(
        t["p"] for t in divergence["divergence_shown"].values())
    # no message names more than a handful of items (MS013 named every KPI and lever)
    longest = max(doc["diagnostics"], key=lambda d: len(d["message"]))
    assert len(longest["message"]) < 1000, longest["message"][:300]
    assert all(len(d["related"]) <= 5 for d in doc["diagnostics"])
    ms013 = next(d for d in doc["diagnostics"] if d["code"] == "MS013")
    assert "more" in ms013["message"] and len(ms013["evidence"]["kpis"]) > 5


#: The HTML report of the same system: its matrices in blocks, the rest linear in the KPIs (a line
#: chart per KPI series, 19 MB of it with a trigger firing every other period: 52 shaded bands a KPI).
HTML_LIMIT = 25_000_000


def test_the_other_formats_of_a_2000_kpi_report_stay_small(big_report):
    from metricsense.reports.html import render_html
    from metricsense.reports.markdown import render_markdown
    from metricsense.reports.sarif import render_sarif

    html = render_html(big_report)
    # before: each matrix cell by cell, 1.1 GB (the correlation's 4 million cells 889 MB)
    assert len(html.encode("utf-8")) < HTML_LIMIT, f"{len(html) / 1e6:.1f} MB"
    # four matrices (declared gains, their RGA, the estimated gains, the correlation), each in at
    # most 40 x 40 blocks
    assert html.count("(in blocks)</title>") == 4 and html.count('<table class="strongest">') == 4
    assert html.count('class="cell"') <= 4 * 40 * 40
    assert html.count('<figure class="kpi-series">') == N
    assert len(render_markdown(big_report).encode("utf-8")) < LIMIT
    assert len(render_sarif(big_report).encode("utf-8")) < LIMIT


def test_a_large_matrix_is_drawn_in_blocks_and_whole_on_request():
    from metricsense.reports.blocks import BLOCKS, STRONGEST, matrix_figure

    rng = np.random.default_rng(7)
    names = [f"k{i}" for i in range(130)]
    r = np.corrcoef(rng.standard_normal((40, 130)), rowvar=False)
    r[3, 77] = r[77, 3] = -0.99  # the strongest pair, negative
    r[5, 6] = r[6, 5] = None
    matrix = r.tolist()
    whole, said = matrix_figure(matrix, names, names, whole=True, title="c", limit=1.0, symmetric=True)
    assert said == "" and whole.count('class="cell"') == 130 * 130
    drawn, said = matrix_figure(matrix, names, names, whole=False, title="c", limit=1.0, symmetric=True,
                                axes=("KPI", "KPI"))
    blocks = -(-130 // -(-130 // BLOCKS))  # 4 KPIs a block: 33 blocks a side
    assert drawn.count('class="cell"') == blocks * blocks and "blocks of 4 × 4" in said
    # the block of k3 and k77 shows -0.99; the diagonal (1.0) is left out of every block
    assert "k0…k3 × k76…k79: -0.99" in drawn and ": 1.00<" not in drawn
    rows = drawn.split('<table class="strongest">')[1].split("<tr>")[2:]
    assert len(rows) == STRONGEST and rows[0].startswith("<td><code>k3</code></td><td><code>k77</code></td><td>-0.99")
    shown = [abs(float(row.split("<td>")[3].split("<")[0])) for row in rows]
    assert shown == sorted(shown, reverse=True)
    upper = np.abs(np.where(np.triu(np.ones_like(r, dtype=bool), 1), np.nan_to_num(r), 0))
    assert shown[-1] == pytest.approx(np.sort(upper.ravel())[-STRONGEST], abs=0.005)
    # a small matrix is drawn whole by default
    small, said = matrix_figure([row[:20] for row in matrix[:20]], names[:20], names[:20], whole=False, title="c")
    assert said == "" and small.count('class="cell"') == 400


def test_the_html_draws_every_cell_under_analysis_full():
    from metricsense.report import Report
    from metricsense.reports.html import render_html

    kpis, levers = [f"k{i}" for i in range(70)], [f"l{j}" for j in range(7)]
    analysis = _records(kpis, levers, np.random.default_rng(1))
    compact = render_html(Report([], {"s": {"correlation": analysis["correlation"]}}, ["s"]))
    full = render_html(Report([], {"s": {"correlation": analysis["correlation"]}}, ["s"], analysis_form="full"))
    assert full.count('class="cell"') == 70 * 70 and "in blocks" not in full
    assert compact.count('class="cell"') == 35 * 35 and "(in blocks)" in compact


def test_the_full_analysis_is_written_on_request():
    from metricsense.report import Report

    kpis, levers = [f"k{i}" for i in range(40)], [f"l{j}" for j in range(4)]
    analysis = _records(kpis, levers, np.random.default_rng(1))
    full = json.loads(Report([], {"s": analysis}, ["s"], analysis_form="full").to_json())
    compact = json.loads(Report([], {"s": analysis}, ["s"]).to_json())
    assert full["analysis_form"] == "full" and compact["analysis_form"] == "compact"
    assert len(full["analysis"]["s"]["correlation"]["matrix"]) == 40
    assert full["analysis"]["s"]["triggers"]["series"]["k0"]["values"][0] == analysis["triggers"].series["k0"].values[0]
    # a key written in both forms means the same (an object: the same rule for its own keys)
    def same(small, whole, path):
        if isinstance(small, dict) and isinstance(whole, dict):
            for key, value in small.items():
                if key in whole:
                    same(value, whole[key], path + [key])
        else:
            assert small == whole, path

    same(compact["analysis"], full["analysis"], [])
    # noise: each trigger written once (under the first KPI that reads it), the others name it
    small, whole = compact["analysis"]["s"]["noise"], full["analysis"]["s"]["noise"]
    once = {}
    for kpi, entry in whole.items():
        assert small[kpi].get("triggers_read", []) == list(entry.get("triggers") or {})
        for trigger, info in (small[kpi].get("trigger_noise") or {}).items():
            assert trigger not in once and info == entry["triggers"][trigger]
            once[trigger] = info
    assert set(once) == {t for e in whole.values() for t in (e.get("triggers") or {})}
    pair = compact["analysis"]["s"]["correlation"]["pairs"][0]
    a, b = (kpis.index(k) for k in pair["kpis"])
    assert full["analysis"]["s"]["correlation"]["matrix"][a][b] == pair["r"]


SMALL = '''mission "M"
data "k.csv"
lever u "U"
kpi a "A" { kind output  target >= 60 by 2030-01-01  responds u +0.5 }
kpi b "B" { kind outcome }
trigger low when a < 55 for 2 periods { ask "Why?" with team }
'''


def _small(folder):
    rng = np.random.default_rng(3)
    rows = "".join(f"2024-{1 + w // 4:02d}-{1 + 7 * (w % 4):02d},{50 + rng.normal():.3f},{60 + rng.normal():.3f},"
                   f"{rng.normal():.3f}\n" for w in range(40))
    (folder / "k.csv").write_text("period,a,b,u\n" + rows)
    (folder / "k.msense").write_text(SMALL)


def test_analysis_is_chosen_on_the_command_line_and_in_the_configuration(tmp_path):
    from support import run_msense

    _small(tmp_path)
    docs = {}
    for form in ("compact", "full", None):
        args = ["check", "k.msense", "--format", "json", "--exit-zero"] + (["--analysis", form] if form else [])
        done = run_msense(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        docs[form] = json.loads(done.stdout)
    assert docs[None]["analysis_form"] == "compact" and docs[None]["analysis"] == docs["compact"]["analysis"]
    assert docs["full"]["analysis_form"] == "full" and "matrix" in docs["full"]["analysis"]["k.msense"]["correlation"]
    assert "matrix" not in docs["compact"]["analysis"]["k.msense"]["correlation"]
    assert docs["full"]["diagnostics"] == docs["compact"]["diagnostics"]
    (tmp_path / "msense.toml").write_text('analysis = "full"\n')
    done = run_msense("check", "k.msense", "--format", "json", "--exit-zero", cwd=tmp_path)
    assert json.loads(done.stdout)["analysis_form"] == "full"
    (tmp_path / "msense.toml").write_text('analysis = "whole"\n')
    done = run_msense("check", "k.msense", "--format", "json", "--exit-zero", cwd=tmp_path)
    assert done.returncode == 2 and "`analysis` must be one of compact, full" in done.stdout
    done = run_msense("check", "k.msense", "--analysis", "whole", cwd=tmp_path)
    assert done.returncode == 2 and "whole" in done.stderr
