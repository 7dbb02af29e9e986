"""Pure decisions: what a step does once its upstreams ended, whether a failure is retried and
after how long, how a run ends. Functions of data only — unit-tested without a database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import assert_never

from maestro.definition import Backoff, OnFailure, RetryPolicy, TriggerRule
from maestro.states import AttemptStatus, RunStatus, StepStatus

#: LOST attempts are retried this many times without counting against retries.limit
PLATFORM_RETRIES = 3
JITTER = 0.10


class Readiness(StrEnum):
    RUN = "RUN"
    SKIP = "SKIP"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"


@dataclass(frozen=True)
class UpstreamCounts:
    """How the upstreams of a step ended (every upstream has ended when this is asked)."""

    total: int
    failed: int
    skipped: int

    @property
    def ok(self) -> int:
        return self.total - self.failed - self.skipped


def trigger_rule_outcome(rule: TriggerRule, up: UpstreamCounts) -> Readiness:
    """Apply a trigger rule once every upstream has ended (spec: "Trigger rules")."""
    if up.total == 0:
        return Readiness.RUN
    match rule:
        case TriggerRule.all_success:
            if up.failed:
                return Readiness.UPSTREAM_FAILED
            return Readiness.RUN if up.skipped == 0 else Readiness.SKIP
        case TriggerRule.all_done:
            return Readiness.RUN
        case TriggerRule.one_failed:
            return Readiness.RUN if up.failed else Readiness.SKIP
        case TriggerRule.none_failed:
            return Readiness.UPSTREAM_FAILED if up.failed else Readiness.RUN
        case TriggerRule.any_taken:
            # an edge not taken counts as skipped (``engine/edges.py``): skipped branches do
            # not block a join; failures only when nothing was taken
            if up.ok:
                return Readiness.RUN
            return Readiness.UPSTREAM_FAILED if up.failed else Readiness.SKIP
        case _:
            assert_never(rule)


def backoff_delay(
    policy: RetryPolicy, retry_number: int, rng: random.Random | None = None
) -> timedelta:
    """Wait before retry ``retry_number`` (1 = the first retry), with ±10% jitter.

    fixed: ``delay``; exponential: ``min(delay * 2**(n-1), max_delay)``; the jittered value
    never exceeds ``max_delay``.
    """
    base = policy.delay.total_seconds()
    match policy.backoff:
        case Backoff.fixed:
            seconds = base
        case Backoff.exponential:
            seconds = min(base * 2 ** min(retry_number - 1, 60), policy.max_delay.total_seconds())
        case _:
            assert_never(policy.backoff)
    jitter = (rng or random).uniform(-JITTER, JITTER)
    # max_delay is a hard cap: jitter spreads retries out below it, never beyond
    capped = min(seconds * (1 + jitter), policy.max_delay.total_seconds())
    return timedelta(seconds=max(0.0, capped))


@dataclass(frozen=True)
class FailureDecision:
    """What happens to a step after a failed attempt."""

    retry: bool
    delay: timedelta = timedelta(0)
    #: the terminal status when not retried
    final: StepStatus = StepStatus.FAILED
    #: this failure is a platform failure (attempt LOST) rather than the step's own
    platform: bool = False


def decide_failure(
    policy: RetryPolicy,
    on_failure: OnFailure,
    attempt_status: AttemptStatus,
    attempts_so_far: int,
    platform_failures: int,
    *,
    permanent: bool = False,
    rng: random.Random | None = None,
) -> FailureDecision:
    """Retry or end the step, given how its latest attempt ended.

    ``attempts_so_far`` counts every attempt including the one that just failed;
    ``platform_failures`` counts LOST attempts so far, including this one if it was LOST.
    """
    if attempt_status is AttemptStatus.LOST:
        if platform_failures <= PLATFORM_RETRIES:
            return FailureDecision(retry=True, platform=True)
        return FailureDecision(retry=False, final=_final(on_failure, StepStatus.FAILED))
    timed_out = attempt_status is AttemptStatus.TIMED_OUT
    final = _final(on_failure, StepStatus.TIMED_OUT if timed_out else StepStatus.FAILED)
    own_failures = attempts_so_far - platform_failures
    retryable = not permanent and (not timed_out or policy.on_timeout)
    if retryable and own_failures <= policy.limit:
        return FailureDecision(retry=True, delay=backoff_delay(policy, own_failures, rng))
    return FailureDecision(retry=False, final=final)


def _final(on_failure: OnFailure, status: StepStatus) -> StepStatus:
    return StepStatus.FAILED_IGNORED if on_failure is OnFailure.ignore else status


def run_outcome(steps_failed: int) -> RunStatus:
    """The status of a run whose steps have all ended."""
    return RunStatus.SUCCEEDED if steps_failed == 0 else RunStatus.FAILED
