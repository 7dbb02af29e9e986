"""Events without a foreign key on their run

``events.run_id`` loses ``fk_events_run_id_runs``: every step transition writes one or two
events, and the key's check of each (a probe of ``runs``' primary key, on PostgreSQL with a
row lock of the run) was a fifth of an attempt's claim; without it a distributed fan-out of
1,000 no-ops ran 5-6 % faster (docs/architecture.md, "The hot path at the floor"). Runs are
deleted in two places only, and both now delete their events first (``maestro db prune`` and
deleting a workflow, ``maestro.store.run_events``). On SQLite the table is rebuilt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_events_run_id_runs", type_="foreignkey")


def downgrade() -> None:
    # events of runs deleted meanwhile would fail the key's creation
    op.execute(
        "DELETE FROM events WHERE run_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = events.run_id)"
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_events_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
