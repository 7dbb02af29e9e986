"""Backfills: a workflow's newest backfills with their progress, one backfill, and its runs.

Bounded, index-backed reads: a workflow's backfills newest first (``ix_backfills_workflow``),
their runs counted by status in one ``GROUP BY`` over ``ix_runs_backfill`` (a backfill has at
most 10,000 runs), and a backfill's runs by keyset pages, oldest tick first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from maestro.errors import NotFound
from maestro.states import BackfillStatus, RunStatus
from maestro.store import tables

R, B = tables.runs, tables.backfills
#: backfills the workflow page lists
RECENT_BACKFILLS = 10
#: runs on one page of a backfill
BACKFILL_RUNS = 100


@dataclass(frozen=True)
class Progress:
    """A backfill's runs by how far they got (``running`` counts paused runs too)."""

    succeeded: int = 0
    #: FAILED or TIMED_OUT
    failed: int = 0
    stopped: int = 0
    running: int = 0
    queued: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.stopped

    @property
    def total(self) -> int:
        return self.done + self.running + self.queued

    @classmethod
    def of(cls, counts: dict[str, int]) -> Progress:
        return cls(
            succeeded=counts.get(RunStatus.SUCCEEDED, 0),
            failed=counts.get(RunStatus.FAILED, 0) + counts.get(RunStatus.TIMED_OUT, 0),
            stopped=counts.get(RunStatus.STOPPED, 0),
            running=counts.get(RunStatus.RUNNING, 0) + counts.get(RunStatus.PAUSED, 0),
            queued=counts.get(RunStatus.QUEUED, 0),
        )


@dataclass(frozen=True)
class BackfillView:
    id: int
    workflow_id: str
    start_at: datetime
    end_at: datetime
    #: None: the run strategy's
    max_concurrency: int | None
    status: BackfillStatus
    created_at: datetime
    created_by: str | None
    progress: Progress


@dataclass(frozen=True)
class BackfillRun:
    id: int
    number: int
    status: RunStatus
    logical_date: datetime
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None


_COLUMNS = (
    B.c.id,
    B.c.workflow_id,
    B.c.start_at,
    B.c.end_at,
    B.c.max_concurrency,
    B.c.status,
    B.c.created_at,
    B.c.created_by,
)


def progress_of(conn: Connection, backfill_ids: Collection[int]) -> dict[int, Progress]:
    """The progress of each backfill, in one statement."""
    if not backfill_ids:
        return {}
    counts: dict[int, dict[str, int]] = {i: {} for i in backfill_ids}
    rows = conn.execute(
        select(R.c.backfill_id, R.c.status, func.count().label("n"))
        .where(R.c.backfill_id.in_(list(backfill_ids)))
        .group_by(R.c.backfill_id, R.c.status)
    )
    for row in rows:
        counts[row.backfill_id][row.status] = row.n
    return {i: Progress.of(c) for i, c in counts.items()}


def list_backfills(
    conn: Connection, workflow_id: str, limit: int = RECENT_BACKFILLS
) -> list[BackfillView]:
    """The workflow's newest ``limit`` backfills, newest first."""
    rows = conn.execute(
        select(*_COLUMNS).where(B.c.workflow_id == workflow_id).order_by(B.c.id.desc()).limit(limit)
    ).all()
    progress = progress_of(conn, [r.id for r in rows])
    return [_view(r, progress[r.id]) for r in rows]


def backfill(conn: Connection, workflow_id: str, backfill_id: int) -> BackfillView:
    """One backfill of ``workflow_id`` (NotFound for another workflow's)."""
    row = conn.execute(
        select(*_COLUMNS).where(B.c.id == backfill_id, B.c.workflow_id == workflow_id)
    ).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id!r} has no backfill {backfill_id}")
    return _view(row, progress_of(conn, [backfill_id])[backfill_id])


def backfill_runs(
    conn: Connection, backfill_id: int, after: int | None = None, limit: int = BACKFILL_RUNS
) -> tuple[list[BackfillRun], int | None]:
    """A page of the backfill's runs, oldest tick first (they are created in tick order),
    after run ``after``; and the run to go on after, when there are more."""
    query = select(
        R.c.id, R.c.number, R.c.status, R.c.logical_date, R.c.started_at, R.c.ended_at, R.c.error
    ).where(R.c.backfill_id == backfill_id)
    if after is not None:
        query = query.where(R.c.id > after)
    rows = conn.execute(query.order_by(R.c.id).limit(limit + 1)).all()
    runs = [
        BackfillRun(
            r.id, r.number, RunStatus(r.status), r.logical_date, r.started_at, r.ended_at, r.error
        )
        for r in rows[:limit]
    ]
    return runs, (runs[-1].id if len(rows) > limit else None)


def _view(r: Any, progress: Progress) -> BackfillView:
    """The view of a row of ``_COLUMNS``."""
    return BackfillView(
        id=r.id,
        workflow_id=r.workflow_id,
        start_at=r.start_at,
        end_at=r.end_at,
        max_concurrency=r.max_concurrency,
        status=BackfillStatus(r.status),
        created_at=r.created_at,
        created_by=r.created_by,
        progress=progress,
    )
