"""/alerts: the alert outbox — list and read alerts, send a FAILED one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import EngineDep, ReadToken, WriteToken, check_owner
from api.errors import responses
from api.schemas.alerts import AlertPublic, AlertsPublic
from maestro import reads
from maestro.engine.alert_timers import retry_alert
from maestro.engine.core import Engine
from maestro.states import AlertStatus
from maestro.store.retry import retrying

#: seconds the retry keeps retrying over transient database failures before answering 503
ACTION_RETRY = 5.0
router = APIRouter(prefix="/alerts", tags=["alerts"], responses=responses(401, 403, 422))

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's number (`id`).")]
WorkflowFilter = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="Only this workflow's"),
]
RunFilter = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Only this run's")]


def _alert(engine: Engine, alert_id: int) -> AlertPublic:
    with engine.db.read() as conn:
        return AlertPublic.model_validate(reads.alert(conn, alert_id))


@router.get("", response_model=AlertsPublic, responses=responses(400))
def list_alerts(
    principal: ReadToken,
    engine: EngineDep,
    workflow_id: WorkflowFilter = None,
    run_id: RunFilter = None,
    status: Annotated[AlertStatus | None, Query(description="Only alerts in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=reads.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AlertsPublic:
    """Alerts, newest first (keyset pagination: stable under new alerts), with where each
    goes, its status, tries, last error and times. Filters combine."""
    with engine.db.read() as conn:
        page = reads.list_alerts(
            conn,
            workflow_id=workflow_id,
            run_id=run_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )
    return AlertsPublic.model_validate(page)


@router.get("/{alert_id}", response_model=AlertPublic, responses=responses(404))
def get_alert(alert_id: AlertId, principal: ReadToken, engine: EngineDep) -> AlertPublic:
    """One alert."""
    return _alert(engine, alert_id)


@router.post("/{alert_id}/retry", response_model=AlertPublic, responses=responses(404, 409))
def retry(alert_id: AlertId, principal: WriteToken, engine: EngineDep) -> AlertPublic:
    """Send a FAILED alert again, with a new series of tries: it is PENDING until the sender
    takes it (409 unless it is FAILED; the token must act for the workflow's owner)."""
    retrying(
        lambda: retry_alert(
            engine, alert_id, principal.name, lambda owner: check_owner(principal, owner)
        ),
        deadline=ACTION_RETRY,
        what="retry_alert",
    )
    return _alert(engine, alert_id)
