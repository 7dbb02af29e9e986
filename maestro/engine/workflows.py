"""Submitting definitions: a workflow row per id and an immutable version per distinct content."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from maestro.definition import WorkflowDefinition, content_hash, definition_to_dict
from maestro.engine import audit
from maestro.engine.triggers import sync_triggers
from maestro.store import tables
from maestro.store import workflows as workflow_rows
from maestro.store.unit import Unit

W, V = tables.workflows, tables.workflow_versions


@dataclass(frozen=True)
class Submitted:
    workflow_id: str
    version: int
    created: bool


def submit(
    u: Unit, definition: WorkflowDefinition, *, source: str | None = None, activate: bool = True
) -> Submitted:
    """Store ``definition`` as the next version unless it equals the latest one."""
    digest = content_hash(definition)
    current = u.conn.execute(
        select(W.c.latest_version).where(W.c.id == definition.id).with_for_update()
    ).first()
    if current is not None:
        latest_hash = u.conn.execute(
            select(V.c.content_hash).where(
                V.c.workflow_id == definition.id, V.c.version == current.latest_version
            )
        ).scalar()
        if latest_hash == digest:
            return Submitted(definition.id, current.latest_version, created=False)
        version = current.latest_version + 1
    else:
        version = 1
    meta = {
        "name": definition.display_name,
        "description": definition.description,
        "owner": definition.owner,
        "tags": list(definition.tags),
        "updated_at": u.now,
        "latest_version": version,
    }
    if current is None:
        workflow_rows.insert_workflow(
            u.conn,
            definition.id,
            paused=False,
            active_version=version,
            run_counter=0,
            created_at=u.now,
            **meta,
        )
    else:
        if activate:
            meta["active_version"] = version
        workflow_rows.update_workflow(u.conn, definition.id, **meta)
    workflow_rows.insert_version(
        u.conn,
        definition.id,
        version,
        definition=definition_to_dict(definition),
        content_hash=digest,
        source=source,
        created_at=u.now,
        created_by=u.actor,
    )
    if current is None or activate:
        sync_triggers(u, definition.id, definition)  # triggers follow the active version
    state = "active" if current is None or activate else "not active"
    audit.workflow_event(
        u, definition.id, "submit", f"version {version} ({state}), from {source or 'api'}"
    )
    return Submitted(definition.id, version, created=True)
