"""Deleting old runs in bounded batches: a run goes with its steps, attempts, signal waits and
child runs (``ON DELETE CASCADE``), and with its events and theirs (``run_events``, deleted
first: they have no foreign key). Only top-level runs that ended are candidates;
each batch is one short transaction, so no lock is held for long."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select

from maestro.states import RUN_TERMINAL
from maestro.store import run_events, tables

R, W = tables.runs, tables.workflows
_ENDED = [s.value for s in RUN_TERMINAL]


def workflow_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(W.c.id).order_by(W.c.id)).scalars())


def kept_from(conn: Connection, workflow_id: str, keep_last: int) -> int | None:
    """The id of the oldest of the workflow's ``keep_last`` newest top-level runs: runs
    below it may go (None: the workflow has no more runs than that, all are kept)."""
    if keep_last <= 0:
        return None
    return conn.execute(
        select(R.c.id)
        .where(R.c.workflow_id == workflow_id, R.c.parent_run_id.is_(None))
        .order_by(R.c.id.desc())
        .offset(keep_last - 1)
        .limit(1)
    ).scalar()


def old_runs(
    conn: Connection,
    workflow_id: str,
    *,
    ended_before: datetime,
    below_id: int | None,
    keep_all: bool,
    limit: int,
) -> list[int]:
    """Up to ``limit`` top-level runs of the workflow that ended before ``ended_before``,
    oldest first (on ``ix_runs_workflow_history``); none when ``keep_all``."""
    if keep_all:
        return []
    query = select(R.c.id).where(
        R.c.workflow_id == workflow_id,
        R.c.parent_run_id.is_(None),
        R.c.status.in_(_ENDED),
        R.c.ended_at < ended_before,
    )
    if below_id is not None:
        query = query.where(R.c.id < below_id)
    return list(conn.execute(query.order_by(R.c.id).limit(limit)).scalars())


def child_runs(conn: Connection, run_ids: Sequence[int]) -> list[int]:
    """Every run below these (their log folders go too)."""
    found: list[int] = []
    frontier = list(run_ids)
    while frontier:
        frontier = list(
            conn.execute(select(R.c.id).where(R.c.parent_run_id.in_(frontier))).scalars()
        )
        found.extend(frontier)
    return found


def delete_runs(conn: Connection, run_ids: Sequence[int]) -> int:
    """The runs, their events and everything below them; returns how many runs (top-level
    ones) went."""
    run_events.delete_of_runs(conn, run_ids)
    return int(conn.execute(delete(R).where(R.c.id.in_(list(run_ids)))).rowcount or 0)
