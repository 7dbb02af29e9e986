"""The backfills table: a backfill inserted RUNNING (its first status recorded by the caller
through ``transitions.created``; later ones through ``transition``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from maestro.store import tables

B = tables.backfills


def insert_backfill(conn: Connection, **values: Any) -> int:
    backfill_id: int = conn.execute(insert(B).values(**values).returning(B.c.id)).scalar_one()
    return backfill_id
