"""The triggers table: the rows that mirror the active version's triggers, and moving a cron
trigger's ``next_fire_at`` (conditionally, so two schedulers never fire one tick twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, update

from maestro.store import tables

T = tables.triggers


def replace(conn: Connection, workflow_id: str, rows: list[dict[str, Any]]) -> None:
    """The workflow's trigger rows are now ``rows`` (the caller holds the workflow's lock)."""
    conn.execute(delete(T).where(T.c.workflow_id == workflow_id))
    if rows:
        conn.execute(insert(T), rows)


def set_next_fire_at(conn: Connection, trigger_id: int, next_fire_at: datetime | None) -> None:
    conn.execute(update(T).where(T.c.id == trigger_id).values(next_fire_at=next_fire_at))


def fired(
    conn: Connection,
    trigger_id: int,
    due_at: datetime,
    next_fire_at: datetime | None,
    last_fired_at: datetime | None,
) -> bool:
    """Move ``next_fire_at`` from ``due_at`` on, only if nobody moved it since it was read."""
    values: dict[str, Any] = {"next_fire_at": next_fire_at}
    if last_fired_at is not None:
        values["last_fired_at"] = last_fired_at
    moved = conn.execute(
        update(T).where(T.c.id == trigger_id, T.c.next_fire_at == due_at).values(**values)
    ).rowcount
    return bool(moved == 1)
