"""The runs table: a run inserted QUEUED (its first status recorded by the caller through
``transitions.created``), foreach iterations inserted in one statement, the run counter of
its workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from maestro.store import direct, tables
from maestro.store.records import RUN_COLUMNS, RunRow

R, W = tables.runs, tables.workflows

#: built once (``direct`` compiles it once per set of columns given)
_INSERT_RUN = insert(R).returning(*RUN_COLUMNS)


def insert_run(conn: Connection, **values: Any) -> RunRow:
    """A new run; its row as inserted (starting it in the same unit reads it from here)."""
    return RunRow.of(direct.execute(conn, _INSERT_RUN, values).one())


def insert_runs(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Several runs in one statement (a foreach's iterations); their ids in the rows' order."""
    return list(
        conn.execute(insert(R).returning(R.c.id, sort_by_parameter_order=True), rows).scalars()
    )


_NEXT_RUN_NUMBER = (
    update(W)
    .where(W.c.id == bindparam("p_workflow"))
    .values(run_counter=W.c.run_counter + 1)
    .returning(W.c.active_version, W.c.latest_version, W.c.blocked_by_run_id, W.c.run_counter)
)


def next_run_number(conn: Connection, workflow_id: str) -> Any:
    """Count a new run of the workflow: its row (``active_version``, ``latest_version``,
    ``blocked_by_run_id``, ``run_counter`` — the new run's number), or None when there is no
    such workflow. The row stays locked until the unit ends, so numbers are given in order
    (and admitting the new run in the same unit needs no other lock, nor to read it again)."""
    return direct.execute(conn, _NEXT_RUN_NUMBER, {"p_workflow": workflow_id}).first()


_ROOT = select(R.c.root_run_id).where(R.c.id == bindparam("p_run"))


def root_of(conn: Connection, run_id: int) -> int:
    """The top-level run of ``run_id``'s tree (itself when it has no parent)."""
    root = direct.execute(conn, _ROOT, {"p_run": run_id}).scalar()
    return int(root) if root is not None else run_id
