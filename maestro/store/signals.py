"""The signals and signal_waits tables: a signal recorded (its row is the outbox of its
consequences), a step's waits, a wait satisfied, a signal marked applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from maestro.store import tables

SIG, WAITS = tables.signals, tables.signal_waits


def insert_signal(
    conn: Connection,
    *,
    name: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    created_at: datetime,
    created_by: str,
    sender_owners: Sequence[str] | None,
) -> int:
    signal_id: int = conn.execute(
        insert(SIG)
        .values(
            name=name,
            payload=payload,
            dedupe_key=dedupe_key,
            created_at=created_at,
            created_by=created_by,
            sender_owners=None if sender_owners is None else list(sender_owners),
        )
        .returning(SIG.c.id)
    ).scalar_one()
    return signal_id


def insert_wait(conn: Connection, **values: Any) -> None:
    conn.execute(insert(WAITS).values(**values))


def satisfy_wait(conn: Connection, wait_id: int, signal_id: int) -> bool:
    """The wait takes ``signal_id``, unless another signal satisfied it first."""
    moved = conn.execute(
        update(WAITS)
        .where(WAITS.c.id == wait_id, WAITS.c.signal_id.is_(None))
        .values(signal_id=signal_id)
    ).rowcount
    return bool(moved)


def mark_applied(conn: Connection, signal_id: int, at: datetime) -> None:
    conn.execute(update(SIG).where(SIG.c.id == signal_id).values(processed_at=at))
