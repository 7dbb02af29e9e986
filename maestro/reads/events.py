"""A run's events: every status change and action, in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from maestro.reads.paging import Page, clamp_limit, int_cursor, page_of
from maestro.reads.runs import require_run
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
