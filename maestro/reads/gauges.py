"""Gauges for the metrics endpoint: runs and steps by status, queue depths, alerts by status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select

from maestro.reads.paging import ACTIVE_RUN_STATUSES
from maestro.states import AlertStatus, AttemptStatus, StepStatus
from maestro.store import tables

R, S, A, AL = tables.runs, tables.step_runs, tables.attempts, tables.alerts


# -- gauges (metrics) ----------------------------------------------------------------------


def run_gauges(conn: Connection) -> dict[str, int]:
    """Runs per non-terminal status (``ix_runs_status_timeout`` leads with status)."""
    rows = conn.execute(
        select(R.c.status, func.count())
        .where(R.c.status.in_(ACTIVE_RUN_STATUSES))
        .group_by(R.c.status)
    )
    counts = {s.value: 0 for s in ACTIVE_RUN_STATUSES}
    counts.update({status: n for status, n in rows})
    return counts


def step_gauges(conn: Connection) -> dict[str, int]:
    """Steps waiting, retrying, queued and running, each counted on its partial index
    (queued and running steps are counted by their current attempts)."""

    def count(table: Any, status: StrEnum) -> int:
        n: int = conn.execute(
            select(func.count()).select_from(table).where(tables.status_is(table.c.status, status))
        ).scalar_one()
        return n

    return {
        "WAITING": count(S, StepStatus.WAITING),
        "RETRYING": count(S, StepStatus.RETRYING),
        "QUEUED": count(A, AttemptStatus.QUEUED),
        "RUNNING": count(A, AttemptStatus.RUNNING),
    }


def queue_depths(conn: Connection) -> dict[str, int]:
    """QUEUED attempts (handed to workers, not claimed yet) per worker queue."""
    rows = conn.execute(
        select(A.c.queue, func.count())
        .where(tables.status_is(A.c.status, AttemptStatus.QUEUED))
        .group_by(A.c.queue)
    )
    return {queue: n for queue, n in rows}


def alert_gauges(conn: Connection) -> dict[str, int]:
    """Alerts per status, every status named (``ix_alerts_status`` leads with status)."""
    counts = {s.value: 0 for s in AlertStatus}
    rows = conn.execute(select(AL.c.status, func.count()).group_by(AL.c.status))
    counts.update({status: n for status, n in rows})
    return counts


def oldest_pending_alert(conn: Connection) -> datetime | None:
    """When the oldest PENDING alert was written (the first PENDING entry of
    ``ix_alerts_status``): a sender that is down, or a receiver that keeps refusing, makes it
    grow old."""
    created: datetime | None = conn.execute(
        select(AL.c.created_at)
        .where(tables.status_is(AL.c.status, AlertStatus.PENDING))
        .order_by(AL.c.id)
        .limit(1)
    ).scalar()
    return created
