

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
