"""/runs: a run, its steps, attempts, logs and events, and the run and step actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from api.deps import EngineDep, ReadToken, WriteToken, check_owner
from api.errors import Unprocessable, responses
from api.run_filters import RunQueryDep, find_runs
from api.schemas.runs import (
    EventsPublic,
    RunDetailPublic,
    RunRestart,
    RunsPublic,
    StepDetailPublic,
    StepsPublic,
)
from maestro import reads
from maestro.definition.models import STEP_ID_PATTERN
from maestro.engine import actions
from maestro.engine.core import Engine
from maestro.store.retry import retrying
from maestro.store.tokens import Principal

#: seconds an action keeps retrying over transient database failures before answering 503
ACTION_RETRY = 5.0
router = APIRouter(prefix="/runs", tags=["runs"], responses=responses(401, 403, 422))

RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
StepId = Annotated[str, Path(pattern=STEP_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=reads.MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
#: the most bytes of log one request returns
MAX_LOG_CHUNK = 8 * 1024 * 1024


@router.get("", response_model=RunsPublic, responses=responses(400, 404))
def list_runs(
    principal: ReadToken,
    engine: EngineDep,
    query: RunQueryDep,
    workflow: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="One workflow")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    counts: Annotated[bool, Query(description="Add runs per status")] = False,
) -> RunsPublic:
    """Runs of every workflow (or of ``workflow``), newest first, by status, trigger, creation
    date and params text; foreach iterations are left out (they show under their step)."""
    return find_runs(engine, workflow, query, limit, cursor, counts)


def _run(engine: Engine, run_id: int) -> RunDetailPublic:
    with engine.db.read() as conn:
        return RunDetailPublic.model_validate(reads.run_detail(conn, run_id))


def _step(engine: Engine, run_id: int, step_id: str) -> StepDetailPublic:
    with engine.db.read() as conn:
        return StepDetailPublic.model_validate(reads.step_detail(conn, run_id, step_id))


def _owned(engine: Engine, principal: Principal, run_id: int) -> None:
    """404 for an unknown run, 403 unless the caller may act for its workflow's owner."""
    with engine.db.read() as conn:
        check_owner(principal, reads.run_owner(conn, run_id))


# -- reading -------------------------------------------------------------------------------


@router.get("/{run_id}", response_model=RunDetailPublic, responses=responses(404))
def get_run(run_id: RunId, principal: ReadToken, engine: EngineDep) -> RunDetailPublic:
    """Status, params, version, trigger, times, outputs, step counts, related runs."""
    return _run(engine, run_id)


@router.get("/{run_id}/steps", response_model=StepsPublic, responses=responses(400, 404))
def list_steps(
    run_id: RunId,
    principal: ReadToken,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=reads.MAX_LIMIT)] = reads.MAX_LIMIT,
    cursor: Cursor = None,
) -> StepsPublic:
    """Every step of the run in definition order."""
    with engine.db.read() as conn:
        page = reads.list_steps(conn, run_id, limit=limit, cursor=cursor)
    return StepsPublic.model_validate(page)


@router.get("/{run_id}/steps/{step_id}", response_model=StepDetailPublic, responses=responses(404))
def get_step(
    run_id: RunId, step_id: StepId, principal: ReadToken, engine: EngineDep
) -> StepDetailPublic:
    """One step with all its attempts."""
    return _step(engine, run_id, step_id)


_LOG_HEADERS = {
    "X-Log-Size": {"description": "Bytes in the log now", "schema": {"type": "string"}},
    "X-Next-Offset": {"description": "Offset to ask for next", "schema": {"type": "string"}},
    "X-Attempt-Status": {"description": "The attempt's status", "schema": {"type": "string"}},
}


@router.get(
    "/{run_id}/steps/{step_id}/attempts/{number}/logs",
    response_class=Response,
    responses={
        200: {
            "description": "Bytes ``[offset, offset + limit)`` of the attempt's log",
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "headers": _LOG_HEADERS,
        },
        **responses(404),
    },
)
def get_attempt_log(
    run_id: RunId,
    step_id: StepId,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: ReadToken,
    engine: EngineDep,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_CHUNK)] = 1024 * 1024,
) -> Response:
    """The attempt's log from ``offset``, as it is now: readable while the step runs (follow
    it by asking again from ``X-Next-Offset``). A log nothing was written to yet is empty."""
    with engine.db.read() as conn:
        info = reads.attempt_log(conn, run_id, step_id, number)
    data, size = _read_log(info.log_path, offset, limit)
    return Response(
        data,
        media_type="text/plain; charset=utf-8",
        headers={
            "X-Log-Size": str(size),
            "X-Next-Offset": str(offset + len(data)),
            "X-Attempt-Status": info.status,
        },
    )


def _read_log(path: str | None, offset: int, limit: int) -> tuple[bytes, int]:
    if not path:
        return b"", 0
    try:
        with FsPath(path).open("rb") as log:
            size = log.seek(0, 2)
            if offset >= size:
                return b"", size
            log.seek(offset)
            return log.read(limit), size
    except FileNotFoundError:  # logs are created on their first write
        return b"", 0


@router.get("/{run_id}/events", response_model=EventsPublic, responses=responses(400, 404))
def list_events(
    run_id: RunId,
    principal: ReadToken,
    engine: EngineDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> EventsPublic:
    """The run's timeline, oldest first: status changes and actions, with their actor."""
    with engine.db.read() as conn:
        page = reads.list_events(conn, run_id, limit=limit, cursor=cursor)
    return EventsPublic.model_validate(page)


# -- run actions ---------------------------------------------------------------------------


def _run_action(action: Callable[[Engine, int, str], None], path: str, doc: str) -> None:
    """A POST route calling ``action(engine, run_id, actor)`` of ``maestro.engine.actions``."""
    name = action.__name__

    def act(run_id: RunId, principal: WriteToken, engine: EngineDep) -> RunDetailPublic:
        _owned(engine, principal, run_id)
        # a deadlock victim or a dropped connection rolled back: the action is safe to repeat
        retrying(lambda: action(engine, run_id, principal.name), deadline=ACTION_RETRY, what=name)
        return _run(engine, run_id)

    act.__doc__ = doc
    act.__name__ = name
    router.post(
        f"/{{run_id}}/{path}",
        response_model=RunDetailPublic,
        responses=responses(404, 409),
        name=name,
    )(act)


_run_action(
    actions.stop_run,
    "stop",
    "Graceful stop: no new steps start, running ones are terminated, the run ends STOPPED.",
)
_run_action(
    actions.kill_run, "kill", "Immediate stop: running attempts are killed, the run ends FAILED."
)
_run_action(actions.pause_run, "pause", "Hold the dispatch of new steps (running ones finish).")
_run_action(actions.resume_run, "resume", "Release a paused run.")


@router.post(
    "/{run_id}/restart",
    status_code=201,
    response_model=RunDetailPublic,
    responses=responses(400, 404, 409, 413),
)
def restart_run(
    run_id: RunId,
    principal: WriteToken,
    engine: EngineDep,
    body: Annotated[RunRestart | None, Body()] = None,
) -> RunDetailPublic:
    """A new run (number + 1, ``restarted_from``) that reruns the failed steps (default), every
    step (``beginning``), or ``step_id`` and what follows it (``step``), reusing the outputs of
    the steps it does not rerun."""
    request = body or RunRestart()
    if request.from_ == "step" and not request.step_id:
        raise Unprocessable("restart from a step needs step_id")
    _owned(engine, principal, run_id)
    new_id = actions.restart_run(
        engine,
        run_id,
        principal.name,
        mode=request.from_,
        step_id=request.step_id,
        params=request.params,
    )
    return _run(engine, new_id)


# -- step actions --------------------------------------------------------------------------


def _step_action(action: Callable[[Engine, int, str, str], None], path: str, doc: str) -> None:
    """A POST route calling ``action(engine, run_id, step_id, actor)`` of the engine's actions."""
    name = action.__name__

    def act(
        run_id: RunId, step_id: StepId, principal: WriteToken, engine: EngineDep
    ) -> StepDetailPublic:
        _owned(engine, principal, run_id)
        retrying(
            lambda: action(engine, run_id, step_id, principal.name),
            deadline=ACTION_RETRY,
            what=name,
        )
        return _step(engine, run_id, step_id)

    act.__doc__ = doc
    act.__name__ = name
    router.post(
        f"/{{run_id}}/steps/{{step_id}}/{path}",
        response_model=StepDetailPublic,
        responses=responses(404, 409),
        name=name,
    )(act)


_step_action(
    actions.retry_step,
    "retry",
    "Rerun a FAILED or TIMED_OUT step of a run that is still RUNNING (a new attempt).",
)
_step_action(
    actions.skip_step,
    "skip",
    "Mark a PENDING, WAITING or FAILED step SKIPPED so the DAG can go on.",
)
_step_action(actions.stop_step, "stop", "Stop one running step.")
