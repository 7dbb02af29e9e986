"""What users do to runs and steps: stop, kill, pause, resume, restart, retry, skip.

Each action is one unit of work, recorded as events with the actor's name, and refused with
``Conflict`` — naming the current status — when it does not apply. ``NotFound`` for an
unknown run or step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maestro.definition import Step
from maestro.engine.admission import admit_or_queue
from maestro.engine.advance import RunAdvance
from maestro.engine.compiled import CompiledWorkflow
from maestro.engine.core import Engine
from maestro.engine.decisions import Readiness, UpstreamCounts, trigger_rule_outcome
from maestro.engine.reopen import recount_upstreams, reopen_downstream
from maestro.engine.runs import Reused, create_run
from maestro.errors import Conflict, NotFound
from maestro.reads import run_by_idempotency_key
from maestro.reads.workflows import unknown_workflow
from maestro.states import (
    RUN_ACTIVE,
    RUN_TERMINAL,
    STEP_ACTIVE,
    STEP_FAILED,
    STEP_TERMINAL,
    AttemptStatus,
    RunStatus,
    StepStatus,
)
from maestro.store import tables
from maestro.store.records import STEP_COLUMNS, RunRow, StepRow, load_run
from maestro.store.transitions import transition
from maestro.store.unit import Unit

S, W = tables.step_runs, tables.workflows
RestartMode = Literal["failed", "beginning", "step"]


def _load(eng: Engine, u: Unit, run_id: int) -> tuple[RunRow, CompiledWorkflow]:
    run = load_run(u.conn, run_id)
    return run, eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)


def _step(u: Unit, run_id: int, step_id: str) -> StepRow:
    row = u.conn.execute(
        select(*STEP_COLUMNS).where(S.c.run_id == run_id, S.c.step_id == step_id)
    ).first()
    if row is None:
        raise NotFound(f"run {run_id} has no step {step_id!r}")
    return StepRow.of(row)


def _require_active(run: RunRow, what: str) -> None:
    if run.status not in RUN_ACTIVE:
        raise Conflict(f"run {run.id} is {run.status}: {what}")


# -- runs ---------------------------------------------------------------------------------


def stop_run(eng: Engine, run_id: int, actor: str) -> None:
    """Graceful stop: nothing new starts, running steps are terminated, the run is STOPPED."""
    _end(eng, run_id, actor, RunStatus.STOPPED, "stop")


def kill_run(eng: Engine, run_id: int, actor: str) -> None:
    """Immediate stop: running attempts are killed, the run is FAILED."""
    _end(eng, run_id, actor, RunStatus.FAILED, "kill")


def _end(eng: Engine, run_id: int, actor: str, to: RunStatus, action: str) -> None:
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        if run.status in RUN_TERMINAL:
            raise Conflict(f"run {run_id} is {run.status}: it has already ended")
        RunAdvance(u, run, compiled).end_run(to, f"{action} by {actor}", action=action)


def pause_run(eng: Engine, run_id: int, actor: str) -> None:
    """Start no new step; running steps finish."""
    with eng.unit(actor=actor) as u:
        run = load_run(u.conn, run_id)
        if run.status is not RunStatus.RUNNING or not transition(
            u, "run", run_id, RunStatus.PAUSED, RunStatus.RUNNING, run_id=run_id, action="pause"
        ):
            raise Conflict(f"run {run_id} is {run.status}: only a RUNNING run can be paused")


def resume_run(eng: Engine, run_id: int, actor: str) -> None:
    """Release a paused run: steps that became ready meanwhile start now."""
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        if run.status is not RunStatus.PAUSED or not transition(
            u, "run", run_id, RunStatus.RUNNING, RunStatus.PAUSED, run_id=run_id, action="resume"
        ):
            raise Conflict(f"run {run_id} is {run.status}: only a PAUSED run can be resumed")
        RunAdvance(u, load_run(u.conn, run_id), compiled).evaluate([])


@dataclass(frozen=True)
class Started:
    run_id: int
    #: False: an earlier request with the same idempotency key made this run
    created: bool


def start_run_now(
    eng: Engine,
    workflow_id: str,
    actor: str,
    *,
    params: Mapping[str, Any] | None = None,
    version: int | None = None,
    logical_date: datetime | None = None,
    idempotency_key: str | None = None,
) -> Started:
    """Start a run of ``workflow_id`` by hand — the one way the REST API, the web view and the
    CLI start one. The workflow's run strategy decides: the run starts now, waits QUEUED
    behind others, or is stopped by it. The same ``idempotency_key`` for the same workflow
    gives back the same run."""
    try:
        with eng.unit(actor=actor) as u:
            if idempotency_key is not None:
                # the workflow's row locked first: one request per key creates the run
                found = u.conn.execute(
                    select(W.c.id).where(W.c.id == workflow_id).with_for_update()
                ).scalar()
                if found is None:
                    raise unknown_workflow(u.conn, workflow_id)
                existing = run_by_idempotency_key(u.conn, workflow_id, idempotency_key)
                if existing is not None:
                    return Started(existing, created=False)
            # (no such workflow, or no such version: create_run raises, nothing written)
            run_id = create_run(
                u,
                eng.versions,
                workflow_id,
                version=version,
                params=params or {},
                logical_date=logical_date,
                trigger="manual",
                idempotency_key=idempotency_key,
            )
            # the run strategy decides: start, queue or stop
            admit_or_queue(u, eng.versions, run_id)
            return Started(run_id, created=True)
    except IntegrityError:
        # the same key raced in from another process: that request's run wins
        with eng.db.read() as conn:
            raced = (
                run_by_idempotency_key(conn, workflow_id, idempotency_key)
                if idempotency_key
                else None
            )
        if raced is None:
            raise
        return Started(raced, created=False)


def restart_run(
    eng: Engine,
    run_id: int,
    actor: str,
    *,
    mode: RestartMode = "failed",
    step_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> int:
    """A new run of the same version (``restarted_from`` = this run) that reuses the results
    of the steps it does not run again.

    failed: reruns every step that did not succeed and everything downstream of them;
    beginning: reruns everything; step: reruns ``step_id`` and everything downstream of it.
    Params: the old run's, overridden by ``params``. The workflow's run strategy decides when
    it starts, as for any run (a strict_sequential workflow blocked by this run admits it);
    the reused results are kept on the new run until then.
    """
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        if run.status not in RUN_TERMINAL:
            raise Conflict(f"run {run_id} is {run.status}: stop it before restarting it")
        reuse = _reused_steps(u, run, compiled, mode, step_id)
        new_id = create_run(
            u,
            eng.versions,
            run.workflow_id,
            version=run.version,
            params=params or {},
            trigger_params=run.params,
            trigger="restart",
            logical_date=run.logical_date,
            restarted_from=run_id,
            reuse=reuse,
        )
        u.add_event(
            run_id=run_id,
            entity="run",
            action="restart",
            message=f"restarted as run {new_id} ({mode})",
        )
        admit_or_queue(u, eng.versions, new_id)  # the run strategy decides, as for any run
        return new_id


def _reused_steps(
    u: Unit, run: RunRow, compiled: CompiledWorkflow, mode: RestartMode, step_id: str | None
) -> dict[str, Reused]:
    if mode == "beginning":
        return {}
    rows = {
        r.step_id: (StepStatus(r.status), r.outputs or {}, r.params)
        for r in u.conn.execute(
            select(S.c.step_id, S.c.status, S.c.outputs, S.c.params).where(S.c.run_id == run.id)
        )
    }
    if mode == "step":
        if step_id is None or step_id not in compiled.steps:
            raise NotFound(f"run {run.id} has no step {step_id!r}")
        if rows:  # a run stopped before it started has no step rows: everything runs again
            statuses = {k: v[0] for k, v in rows.items()}
            _upstreams_let_it_run(run, compiled.steps[step_id], statuses)
        again = {step_id, *compiled.descendants(step_id)}
    elif mode == "failed":
        # SKIPPED is no failure: its condition or trigger rule said so (a rerun upstream
        # reruns it anyway, as a descendant)
        failed = [sid for sid, (status, _, _) in rows.items() if status in STEP_FAILED]
        if not failed:
            raise Conflict(
                f"run {run.id} is {run.status} with no failed step: restart it from "
                "the beginning or from a step instead"
            )
        again = set(failed).union(*(compiled.descendants(sid) for sid in failed))
    else:
        raise Conflict(f"unknown restart mode {mode!r}: use failed, beginning or step")
    return {
        sid: Reused(status, outputs, params)
        for sid, (status, outputs, params) in rows.items()
        if sid not in again
    }


def _upstreams_let_it_run(run: RunRow, step: Step, statuses: Mapping[str, StepStatus]) -> None:
    """A restart from ``step`` reuses its upstreams' results: refuse it (409) when they would
    keep it from running — the new run would mark it UPSTREAM_FAILED (or SKIPPED) the moment
    it started."""
    if step.edge_conditions:  # conditional edges decide with the outputs: the run will tell
        return
    ups = [statuses.get(up, StepStatus.PENDING) for up in dict.fromkeys(step.upstreams)]
    counts = UpstreamCounts(
        len(ups),
        sum(1 for s in ups if s in STEP_FAILED or s not in STEP_TERMINAL),
        sum(1 for s in ups if s is StepStatus.SKIPPED),
    )
    outcome = trigger_rule_outcome(step.trigger_rule, counts)
    if outcome is Readiness.RUN:
        return
    shown = ", ".join(
        f"{up!r} ({status})" for up, status in zip(dict.fromkeys(step.upstreams), ups, strict=True)
    )
    would = "skip it" if outcome is Readiness.SKIP else "not let it run"
    raise Conflict(
        f"restarting run {run.id} from step {step.id!r} reuses its upstreams {shown}, and its "
        f"trigger rule ({step.trigger_rule.value}) would {would}: restart from an upstream, "
        "or the failed steps (from: failed)"
    )


# -- steps ---------------------------------------------------------------------------------


def retry_step(eng: Engine, run_id: int, step_id: str, actor: str) -> None:
    """Run a FAILED or TIMED_OUT step of a still-active run again (a new attempt); the steps
    downstream of it that already ended are reopened."""
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        _require_active(run, "retry steps of an active run, or restart this one")
        step = _step(u, run_id, step_id)
        if step.status not in (StepStatus.FAILED, StepStatus.TIMED_OUT):
            raise Conflict(
                f"step {step_id!r} is {step.status}: only a FAILED or TIMED_OUT step can be retried"
            )
        advance = RunAdvance(u, run, compiled)
        reopened = reopen_downstream(advance, step_id)
        advance.counters.d_unfinished += 1
        advance.counters.d_failed -= 1
        advance.queue(step, step.status, action="retry")
        recount_upstreams(advance, reopened)


def skip_step(eng: Engine, run_id: int, step_id: str, actor: str) -> None:
    """Mark a PENDING, WAITING or FAILED step SKIPPED so that the DAG can go on."""
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        _require_active(run, "only steps of an active run can be skipped")
        step = _step(u, run_id, step_id)
        advance = RunAdvance(u, run, compiled)
        message = f"skipped by {actor}"
        if step.status in (StepStatus.PENDING, StepStatus.WAITING):
            advance.finish(step, step.status, StepStatus.SKIPPED, error=message, action="skip")
            return
        if step.status is not StepStatus.FAILED:
            raise Conflict(
                f"step {step_id!r} is {step.status}: only PENDING, WAITING or "
                "FAILED steps can be skipped"
            )
        reopened = reopen_downstream(advance, step_id)
        transition(
            u,
            "step",
            step.id,
            StepStatus.SKIPPED,
            StepStatus.FAILED,
            run_id=run_id,
            values={"error": message},
            action="skip",
            message=message,
        )
        advance.counters.d_failed -= 1
        recount_upstreams(advance, reopened)


def stop_step(eng: Engine, run_id: int, step_id: str, actor: str) -> None:
    """Stop one step: its running attempt is terminated and the step ends STOPPED."""
    with eng.unit(actor=actor) as u:
        run, compiled = _load(eng, u, run_id)
        _require_active(run, "only steps of an active run can be stopped")
        step = _step(u, run_id, step_id)
        if step.status in STEP_TERMINAL:
            raise Conflict(f"step {step_id!r} is {step.status}: it has already ended")
        message = f"stopped by {actor}"
        if (
            step.status in STEP_ACTIVE
            and step.current_attempt_id is not None
            and transition(
                u,
                "attempt",
                step.current_attempt_id,
                AttemptStatus.STOPPED,
                (AttemptStatus.QUEUED, AttemptStatus.RUNNING),
                run_id=run_id,
                step_run_id=step.id,
                values={"ended_at": u.now, "error": message},
                action="stop",
            )
        ):
            u.cancels.append(step.current_attempt_id)
        RunAdvance(u, run, compiled).finish(
            step, step.status, StepStatus.STOPPED, error=message, action="stop"
        )
