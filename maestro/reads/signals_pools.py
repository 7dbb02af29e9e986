"""Signals and pools, as the API lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from maestro.errors import NotFound
from maestro.reads.paging import Page, clamp_limit, int_cursor, page_of
from maestro.store import tables

# -- signals and pools --------------------------------------------------------------------


@dataclass(frozen=True)
class SignalView:
    id: int
    name: str
    payload: dict[str, Any]
    dedupe_key: str | None
    created_at: datetime
    created_by: str | None


def list_signals(
    conn: Connection, *, name: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[SignalView]:
    """Signals, newest first (by name: ``ix_signals_name``)."""
    limit = clamp_limit(limit)
    SG = tables.signals
    query = select(SG).order_by(SG.c.id.desc()).limit(limit + 1)
    if name is not None:
        query = query.where(SG.c.name == name)
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(SG.c.id < before)
    return page_of(
        conn.execute(query).all(),
        limit,
        lambda r: SignalView(r.id, r.name, r.payload, r.dedupe_key, r.created_at, r.created_by),
        "id",
    )


@dataclass(frozen=True)
class PoolView:
    name: str
    slots: int
    used: int
    updated_at: datetime


def list_pools(conn: Connection) -> list[PoolView]:
    P = tables.pools
    rows = conn.execute(select(P).order_by(P.c.name))
    return [PoolView(r.name, r.slots, r.used, r.updated_at) for r in rows]


def pool(conn: Connection, name: str) -> PoolView:
    P = tables.pools
    row = conn.execute(select(P).where(P.c.name == name)).first()
    if row is None:
        raise NotFound(f"pool {name!r} does not exist")
    return PoolView(row.name, row.slots, row.used, row.updated_at)
