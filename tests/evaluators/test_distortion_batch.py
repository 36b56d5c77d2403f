"""MS402's batched step tests (distortion_batch) against the per-pair reference step_test, and the
distortion analysis against the per-pair loop the rule ran before (kept below as the reference).

Tolerances: the batch computes the same estimators by other arithmetic (inner products of
whitened, projected series instead of a Cholesky solve per pair), so numbers agree to rounding:
rel 1e-9 on every number (worst seen about 3e-11 on the slope, 2e-10 on p_iid), and exactly on
the error model chosen (rho, q), on which pairs are tested, on the keys and their order."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metricsense
from metricsense.evaluators.distortion import distortion_of, outcomes_for, _better
from metricsense.evaluators.distortion_batch import FIELDS, result, step_tests, t_sf_many
from metricsense.evaluators.distortion_stats import step_test, t_sf
from metricsense.data.dataset import DataSet, Series
from metricsense.evaluators.common import own_values

REL = 1e-9


def _same(got: dict | None, ref: dict | None, skip=()) -> None:
    assert (got is None) == (ref is None)
    if ref is None:
        return
    assert list(got) == list(ref)
    assert (got["rho"], got["q"]) == (ref["rho"], ref["q"])
    for k, v in ref.items():
        if k in skip:
            continue
        if isinstance(v, float) and math.isnan(v):
            assert math.isnan(got[k]), k
        else:
            assert got[k] == pytest.approx(v, rel=REL, abs=1e-12), k


def _walks(rng, k, n, scale=1.0, level=50.0):
    return level + np.cumsum(rng.normal(0, scale, (k, n)), axis=1) + rng.normal(0, 0.5, (k, n))


@pytest.mark.parametrize("seed", [1, 2])
def test_step_tests_are_step_test_for_every_pair(seed):
    """Outputs x outcomes over 40 + 24 periods with a missing period (times are steps on the
    grid), outcomes that follow an output, one with a planted shortfall, a constant output (None),
    a near-exact fit (the residual cancels: handed to the reference) and large levels (1e6)."""
    rng = np.random.default_rng(seed)
    n1, n2 = 40, 24
    t = np.arange(n1 + n2, dtype=float)
    t[30:] += 1
    X = _walks(rng, 6, n1 + n2)
    X[2] = 3.0  # does not vary: None
    X[4] += 1e6
    Y = _walks(rng, 5, n1 + n2, 0.7, 20.0)
    Y[0] += 0.8 * X[0]
    Y[1] += 0.5 * X[1] - 2.0 * (np.arange(n1 + n2) >= n1)
    Y[3] = 2.0 * X[5] + 1e-9 * rng.normal(size=n1 + n2)  # a near-exact fit
    found = step_tests(X[:, :n1], X[:, n1:], Y[:, :n1], Y[:, n1:], t[:n1], t[n1:])
    assert found["t"].shape == (6, 5)
    for i in range(6):
        for j in range(5):
            ref = step_test(X[i, :n1], Y[j, :n1], t[:n1], X[i, n1:], Y[j, n1:], t[n1:])
            if i != 4:
                _same(result(found, i, j), ref)
                continue
            # an output at 1e6: the reference (normal equations with x at 1e6) loses about six
            # digits of the slope and intercept; on x - 1e6 it keeps them (the fit is the same, the
            # intercept moves by slope 1e6), and the batch (centred first) agrees with that
            near = step_test(X[i, :n1] - 1e6, Y[j, :n1], t[:n1], X[i, n1:] - 1e6, Y[j, n1:], t[n1:])
            got = result(found, i, j)
            _same(got, near, skip=("intercept",))
            assert got["intercept"] == pytest.approx(near["intercept"] - near["slope"] * 1e6, rel=1e-9)
            assert got["slope"] == pytest.approx(ref["slope"], rel=1e-3)  # the reference: 3e-5 off here
    assert not found["valid"][2].any() and found["valid"][[0, 1, 3, 4, 5]].all()


def test_step_tests_short_spans_are_none_like_step_test():
    rng = np.random.default_rng(3)
    X, Y = _walks(rng, 2, 6), _walks(rng, 2, 6)
    found = step_tests(X[:, :3], X[:, 3:], Y[:, :3], Y[:, 3:], np.arange(3), np.arange(3, 6))
    assert not found["valid"].any()
    assert step_test(X[0, :3], Y[0, :3], range(3), X[0, 3:], Y[0, 3:], range(3, 6)) is None


def test_t_sf_many_is_t_sf():
    rng = np.random.default_rng(4)
    for df in (1.0, 4.0, 35.0, 99.0, 2361.0):
        t = np.r_[rng.normal(0, 3, 500), 0.0, 1e-12, -1e-12, 40.0, -40.0, 1e6, np.inf, -np.inf, np.nan]
        got = t_sf_many(t, df)
        ref = np.array([t_sf(v, df) for v in t])
        assert np.allclose(got, ref, rtol=1e-13, atol=1e-300)


# ---- the analysis against the per-pair loop of the rule before the batch ---------------------------


def _reference_divergence(kpi, spec, data, min_periods=6):
    """MS402's entries as kpi_distortion computed them pair by pair (before distortion_batch)."""
    s = data.series(kpi.name)
    observed = ~np.isnan(s.values)
    rows = np.flatnonzero(observed)
    after = np.arange(len(data.periods)) >= int(rows[len(rows) // 2])
    sign = _better(kpi)
    div = {}
    outcomes, basis = outcomes_for(kpi, spec)
    for oc in outcomes:
        o = data.series(oc.name)
        osign = _better(oc)
        if o is None or osign is None:
            continue
        both = ~np.isnan(s.values) & ~np.isnan(o.values)
        b_rows, a_rows = both & ~after, both & after
        entry = {"basis": basis, "n_before": int(b_rows.sum()), "n_after": int(a_rows.sum())}
        if b_rows.sum() < max(min_periods, 4) or a_rows.sum() < 3:
            div[oc.name] = {**entry, "status": "too few periods"}
            continue
        _, grid_rows = own_values(data.periods, np.column_stack([s.values, o.values]))
        when = np.full(len(data.periods), -1)
        when[grid_rows[grid_rows >= 0]] = np.flatnonzero(grid_rows >= 0)
        x1, y1 = s.values[b_rows], o.values[b_rows]
        x2, y2 = s.values[a_rows], o.values[a_rows]
        res = step_test(x1, y1, when[b_rows], x2, y2, when[a_rows]) if np.std(x1) != 0 else None
        res = None if res is None else {"basis": basis, **res}
        if res is None:
            div[oc.name] = {**entry, "status": "the output did not vary before"}
            continue
        res["output_change"] = float(sign * (x2.mean() - x1.mean()))
        res["outcome_change"] = float(osign * (y2.mean() - y1.mean()))
        z = -osign * res["t"]
        res["p"] = t_sf(z, res["df"]) if math.isfinite(z) else None
        res["p_iid"] = t_sf(-osign * res["t_iid"], res["n_before"] - 2) if math.isfinite(res["t_iid"]) else None
        res["theory_holds"] = bool(res["slope"] * sign * osign > 0)
        res["status"] = "evaluated"
        div[oc.name] = res
    return div


def test_distortion_analysis_matches_the_per_pair_loop():
    """Three outputs, four outcomes (two guard the outputs' failure, so two outputs see only them;
    the third guards a failure no outcome does, so it sees all four),
    weekly data with gaps in some series (pairs on different spans, own grids with a missing
    period), a constant output and an outcome with too few periods: every divergence entry is the
    per-pair loop's, the same keys in the same order, numbers within rel 1e-9."""
    rng = np.random.default_rng(25)
    n = 104
    weeks = np.datetime64("2024-01-01", "D") + 7 * np.arange(n)
    cols = {f"o{i}": 50 + np.cumsum(rng.normal(0, 1, n)) for i in range(3)}
    cols["o2"][:] = 4.0
    for j in range(4):
        cols[f"c{j}"] = 0.6 * cols[f"o{j % 2}"] + 10 + np.cumsum(rng.normal(0, 0.8, n))
    cols["o1"][20:23] = np.nan
    cols["c2"][60:64] = np.nan
    cols["c3"][:98] = np.nan
    data = DataSet(periods=weeks, series_map={k: Series(k, v, "sim") for k, v in cols.items()}, surveys={},
                   frequency="week")
    spec = ['failure f_out "Outputs fail" at output', 'failure f_oc "Outcomes fail" at outcome',
            'failure f_own "Only o1 guards it" at output']
    for i in range(3):
        spec.append(f'kpi o{i} "Output {i}" {{ kind output better higher guards {"f_own" if i == 1 else "f_out"} }}')
    for j in range(4):
        guards = "f_out" if j in (0, 3) else "f_oc"
        spec.append(f'kpi c{j} "Outcome {j}" {{ kind outcome better higher guards {guards} }}')
    doc = metricsense.load("\n".join(spec) + "\n")
    got = distortion_of(doc, data)
    checked = 0
    for k in doc.kpis:
        if k.kind != "output":
            continue
        ref = _reference_divergence(k, doc, data)
        mine = dict(got.kpis[k.name].divergence or {})
        assert list(mine) == list(ref)
        for name, r in ref.items():
            g = mine[name]
            assert list(g) == list(r), name
            for key, v in r.items():
                if isinstance(v, float):
                    assert g[key] == pytest.approx(v, rel=REL, abs=1e-12), (k.name, name, key)
                else:
                    assert g[key] == v, (k.name, name, key)
            checked += r.get("status") == "evaluated"
    assert checked >= 2
    statuses = {e.get("status") for k in ("o0", "o1", "o2") for e in (got.kpis[k].divergence or {}).values()}
    assert {"evaluated", "the output did not vary before", "too few periods"} <= statuses
    assert set(FIELDS) <= set(next(e for e in got.kpis["o0"].divergence.values() if e["status"] == "evaluated"))


def _pairing_spec(outcomes: int) -> str:
    lines = ['failure f_out "Outputs fail" at output', 'failure f_oc "Outcomes fail" at outcome',
             'lever l0 "Lever 0" owner "a"', 'lever l1 "Lever 1" owner "b"', 'lever l2 "Lever 2" owner "c"',
             'kpi g "Guards" { kind output better higher guards f_out responds l0 +0.2 }',
             'kpi v "Lever" { kind output better higher guards f_own responds l1 +0.2, l2 +0.1 }',
             'kpi n "Neither" { kind output better higher guards f_own responds l2 +0.1 }',
             'failure f_own "Only outputs guard it" at output']
    for j in range(outcomes):
        guards = "f_out" if j == 0 else "f_oc"
        lever = "l0" if j == 0 else ("l1" if j in (1, 2) else "l0")
        lines.append(f'kpi c{j} "Outcome {j}" {{ kind outcome better higher guards {guards} responds {lever} +0.3 }}')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("outcomes", [20, 21])
def test_outcomes_for_pairs_by_failure_then_lever_then_every_outcome_in_small_specs(outcomes):
    """Issue 25's pairing: a shared failure first; else a shared lever (the outcomes responding
    to any of the output's levers, in spec order); else every outcome, only with at most 20."""
    doc = metricsense.load(_pairing_spec(outcomes))
    kpi = {k.name: k for k in doc.kpis}
    known: dict = {}
    got, basis = outcomes_for(kpi["g"], doc, known)
    assert ([k.name for k in got], basis) == (["c0"], "guards")  # c0 also shares l0: the failure wins
    got, basis = outcomes_for(kpi["v"], doc, known)
    assert ([k.name for k in got], basis) == (["c1", "c2"], "levers")
    got, basis = outcomes_for(kpi["n"], doc, known)  # l2: no outcome responds to it
    if outcomes <= 20:
        assert ([k.name for k in got], basis) == ([f"c{j}" for j in range(outcomes)], "every outcome")
    else:
        assert (got, basis) == ([], None)
    assert outcomes_for(kpi["v"], doc) == outcomes_for(kpi["v"], doc, known)  # the cache changes nothing


def test_divergence_entries_say_the_basis():
    """A lever-paired output with a planted divergence: its analysis entries carry basis
    "levers"."""
    rng = np.random.default_rng(7)
    n = 104
    weeks = np.datetime64("2024-01-01", "D") + 7 * np.arange(n)
    out = 50 + np.cumsum(rng.normal(0, 0.3, n))
    out[n // 2:] += np.linspace(0, 8, n - n // 2)  # the output improves after the split
    oc = 0.8 * out + rng.normal(0, 0.3, n)
    oc[n // 2:] -= np.linspace(0, 8, n - n // 2) * 0.8  # the outcome does not follow
    data = DataSet(periods=weeks, series_map={"o": Series("o", out, "sim"), "c": Series("c", oc, "sim")},
                   surveys={}, frequency="week")
    spec = ('failure f1 "One" at output\nfailure f2 "Two" at outcome\nlever l "L" owner "a"\n'
            'kpi o "Output" { kind output better higher guards f1 responds l +0.3 }\n'
            'kpi c "Outcome" { kind outcome better higher guards f2 responds l +0.2 }\n')
    doc = metricsense.load(spec)
    entry = distortion_of(doc, data).kpis["o"].divergence["c"]
    assert entry["basis"] == "levers" and entry["status"] == "evaluated"


def test_the_layouts_kept_are_bounded_by_bytes(monkeypatch):
    # MS402's per-span layouts (81 error models' projections) were kept for 16 spans whatever
    # their size (194 MiB for a 500-period span): now at most LAYOUT_BYTES, the last one always
    import collections

    from metricsense.evaluators import distortion_batch as batch
    from metricsense.evaluators.distortion_stats import STEP_QS, STEP_RHOS

    monkeypatch.setattr(batch, "_LAYOUTS", collections.OrderedDict())
    grid = (tuple(STEP_RHOS), tuple(STEP_QS))

    def span(offset: float):
        t = np.arange(30.0) + offset
        return batch._layout(t[:15].tobytes(), t[15:].tobytes(), *grid)

    first = span(0)
    size = sum(v.nbytes for v in first.values() if hasattr(v, "nbytes"))
    assert size >= first["M"].nbytes == len(first["models"]) * 30 * 30 * 8
    assert span(0) is first  # kept: built once per span
    monkeypatch.setattr(batch, "LAYOUT_BYTES", int(2.5 * size))
    layouts = [span(k) for k in (1, 2, 3)]
    assert len(batch._LAYOUTS) == 2 and span(3) is layouts[-1] and span(2) is layouts[-2]
    monkeypatch.setattr(batch, "LAYOUT_BYTES", 1)
    last = span(4)
    assert list(batch._LAYOUTS.values()) == [(last, size)]


@pytest.mark.parametrize("outcomes", [20, 21])
def test_outputs_left_untested_are_named_by_ms404(tmp_path, outcomes):
    """Issue 25's bound leaves an output that shares no failure or lever with any of more than 20
    outcomes untested: MS404 (info) says so once, naming five and how many more, every one in
    its evidence; an output without data or a direction is not MS402's to test, and is left out.
    With 20 outcomes such outputs are compared with every outcome: no finding."""
    rng = np.random.default_rng(404)
    lone = [f"u{i}" for i in range(7)]
    cols = lone + [f"c{j}" for j in range(outcomes)] + ["nodir"]
    rows = ["period," + ",".join(cols)]
    values = 50 + np.cumsum(rng.normal(0, 1, (40, len(cols))), axis=0)
    for w in range(40):
        rows.append(str(np.datetime64("2024-01-01") + 7 * w) + "," + ",".join(f"{v:.3f}" for v in values[w]))
    (tmp_path / "kpis.csv").write_text("\n".join(rows) + "\n")
    spec = ['mission "M"', 'data "kpis.csv"', 'failure f "F" at outcome', 'failure g "G" at output']
    spec += [f'kpi {u} "{u}" {{ kind output better higher guards g }}' for u in lone]
    spec += ['kpi nodata "No data" { kind output better higher data "kpis.csv" column "absent" }',
             'kpi nodir "No direction" { kind output guards g }']
    spec += [f'kpi c{j} "Outcome {j}" {{ kind outcome better higher guards f }}' for j in range(outcomes)]
    (tmp_path / "s.msense").write_text("\n".join(spec) + "\n")
    report = metricsense.check(tmp_path / "s.msense", config={"select": ["MS404"]})
    found = [d for d in report.diagnostics if d.code == "MS404"]
    if outcomes <= 20:
        assert not found
        return
    (d,) = found
    assert d.evidence == {"outputs": lone, "outcomes": 21, "every_outcome_up_to": 20}
    assert d.message.startswith("`u0`, `u1`, `u2`, `u3`, `u4` and 2 more are compared with no outcome KPI")
    assert d.severity.name.lower() == "info"


def test_span_layouts_made_together_are_each_span_layout_to_the_bit(monkeypatch):
    """Spans of one size (a system with gaps: a span per pair) have their layouts made with one
    stacked factorisation per error model: the same arrays as one span at a time, bit for bit;
    spans of other sizes, repeated spans and a stack split in chunks (STACK) too."""
    from metricsense.evaluators import distortion_batch
    from metricsense.evaluators.distortion_batch import _span_layout, span_layouts
    from metricsense.evaluators.distortion_stats import STEP_QS, STEP_RHOS

    monkeypatch.setattr(distortion_batch, "STACK", 3)
    rng = np.random.default_rng(4)
    keys = []
    for n1, n2 in [(12, 7)] * 5 + [(9, 5)] * 2 + [(15, 3)]:
        t = np.sort(rng.choice(40, n1 + n2, replace=False)).astype(float)  # times on the pair's own grid
        keys.append((t[:n1].tobytes(), t[n1:].tobytes()))
    keys.append(keys[1])  # a span met twice
    got = span_layouts(keys, STEP_RHOS, STEP_QS)
    for key, lay in zip(keys, got):
        ref = _span_layout(*key, STEP_RHOS, STEP_QS)
        assert list(lay) == list(ref) and lay["models"] == ref["models"]
        for name in ("M1", "const", "M", "C", "z11", "ok_full", "near"):
            assert lay[name].dtype == ref[name].dtype and np.array_equal(lay[name], ref[name]), name


def test_a_system_with_gaps_gives_what_each_span_alone_gave(tmp_path, monkeypatch):
    """The distortion analysis of outputs and outcomes with scattered gaps (a span per pair, its
    layouts made together) against the same analysis with every layout made alone."""
    from metricsense.evaluators import distortion_batch

    rng = np.random.default_rng(9)
    k, t = 16, 60
    values = 50 + np.cumsum(rng.normal(size=(t, k)), axis=0)
    values[rng.random(values.shape) < 0.15] = np.nan
    lines = ["period," + ",".join(f"k{i}" for i in range(k))]
    for w in range(t):
        day = np.datetime64("2024-01-01") + np.timedelta64(7 * w, "D")
        lines.append(f"{day}," + ",".join("" if np.isnan(v) else f"{v:.3f}" for v in values[w]))
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    spec = ['data "data.csv"', 'failure f "F" at outcome']
    spec += [f'kpi k{i} "K{i}" {{ kind {"output" if i % 2 else "outcome"}  better higher  guards f }}'
             for i in range(k)]
    (tmp_path / "spec.msense").write_text("\n".join(spec) + "\n")
    config = {"time-budget": 1e9, "select": ["MS402"]}
    stacked, made = [], distortion_batch._stacked_layouts
    monkeypatch.setattr(distortion_batch, "_stacked_layouts", lambda keys, *a: stacked.append(len(keys)) or made(keys, *a))
    together = metricsense.check(tmp_path / "spec.msense", config=config)
    assert sum(stacked) >= 10  # spans of one size made together
    monkeypatch.setattr(distortion_batch, "_stacked_layouts", lambda keys, rhos, qs: None)
    alone = metricsense.check(tmp_path / "spec.msense", config=config)
    (a,), (b,) = together.analysis.values(), alone.analysis.values()
    tests = [v for e in a["distortion"].kpis.values() for v in (e.divergence or {}).values()]
    assert sum(v.get("status") == "evaluated" for v in tests) >= 30
    assert a["distortion"].to_json() == b["distortion"].to_json()
