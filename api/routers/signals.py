"""/signals: send a signal, list recent ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import EngineDep, ReadToken, WriteToken
from api.errors import responses
from api.schemas.signals import SignalAccepted, SignalCreate, SignalsPublic
from maestro import reads
from maestro.engine import signals

router = APIRouter(prefix="/signals", tags=["signals"], responses=responses(401, 403, 422))


@router.post("", status_code=202, response_model=SignalAccepted, responses=responses(400, 413))
def send_signal(body: SignalCreate, principal: WriteToken, engine: EngineDep) -> SignalAccepted:
    """Record a signal: starts the runs of matching signal triggers and releases steps
    waiting for it; a repeated ``dedupe_key`` has no further effect."""
    published = signals.publish(
        engine,
        body.name,
        body.payload,
        dedupe_key=body.dedupe_key,
        actor=principal.name,
        # the owners this caller may act for; None: every owner (admin, no tokens)
        sender_owners=None if principal.may_act_for_all else list(principal.owners),
    )
    return SignalAccepted.model_validate(published)


@router.get("", response_model=SignalsPublic, responses=responses(400))
def list_signals(
    principal: ReadToken,
    engine: EngineDep,
    name: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=reads.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SignalsPublic:
    """Recent signals, newest first."""
    with engine.db.read() as conn:
        page = reads.list_signals(conn, name=name, limit=limit, cursor=cursor)
    return SignalsPublic.model_validate(page)
