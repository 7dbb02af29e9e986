"""Run search indexes

Finding runs across workflows by status and date (``GET /api/v1/runs``, the web view's
``/runs``): ``ix_runs_status_history`` (status, id) and ``ix_runs_workflow_status``
(workflow_id, status, id) walk the newest runs of a status, ``ix_runs_created`` maps a date
range to the runs created in it. All three leave foreach iterations out, as the history does.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOP_LEVEL = sa.text("iteration IS NULL")
INDEXES = {
    "ix_runs_status_history": ["status", "id"],
    "ix_runs_workflow_status": ["workflow_id", "status", "id"],
    "ix_runs_created": ["created_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(
            name,
            "runs",
            columns,
            unique=False,
            sqlite_where=_TOP_LEVEL,
            postgresql_where=_TOP_LEVEL,
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="runs")
