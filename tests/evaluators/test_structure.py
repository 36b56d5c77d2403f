

def test_a_misspelt_lever_is_one_finding_not_three():
    # `responds coachng` (for `coaching`): MS002 with its did-you-mean; no idle lever (MS017) and
    # no owner-without-lever (MS020) that only follow from the typo
    import metricsense

    spec = ('mission "M"\nlever coaching "C" owner "ana"\n'
            'kpi k "K" { owner "ana"\n responds coachng 0.5\n}\n')
    codes = [d.code for d in metricsense.check(spec, config={}).diagnostics]
    assert "MS002" in codes and "MS017" not in codes and "MS020" not in codes
    fixed = [d.code for d in metricsense.check(spec.replace("coachng", "coaching"), config={}).diagnostics]
    assert "MS002" not in fixed and "MS017" not in fixed and "MS020" not in fixed
    idle = [d.code for d in metricsense.check(spec.replace("coachng", "mentoring"), config={}).diagnostics]
    assert "MS017" in idle  # a name that is nothing like a lever leaves the lever idle


def _kuhn(kpis, edges):
    """The matching before issue 25's early stop: an augmenting path tried from every KPI."""
    lever_of = {}
    for k in kpis:
        seen = set()

        def augment(kpi):
            for lever in edges.get(kpi, ()):
                if lever in seen:
                    continue
                seen.add(lever)
                if lever not in lever_of or augment(lever_of[lever]):
                    lever_of[lever] = kpi
                    return True
            return False

        augment(k)
    return {kpi: lever for lever, kpi in lever_of.items()}


def test_the_matching_stops_when_every_lever_is_matched_and_finds_what_it_found():
    import random

    from metricsense.evaluators.structure import max_matching, overdetermined

    rng = random.Random(5)
    for trial in range(300):
        nk, nl = rng.randint(1, 40), rng.randint(1, 12)
        levers = [f"l{j}" for j in range(nl + 2)]  # two that no KPI names
        kpis = [f"k{i}" for i in range(nk)]
        edges = {k: rng.sample(levers[:nl], rng.randint(0, min(3, nl))) for k in kpis}
        assert max_matching(kpis, edges) == _kuhn(kpis, edges)  # the early stop changes nothing
        group, named = overdetermined(kpis, edges)
        matched = _kuhn(kpis, edges)
        # the over-determined part, from the unmatched KPIs by alternating paths (independently)
        kpi_of = {lv: k for k, lv in matched.items()}
        reach, todo = {k for k in kpis if k not in matched}, [k for k in kpis if k not in matched]
        seen_l = set()
        while todo:
            for lv in edges[todo.pop()]:
                if lv not in seen_l:
                    seen_l.add(lv)
                    if kpi_of.get(lv) is not None and kpi_of[lv] not in reach:
                        reach.add(kpi_of[lv])
                        todo.append(kpi_of[lv])
        assert group == [k for k in kpis if k in reach] and named == sorted(seen_l)


def test_ms206_counts_the_kpis_with_gains_as_build_inputs_does():
    import random

    from metricsense.evaluators.selection import _with_gains
    from pathlib import Path

    from metricsense.loader import load_path
    from metricsense.selection import SelectError
    from metricsense.selection.problem import build_inputs

    rng = random.Random(3)
    compared = 0
    for trial in range(60):
        lines = ['mission "M"'] + [f'lever l{j} "L{j}"' for j in range(4)] + [f'disturbance d{j} "D{j}"' for j in range(2)]
        for i in range(rng.randint(4, 40)):
            moved = [f"{lv} {rng.choice([0.3, -0.5, 1.0])}" for lv in rng.sample(["l0", "l1", "l2", "l3"],
                                                                           rng.randint(0, 2))]
            gains = ["responds " + ", ".join(moved)] if moved else []
            if rng.random() < 0.3:
                gains.append(f"disturbed {rng.choice(['d0', 'd1'])} 0.4")
            lines.append(f'kpi k{i} "K" {{ ' + "  ".join(gains) + " }")
        doc = load_path(Path("spec.msense"), text="\n".join(lines) + "\n").document
        try:
            want = len(build_inputs(doc).kpis)
        except SelectError:
            continue
        assert _with_gains(doc) == want
        compared += 1
    assert compared >= 10
