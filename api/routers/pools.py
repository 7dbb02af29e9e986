"""/pools: slot pools shared by steps across runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.exc import IntegrityError

from api.deps import AdminToken, EngineDep, ReadToken
from api.errors import responses
from api.schemas.pools import PoolPublic, PoolsPublic, PoolUpdate
from maestro import reads
from maestro.engine import pools
from maestro.store import tables

router = APIRouter(prefix="/pools", tags=["pools"], responses=responses(401, 403, 422))
P = tables.pools


@router.get("", response_model=PoolsPublic)
def list_pools(principal: ReadToken, engine: EngineDep) -> PoolsPublic:
    """Every pool with its slots and the slots in use."""
    with engine.db.read() as conn:
        return PoolsPublic(items=[PoolPublic.model_validate(p) for p in reads.list_pools(conn)])


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
        pools.set_slots(engine, name, body.slots, principal.name)
    except IntegrityError:  # another request created it first: now it exists
        pools.set_slots(engine, name, body.slots, principal.name)
    with engine.db.read() as conn:
        return PoolPublic.model_validate(reads.pool(conn, name))
