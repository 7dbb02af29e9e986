"""Backfill events and a restart's reused steps

events.backfill_id (and run_id nullable): a backfill's status changes are events too.
runs.reuse: what a restart reuses, kept on the run until its run strategy starts it.
ix_runs_restarted_from: the restarts of a run (the web view links a run to them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=BIG_ID, nullable=True)
        batch_op.add_column(sa.Column("backfill_id", BIG_ID, nullable=True))
        batch_op.create_index("ix_events_backfill", ["backfill_id", "id"], unique=False)
    op.add_column("runs", sa.Column("reuse", JSON, nullable=True))
    op.create_index(
        "ix_runs_restarted_from",
        "runs",
        ["restarted_from"],
        unique=False,
        sqlite_where=sa.text("restarted_from IS NOT NULL"),
        postgresql_where=sa.text("restarted_from IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_restarted_from", table_name="runs")
    op.drop_column("runs", "reuse")
    op.execute("DELETE FROM events WHERE run_id IS NULL")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_backfill")
        batch_op.drop_column("backfill_id")
        batch_op.alter_column("run_id", existing_type=BIG_ID, nullable=False)
