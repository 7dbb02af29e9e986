"""The engine's pure decisions: trigger rules, backoff, retry-or-fail, run outcome."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from maestro.definition import Backoff, OnFailure, RetryPolicy, TriggerRule
from maestro.engine.decisions import (
    PLATFORM_RETRIES,
    Readiness,
    UpstreamCounts,
    backoff_delay,
    decide_failure,
    run_outcome,
    trigger_rule_outcome,
)
from maestro.states import (
    ATTEMPT_TRANSITIONS,
    RUN_TRANSITIONS,
    STEP_FAILED,
    STEP_OK,
    STEP_TERMINAL,
    STEP_TRANSITIONS,
    AttemptStatus,
    RunStatus,
    StepStatus,
)

RUN, SKIP, UF = Readiness.RUN, Readiness.SKIP, Readiness.UPSTREAM_FAILED


@pytest.mark.parametrize(
    ("rule", "failed", "skipped", "expected"),
    [
        # (total = 3 upstreams)
        (TriggerRule.all_success, 0, 0, RUN),
        (TriggerRule.all_success, 1, 0, UF),
        (TriggerRule.all_success, 0, 1, SKIP),
        (TriggerRule.all_success, 1, 1, UF),
        (TriggerRule.all_done, 3, 0, RUN),
        (TriggerRule.all_done, 0, 3, RUN),
        (TriggerRule.one_failed, 1, 0, RUN),
        (TriggerRule.one_failed, 0, 0, SKIP),
        (TriggerRule.one_failed, 0, 2, SKIP),
        (TriggerRule.none_failed, 0, 2, RUN),
        (TriggerRule.none_failed, 0, 0, RUN),
        (TriggerRule.none_failed, 1, 0, UF),
    ],
)
def test_trigger_rules(rule: TriggerRule, failed: int, skipped: int, expected: Readiness) -> None:
    assert trigger_rule_outcome(rule, UpstreamCounts(3, failed, skipped)) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_root_always_runs(rule: TriggerRule) -> None:
    assert trigger_rule_outcome(rule, UpstreamCounts(0, 0, 0)) is RUN


def test_exponential_backoff_doubles_within_jitter_and_caps() -> None:
    policy = RetryPolicy(
        limit=10,
        backoff=Backoff.exponential,
        delay=timedelta(seconds=10),
        max_delay=timedelta(seconds=60),
    )
    rng = random.Random(7)
    for n, base in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        seconds = backoff_delay(policy, n, rng).total_seconds()
        assert base * 0.9 <= seconds <= min(base * 1.1, 60)


def test_fixed_backoff_and_jitter_spread() -> None:
    policy = RetryPolicy(limit=3, delay=timedelta(seconds=100))
    values = {
        round(backoff_delay(policy, n, random.Random(n)).total_seconds(), 3) for n in range(20)
    }
    assert all(90 <= v <= 110 for v in values)
    assert len(values) > 10  # jitter really spreads retries


def test_retries_until_the_limit_then_fail() -> None:
    policy = RetryPolicy(limit=2)
    decisions = [
        decide_failure(policy, OnFailure.finish_running, AttemptStatus.FAILED, n, 0)
        for n in (1, 2, 3)
    ]
    assert [d.retry for d in decisions] == [True, True, False]
    assert decisions[-1].final is StepStatus.FAILED


def test_permanent_failures_and_timeouts_are_not_retried_unless_asked() -> None:
    policy = RetryPolicy(limit=5)
    permanent = decide_failure(
        policy, OnFailure.finish_running, AttemptStatus.FAILED, 1, 0, permanent=True
    )
    assert not permanent.retry
    timeout = decide_failure(policy, OnFailure.finish_running, AttemptStatus.TIMED_OUT, 1, 0)
    assert (timeout.retry, timeout.final) == (False, StepStatus.TIMED_OUT)
    retried = decide_failure(
        RetryPolicy(limit=5, on_timeout=True),
        OnFailure.finish_running,
        AttemptStatus.TIMED_OUT,
        1,
        0,
    )
    assert retried.retry


def test_lost_attempts_do_not_count_against_the_limit() -> None:
    policy = RetryPolicy(limit=0)
    for lost in range(1, PLATFORM_RETRIES + 1):
        d = decide_failure(policy, OnFailure.finish_running, AttemptStatus.LOST, lost, lost)
        assert d.retry and d.platform and d.delay == timedelta(0)
    last = PLATFORM_RETRIES + 1
    assert not decide_failure(
        policy, OnFailure.finish_running, AttemptStatus.LOST, last, last
    ).retry
    # a step that was lost twice still gets its own retries
    own = decide_failure(RetryPolicy(limit=1), OnFailure.finish_running, AttemptStatus.FAILED, 3, 2)
    assert own.retry


def test_on_failure_ignore_maps_to_failed_ignored() -> None:
    d = decide_failure(RetryPolicy(), OnFailure.ignore, AttemptStatus.TIMED_OUT, 1, 0)
    assert d.final is StepStatus.FAILED_IGNORED


def test_run_outcome() -> None:
    assert run_outcome(0) is RunStatus.SUCCEEDED
    assert run_outcome(2) is RunStatus.FAILED


def test_state_tables_are_complete_and_terminal_sets_consistent() -> None:
    assert set(RUN_TRANSITIONS) == set(RunStatus)
    assert set(STEP_TRANSITIONS) == set(StepStatus)
    assert set(ATTEMPT_TRANSITIONS) == set(AttemptStatus)
    assert STEP_OK.isdisjoint(STEP_FAILED)
    assert STEP_OK | STEP_FAILED | {StepStatus.SKIPPED} == STEP_TERMINAL
    # nothing leaves a terminal status, and nothing goes back to PENDING or QUEUED runs
    assert all(StepStatus.PENDING not in targets for targets in STEP_TRANSITIONS.values())
    assert all(RunStatus.QUEUED not in targets for targets in RUN_TRANSITIONS.values())
