"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 06:57:45.095559
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import maestro.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column(
            "owners",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "scope IN ('read', 'write', 'admin')", name=op.f("ck_api_tokens_token_scope")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "uq_api_tokens_live_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.create_table(
        "pools",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("updated_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slots >= 0 AND used >= 0", name=op.f("ck_pools_pool_counts")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pools")),
    )
    op.create_table(
        "signals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=256), nullable=True),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("processed_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index("ix_signals_name", ["name", "id"], unique=False)
        batch_op.create_index(
            "ix_signals_unprocessed",
            ["id"],
            unique=False,
            sqlite_where=sa.text("processed_at IS NULL"),
            postgresql_where=sa.text("processed_at IS NULL"),
        )
        batch_op.create_index(
            "uq_signals_dedupe",
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text("dedupe_key IS NOT NULL"),
            postgresql_where=sa.text("dedupe_key IS NOT NULL"),
        )

    op.create_table(
        "workflows",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("run_counter", sa.Integer(), nullable=False),
        sa.Column(
            "blocked_by_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    op.create_table(
        "backfills",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("start_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_backfills_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )
    with op.batch_alter_table("backfills", schema=None) as batch_op:
        batch_op.create_index("ix_backfills_workflow", ["workflow_id", "id"], unique=False)

    op.create_table(
        "runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("logical_date", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "parent_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "parent_step_run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "root_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("iteration", sa.Integer(), nullable=True),
        sa.Column("body", sa.String(length=1024), nullable=True),
        sa.Column(
            "scope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "backfill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "restarted_from", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("max_active_steps", sa.Integer(), nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("steps_unfinished", sa.Integer(), nullable=False),
        sa.Column("steps_failed", sa.Integer(), nullable=False),
        sa.Column("active_steps", sa.Integer(), nullable=False),
        sa.Column("steps_waiting", sa.Integer(), nullable=False),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timeout_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'RUNNING', 'PAUSED', 'SUCCEEDED', 'FAILED', 'STOPPED', 'TIMED_OUT')",
            name=op.f("ck_runs_run_status"),
        ),
        sa.CheckConstraint(
            "active_steps >= 0 AND steps_unfinished >= 0 AND steps_waiting >= 0",
            name=op.f("ck_runs_run_counters"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_run_id"],
            ["runs.id"],
            name=op.f("fk_runs_parent_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_runs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_backfill",
            ["backfill_id", "status", "id"],
            unique=False,
            sqlite_where=sa.text("backfill_id IS NOT NULL"),
            postgresql_where=sa.text("backfill_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_runs_open",
            ["workflow_id", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING', 'PAUSED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING', 'PAUSED')"),
        )
        batch_op.create_index(
            "ix_runs_parent",
            ["parent_run_id"],
            unique=False,
            sqlite_where=sa.text("parent_run_id IS NOT NULL"),
            postgresql_where=sa.text("parent_run_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_runs_parent_step",
            ["parent_step_run_id", "iteration"],
            unique=False,
            sqlite_where=sa.text("parent_step_run_id IS NOT NULL"),
            postgresql_where=sa.text("parent_step_run_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_runs_root",
            ["root_run_id"],
            unique=False,
            sqlite_where=sa.text("root_run_id IS NOT NULL"),
            postgresql_where=sa.text("root_run_id IS NOT NULL"),
        )
        batch_op.create_index("ix_runs_status_timeout", ["status", "timeout_at"], unique=False)
        batch_op.create_index(
            "ix_runs_workflow_history",
            ["workflow_id", "id"],
            unique=False,
            sqlite_where=sa.text("iteration IS NULL"),
            postgresql_where=sa.text("iteration IS NULL"),
        )
        batch_op.create_index(
            "uq_runs_idempotency",
            ["workflow_id", "idempotency_key"],
            unique=True,
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_runs_workflow_number",
            ["workflow_id", "number"],
            unique=True,
            sqlite_where=sa.text("parent_step_run_id IS NULL"),
            postgresql_where=sa.text("parent_step_run_id IS NULL"),
        )

    op.create_table(
        "triggers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("next_fire_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_fired_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('cron', 'signal')", name=op.f("ck_triggers_trigger_kind")),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_triggers_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("workflow_id", "position", name="uq_triggers_workflow_position"),
    )
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_triggers_due",
            ["next_fire_at"],
            unique=False,
            sqlite_where=sa.text("kind = 'cron'"),
            postgresql_where=sa.text("kind = 'cron'"),
        )
        batch_op.create_index("ix_triggers_kind", ["kind", "workflow_id"], unique=False)

    op.create_table(
        "workflow_versions",
        sa.Column("workflow_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "version", name=op.f("pk_workflow_versions")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "step_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_events_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_run", ["run_id", "id"], unique=False)

    op.create_table(
        "step_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("step_type", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("up_total", sa.Integer(), nullable=False),
        sa.Column("up_done", sa.Integer(), nullable=False),
        sa.Column("up_failed", sa.Integer(), nullable=False),
        sa.Column("up_skipped", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("platform_failures", sa.Integer(), nullable=False),
        sa.Column(
            "current_attempt_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("waiting_for", sa.String(length=32), nullable=True),
        sa.Column("pool", sa.String(length=128), nullable=True),
        sa.Column("children_total", sa.Integer(), nullable=False),
        sa.Column("children_started", sa.Integer(), nullable=False),
        sa.Column("children_done", sa.Integer(), nullable=False),
        sa.Column("children_failed", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'WAITING', 'QUEUED', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'FAILED_IGNORED', 'SKIPPED', 'UPSTREAM_FAILED', 'STOPPED', 'TIMED_OUT')",
            name=op.f("ck_step_runs_step_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_step_runs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_runs")),
        sa.UniqueConstraint("run_id", "step_id", name="uq_step_runs_run_step"),
    )
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_step_runs_pool_waiting",
            ["pool", sa.literal_column("priority DESC"), "id"],
            unique=False,
            sqlite_where=sa.text("status = 'WAITING' AND waiting_for = 'pool'"),
            postgresql_where=sa.text("status = 'WAITING' AND waiting_for = 'pool'"),
        )
        batch_op.create_index(
            "ix_step_runs_retrying",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("status = 'RETRYING'"),
            postgresql_where=sa.text("status = 'RETRYING'"),
        )
        batch_op.create_index(
            "ix_step_runs_waiting",
            ["run_id", sa.literal_column("priority DESC"), "position"],
            unique=False,
            sqlite_where=sa.text("status = 'WAITING'"),
            postgresql_where=sa.text("status = 'WAITING'"),
        )

    op.create_table(
        "attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "step_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("external_id", sa.String(length=256), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("created_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timeout_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'LOST', 'STOPPED')",
            name=op.f("ck_attempts_attempt_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_attempts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["step_runs.id"],
            name=op.f("fk_attempts_step_run_id_step_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("step_run_id", "number", name="uq_attempts_step_number"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_queued",
            ["dispatched_at"],
            unique=False,
            sqlite_where=sa.text("status = 'QUEUED'"),
            postgresql_where=sa.text("status = 'QUEUED'"),
        )
        batch_op.create_index("ix_attempts_run", ["run_id"], unique=False)
        batch_op.create_index(
            "ix_attempts_running",
            ["heartbeat_at"],
            unique=False,
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )
        batch_op.create_index(
            "ix_attempts_timeout",
            ["timeout_at"],
            unique=False,
            sqlite_where=sa.text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
            postgresql_where=sa.text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
        )

    op.create_table(
        "signal_waits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "step_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("signal_name", sa.String(length=256), nullable=False),
        sa.Column(
            "match",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("since", maestro.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", maestro.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_signal_waits_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["step_runs.id"],
            name=op.f("fk_signal_waits_step_run_id_step_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_waits")),
        sa.UniqueConstraint("step_run_id", "position", name="uq_signal_waits_step_position"),
    )
    with op.batch_alter_table("signal_waits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signal_waits_deadline",
            ["deadline"],
            unique=False,
            sqlite_where=sa.text("signal_id IS NULL AND deadline IS NOT NULL"),
            postgresql_where=sa.text("signal_id IS NULL AND deadline IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_signal_waits_open",
            ["signal_name"],
            unique=False,
            sqlite_where=sa.text("signal_id IS NULL"),
            postgresql_where=sa.text("signal_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("signal_waits", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_signal_waits_open",
            sqlite_where=sa.text("signal_id IS NULL"),
            postgresql_where=sa.text("signal_id IS NULL"),
        )
        batch_op.drop_index(
            "ix_signal_waits_deadline",
            sqlite_where=sa.text("signal_id IS NULL AND deadline IS NOT NULL"),
            postgresql_where=sa.text("signal_id IS NULL AND deadline IS NOT NULL"),
        )

    op.drop_table("signal_waits")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_attempts_timeout",
            sqlite_where=sa.text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
            postgresql_where=sa.text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_attempts_running",
            sqlite_where=sa.text("status = 'RUNNING'"),
            postgresql_where=sa.text("status = 'RUNNING'"),
        )
        batch_op.drop_index("ix_attempts_run")
        batch_op.drop_index(
            "ix_attempts_queued",
            sqlite_where=sa.text("status = 'QUEUED'"),
            postgresql_where=sa.text("status = 'QUEUED'"),
        )

    op.drop_table("attempts")
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_step_runs_waiting",
            sqlite_where=sa.text("status = 'WAITING'"),
            postgresql_where=sa.text("status = 'WAITING'"),
        )
        batch_op.drop_index(
            "ix_step_runs_retrying",
            sqlite_where=sa.text("status = 'RETRYING'"),
            postgresql_where=sa.text("status = 'RETRYING'"),
        )
        batch_op.drop_index(
            "ix_step_runs_pool_waiting",
            sqlite_where=sa.text("status = 'WAITING' AND waiting_for = 'pool'"),
            postgresql_where=sa.text("status = 'WAITING' AND waiting_for = 'pool'"),
        )

    op.drop_table("step_runs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_run")

    op.drop_table("events")
    op.drop_table("workflow_versions")
    with op.batch_alter_table("triggers", schema=None) as batch_op:
        batch_op.drop_index("ix_triggers_kind")
        batch_op.drop_index(
            "ix_triggers_due",
            sqlite_where=sa.text("kind = 'cron'"),
            postgresql_where=sa.text("kind = 'cron'"),
        )

    op.drop_table("triggers")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_runs_workflow_number",
            sqlite_where=sa.text("parent_step_run_id IS NULL"),
            postgresql_where=sa.text("parent_step_run_id IS NULL"),
        )
        batch_op.drop_index(
            "uq_runs_idempotency",
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_runs_workflow_history",
            sqlite_where=sa.text("iteration IS NULL"),
            postgresql_where=sa.text("iteration IS NULL"),
        )
        batch_op.drop_index("ix_runs_status_timeout")
        batch_op.drop_index(
            "ix_runs_root",
            sqlite_where=sa.text("root_run_id IS NOT NULL"),
            postgresql_where=sa.text("root_run_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_runs_parent_step",
            sqlite_where=sa.text("parent_step_run_id IS NOT NULL"),
            postgresql_where=sa.text("parent_step_run_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_runs_parent",
            sqlite_where=sa.text("parent_run_id IS NOT NULL"),
            postgresql_where=sa.text("parent_run_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_runs_open",
            sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING', 'PAUSED')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING', 'PAUSED')"),
        )
        batch_op.drop_index(
            "ix_runs_backfill",
            sqlite_where=sa.text("backfill_id IS NOT NULL"),
            postgresql_where=sa.text("backfill_id IS NOT NULL"),
        )

    op.drop_table("runs")
    with op.batch_alter_table("backfills", schema=None) as batch_op:
        batch_op.drop_index("ix_backfills_workflow")

    op.drop_table("backfills")
    op.drop_table("workflows")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_signals_dedupe",
            sqlite_where=sa.text("dedupe_key IS NOT NULL"),
            postgresql_where=sa.text("dedupe_key IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_signals_unprocessed",
            sqlite_where=sa.text("processed_at IS NULL"),
            postgresql_where=sa.text("processed_at IS NULL"),
        )
        batch_op.drop_index("ix_signals_name")

    op.drop_table("signals")
    op.drop_table("pools")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_api_tokens_live_name",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    op.drop_table("api_tokens")
