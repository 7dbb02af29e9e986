"""The worker-facing half of the engine: claim an attempt, heartbeat it, report how it ended.

Each outcome of an execution maps to exactly one call here, and each call is one unit of work.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from maestro import expressions, metrics
from maestro.definition import Step
from maestro.definition.durations import format_duration, parse_duration
from maestro.dispatch import CONNECTIONS_VAR, Dispatch, Follow
from maestro.engine import step_params, tracing
from maestro.engine.advance import RunAdvance
from maestro.engine.context import expression_context
from maestro.engine.core import Engine
from maestro.engine.decisions import decide_failure
from maestro.errors import ExpressionError
from maestro.states import AttemptStatus, StepStatus
from maestro.store import attempts as attempt_rows
from maestro.store import handoff, tables
from maestro.store.records import RunRow, StepRow
from maestro.store.transitions import transition
from maestro.store.unit import Unit

A, S = tables.attempts, tables.step_runs


@dataclass(frozen=True)
class ClaimedAttempt:
    """What a worker needs to run an attempt it now owns."""

    attempt_id: int
    number: int
    run_id: int
    step_id: str
    step_type: str
    workflow_id: str
    settings: dict[str, Any]
    env: dict[str, str]
    timeout: timedelta | None
    log_path: Path
    #: the settings could not be rendered: the attempt must fail with this message
    render_error: str | None = None
    #: the worker queue it came through, and seconds from its creation to this claim
    queue: str = "default"
    waited: float = 0.0
    #: the external id of the step's previous attempt when that one was LOST (its worker
    #: died): the runtime fences it before this attempt runs
    fence_id: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    status: AttemptStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    permanent: bool = False


def claim(eng: Engine, attempt_id: int, worker: str) -> ClaimedAttempt | None:
    """QUEUED → RUNNING if the attempt is still queued and still its step's current attempt.

    ``None`` means there is nothing to run: a duplicate delivery, or the run ended meanwhile.
    """
    claimed = eng.run_unit(lambda u: claim_in(u, eng, attempt_id, worker), actor=worker)
    if claimed is not None:  # committed: the step is handed off
        metrics.observe_handoff(claimed.queue, claimed.waited)
    return claimed


def claim_in(u: Unit, eng: Engine, attempt_id: int, worker: str) -> ClaimedAttempt | None:
    """``claim`` in the caller's unit of work (a report that follows on: ``report``)."""
    # one statement on PostgreSQL: the attempt and its step RUNNING, their events, and
    # the rows as they were (nothing moves if the attempt is no longer the step's to run)
    logs_dir = eng.settings.logs_dir
    loaded = handoff.claim(u, attempt_id, worker, logs_dir)
    if loaded is None:
        return None
    attempt, step, run = loaded.attempt, loaded.step, loaded.run
    spec = eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body).steps[step.step_id]
    log_path = Path(f"{logs_dir}/{run.id}/{step.step_id}/{attempt.number}.log")
    timeout, timeout_error = _timeout(u, run, step, spec)
    if timeout:  # a statement more only for a step with a timeout
        handoff.set_timeout(u, attempt_id, u.now + timeout)
    settings_model = spec.settings
    raw_settings = settings_model.model_dump(by_alias=True) if settings_model else {}
    render_error = None
    try:
        context = expression_context(u.conn, run)
        if spec.params:  # the step's own params shadow the run's (engine/step_params.py)
            own = context["steps"][step.step_id]["params"]
            context = step_params.with_params(context, own)
        settings = expressions.render(raw_settings, context)
        env = {k: str(v) for k, v in expressions.render(dict(spec.env), context).items()}
    except ExpressionError as exc:
        settings, env, render_error = raw_settings, {}, str(exc)
    render_error = render_error or timeout_error
    env.pop(CONNECTIONS_VAR, None)  # the step's connections are its `connections` key
    env.update(_maestro_env(run, step, attempt.number))
    if eng.spans is not None:  # TRACEPARENT: the step's own spans join the run's trace
        env.update(tracing.step_environment(u.conn, run, attempt_id, eng.spans))
    if spec.connections:
        env[CONNECTIONS_VAR] = ",".join(spec.connections)
    return ClaimedAttempt(
        attempt_id=attempt_id,
        number=attempt.number,
        run_id=run.id,
        step_id=step.step_id,
        step_type=spec.type.value,
        workflow_id=run.workflow_id,
        settings=settings,
        env=env,
        timeout=timeout,
        log_path=log_path,
        render_error=render_error,
        queue=attempt.queue,
        waited=(u.now - attempt.created_at).total_seconds(),
        # a first attempt has nothing to fence: no statement on the hot path
        fence_id=attempt_rows.lost_external_id(u.conn, step.id, attempt.number - 1)
        if attempt.number > 1
        else None,
    )


def _timeout(
    u: Unit, run: RunRow, step: StepRow, spec: Step
) -> tuple[timedelta | None, str | None]:
    """The step's timeout — a template (``"{{ params.t }}"``) rendered now, in the step's scope;
    a render that fails or gives no positive duration fails the attempt permanently."""
    if not isinstance(spec.timeout, str):
        return spec.timeout, None
    try:
        context = expression_context(u.conn, run)
        if spec.params:
            context = step_params.with_params(context, context["steps"][step.step_id]["params"])
        value = parse_duration(expressions.render(spec.timeout, context))
    except (ExpressionError, ValueError) as exc:
        return None, f"timeout: {exc}"
    if value <= timedelta(0):
        return None, f"timeout: {format_duration(value)} is not longer than 0s"
    return value, None


def _maestro_env(run: RunRow, step: StepRow, number: int) -> dict[str, str]:
    return {
        "MAESTRO_WORKFLOW_ID": run.workflow_id,
        "MAESTRO_RUN_ID": str(run.id),
        "MAESTRO_RUN_NUMBER": str(run.number),
        "MAESTRO_STEP_ID": step.step_id,
        "MAESTRO_ATTEMPT": str(number),
        "MAESTRO_LOGICAL_DATE": run.logical_date.isoformat(),
    }


def heartbeat(eng: Engine, attempt_ids: Collection[int]) -> set[int]:
    """Refresh the heartbeat of running attempts; returns those still RUNNING.

    An id missing from the answer was stopped, timed out or declared LOST by someone else:
    its worker must stop executing it.
    """
    if not attempt_ids:
        return set()
    with eng.db.tx() as conn:
        return attempt_rows.heartbeat(conn, attempt_ids, eng.clock.now())


def set_external_id(eng: Engine, attempt_id: int, external_id: str) -> None:
    """Record the Spark application id / query id of a running attempt."""
    with eng.db.tx() as conn:
        attempt_rows.set_external_id(conn, attempt_id, external_id)


def report(eng: Engine, attempt_id: int, result: AttemptResult, worker: str = "system") -> bool:
    """Record how an attempt ended and move the run forward; ``False`` if it was already over."""
    return eng.run_unit(lambda u: end_attempt(u, eng, attempt_id, result), actor=worker)


def report_and_follow(
    eng: Engine, attempt_id: int, result: AttemptResult, worker: str, follow: Follow
) -> tuple[bool, ClaimedAttempt | None]:
    """``report``, and in the same transaction claim the attempt ``follow`` picks — one of the
    successors this report made ready, or another waiting for this worker — so that the
    worker runs it next without a message or a second commit. The claim is stamped with the
    clock when it is made (after the report's work), not with the report's time.

    Returns what ``report`` returns and the claimed attempt (None: none was taken)."""
    taken: list[Dispatch] = []  # from elsewhere than this unit: handed back if it rolls back
    claimed: list[ClaimedAttempt] = []

    def follow_on(u: Unit) -> None:
        picked = follow.take(u.dispatches)
        if picked is None:
            return
        chosen, own = picked
        if not own:
            taken.append(chosen)
        u.now = eng.clock.now()  # the claim's own time: the handoff it records is real
        found = claim_in(u, eng, chosen.attempt_id, worker)
        if found is not None:
            claimed.append(found)

    def work(u: Unit) -> bool:
        u.before_commit.append(lambda: follow_on(u))
        return end_attempt(u, eng, attempt_id, result)

    try:
        ended = eng.run_unit(work, actor=worker)
    except BaseException:
        for chosen in taken:
            follow.give_back(chosen)
        raise
    if not claimed:
        return ended, None
    metrics.observe_handoff(claimed[0].queue, claimed[0].waited)
    return ended, claimed[0]


def end_attempt(u: Unit, eng: Engine, attempt_id: int, result: AttemptResult) -> bool:
    """RUNNING → ``result.status`` and its consequences for the step and the run."""
    success = result.status is AttemptStatus.SUCCEEDED
    # one statement on PostgreSQL: the attempt ends (and on success its step with it, when
    # the step is RUNNING on this attempt), their events, and the rows as they were
    loaded = handoff.end_attempt(
        u,
        attempt_id,
        result.status,
        error=result.error,
        exit_code=result.exit_code,
        step_outputs=result.outputs if success else None,
    )
    if loaded is None:
        return False
    step, run = loaded.step, loaded.run
    if step.current_attempt_id != attempt_id or step.status is not StepStatus.RUNNING:
        return True
    advance = RunAdvance(
        u, run, eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    )
    advance.know_counters(loaded.counters)
    if success:
        if loaded.step_moved:
            advance.ended(step, StepStatus.RUNNING, StepStatus.SUCCEEDED)
    else:
        _after_failure(u, advance, step, result)
    return True


def _after_failure(u: Unit, advance: RunAdvance, step: StepRow, result: AttemptResult) -> None:
    spec = advance.compiled.steps[step.step_id]
    lost = result.status is AttemptStatus.LOST
    platform = step.platform_failures + (1 if lost else 0)
    decision = decide_failure(
        spec.retries,
        spec.on_failure,
        result.status,
        step.attempts,
        platform,
        permanent=result.permanent,
    )
    if decision.retry:
        moved = transition(
            u,
            "step",
            step.id,
            StepStatus.RETRYING,
            StepStatus.RUNNING,
            run_id=step.run_id,
            values={
                "next_attempt_at": u.now + decision.delay,
                "platform_failures": platform,
                "error": result.error,
            },
            message=result.error,
        )
        if moved:
            advance.release_slot(step)
            u.wake_scheduler = True
        return
    advance.fail(step, StepStatus.RUNNING, decision.final, result.error)
