"""Deleting the events of runs that are being deleted.

``events.run_id`` has no foreign key (its check cost a fifth of a claim: migration 0011), so
the two places that delete runs — ``maestro db prune`` and deleting a workflow — delete their
events first, those of every run below them included (foreach iterations, subworkflow runs,
which go with their parent run by ``ON DELETE CASCADE``). A workflow's own audit trail
(``events.workflow_id`` without a run) stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Select, delete, select

from maestro.store import tables

R, E = tables.runs, tables.events


def delete_below(conn: Connection, roots: Select[tuple[int]]) -> int:
    """Delete the events of the runs ``roots`` selects and of every run below them (on
    ``ix_runs_parent`` and ``ix_events_run``); returns how many went."""
    tree = roots.cte("doomed", recursive=True)
    tree = tree.union(select(R.c.id).where(R.c.parent_run_id == tree.c.id))
    query = delete(E).where(E.c.run_id.in_(select(tree.c.id)))
    return int(conn.execute(query).rowcount or 0)


def delete_of_runs(conn: Connection, run_ids: Sequence[int]) -> int:
    """The events of these runs and of the runs below them."""
    return delete_below(conn, select(R.c.id).where(R.c.id.in_(list(run_ids))))


def delete_of_workflow(conn: Connection, workflow_id: str) -> int:
    """The events of the workflow's runs and of the runs below them."""
    return delete_below(conn, select(R.c.id).where(R.c.workflow_id == workflow_id))
