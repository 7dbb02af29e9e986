"""The rows a trace's spans are made of (``maestro.engine.tracing``): runs, steps and attempts
that a unit ended, each with what its spans say of its run and the top-level run its trace is
named after. Read only when traces are on, inside the unit that ended them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from maestro.states import StepStatus
from maestro.store import tables

R, S, A, E = tables.runs, tables.step_runs, tables.attempts, tables.events
ROOT = R.alias("root")


def root(conn: Connection, run_id: int) -> tuple[int, datetime]:
    """The top-level run of a child run's tree: its id and creation time."""
    row = conn.execute(
        select(ROOT.c.id, ROOT.c.created_at)
        .select_from(R.join(ROOT, ROOT.c.id == R.c.root_run_id))
        .where(R.c.id == run_id)
    ).one()
    return int(row.id), row.created_at


def runs(conn: Connection, ids: Collection[int]) -> Sequence[Any]:
    query = (
        select(
            R.c.id,
            R.c.workflow_id,
            R.c.version,
            R.c.number,
            R.c.status,
            R.c.trigger,
            R.c.error,
            R.c.created_at,
            R.c.started_at,
            R.c.ended_at,
            R.c.parent_step_run_id,
            R.c.iteration,
            R.c.body,
            *_root_columns(),
        )
        .select_from(R.outerjoin(ROOT, ROOT.c.id == R.c.root_run_id))
        .where(R.c.id.in_(sorted(ids)))
    )
    return conn.execute(query).all()


def steps(conn: Connection, ids: Collection[int]) -> Sequence[Any]:
    query = _with_run(
        select(
            S.c.id,
            S.c.step_id,
            S.c.step_type,
            S.c.status,
            S.c.error,
            S.c.attempts,
            S.c.started_at,
            S.c.ended_at,
        ).select_from(S.join(R, R.c.id == S.c.run_id).outerjoin(ROOT, ROOT.c.id == R.c.root_run_id))
    ).where(S.c.id.in_(sorted(ids)))
    return conn.execute(query).all()


def left_pending(
    conn: Connection, run_ids: Collection[int], step_ids: Collection[int]
) -> dict[int, datetime]:
    """When each step last left PENDING (became ready), from its events (the run's index)."""
    query = (
        select(E.c.step_run_id, func.max(E.c.at).label("at"))
        .where(
            E.c.run_id.in_(sorted(run_ids)),
            E.c.step_run_id.in_(sorted(step_ids)),
            E.c.entity == "step",
            E.c.from_status == StepStatus.PENDING.value,
        )
        .group_by(E.c.step_run_id)
    )
    return {row.step_run_id: row.at for row in conn.execute(query)}


def attempts(conn: Connection, ids: Collection[int]) -> Sequence[Any]:
    query = _with_run(
        select(
            A.c.id,
            A.c.number,
            A.c.status,
            A.c.error,
            A.c.exit_code,
            A.c.worker,
            A.c.queue,
            A.c.created_at,
            A.c.started_at,
            A.c.ended_at,
            A.c.step_run_id,
            S.c.step_id,
            S.c.step_type,
        ).select_from(
            A.join(S, S.c.id == A.c.step_run_id)
            .join(R, R.c.id == A.c.run_id)
            .outerjoin(ROOT, ROOT.c.id == R.c.root_run_id)
        )
    ).where(A.c.id.in_(sorted(ids)))
    return conn.execute(query).all()


def _root_columns() -> tuple[Any, ...]:
    return (R.c.root_run_id, ROOT.c.created_at.label("root_created_at"))


def _with_run(query: Select[Any]) -> Select[Any]:
    return query.add_columns(
        R.c.id.label("run_id"),
        R.c.workflow_id,
        R.c.version,
        R.c.number.label("run_number"),
        R.c.created_at.label("run_created_at"),
        R.c.iteration,
        R.c.body,
        *_root_columns(),
    )
