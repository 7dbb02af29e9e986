"""A run with its steps, as ``maestro run`` and the tests' harness see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from maestro.errors import NotFound
from maestro.reads.runs import RunDetail, run_detail
from maestro.reads.steps import StepSummary, run_steps
from maestro.states import RunStatus, StepStatus
from maestro.store import tables

R, S, A = tables.runs, tables.step_runs, tables.attempts


@dataclass(frozen=True)
class RunView(RunDetail):
    """A run with all its steps."""

    steps: list[StepSummary] = field(default_factory=list)

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
                    "attempts": s.attempt_count,
                    "outputs": s.outputs,
                    **({"params": s.params} if s.params else {}),
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
    detail = run_detail(conn, run_id)
    return RunView(**vars(detail), steps=run_steps(conn, run_id))
