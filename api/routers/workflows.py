"""/workflows: submit and validate definitions, versions, activation, pause, delete, and
starting runs and reading a workflow's run history."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, ReadToken, WriteToken, check_owner
from api.errors import BadRequest, responses
from api.parsing import DefinitionParser
from api.run_filters import RunQueryDep, find_runs
from api.schemas.alerts import AlertRulePublic, AlertRulesPublic
from api.schemas.runs import RunCreate, RunDetailPublic, RunsPublic
from api.schemas.workflows import (
    BackfillCreate,
    BackfillProgress,
    BackfillPublic,
    DefinitionValid,
    VersionDetailPublic,
    VersionsPublic,
    WorkflowDetailPublic,
    WorkflowEventsPublic,
    WorkflowPublic,
    WorkflowsPublic,
    WorkflowSubmitted,
)
from maestro import reads
from maestro.definition import WorkflowDefinition, definition_to_dict
from maestro.engine import actions, backfills, catalog, versions
from maestro.engine.core import Engine
from maestro.errors import DefinitionError
from maestro.store.tokens import Principal

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/workflows", tags=["workflows"], responses=responses(401, 403, 422))

WorkflowId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="The workflow's id.")
]
Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=reads.MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
Text = Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")]

_DEFINITION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A workflow definition, as YAML or JSON (at most 1 MiB).",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


async def _definition(request: Request) -> WorkflowDefinition:
    """The body as a definition (YAML and JSON alike; ``DefinitionError`` → 422), parsed off
    the event loop (``api.parsing``: a large body in a process of its own, bounded in time).
    A body sent as JSON that is not JSON is malformed (400), not an invalid YAML
    definition."""
    parser: DefinitionParser = request.app.state.parser
    body = await request.body()
    try:
        return await parser.parse(body)
    except DefinitionError:
        if (
            request.headers.get("content-type", "").split(";")[0].strip().lower()
            == "application/json"
        ):
            _check_json(body)
        raise


def _check_json(body: bytes) -> None:
    try:
        json.loads(body)
    except RecursionError:
        raise BadRequest("the request body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError names the line and column
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


# -- definitions ---------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    response_model=WorkflowSubmitted,
    openapi_extra=_DEFINITION_BODY,
    responses={
        200: {"model": WorkflowSubmitted, "description": "Identical to the latest version"},
        **responses(400, 413),
    },
)
async def submit_workflow(
    request: Request,
    response: Response,
    principal: WriteToken,
    engine: EngineDep,
    activate: Annotated[
        bool, Query(description="false: store the version, keep the active one")
    ] = True,
) -> WorkflowSubmitted:
    """Submit a definition: a new version unless it equals the latest one."""
    definition = await _definition(request)
    return await run_in_threadpool(_submit, engine, principal, definition, activate, response)


def _submit(
    engine: Engine,
    principal: Principal,
    definition: WorkflowDefinition,
    activate: bool,
    response: Response,
) -> WorkflowSubmitted:
    submitted = catalog.submit_definition(
        engine,
        definition,
        principal.name,
        lambda owner: check_owner(principal, owner),
        activate=activate,
    )
    response.status_code = 201 if submitted.created else 200
    return WorkflowSubmitted(
        id=submitted.workflow_id,
        version=submitted.version,
        created=submitted.created,
        active_version=submitted.active_version,
    )


@router.post(
    "/validate",
    response_model=DefinitionValid,
    openapi_extra=_DEFINITION_BODY,
    responses=responses(400, 413),
)
async def validate_workflow(request: Request, principal: ReadToken) -> DefinitionValid:
    """Validate a definition without storing it: the normalized definition, or 422 with
    every problem and its path."""
    definition = await _definition(request)
    return DefinitionValid(id=definition.id, definition=definition_to_dict(definition))


# -- reading -------------------------------------------------------------------------------


@router.get("", response_model=WorkflowsPublic, responses=responses(400))
def list_workflows(
    principal: ReadToken,
    engine: EngineDep,
    owner: Text = None,
    tag: Text = None,
    q: Annotated[
        str | None,
        Query(max_length=256, pattern=r"^[^\x00]*$", description="Text in id, name, description"),
    ] = None,
    paused: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkflowsPublic:
    """Workflows by id, each with its newest run."""
    with engine.db.read() as conn:
        page = reads.list_workflows(
            conn, owner=owner, tag=tag, q=q, paused=paused, limit=limit, cursor=cursor
        )
    return WorkflowsPublic.model_validate(page)


@router.get("/{workflow_id}", response_model=WorkflowDetailPublic, responses=responses(404))
def get_workflow(
    workflow_id: WorkflowId, principal: ReadToken, engine: EngineDep
) -> WorkflowDetailPublic:
    """A workflow with its active definition, triggers and run strategy."""
    with engine.db.read() as conn:
        detail = reads.workflow_detail(conn, workflow_id)
    definition = detail.definition
    return WorkflowDetailPublic.model_validate(
        {
            **vars(detail),
            "last_run": vars(detail.last_run) if detail.last_run else None,
            "triggers": definition.get("triggers", []),
            "run_strategy": definition.get("run_strategy", {}),
        }
    )


@router.get("/{workflow_id}/alert-rules", response_model=AlertRulesPublic, responses=responses(404))
def list_alert_rules(
    workflow_id: WorkflowId, principal: ReadToken, engine: EngineDep
) -> AlertRulesPublic:
    """The alert rules of the active version: the workflow's, then each step's (foreach
    bodies included), with their events and where each sends — a connection by its name.
    The alerts they raised are ``GET /alerts?workflow_id=``."""
    with engine.db.read() as conn:
        detail = reads.workflow_detail(conn, workflow_id)
    return AlertRulesPublic(
        workflow_id=detail.id,
        version=detail.active_version,
        items=[AlertRulePublic.model_validate(r) for r in reads.alert_rules(detail.definition)],
    )


@router.get("/{workflow_id}/versions", response_model=VersionsPublic, responses=responses(400, 404))
def list_versions(
    workflow_id: WorkflowId,
    principal: ReadToken,
    engine: EngineDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> VersionsPublic:
    """Versions, newest first."""
    with engine.db.read() as conn:
        page = reads.list_versions(conn, workflow_id, limit=limit, cursor=cursor)
    return VersionsPublic.model_validate(page)


@router.get(
    "/{workflow_id}/events", response_model=WorkflowEventsPublic, responses=responses(400, 404)
)
def list_workflow_events(
    workflow_id: WorkflowId,
    principal: ReadToken,
    engine: EngineDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorkflowEventsPublic:
    """What was done to the workflow as a whole (submit, activate, pause, resume, unblock,
    delete) and by whom, newest first; a deleted workflow's trail is still answered."""
    with engine.db.read() as conn:
        page = reads.workflow_events(conn, workflow_id, limit=limit, cursor=cursor)
    return WorkflowEventsPublic.model_validate(page)


@router.get(
    "/{workflow_id}/versions/{version}",
    response_model=VersionDetailPublic,
    responses=responses(404),
)
def get_version(
    workflow_id: WorkflowId, version: Version, principal: ReadToken, engine: EngineDep
) -> VersionDetailPublic:
    """One version's definition."""
    with engine.db.read() as conn:
        return VersionDetailPublic.model_validate(reads.version_detail(conn, workflow_id, version))


@router.get("/{workflow_id}/runs", response_model=RunsPublic, responses=responses(400, 404))
def run_history(
    workflow_id: WorkflowId,
    principal: ReadToken,
    engine: EngineDep,
    query: RunQueryDep,
    limit: Limit = 50,
    cursor: Cursor = None,
    counts: Annotated[bool, Query(description="Add runs per status")] = False,
) -> RunsPublic:
    """The workflow's runs, newest first (keyset pagination: stable under new runs)."""
    return find_runs(engine, workflow_id, query, limit, cursor, counts)


# -- changing a workflow -------------------------------------------------------------------


def _owned(engine: Engine, principal: Principal, workflow_id: str) -> None:
    """404 for an unknown workflow, 403 unless the caller may act for its owner."""
    with engine.db.read() as conn:
        check_owner(principal, reads.workflow_owner(conn, workflow_id))


def _summary(engine: Engine, workflow_id: str) -> WorkflowPublic:
    with engine.db.read() as conn:
        detail = reads.workflow_detail(conn, workflow_id)
    return WorkflowPublic.model_validate(
        {**vars(detail), "last_run": vars(detail.last_run) if detail.last_run else None}
    )


@router.post(
    "/{workflow_id}/versions/{version}/activate",
    response_model=WorkflowPublic,
    responses=responses(404),
)
def activate_version(
    workflow_id: WorkflowId, version: Version, principal: WriteToken, engine: EngineDep
) -> WorkflowPublic:
    """Make ``version`` the one new runs use."""
    _owned(engine, principal, workflow_id)
    versions.activate_version(engine, workflow_id, version, principal.name)  # triggers follow
    _log_action("activate", workflow_id, principal, version=version)
    return _summary(engine, workflow_id)


def _set_paused(engine: Engine, principal: Principal, workflow_id: str, paused: bool) -> None:
    _owned(engine, principal, workflow_id)
    versions.set_paused(engine, workflow_id, paused, principal.name)
    _log_action("pause" if paused else "resume", workflow_id, principal)


@router.post("/{workflow_id}/pause", response_model=WorkflowPublic, responses=responses(404))
def pause_workflow(
    workflow_id: WorkflowId, principal: WriteToken, engine: EngineDep
) -> WorkflowPublic:
    """Stop firing triggers (runs already started go on; manual starts still work)."""
    _set_paused(engine, principal, workflow_id, True)
    return _summary(engine, workflow_id)


@router.post("/{workflow_id}/resume", response_model=WorkflowPublic, responses=responses(404))
def resume_workflow(
    workflow_id: WorkflowId, principal: WriteToken, engine: EngineDep
) -> WorkflowPublic:
    """Fire triggers again."""
    _set_paused(engine, principal, workflow_id, False)
    return _summary(engine, workflow_id)


@router.post("/{workflow_id}/unblock", response_model=WorkflowPublic, responses=responses(404, 409))
def unblock_workflow(
    workflow_id: WorkflowId, principal: WriteToken, engine: EngineDep
) -> WorkflowPublic:
    """Release a strict_sequential queue blocked by a failed run: the next queued run may
    start (409 when the workflow is not blocked)."""
    _owned(engine, principal, workflow_id)
    catalog.unblock(engine, workflow_id, principal.name)  # Conflict when not blocked
    _log_action("unblock", workflow_id, principal)
    return _summary(engine, workflow_id)


@router.delete("/{workflow_id}", status_code=204, responses=responses(404, 409))
def delete_workflow(
    workflow_id: WorkflowId,
    principal: WriteToken,
    engine: EngineDep,
    force: Annotated[bool, Query(description="Stop the workflow's active runs first")] = False,
) -> Response:
    """Delete a workflow with its versions and runs. 409 while runs are queued, running or
    paused, unless ``force=true``, which stops them first."""
    _owned(engine, principal, workflow_id)
    catalog.delete_workflow(engine, workflow_id, principal.name, force=force)
    _log_action("delete", workflow_id, principal)
    return Response(status_code=204)


# -- runs ----------------------------------------------------------------------------------


@router.post(
    "/{workflow_id}/runs",
    status_code=201,
    response_model=RunDetailPublic,
    responses={
        200: {
            "model": RunDetailPublic,
            "description": "The run of an earlier request with the same Idempotency-Key",
        },
        **responses(400, 404, 413),
    },
)
def start_workflow_run(
    workflow_id: WorkflowId,
    principal: WriteToken,
    engine: EngineDep,
    response: Response,
    body: Annotated[RunCreate | None, Body()] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="The same key for the same workflow returns the same run (200).",
        ),
    ] = None,
) -> RunDetailPublic:
    """Start a run now, with params, of the active version unless told."""
    _owned(engine, principal, workflow_id)
    request = body or RunCreate()
    started = actions.start_run_now(
        engine,
        workflow_id,
        principal.name,
        params=request.params,
        version=request.version,
        logical_date=request.logical_date,
        idempotency_key=idempotency_key,
    )
    response.status_code = 201 if started.created else 200
    with engine.db.read() as conn:
        return RunDetailPublic.model_validate(reads.run_detail(conn, started.run_id))


@router.post(
    "/{workflow_id}/backfills",
    status_code=201,
    response_model=BackfillPublic,
    responses=responses(400, 404, 409, 413),
)
def start_backfill(
    workflow_id: WorkflowId, body: BackfillCreate, principal: WriteToken, engine: EngineDep
) -> BackfillPublic:
    """One run per tick of the workflow's cron trigger in [start, end] (409 without a cron
    trigger, for a reversed range or too many ticks)."""
    _owned(engine, principal, workflow_id)
    backfill_id, run_ids = backfills.create_backfill(
        engine,
        workflow_id,
        body.start,
        body.end,
        max_concurrency=body.max_concurrency,
        actor=principal.name,
        params=body.params,
    )
    return BackfillPublic(backfill_id=backfill_id, run_ids=run_ids)


@router.get(
    "/{workflow_id}/backfills/{backfill_id}",
    response_model=BackfillProgress,
    responses=responses(404),
)
def backfill_status(
    workflow_id: WorkflowId,
    backfill_id: Annotated[int, Path(ge=1, le=2**62)],
    _: ReadToken,
    engine: EngineDep,
) -> BackfillProgress:
    """A backfill's progress: runs done (succeeded, failed, stopped), running and queued."""
    with engine.db.read() as conn:
        progress = backfills.backfill_progress(conn, backfill_id, workflow_id)
    return BackfillProgress(backfill_id=backfill_id, **progress)


@router.post(
    "/{workflow_id}/backfills/{backfill_id}/cancel",
    response_model=BackfillProgress,
    responses=responses(404, 409),
)
def cancel_backfill(
    workflow_id: WorkflowId,
    backfill_id: Annotated[int, Path(ge=1, le=2**62)],
    principal: WriteToken,
    engine: EngineDep,
) -> BackfillProgress:
    """Cancel a RUNNING backfill: its queued runs are STOPPED, its running runs finish (409
    once it is DONE or CANCELLED)."""
    _owned(engine, principal, workflow_id)
    with engine.db.read() as conn:
        backfills.backfill_progress(conn, backfill_id, workflow_id)  # 404 unless this one's
    backfills.cancel_backfill(engine, backfill_id, principal.name)
    with engine.db.read() as conn:
        progress = backfills.backfill_progress(conn, backfill_id, workflow_id)
    return BackfillProgress(backfill_id=backfill_id, **progress)


def _log_action(action: str, workflow_id: str, principal: Principal, **extra: Any) -> None:
    # workflow actions have no run to attach an event row to (events.run_id): they are logged
    logger.info(
        "workflow %s",
        action,
        extra={"workflow_id": workflow_id, "actor": principal.name, "action": action, **extra},
    )
