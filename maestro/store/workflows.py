"""The workflows and workflow_versions tables: a workflow row per id, an immutable version per
distinct definition, and the columns the engine moves (active version, paused, the run
counter, the strict_sequential block)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, update

from maestro.store import run_events, tables

W, V = tables.workflows, tables.workflow_versions


def insert_workflow(conn: Connection, workflow_id: str, **values: Any) -> None:
    conn.execute(insert(W).values(id=workflow_id, **values))


def update_workflow(conn: Connection, workflow_id: str, **values: Any) -> None:
    conn.execute(update(W).where(W.c.id == workflow_id).values(**values))


def insert_version(conn: Connection, workflow_id: str, version: int, **values: Any) -> None:
    conn.execute(insert(V).values(workflow_id=workflow_id, version=version, **values))


def delete_workflow(conn: Connection, workflow_id: str) -> None:
    """The workflow with its versions, triggers and runs (ON DELETE CASCADE), and its runs'
    events (no foreign key: deleted first); its own audit trail stays."""
    run_events.delete_of_workflow(conn, workflow_id)
    conn.execute(delete(W).where(W.c.id == workflow_id))


def block(conn: Connection, workflow_id: str, run_id: int) -> bool:
    """strict_sequential: ``run_id`` blocks the workflow, unless another run already does."""
    blocked = conn.execute(
        update(W)
        .where(W.c.id == workflow_id, W.c.blocked_by_run_id.is_(None))
        .values(blocked_by_run_id=run_id)
    ).rowcount
    return bool(blocked)


def unblock(conn: Connection, workflow_id: str, blocker: int | None = None) -> bool:
    """Clear the block (only if ``blocker`` still holds it, when given)."""
    query = update(W).where(W.c.id == workflow_id)
    if blocker is not None:
        query = query.where(W.c.blocked_by_run_id == blocker)
    return bool(conn.execute(query.values(blocked_by_run_id=None)).rowcount)
