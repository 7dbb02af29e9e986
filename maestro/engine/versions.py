"""Which version of a workflow is active, and whether its triggers fire.

Versions are immutable (``workflows.submit`` creates them); activating one — a staged version
or an older one (rollback) — changes what default starts and triggers use: the ``triggers``
rows follow the active version (``sync_triggers``), and so does the run strategy. Runs already
created keep the version they were created with.

Pausing a workflow stops its triggers only: cron ticks that fall while it is paused are
skipped (not caught up on resume, whatever ``catchup`` says) and signals start nothing; manual
starts and runs already queued or running are not affected.
"""

from __future__ import annotations

from sqlalchemy import select

from maestro.engine import audit
from maestro.engine.core import Engine
from maestro.engine.triggers import reschedule_cron, sync_triggers
from maestro.errors import NotFound
from maestro.reads.workflows import unknown_workflow
from maestro.store import tables
from maestro.store import workflows as workflow_rows

W, V = tables.workflows, tables.workflow_versions


def activate_version(eng: Engine, workflow_id: str, version: int, actor: str) -> None:
    """Make ``version`` the active one (NotFound if the workflow or the version does not
    exist). Activating the active version again changes nothing."""
    with eng.unit(actor=actor) as u:
        current = u.conn.execute(
            select(W.c.active_version).where(W.c.id == workflow_id).with_for_update()
        ).first()
        if current is None:
            raise unknown_workflow(u.conn, workflow_id)
        exists = u.conn.execute(
            select(V.c.version).where(V.c.workflow_id == workflow_id, V.c.version == version)
        ).first()
        if exists is None:
            raise NotFound(f"workflow {workflow_id!r} has no version {version}")
        if current.active_version == version:
            return
        workflow_rows.update_workflow(u.conn, workflow_id, active_version=version, updated_at=u.now)
        audit.workflow_event(
            u, workflow_id, "activate", f"version {version} (was {current.active_version})"
        )
        definition = eng.versions.get(u.conn, workflow_id, version).definition
        sync_triggers(u, workflow_id, definition)
        u.wake_scheduler = True  # the run strategy may have changed: admit what it allows now


def set_paused(eng: Engine, workflow_id: str, paused: bool, actor: str) -> None:
    """Pause or resume the workflow's triggers (NotFound if it does not exist)."""
    with eng.unit(actor=actor) as u:
        was = u.conn.execute(
            select(W.c.paused).where(W.c.id == workflow_id).with_for_update()
        ).scalar()
        if was is None:
            raise unknown_workflow(u.conn, workflow_id)
        if bool(was) == paused:
            return
        workflow_rows.update_workflow(u.conn, workflow_id, paused=paused, updated_at=u.now)
        audit.workflow_event(u, workflow_id, "pause" if paused else "resume", "its triggers")
        if not paused:
            reschedule_cron(u, workflow_id)
