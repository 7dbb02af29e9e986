"""The query parameters that find runs, shared by ``GET /runs`` and ``GET /workflows/{id}/runs``
(``maestro.reads.run_search`` says what each costs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query

from api.errors import Unprocessable
from api.schemas.dates import UtcDatetimeQuery
from api.schemas.runs import RunsPublic
from maestro import reads
from maestro.engine.core import Engine
from maestro.reads.run_search import MAX_TEXT
from maestro.states import RunStatus

#: how a run came to be (``runs.trigger``): an unknown one is a 422, not an empty page
TriggerName = Literal["manual", "cron", "signal", "backfill", "restart", "subworkflow"]


@dataclass(frozen=True)
class RunQuery:
    statuses: list[str]
    triggers: list[str]
    since: datetime | None
    until: datetime | None
    text: str | None


def run_query(
    status: Annotated[list[RunStatus] | None, Query(description="Repeatable")] = None,
    trigger: Annotated[
        list[TriggerName] | None,
        Query(description="Repeatable: manual, cron, signal, backfill, restart, subworkflow"),
    ] = None,
    since: Annotated[UtcDatetimeQuery | None, Query(description="Created at or after")] = None,
    until: Annotated[UtcDatetimeQuery | None, Query(description="Created before")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_TEXT,
            pattern=r"^[^\x00]*$",
            description="Text the run's params contain (their JSON, ignoring case)",
        ),
    ] = None,
) -> RunQuery:
    if since is not None and until is not None and until <= since:
        raise Unprocessable(
            f"until ({until.isoformat()}) must be after since ({since.isoformat()})"
        )
    return RunQuery(
        statuses=[s.value for s in status or ()],
        triggers=list(trigger or ()),
        since=since,
        until=until,
        text=q or None,
    )


RunQueryDep = Annotated[RunQuery, Depends(run_query)]


def find_runs(
    engine: Engine,
    workflow_id: str | None,
    query: RunQuery,
    limit: int,
    cursor: str | None,
    counts: bool,
) -> RunsPublic:
    """A page of runs for the API (one workflow's, or every workflow's)."""
    with engine.db.read() as conn:
        page = reads.run_history(
            conn,
            workflow_id,
            statuses=query.statuses,
            triggers=query.triggers,
            since=query.since,
            until=query.until,
            text=query.text,
            limit=limit,
            cursor=cursor,
            counts=counts,
        )
    return RunsPublic.model_validate(page)
