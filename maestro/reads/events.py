"""A run's events: every status change and action, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from maestro.reads.paging import Page, clamp_limit, int_cursor, page_of
from maestro.reads.runs import require_run
from maestro.reads.workflows import workflow_owner
from maestro.store import tables

R, S, A, E = tables.runs, tables.step_runs, tables.attempts, tables.events


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    entity: str
    step_id: str | None
    attempt: int | None
    from_status: str | None
    to_status: str | None
    action: str | None
    actor: str
    message: str | None


def list_events(
    conn: Connection, run_id: int, *, limit: int = 50, cursor: str | None = None
) -> Page[EventView]:
    """The run's timeline, oldest first (keyset on ``events.id``, index ``ix_events_run``)."""
    limit = clamp_limit(limit)
    require_run(conn, run_id)
    query = (
        select(
            E.c.id,
            E.c.at,
            E.c.entity,
            S.c.step_id,
            A.c.number.label("attempt"),
            E.c.from_status,
            E.c.to_status,
            E.c.action,
            E.c.actor,
            E.c.message,
        )
        .select_from(
            E.outerjoin(S, S.c.id == E.c.step_run_id).outerjoin(A, A.c.id == E.c.attempt_id)
        )
        .where(E.c.run_id == run_id)
        .order_by(E.c.id)
        .limit(limit + 1)
    )
    after = int_cursor(cursor)
    if after is not None:
        query = query.where(E.c.id > after)
    return page_of(
        conn.execute(query).all(),
        limit,
        lambda r: EventView(**{k: getattr(r, k) for k in EventView.__dataclass_fields__}),
        "id",
    )


def change_stamp(conn: Connection) -> str:
    """A value that changes whenever a run is created or anything in any run changes (every
    change is an event): the newest event's and the newest run's ids, two primary-key probes.
    A page that is not following an active run polls this instead of re-rendering itself."""
    event = conn.execute(select(func.max(E.c.id))).scalar() or 0
    run = conn.execute(select(func.max(R.c.id))).scalar() or 0
    return f"{event}.{run}"


# -- the audit trail of workflows and tokens ------------------------------------------------


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    entity: str
    workflow_id: str | None
    action: str | None
    actor: str
    message: str | None


_AUDIT = (E.c.id, E.c.at, E.c.entity, E.c.workflow_id, E.c.action, E.c.actor, E.c.message)


def workflow_events(
    conn: Connection, workflow_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[AuditEvent]:
    """What was done to the workflow as a whole, newest first (``ix_events_workflow``); its
    trail outlives it: a deleted workflow's events are still read (404 only when the workflow
    never had any)."""
    limit = clamp_limit(limit)
    query = select(*_AUDIT).where(E.c.workflow_id == workflow_id)
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(E.c.id < before)
    rows = conn.execute(query.order_by(E.c.id.desc()).limit(limit + 1)).all()
    if not rows and before is None:
        workflow_owner(conn, workflow_id)  # NotFound for a workflow that never existed
    return page_of(rows, limit, lambda r: AuditEvent(**r._mapping), "id")


def token_events(conn: Connection, *, limit: int = 50) -> list[AuditEvent]:
    """Tokens created and revoked, newest first."""
    rows = conn.execute(
        select(*_AUDIT).where(E.c.entity == "token").order_by(E.c.id.desc()).limit(limit)
    )
    return [AuditEvent(**r._mapping) for r in rows]
