"""Workflows and their versions, as the API, the web view and the CLI list and show them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from maestro.definition.graph import did_you_mean
from maestro.errors import NotFound
from maestro.reads.paging import (
    ACTIVE_RUN_STATUSES,
    Page,
    clamp_limit,
    int_cursor,
    page_of,
    str_cursor,
)
from maestro.states import RunStatus
from maestro.store import tables

W, V, R, TR = tables.workflows, tables.workflow_versions, tables.runs, tables.triggers


# -- workflows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunBrief:
    id: int
    number: int
    status: RunStatus
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class WorkflowSummary:
    id: str
    name: str
    description: str
    owner: str
    tags: list[str]
    active_version: int
    latest_version: int
    paused: bool
    created_at: datetime
    updated_at: datetime
    last_run: RunBrief | None
    #: when a time trigger fires next (None when paused or without cron triggers)
    next_trigger_at: datetime | None = None
    #: strict_sequential: the failed run holding the queue back
    blocked_by_run_id: int | None = None


@dataclass(frozen=True)
class WorkflowDetail(WorkflowSummary):
    definition: dict[str, Any] = field(default_factory=dict)


def _last_run_id() -> Any:
    # one index probe per workflow (newest run of ix_runs_workflow_history, whose predicate
    # the query must repeat for the planner to use it), never a GROUP BY over all runs
    return (
        select(R.c.id)
        .where(R.c.workflow_id == W.c.id, R.c.iteration.is_(None))
        .order_by(R.c.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("last_run_id")
    )


def _next_trigger_at() -> Any:
    # the triggers of one workflow, by uq_triggers_workflow_position
    return (
        select(func.min(TR.c.next_fire_at))
        .where(TR.c.workflow_id == W.c.id)
        .scalar_subquery()
        .label("next_fire_at")
    )


def _has_tag(conn: Connection, tag: str) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return W.c.tags.op("@>")(func.jsonb_build_array(tag))
    each = func.json_each(W.c.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))


def list_workflows(
    conn: Connection,
    *,
    owner: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    paused: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[WorkflowSummary]:
    """Workflows by id, with their newest run."""
    limit = clamp_limit(limit)
    query = select(W, _last_run_id(), _next_trigger_at()).order_by(W.c.id).limit(limit + 1)
    after = str_cursor(cursor)
    if after is not None:
        query = query.where(W.c.id > after)
    if owner is not None:
        query = query.where(W.c.owner == owner)
    if paused is not None:
        query = query.where(W.c.paused.is_(paused))
    if tag is not None:
        query = query.where(_has_tag(conn, tag))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(*(c.ilike(pattern, escape="\\") for c in (W.c.id, W.c.name, W.c.description)))
        )
    rows = conn.execute(query).all()
    briefs = _run_briefs(conn, [r.last_run_id for r in rows[:limit] if r.last_run_id])
    return page_of(rows, limit, lambda r: _summary(r, briefs.get(r.last_run_id)), "id")


def _run_briefs(conn: Connection, run_ids: Collection[int]) -> dict[int, RunBrief]:
    if not run_ids:
        return {}
    rows = conn.execute(
        select(R.c.id, R.c.number, R.c.status, R.c.created_at, R.c.ended_at).where(
            R.c.id.in_(list(run_ids))
        )
    )
    return {
        r.id: RunBrief(r.id, r.number, RunStatus(r.status), r.created_at, r.ended_at) for r in rows
    }


def _summary(row: Any, last_run: RunBrief | None) -> WorkflowSummary:
    return WorkflowSummary(
        id=row.id,
        name=row.name,
        description=row.description,
        owner=row.owner,
        tags=list(row.tags or []),
        active_version=row.active_version,
        latest_version=row.latest_version,
        paused=row.paused,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run=last_run,
        next_trigger_at=None if row.paused else row.next_fire_at,
        blocked_by_run_id=row.blocked_by_run_id,
    )


def unknown_workflow(conn: Connection, workflow_id: str) -> NotFound:
    """``NotFound`` for an id no workflow has, with the closest one there is (``maestro start
    helo``: did you mean 'hello'?)."""
    ids = conn.execute(select(W.c.id).order_by(W.c.id).limit(_MAX_SUGGESTED_FROM)).scalars()
    return NotFound(f"workflow {workflow_id!r} does not exist{did_you_mean(workflow_id, ids)}")


#: the ids a suggestion is looked for among (an error's cost stays bounded)
_MAX_SUGGESTED_FROM = 10_000


def workflow_detail(conn: Connection, workflow_id: str) -> WorkflowDetail:
    row = conn.execute(
        select(W, _last_run_id(), _next_trigger_at()).where(W.c.id == workflow_id)
    ).first()
    if row is None:
        raise unknown_workflow(conn, workflow_id)
    definition = conn.execute(
        select(V.c.definition).where(
            V.c.workflow_id == workflow_id, V.c.version == row.active_version
        )
    ).scalar()
    briefs = _run_briefs(conn, [row.last_run_id] if row.last_run_id else [])
    summary = _summary(row, briefs.get(row.last_run_id))
    return WorkflowDetail(**vars(summary), definition=definition or {})


def workflow_owner(conn: Connection, workflow_id: str) -> str:
    owner: str | None = conn.execute(select(W.c.owner).where(W.c.id == workflow_id)).scalar()
    if owner is None:
        raise unknown_workflow(conn, workflow_id)
    return owner


def active_runs(conn: Connection, workflow_id: str) -> list[int]:
    """Runs of the workflow that are queued, running or paused."""
    return list(
        conn.execute(
            select(R.c.id)
            .where(R.c.workflow_id == workflow_id, R.c.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(R.c.id)
        ).scalars()
    )


# -- versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    workflow_id: str
    version: int
    content_hash: str
    created_at: datetime
    created_by: str | None
    active: bool


@dataclass(frozen=True)
class VersionDetail(VersionSummary):
    source: str | None = None
    definition: dict[str, Any] = field(default_factory=dict)


def list_versions(
    conn: Connection, workflow_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[VersionSummary]:
    """Versions, newest first."""
    limit = clamp_limit(limit)
    active = _active_version(conn, workflow_id)
    query = (
        select(V.c.workflow_id, V.c.version, V.c.content_hash, V.c.created_at, V.c.created_by)
        .where(V.c.workflow_id == workflow_id)
        .order_by(V.c.version.desc())
        .limit(limit + 1)
    )
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(V.c.version < before)
    rows = conn.execute(query).all()
    return page_of(
        rows,
        limit,
        lambda r: VersionSummary(
            r.workflow_id,
            r.version,
            r.content_hash,
            r.created_at,
            r.created_by,
            r.version == active,
        ),
        "version",
    )


def version_detail(conn: Connection, workflow_id: str, version: int) -> VersionDetail:
    active = _active_version(conn, workflow_id)
    row = conn.execute(
        select(V).where(V.c.workflow_id == workflow_id, V.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version}")
    return VersionDetail(
        workflow_id=row.workflow_id,
        version=row.version,
        content_hash=row.content_hash,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.version == active,
        source=row.source,
        definition=row.definition,
    )


def _active_version(conn: Connection, workflow_id: str) -> int:
    active: int | None = conn.execute(
        select(W.c.active_version).where(W.c.id == workflow_id)
    ).scalar()
    if active is None:
        raise unknown_workflow(conn, workflow_id)
    return active
