"""Step params

``step_runs.params``: a step's params as rendered when it was about to run (step params,
spec/maestro-compat.md), read downstream as ``steps.<id>.params`` and shown by the API and the
web view. Null for a step without params.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.add_column("step_runs", sa.Column("params", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_column("params")
