"""The alert outbox

alerts: one row per alert (spec/alerts.md), written in the transaction of the status change
that causes it, or armed as a timer (run_overdue, deadline_missed) and fired by a scheduler.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from maestro.store.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
STATUSES = "'SCHEDULED', 'PENDING', 'DELIVERED', 'FAILED'"


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("dedupe", sa.String(length=160), nullable=False),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("rule", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("retry_until", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_alerts_alert_status")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_alerts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("uq_alerts_key", "alerts", ["key"], unique=True)
    op.create_index("uq_alerts_dedupe", "alerts", ["dedupe"], unique=True)
    op.create_index("ix_alerts_run", "alerts", ["run_id", "id"], unique=False)
    op.create_index("ix_alerts_workflow", "alerts", ["workflow_id", "id"], unique=False)
    op.create_index("ix_alerts_status", "alerts", ["status", "id"], unique=False)
    op.create_index(
        "ix_alerts_due",
        "alerts",
        ["due_at"],
        unique=False,
        sqlite_where=sa.text("due_at IS NOT NULL"),
        postgresql_where=sa.text("due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
