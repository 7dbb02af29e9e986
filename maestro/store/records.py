"""Typed snapshots of rows the engine reads, and the queries that load them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from maestro.errors import NotFound
from maestro.states import AttemptStatus, RunStatus, StepStatus
from maestro.store import direct, tables

R, S, A = tables.runs, tables.step_runs, tables.attempts


@dataclass(frozen=True)
class RunRow:
    id: int
    workflow_id: str
    number: int
    version: int
    status: RunStatus
    params: dict[str, Any]
    trigger: str
    logical_date: datetime
    created_at: datetime
    started_at: datetime | None
    max_active_steps: int
    restarted_from: int | None
    parent_run_id: int | None = None
    parent_step_run_id: int | None = None
    iteration: int | None = None
    body: str | None = None
    scope: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: Any) -> RunRow:
        return cls(
            id=row.run_id,
            workflow_id=row.workflow_id,
            number=row.run_number,
            version=row.version,
            status=RunStatus(row.run_status),
            params=row.params,
            trigger=row.trigger,
            logical_date=row.logical_date,
            created_at=row.run_created_at,
            started_at=row.run_started_at,
            max_active_steps=row.max_active_steps,
            restarted_from=row.restarted_from,
            parent_run_id=row.parent_run_id,
            parent_step_run_id=row.parent_step_run_id,
            iteration=row.iteration,
            body=row.body,
            scope=row.scope,
        )


RUN_COLUMNS = (
    R.c.id.label("run_id"),
    R.c.workflow_id,
    R.c.number.label("run_number"),
    R.c.version,
    R.c.status.label("run_status"),
    R.c.params,
    R.c.trigger,
    R.c.logical_date,
    R.c.created_at.label("run_created_at"),
    R.c.started_at.label("run_started_at"),
    R.c.max_active_steps,
    R.c.restarted_from,
    R.c.parent_run_id,
    R.c.parent_step_run_id,
    R.c.iteration,
    R.c.body,
    R.c.scope,
)


@dataclass(frozen=True)
class StepRow:
    id: int
    run_id: int
    step_id: str
    status: StepStatus
    attempts: int
    platform_failures: int
    current_attempt_id: int | None
    priority: int
    up_total: int
    up_done: int
    up_failed: int
    up_skipped: int
    waiting_for: str | None = None

    @classmethod
    def of(cls, row: Any) -> StepRow:
        return cls(
            id=row.step_run_id,
            run_id=row.run_id,
            step_id=row.step_id,
            status=StepStatus(row.step_status),
            attempts=row.attempts,
            platform_failures=row.platform_failures,
            current_attempt_id=row.current_attempt_id,
            priority=row.priority,
            up_total=row.up_total,
            up_done=row.up_done,
            up_failed=row.up_failed,
            up_skipped=row.up_skipped,
            waiting_for=row.waiting_for,
        )


STEP_COLUMNS = (
    S.c.id.label("step_run_id"),
    S.c.run_id,
    S.c.step_id,
    S.c.status.label("step_status"),
    S.c.attempts,
    S.c.platform_failures,
    S.c.current_attempt_id,
    S.c.priority,
    S.c.up_total,
    S.c.up_done,
    S.c.up_failed,
    S.c.up_skipped,
    S.c.waiting_for,
)


@dataclass(frozen=True)
class AttemptRow:
    id: int
    number: int
    status: AttemptStatus
    queue: str
    log_path: str | None
    started_at: datetime | None
    #: when the attempt was made: its step was ready (the handoff starts)
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> AttemptRow:
        return cls(
            id=row.attempt_id,
            number=row.attempt_number,
            status=AttemptStatus(row.attempt_status),
            queue=row.queue,
            log_path=row.log_path,
            started_at=row.attempt_started_at,
            created_at=row.attempt_created_at,
        )


ATTEMPT_COLUMNS = (
    A.c.id.label("attempt_id"),
    A.c.number.label("attempt_number"),
    A.c.status.label("attempt_status"),
    A.c.queue,
    A.c.log_path,
    A.c.started_at.label("attempt_started_at"),
    A.c.created_at.label("attempt_created_at"),
)


_LOAD_RUN = select(*RUN_COLUMNS).where(R.c.id == bindparam("p_run"))
_LOAD_STEP = select(*STEP_COLUMNS).where(S.c.id == bindparam("p_step"))


def load_run(conn: Connection, run_id: int) -> RunRow:
    row = direct.execute(conn, _LOAD_RUN, {"p_run": run_id}).first()
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    return RunRow.of(row)


def load_step(conn: Connection, step_run_id: int) -> StepRow:
    row = direct.execute(conn, _LOAD_STEP, {"p_step": step_run_id}).first()
    if row is None:
        raise NotFound(f"step run {step_run_id} does not exist")
    return StepRow.of(row)


_ATTEMPT_FULL = (
    select(*ATTEMPT_COLUMNS, *STEP_COLUMNS, *RUN_COLUMNS[1:])
    .select_from(A.join(S, S.c.id == A.c.step_run_id).join(R, R.c.id == S.c.run_id))
    .where(A.c.id == bindparam("attempt_id"))
)


def load_attempt_full(
    conn: Connection, attempt_id: int
) -> tuple[AttemptRow, StepRow, RunRow] | None:
    """The attempt with its step and run, in one query (the hot path's only read)."""
    row = direct.execute(conn, _ATTEMPT_FULL, {"attempt_id": attempt_id}).first()
    if row is None:
        return None
    return AttemptRow.of(row), StepRow.of(row), RunRow.of(row)
