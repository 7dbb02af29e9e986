"""Every status of runs, steps, attempts and backfills, the allowed transitions, the terminal
sets, and the reasons a step waits.

This is the one place statuses are defined. The store's transition function refuses any change
that is not in these tables, so a bug that would move a status backwards fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "QUEUED"  # created, waiting for its run strategy to admit it
    RUNNING = "RUNNING"  # steps are being scheduled
    PAUSED = "PAUSED"  # no new steps start; running ones finish
    SUCCEEDED = "SUCCEEDED"  # every step SUCCEEDED, FAILED_IGNORED or SKIPPED
    FAILED = "FAILED"  # a step failed (per its on_failure), or the run was killed
    STOPPED = "STOPPED"  # stopped by a user or by the run strategy
    TIMED_OUT = "TIMED_OUT"  # the run's wall-clock timeout elapsed


class StepStatus(StrEnum):
    PENDING = "PENDING"  # upstreams not done yet
    WAITING = "WAITING"  # ready, but held: a step slot, a resumed run, signals, child runs
    QUEUED = "QUEUED"  # an attempt was handed to a worker
    RUNNING = "RUNNING"  # a worker claimed the current attempt
    RETRYING = "RETRYING"  # the last attempt failed; the next starts when its backoff elapses
    SUCCEEDED = "SUCCEEDED"  # the last attempt succeeded
    FAILED = "FAILED"  # out of retries (or a permanent failure)
    FAILED_IGNORED = "FAILED_IGNORED"  # failed with on_failure: ignore; counts as ok downstream
    SKIPPED = "SKIPPED"  # `when` was false, or the trigger rule said skip
    UPSTREAM_FAILED = "UPSTREAM_FAILED"  # an upstream failed and the trigger rule forbids running
    STOPPED = "STOPPED"  # stopped by an action, a fail_run failure or the run's end
    TIMED_OUT = "TIMED_OUT"  # the attempt's timeout elapsed and no retry was left


class AttemptStatus(StrEnum):
    QUEUED = "QUEUED"  # created and sent to the dispatcher; not claimed by a worker yet
    RUNNING = "RUNNING"  # claimed by a worker, heartbeating
    SUCCEEDED = "SUCCEEDED"  # the runtime succeeded
    FAILED = "FAILED"  # the runtime failed
    TIMED_OUT = "TIMED_OUT"  # the step timeout elapsed; the process was killed
    LOST = "LOST"  # the heartbeat lapsed: the worker died (a platform failure)
    STOPPED = "STOPPED"  # stopped by an action or by the run's end


class BackfillStatus(StrEnum):
    RUNNING = "RUNNING"  # its runs are being created and admitted
    DONE = "DONE"  # every run of it has ended
    CANCELLED = "CANCELLED"  # cancelled by a user: its queued runs were stopped


class AlertStatus(StrEnum):
    """An alert of the outbox (``alerts``); not a state machine of the engine's."""

    SCHEDULED = "SCHEDULED"  # a timer (run_overdue, deadline_missed) not due yet
    PENDING = "PENDING"  # to be sent: its first try, or a retry after a failed one
    DELIVERED = "DELIVERED"  # the channel took it (2xx, SMTP 250, the callable returned)
    FAILED = "FAILED"  # the dead letter: out of tries, or a channel that cannot work


class WaitingFor(StrEnum):
    """Why a WAITING step waits (``step_runs.waiting_for``)."""

    slot = "slot"  # the run's max_active_steps are taken
    paused = "paused"  # the run is PAUSED
    pool = "pool"  # its slot pool is full
    signals = "signals"  # the signals of its wait_for have not all arrived
    children = "children"  # a foreach/subworkflow step: its child runs have not all ended


R, S, A = RunStatus, StepStatus, AttemptStatus

RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    R.QUEUED: frozenset({R.RUNNING, R.STOPPED, R.FAILED}),
    R.RUNNING: frozenset({R.PAUSED, R.SUCCEEDED, R.FAILED, R.STOPPED, R.TIMED_OUT}),
    R.PAUSED: frozenset({R.RUNNING, R.SUCCEEDED, R.FAILED, R.STOPPED, R.TIMED_OUT}),
    R.SUCCEEDED: frozenset(),
    R.FAILED: frozenset(),
    R.STOPPED: frozenset(),
    R.TIMED_OUT: frozenset(),
}

STEP_TRANSITIONS: Mapping[StepStatus, frozenset[StepStatus]] = {
    # SUCCEEDED at once: a foreach over no items, a subworkflow that does not wait
    S.PENDING: frozenset(
        {S.WAITING, S.QUEUED, S.SUCCEEDED, S.SKIPPED, S.UPSTREAM_FAILED, S.FAILED, S.STOPPED}
    ),
    # a foreach/subworkflow step ends from WAITING, with its children
    S.WAITING: frozenset(
        {S.QUEUED, S.SUCCEEDED, S.FAILED, S.FAILED_IGNORED, S.STOPPED, S.TIMED_OUT}
    ),
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.STOPPED, S.TIMED_OUT, S.RETRYING}),
    S.RUNNING: frozenset(
        {S.SUCCEEDED, S.FAILED, S.FAILED_IGNORED, S.TIMED_OUT, S.STOPPED, S.RETRYING}
    ),
    S.RETRYING: frozenset({S.QUEUED, S.WAITING, S.STOPPED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.FAILED_IGNORED: frozenset(),
    S.SKIPPED: frozenset(),
    S.UPSTREAM_FAILED: frozenset(),
    S.STOPPED: frozenset(),
    S.TIMED_OUT: frozenset(),
}

ATTEMPT_TRANSITIONS: Mapping[AttemptStatus, frozenset[AttemptStatus]] = {
    A.QUEUED: frozenset({A.RUNNING, A.STOPPED, A.FAILED}),
    A.RUNNING: frozenset({A.SUCCEEDED, A.FAILED, A.TIMED_OUT, A.LOST, A.STOPPED}),
    A.SUCCEEDED: frozenset(),
    A.FAILED: frozenset(),
    A.TIMED_OUT: frozenset(),
    A.LOST: frozenset(),
    A.STOPPED: frozenset(),
}

#: changes only a user action makes (retry, skip, reopening the downstream of a step that
#: is retried or skipped); the transition function allows them only with an action named
STEP_ACTION_TRANSITIONS: Mapping[StepStatus, frozenset[StepStatus]] = {
    S.FAILED: frozenset({S.QUEUED, S.WAITING, S.SKIPPED, S.PENDING}),
    S.TIMED_OUT: frozenset({S.QUEUED, S.WAITING, S.PENDING}),
    S.WAITING: frozenset({S.SKIPPED}),
    S.UPSTREAM_FAILED: frozenset({S.PENDING}),
    S.SKIPPED: frozenset({S.PENDING}),
    S.STOPPED: frozenset({S.PENDING}),
    S.SUCCEEDED: frozenset({S.PENDING}),
    S.FAILED_IGNORED: frozenset({S.PENDING}),
}

BACKFILL_TRANSITIONS: Mapping[BackfillStatus, frozenset[BackfillStatus]] = {
    BackfillStatus.RUNNING: frozenset({BackfillStatus.DONE, BackfillStatus.CANCELLED}),
    BackfillStatus.DONE: frozenset(),
    BackfillStatus.CANCELLED: frozenset(),
}

RUN_TERMINAL = frozenset(s for s, nxt in RUN_TRANSITIONS.items() if not nxt)
STEP_TERMINAL = frozenset(s for s, nxt in STEP_TRANSITIONS.items() if not nxt)
ATTEMPT_TERMINAL = frozenset(s for s, nxt in ATTEMPT_TRANSITIONS.items() if not nxt)

RUN_ACTIVE = frozenset({R.RUNNING, R.PAUSED})
#: steps that hold one of the run's max_active_steps slots
STEP_ACTIVE = frozenset({S.QUEUED, S.RUNNING})
#: terminal step statuses that count as success downstream and for the run
STEP_OK = frozenset({S.SUCCEEDED, S.FAILED_IGNORED})
#: terminal step statuses that count as a failure for trigger rules and for the run.
#: STOPPED counts as failed: a stopped step produced nothing its downstream could use.
STEP_FAILED = frozenset({S.FAILED, S.TIMED_OUT, S.UPSTREAM_FAILED, S.STOPPED})

assert STEP_OK | STEP_FAILED | {S.SKIPPED} == STEP_TERMINAL
