"""Workflow events

An audit trail of what is done to a workflow as a whole (submit, activate, pause, resume,
unblock, delete) and to tokens (create, revoke): ``events.workflow_id`` with entity
``workflow``, no foreign key so that a deleted workflow's trail stays, read newest first on
``ix_events_workflow`` (and a token's on ``ix_events_token``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 16:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("workflow_id", sa.String(length=128), nullable=True))
    op.create_index(
        "ix_events_workflow",
        "events",
        ["workflow_id", "id"],
        unique=False,
        sqlite_where=sa.text("workflow_id IS NOT NULL"),
        postgresql_where=sa.text("workflow_id IS NOT NULL"),
    )
    op.create_index(
        "ix_events_token",
        "events",
        ["id"],
        unique=False,
        sqlite_where=sa.text("entity = 'token'"),
        postgresql_where=sa.text("entity = 'token'"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_token", table_name="events")
    op.drop_index("ix_events_workflow", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("workflow_id")
