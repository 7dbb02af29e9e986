"""The runs table: a run inserted QUEUED (its first status recorded by the caller through
``transitions.created``), foreach iterations inserted in one statement, the run counter of
its workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from maestro.store import tables

R, W = tables.runs, tables.workflows


def insert_run(conn: Connection, **values: Any) -> int:
    run_id: int = conn.execute(insert(R).values(**values).returning(R.c.id)).scalar_one()
    return run_id


def insert_runs(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Several runs in one statement (a foreach's iterations); their ids in the rows' order."""
    return list(
        conn.execute(insert(R).returning(R.c.id, sort_by_parameter_order=True), rows).scalars()
    )


def count_run(conn: Connection, workflow_id: str, number: int) -> None:
    """The workflow's run counter is now ``number`` (the new run's per-workflow number)."""
    conn.execute(update(W).where(W.c.id == workflow_id).values(run_counter=number))


def root_of(conn: Connection, run_id: int) -> int:
    """The top-level run of ``run_id``'s tree (itself when it has no parent)."""
    root = conn.execute(select(R.c.root_run_id).where(R.c.id == run_id)).scalar()
    return int(root) if root is not None else run_id
