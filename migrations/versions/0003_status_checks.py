"""CHECK constraints for backfills.status and step_runs.waiting_for (states.BackfillStatus,
states.WaitingFor)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = "status IN ('RUNNING', 'DONE', 'CANCELLED')"
WAITING = "waiting_for IS NULL OR waiting_for IN ('slot', 'paused', 'pool', 'signals', 'children')"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    # SQLite cannot add a constraint to a table; Alembic's batch mode would copy the table and
    # lose what reflection does not see (the partial indexes' DESC columns). The embedded
    # store keeps the enums' rule in code; PostgreSQL, the shared store, enforces it too.
    if _sqlite():
        return
    op.create_check_constraint(op.f("ck_backfills_backfill_status"), "backfills", BACKFILL)
    op.create_check_constraint(op.f("ck_step_runs_waiting_for"), "step_runs", WAITING)


def downgrade() -> None:
    if _sqlite():
        return
    op.drop_constraint(op.f("ck_step_runs_waiting_for"), "step_runs", type_="check")
    op.drop_constraint(op.f("ck_backfills_backfill_status"), "backfills", type_="check")
