"""The attempts table outside status changes: heartbeats, the external id of a running
attempt, and re-sending a QUEUED attempt whose message may have been lost."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, select, update

from maestro.states import AttemptStatus
from maestro.store import tables

A = tables.attempts


def heartbeat(conn: Connection, attempt_ids: Collection[int], now: datetime) -> set[int]:
    """Refresh the heartbeat of those attempts that are RUNNING; their ids."""
    rows = conn.execute(
        update(A)
        .where(A.c.id.in_(list(attempt_ids)), A.c.status == AttemptStatus.RUNNING)
        .values(heartbeat_at=now)
        .returning(A.c.id)
    )
    return {r.id for r in rows}


def set_external_id(conn: Connection, attempt_id: int, external_id: str) -> None:
    conn.execute(update(A).where(A.c.id == attempt_id).values(external_id=external_id))


def redispatched(conn: Connection, attempt_id: int, now: datetime) -> str | None:
    """A QUEUED attempt is sent again now; its queue (None: it is no longer QUEUED)."""
    row = conn.execute(
        update(A)
        .where(A.c.id == attempt_id, A.c.status == AttemptStatus.QUEUED)
        .values(dispatched_at=now)
        .returning(A.c.queue)
    ).first()
    return None if row is None else str(row.queue)


def lost_external_id(conn: Connection, step_run_id: int, number: int) -> str | None:
    """The external id of attempt ``number`` of the step if that attempt was LOST."""
    row = conn.execute(
        select(A.c.external_id).where(
            A.c.step_run_id == step_run_id,
            A.c.number == number,
            A.c.status == AttemptStatus.LOST.value,
        )
    ).first()
    return row.external_id if row is not None else None
