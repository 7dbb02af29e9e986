"""A run with its steps, as ``maestro run`` and the tests' harness see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from maestro.errors import NotFound
from maestro.states import RunStatus, StepStatus
from maestro.store import tables

R, S, A = tables.runs, tables.step_runs, tables.attempts


@dataclass(frozen=True)
class StepView:
    step_id: str
    step_type: str
    status: StepStatus
    attempts: int
    outputs: dict[str, Any]
    error: str | None
    started_at: datetime | None
    ended_at: datetime | None
    log_path: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


@dataclass(frozen=True)
class RunView:
    id: int
    workflow_id: str
    number: int
    version: int
    status: RunStatus
    params: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    steps: list[StepView]

    def as_json(self) -> dict[str, Any]:
        """The ``maestro run --json`` document."""
        return {
            "run_id": self.id,
            "workflow_id": self.workflow_id,
            "status": self.status.value,
            "error": self.error,
            "outputs": self.outputs,
            "steps": {
                s.step_id: {
                    "status": s.status.value,
                    "attempts": s.attempts,
                    "outputs": s.outputs,
                    "error": s.error,
                }
                for s in self.steps
            },
        }


def run_status(conn: Connection, run_id: int) -> RunStatus:
    status = conn.execute(select(R.c.status).where(R.c.id == run_id)).scalar()
    if status is None:
        raise NotFound(f"run {run_id} does not exist")
    return RunStatus(status)


def step_counts(conn: Connection, run_id: int) -> dict[StepStatus, int]:
    rows = conn.execute(
        select(S.c.status, func.count()).where(S.c.run_id == run_id).group_by(S.c.status)
    )
    return {StepStatus(status): n for status, n in rows}


def running_steps(conn: Connection, run_id: int, limit: int = 5) -> list[str]:
    rows = conn.execute(
        select(S.c.step_id)
        .where(S.c.run_id == run_id, S.c.status == StepStatus.RUNNING)
        .order_by(S.c.position)
        .limit(limit)
    )
    return list(rows.scalars())


def run_view(conn: Connection, run_id: int) -> RunView:
    run = conn.execute(select(R).where(R.c.id == run_id)).first()
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    rows = conn.execute(
        select(S, A.c.log_path)
        .select_from(S.outerjoin(A, A.c.id == S.c.current_attempt_id))
        .where(S.c.run_id == run_id)
        .order_by(S.c.position)
    )
    steps = [
        StepView(
            step_id=r.step_id,
            step_type=r.step_type,
            status=StepStatus(r.status),
            attempts=r.attempts,
            outputs=r.outputs or {},
            error=r.error,
            started_at=r.started_at,
            ended_at=r.ended_at,
            log_path=r.log_path,
        )
        for r in rows
    ]
    return RunView(
        id=run.id,
        workflow_id=run.workflow_id,
        number=run.number,
        version=run.version,
        status=RunStatus(run.status),
        params=run.params,
        outputs=run.outputs or {},
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        steps=steps,
    )
