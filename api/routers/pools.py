"""/pools: slot pools shared by steps across runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from api.deps import AdminToken, EngineDep, ReadToken
from api.errors import responses
from api.schemas.pools import PoolPublic, PoolsPublic, PoolUpdate
from maestro.engine import queries
from maestro.engine.core import Engine
from maestro.store import tables

router = APIRouter(prefix="/pools", tags=["pools"], responses=responses(401, 403, 422))
P = tables.pools


@router.get("", response_model=PoolsPublic)
def list_pools(principal: ReadToken, engine: EngineDep) -> PoolsPublic:
    """Every pool with its slots and the slots in use."""
    with engine.db.read() as conn:
        return PoolsPublic(items=[PoolPublic.model_validate(p) for p in queries.list_pools(conn)])


@router.put("/{name}", response_model=PoolPublic, responses=responses(400, 413))
def put_pool(
    name: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")],
    body: PoolUpdate,
    principal: AdminToken,
    engine: EngineDep,
) -> PoolPublic:
    """Create a pool or set its number of slots (admin). Steps waiting for a slot are
    looked at again by the scheduler."""
    try:
        _set_slots(engine, name, body.slots, principal.name)
    except IntegrityError:  # another request created it first: now it exists
        _set_slots(engine, name, body.slots, principal.name)
    with engine.db.read() as conn:
        return PoolPublic.model_validate(queries.pool(conn, name))


def _set_slots(engine: Engine, name: str, slots: int, actor: str) -> None:
    with engine.unit(actor=actor) as u:
        changed = u.conn.execute(
            update(P).where(P.c.name == name).values(slots=slots, updated_at=u.now)
        ).rowcount
        if not changed:
            u.conn.execute(insert(P).values(name=name, slots=slots, used=0, updated_at=u.now))
        u.wake_scheduler = True
