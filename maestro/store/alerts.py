"""The alert outbox (``alerts``): rows written with the status change that causes them, timers
armed and fired, and the sender's claim and results.

A sender *claims* due alerts by moving their ``due_at`` past its delivery timeout (a lease) in
one statement — on PostgreSQL over ``FOR UPDATE SKIP LOCKED``, so two schedulers never take the
same alert; SQLite has one writer at a time. A sender that dies mid-delivery leaves the alert
PENDING: another one takes it when the lease runs out (at least once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from maestro.states import AlertStatus
from maestro.store import tables
from maestro.store.tables import status_is

AL = tables.alerts


@dataclass(frozen=True)
class ClaimedAlert:
    """What a sender needs to deliver one alert."""

    id: int
    key: str
    run_id: int
    step_id: str | None
    event: str
    channel: str
    rule: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    retry_until: datetime | None


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert alerts; one whose ``dedupe`` is taken already is not added again."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AL).on_conflict_do_nothing(index_elements=["dedupe"])
    return int(conn.execute(stmt, list(rows)).rowcount or 0)


def cancel_timers(conn: Connection, run_id: int, events: Sequence[str]) -> None:
    """Drop the run's timers of these events that have not fired."""
    conn.execute(
        delete(AL).where(
            AL.c.run_id == run_id,
            status_is(AL.c.status, AlertStatus.SCHEDULED),
            AL.c.event.in_(list(events)),
        )
    )


def due_timers(conn: Connection, now: datetime, limit: int) -> list[tuple[int, int, str]]:
    """(alert id, run id, event) of timers due, oldest first."""
    rows = conn.execute(
        select(AL.c.id, AL.c.run_id, AL.c.event)
        .where(status_is(AL.c.status, AlertStatus.SCHEDULED), AL.c.due_at <= now)
        .order_by(AL.c.due_at)
        .limit(limit)
    )
    return [(r.id, r.run_id, r.event) for r in rows]


def timer_key(conn: Connection, alert_id: int) -> tuple[str, str | None] | None:
    """(key, step id) of a timer still SCHEDULED, locked until the transaction ends."""
    query = select(AL.c.key, AL.c.step_id).where(
        AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.SCHEDULED)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    return None if row is None else (row.key, row.step_id)


def fire_timer(
    conn: Connection, alert_id: int, payload: dict[str, Any], now: datetime, retry_until: datetime
) -> bool:
    moved = conn.execute(
        update(AL)
        .where(AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.SCHEDULED))
        .values(
            status=AlertStatus.PENDING.value,
            payload=payload,
            due_at=now,
            retry_until=retry_until,
            updated_at=now,
        )
    )
    return moved.rowcount == 1


def drop_timer(conn: Connection, alert_id: int) -> None:
    conn.execute(
        delete(AL).where(AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.SCHEDULED))
    )


def next_due(conn: Connection, status: AlertStatus) -> datetime | None:
    """The earliest ``due_at`` of alerts in ``status`` (a timer, or a try to make)."""
    due: datetime | None = conn.execute(
        select(AL.c.due_at)
        .where(status_is(AL.c.status, status), AL.c.due_at.is_not(None))
        .order_by(AL.c.due_at)
        .limit(1)
    ).scalar()
    return due


def claim(
    conn: Connection,
    now: datetime,
    lease_until: datetime,
    limit: int,
    root: int | None = None,
) -> list[ClaimedAlert]:
    """Take up to ``limit`` PENDING alerts due now (only of run ``root`` and the runs under
    it, when given): their ``due_at`` moves to ``lease_until``, their ``attempts`` count one
    more."""
    due = (
        select(AL.c.id)
        .where(status_is(AL.c.status, AlertStatus.PENDING), AL.c.due_at <= now)
        .order_by(AL.c.due_at)
        .limit(limit)
    )
    if root is not None:
        due = due.where(_in_tree(root))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = conn.execute(
        update(AL)
        .where(AL.c.id.in_(due.scalar_subquery()), status_is(AL.c.status, AlertStatus.PENDING))
        .values(due_at=lease_until, attempts=AL.c.attempts + 1, updated_at=now)
        .returning(
            AL.c.id,
            AL.c.key,
            AL.c.run_id,
            AL.c.step_id,
            AL.c.event,
            AL.c.channel,
            AL.c.rule,
            AL.c.payload,
            AL.c.attempts,
            AL.c.retry_until,
        )
    ).all()
    return [
        ClaimedAlert(
            id=r.id,
            key=r.key,
            run_id=r.run_id,
            step_id=r.step_id,
            event=r.event,
            channel=r.channel,
            rule=r.rule,
            payload=r.payload or {},
            attempts=r.attempts,
            retry_until=r.retry_until,
        )
        for r in sorted(rows, key=lambda r: r.id)
    ]


def delivered(conn: Connection, alert_id: int, now: datetime) -> None:
    conn.execute(
        update(AL)
        .where(AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.PENDING))
        .values(
            status=AlertStatus.DELIVERED.value,
            due_at=None,
            delivered_at=now,
            last_error=None,
            updated_at=now,
        )
    )


def try_failed(
    conn: Connection, alert_id: int, error: str, now: datetime, retry_at: datetime | None
) -> None:
    """A try failed: the next one at ``retry_at``, or none (None): the alert is FAILED."""
    values: dict[str, Any] = {"last_error": error, "updated_at": now, "due_at": retry_at}
    if retry_at is None:
        values["status"] = AlertStatus.FAILED.value
    conn.execute(
        update(AL)
        .where(AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.PENDING))
        .values(**values)
    )


def retry(conn: Connection, alert_id: int, now: datetime, retry_until: datetime) -> bool:
    """Send a FAILED alert again (a new series of tries); False unless it was FAILED."""
    moved = conn.execute(
        update(AL)
        .where(AL.c.id == alert_id, status_is(AL.c.status, AlertStatus.FAILED))
        .values(
            status=AlertStatus.PENDING.value,
            due_at=now,
            retry_until=retry_until,
            updated_at=now,
        )
    )
    return moved.rowcount == 1


def count(conn: Connection, root: int, status: AlertStatus) -> int:
    """How many alerts of run ``root`` and the runs under it are in ``status``."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(AL)
            .where(_in_tree(root), status_is(AL.c.status, status))
        ).scalar_one()
    )


def _in_tree(root: int) -> Any:
    runs = tables.runs
    tree = select(runs.c.id).where((runs.c.id == root) | (runs.c.root_run_id == root))
    return AL.c.run_id.in_(tree.scalar_subquery())
