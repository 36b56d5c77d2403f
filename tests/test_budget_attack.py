"""Found by an attack on the evaluator time budget (pipeline.Budget): it must leave a user's own
timers armed, keep an outer budget armed across an inner one, and stop a rule that swallows
``Exception`` in its loop."""

from __future__ import annotations

import signal
import time

import metricsense
from metricsense.diagnostics import Severity
from metricsense.pipeline import Budget, EvaluatorTimeout
from support import PLUGIN_SPEC as SPEC
from test_pipeline import _one_rule


def test_a_users_own_alarm_is_still_armed_after_a_check():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        metricsense.check(SPEC, config={})
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 30.1, "the user's alarm was disarmed by the check"
        assert signal.getsignal(signal.SIGALRM) is not None and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_users_profiling_timer_is_still_armed_after_a_budget():
    previous = signal.signal(signal.SIGPROF, lambda *_: None)
    try:
        signal.setitimer(signal.ITIMER_PROF, 30.0, 0.01)
        with Budget(5):
            pass
        left, interval = signal.getitimer(signal.ITIMER_PROF)
        assert 0 < left <= 30.1 and interval > 0  # the kernel rounds timers to its tick
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def test_an_inner_budget_leaves_the_outer_one_armed():
    stopped = False
    try:
        with Budget(0.2):
            with Budget(30):
                pass
            started = time.process_time()
            while time.process_time() - started < 3:
                pass
    except EvaluatorTimeout:
        stopped = True
    assert stopped, "the outer budget never fired after an inner one ended"


def test_a_rule_that_swallows_exceptions_is_still_stopped():
    @metricsense.rule(code="XYZ007", name="swallows-everything", severity=Severity.WARNING)
    def swallows(ctx):
        """Computes forever, catching every Exception on the way (a careless plugin)."""
        started = time.process_time()
        while time.process_time() - started < 5:
            try:
                sum(range(1000))
            except Exception:
                pass
        yield ctx.report(ctx.spec.kpis[0], "ran to the end")

    report = metricsense.check(SPEC, config={"time-budget": 0.2}, plugin_manager=_one_rule(swallows))
    assert not any(d.code == "XYZ007" for d in report.diagnostics)
    assert any(d.code == "MS005" and "XYZ007" in d.message for d in report.diagnostics)
