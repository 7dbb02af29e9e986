"""The tables. SQLAlchemy Core: the hot path issues a handful of statements per step and the
ORM's unit of work would only add cost.

Definitions apart from instances (as in Netflix Maestro): ``workflow_versions`` are immutable;
runs point at the version they run. Status columns are written only by
``maestro.store.transitions.transition``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.sql import ColumnElement

from maestro.states import (
    AlertStatus,
    AttemptStatus,
    BackfillStatus,
    RunStatus,
    StepStatus,
    WaitingFor,
)
from maestro.store.types import BigId, Json, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def status_is(column: ColumnElement[str], status: StrEnum) -> ColumnElement[bool]:
    """``column = 'STATUS'`` with the value inlined, not bound: only then can SQLite's and
    PostgreSQL's planners match the partial indexes below (``WHERE status = 'QUEUED'``)."""
    return column == literal_column(f"'{status.value}'")


#: runs that have not ended: queued for admission, running or paused (``ix_runs_open``)
OPEN_RUN_STATUSES_SQL = "('QUEUED', 'RUNNING', 'PAUSED')"


def _status_check(
    name: str,
    values: type[RunStatus | StepStatus | AttemptStatus | BackfillStatus | AlertStatus],
) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"status IN ({allowed})", name=name)


def _waiting_check() -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in WaitingFor)
    return CheckConstraint(f"waiting_for IS NULL OR waiting_for IN ({allowed})", name="waiting_for")


workflows = Table(
    "workflows",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(128), nullable=False),
    Column("tags", Json, nullable=False),
    Column("paused", Boolean, nullable=False, default=False),
    Column("active_version", Integer, nullable=False),
    Column("latest_version", Integer, nullable=False),
    #: the last run number handed out; runs are numbered 1, 2, … per workflow
    Column("run_counter", Integer, nullable=False, default=0),
    #: strict_sequential: the FAILED run that blocks the queue until restarted or unblocked
    Column("blocked_by_run_id", BigId, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

workflow_versions = Table(
    "workflow_versions",
    metadata,
    Column(
        "workflow_id", String(128), ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("version", Integer, primary_key=True),
    Column("definition", Json, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("source", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "workflow_id", String(128), ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", Json, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("logical_date", UTCDateTime, nullable=False),
    Column("parent_run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    #: the foreach/subworkflow step of the parent run that this run belongs to
    Column("parent_step_run_id", BigId, nullable=True),
    #: the top-level run of a tree of child runs (NULL for a top-level run itself)
    Column("root_run_id", BigId, nullable=True),
    #: a foreach iteration's index
    Column("iteration", Integer, nullable=True),
    #: a foreach iteration runs the body of this step path ("outer/inner") of the version
    Column("body", String(1024), nullable=True),
    #: what a foreach iteration adds to the expression scope: {"var": "table", "item": …}
    Column("scope", Json, nullable=True),
    #: a restart's reused steps, ``{step_id: {status, outputs}}``, applied when it starts
    Column("reuse", Json, nullable=True),
    Column("backfill_id", BigId, nullable=True),
    Column("restarted_from", BigId, nullable=True),
    #: the client's Idempotency-Key: the same key for the same workflow returns the same run
    Column("idempotency_key", String(128), nullable=True),
    Column("outputs", Json, nullable=True),
    Column("error", Text, nullable=True),
    Column("max_active_steps", Integer, nullable=False),
    #: counters kept by the hot path so that finishing a step never rescans the run
    Column("steps_total", Integer, nullable=False, default=0),
    Column("steps_unfinished", Integer, nullable=False, default=0),
    Column("steps_failed", Integer, nullable=False, default=0),
    Column("active_steps", Integer, nullable=False, default=0),
    #: steps WAITING for a slot or a resume (so finishing a step knows whether to look)
    Column("steps_waiting", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("timeout_at", UTCDateTime, nullable=True),
    _status_check("run_status", RunStatus),
    CheckConstraint(
        "active_steps >= 0 AND steps_unfinished >= 0 AND steps_waiting >= 0", name="run_counters"
    ),
    # top-level runs are numbered 1, 2, … per workflow; foreach iterations by their index
    Index(
        "uq_runs_workflow_number",
        "workflow_id",
        "number",
        unique=True,
        sqlite_where=text("parent_step_run_id IS NULL"),
        postgresql_where=text("parent_step_run_id IS NULL"),
    ),
    # run history of a workflow, newest first (keyset on id); foreach iterations are not
    # history (they show under their step), so the history index leaves them out
    Index(
        "ix_runs_workflow_history",
        "workflow_id",
        "id",
        sqlite_where=text("iteration IS NULL"),
        postgresql_where=text("iteration IS NULL"),
    ),
    # finding runs by status, across workflows or in one, newest first (``reads/run_search``)
    Index(
        "ix_runs_status_history",
        "status",
        "id",
        sqlite_where=text("iteration IS NULL"),
        postgresql_where=text("iteration IS NULL"),
    ),
    Index(
        "ix_runs_workflow_status",
        "workflow_id",
        "status",
        "id",
        sqlite_where=text("iteration IS NULL"),
        postgresql_where=text("iteration IS NULL"),
    ),
    # a date range of the search: the first and last runs created in it
    Index(
        "ix_runs_created",
        "created_at",
        sqlite_where=text("iteration IS NULL"),
        postgresql_where=text("iteration IS NULL"),
    ),
    # child runs of a run (cascading deletes, stops)
    Index(
        "ix_runs_parent",
        "parent_run_id",
        sqlite_where=text("parent_run_id IS NOT NULL"),
        postgresql_where=text("parent_run_id IS NOT NULL"),
    ),
    Index(
        "ix_runs_restarted_from",
        "restarted_from",
        sqlite_where=text("restarted_from IS NOT NULL"),
        postgresql_where=text("restarted_from IS NOT NULL"),
    ),
    Index(
        "ix_runs_root",
        "root_run_id",
        sqlite_where=text("root_run_id IS NOT NULL"),
        postgresql_where=text("root_run_id IS NOT NULL"),
    ),
    # the child runs of a foreach/subworkflow step
    Index(
        "ix_runs_parent_step",
        "parent_step_run_id",
        "iteration",
        sqlite_where=text("parent_step_run_id IS NOT NULL"),
        postgresql_where=text("parent_step_run_id IS NOT NULL"),
    ),
    Index(
        "uq_runs_idempotency",
        "workflow_id",
        "idempotency_key",
        unique=True,
        sqlite_where=text("idempotency_key IS NOT NULL"),
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # scheduler: queued runs to admit, active runs to time out
    Index("ix_runs_status_timeout", "status", "timeout_at"),
    # run strategies: the queued and active runs of one workflow, oldest first, however long
    # its history (queries repeat this exact IN list so that both planners match the index)
    Index(
        "ix_runs_open",
        "workflow_id",
        "id",
        sqlite_where=text(f"status IN {OPEN_RUN_STATUSES_SQL}"),
        postgresql_where=text(f"status IN {OPEN_RUN_STATUSES_SQL}"),
    ),
    # a backfill's runs by status (progress, admission, cancel)
    Index(
        "ix_runs_backfill",
        "backfill_id",
        "status",
        "id",
        sqlite_where=text("backfill_id IS NOT NULL"),
        postgresql_where=text("backfill_id IS NOT NULL"),
    ),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("step_type", String(16), nullable=False),
    #: position of the step in its definition (display order)
    Column("position", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    #: upstream bookkeeping: how many upstreams there are, ended, failed, skipped
    Column("up_total", Integer, nullable=False),
    Column("up_done", Integer, nullable=False, default=0),
    Column("up_failed", Integer, nullable=False, default=0),
    Column("up_skipped", Integer, nullable=False, default=0),
    Column("attempts", Integer, nullable=False, default=0),
    #: LOST attempts, retried without counting against retries.limit (up to 3)
    Column("platform_failures", Integer, nullable=False, default=0),
    Column("current_attempt_id", BigId, nullable=True),
    Column("outputs", Json, nullable=True),
    #: step params as rendered when the step was about to run (None: the step has none)
    Column("params", Json, nullable=True),
    Column("error", Text, nullable=True),
    #: why a WAITING step waits ("slot", "paused")
    Column("waiting_for", String(32), nullable=True),
    #: the slot pool the step takes a slot of while QUEUED or RUNNING
    Column("pool", String(128), nullable=True),
    #: foreach/subworkflow steps: child runs created, started (in iteration order), ended,
    #: and ended without success
    Column("children_total", Integer, nullable=False, default=0),
    Column("children_started", Integer, nullable=False, default=0),
    Column("children_done", Integer, nullable=False, default=0),
    Column("children_failed", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    _status_check("step_status", StepStatus),
    _waiting_check(),
    UniqueConstraint("run_id", "step_id", name="uq_step_runs_run_step"),
    # Partial indexes: a status change rewrites only the index pages whose predicate it
    # crosses, which keeps the hot path's commits small.
    # scheduler: retries whose backoff elapsed
    Index(
        "ix_step_runs_retrying",
        "next_attempt_at",
        sqlite_where=text("status = 'RETRYING'"),
        postgresql_where=text("status = 'RETRYING'"),
    ),
)

# the next step to let in when a pool slot frees up, highest priority first
Index(
    "ix_step_runs_pool_waiting",
    step_runs.c.pool,
    step_runs.c.priority.desc(),
    step_runs.c.id,
    sqlite_where=text("status = 'WAITING' AND waiting_for = 'pool'"),
    postgresql_where=text("status = 'WAITING' AND waiting_for = 'pool'"),
)

# the next step to let in when a slot frees up, in the order it is wanted (highest priority,
# then definition order), so finding it reads one index entry however many steps wait
Index(
    "ix_step_runs_waiting",
    step_runs.c.run_id,
    step_runs.c.priority.desc(),
    step_runs.c.position,
    sqlite_where=text("status = 'WAITING'"),
    postgresql_where=text("status = 'WAITING'"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("step_run_id", BigId, ForeignKey("step_runs.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("worker", String(128), nullable=True),
    Column("external_id", String(256), nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("log_path", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    #: when it was last handed to the dispatcher; the QUEUED row is the outbox
    Column("dispatched_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    Column("timeout_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    _status_check("attempt_status", AttemptStatus),
    UniqueConstraint("step_run_id", "number", name="uq_attempts_step_number"),
    # scheduler (partial indexes, see step_runs): unclaimed dispatches, stale heartbeats,
    # attempts past their timeout
    Index(
        "ix_attempts_queued",
        "dispatched_at",
        sqlite_where=text("status = 'QUEUED'"),
        postgresql_where=text("status = 'QUEUED'"),
    ),
    Index(
        "ix_attempts_running",
        "heartbeat_at",
        sqlite_where=text("status = 'RUNNING'"),
        postgresql_where=text("status = 'RUNNING'"),
    ),
    Index(
        "ix_attempts_timeout",
        "timeout_at",
        sqlite_where=text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
        postgresql_where=text("status = 'RUNNING' AND timeout_at IS NOT NULL"),
    ),
    Index("ix_attempts_run", "run_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: null for an event of a backfill, a workflow or a token; no foreign key (its check was
    #: a fifth of a claim): deleting runs deletes their events first (store.run_events)
    Column("run_id", BigId, nullable=True),
    Column("step_run_id", BigId, nullable=True),
    Column("attempt_id", BigId, nullable=True),
    Column("backfill_id", BigId, nullable=True),
    #: an event of a workflow as a whole (entity "workflow": submit, activate, pause, resume,
    #: unblock, delete); no foreign key: a deleted workflow's trail stays
    Column("workflow_id", String(128), nullable=True),
    #: "run", "step", "attempt", "backfill", "workflow" or "token"
    Column("entity", String(16), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=True),
    #: a user or system action that caused it ("stop", "timeout", …), if any
    Column("action", String(32), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("message", Text, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_events_run", "run_id", "id"),
    Index("ix_events_backfill", "backfill_id", "id"),
    Index(
        "ix_events_workflow",
        "workflow_id",
        "id",
        sqlite_where=text("workflow_id IS NOT NULL"),
        postgresql_where=text("workflow_id IS NOT NULL"),
    ),
    Index(
        "ix_events_token",
        "id",
        sqlite_where=text("entity = 'token'"),
        postgresql_where=text("entity = 'token'"),
    ),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: a label chosen by the admin ("ci", "airflow-bridge"); the actor name in events
    Column("name", String(128), nullable=False),
    #: sha256 of the token; the token itself is shown once and never stored
    Column("token_hash", String(64), nullable=False),
    #: read | write | admin
    Column("scope", String(16), nullable=False),
    #: owners this token may act for; empty = any owner
    Column("owners", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    #: refused from then on (``maestro token create --expires``); NULL: never
    Column("expires_at", UTCDateTime, nullable=True),
    CheckConstraint("scope IN ('read', 'write', 'admin')", name="token_scope"),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    # a name identifies one live token (revoked ones keep theirs for the history)
    Index(
        "uq_api_tokens_live_name",
        "name",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    #: sha256 of the session id in the browser's cookie (the id itself is never stored)
    Column("id", String(64), primary_key=True),
    #: the API token the session acts as: revoking the token ends its sessions
    Column("token_id", BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    #: refreshed at most once a minute; idle past ``maestro.store.web_sessions.IDLE`` ends it
    Column("last_seen_at", UTCDateTime, nullable=False),
    #: the absolute end (``created_at`` + ``maestro.store.web_sessions.LIFETIME``)
    Column("expires_at", UTCDateTime, nullable=False),
    #: logged out
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_web_sessions_token", "token_id"),
)

triggers = Table(
    "triggers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "workflow_id", String(128), ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False
    ),
    #: the trigger's index in the active version's ``triggers`` list
    Column("position", Integer, nullable=False),
    #: cron | signal
    Column("kind", String(8), nullable=False),
    #: the trigger's definition (cron, timezone, catchup, signal, match, params)
    Column("spec", Json, nullable=False),
    Column("next_fire_at", UTCDateTime, nullable=True),
    Column("last_fired_at", UTCDateTime, nullable=True),
    CheckConstraint("kind IN ('cron', 'signal')", name="trigger_kind"),
    UniqueConstraint("workflow_id", "position", name="uq_triggers_workflow_position"),
    Index(
        "ix_triggers_due",
        "next_fire_at",
        sqlite_where=text("kind = 'cron'"),
        postgresql_where=text("kind = 'cron'"),
    ),
    Index("ix_triggers_kind", "kind", "workflow_id"),
)

backfills = Table(
    "backfills",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "workflow_id", String(128), ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False
    ),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    Column("max_concurrency", Integer, nullable=True),
    #: states.BackfillStatus
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
    Index("ix_backfills_workflow", "workflow_id", "id"),
    _status_check("backfill_status", BackfillStatus),
)

signals = Table(
    "signals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("payload", Json, nullable=False),
    #: a repeated delivery with the same key has no further effect
    Column("dedupe_key", String(256), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=True),
    #: the owners its sender may act for (a token's, an emitting workflow's); NULL: every
    #: owner (an admin token, no tokens, the platform). Signal triggers check it.
    Column("sender_owners", Json, nullable=True),
    #: when its consequences (released waits, started runs) were applied; NULL = not yet:
    #: the signal row is the outbox, so a crash between the two loses nothing
    Column("processed_at", UTCDateTime, nullable=True),
    Index("ix_signals_name", "name", "id"),
    Index(
        "ix_signals_unprocessed",
        "id",
        sqlite_where=text("processed_at IS NULL"),
        postgresql_where=text("processed_at IS NULL"),
    ),
    Index(
        "uq_signals_dedupe",
        "dedupe_key",
        unique=True,
        sqlite_where=text("dedupe_key IS NOT NULL"),
        postgresql_where=text("dedupe_key IS NOT NULL"),
    ),
)

signal_waits = Table(
    "signal_waits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("step_run_id", BigId, ForeignKey("step_runs.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    #: the position of this wait in the step's ``wait_for``
    Column("position", Integer, nullable=False),
    Column("signal_name", String(256), nullable=False),
    Column("match", Json, nullable=False),
    #: signals created at or after this time count (the step's lifetime window)
    Column("since", UTCDateTime, nullable=False),
    Column("deadline", UTCDateTime, nullable=True),
    Column("signal_id", BigId, nullable=True),
    UniqueConstraint("step_run_id", "position", name="uq_signal_waits_step_position"),
    # a new signal looks for the waits it may satisfy
    Index(
        "ix_signal_waits_open",
        "signal_name",
        sqlite_where=text("signal_id IS NULL"),
        postgresql_where=text("signal_id IS NULL"),
    ),
    Index(
        "ix_signal_waits_deadline",
        "deadline",
        sqlite_where=text("signal_id IS NULL AND deadline IS NOT NULL"),
        postgresql_where=text("signal_id IS NULL AND deadline IS NOT NULL"),
    ),
)

pools = Table(
    "pools",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("slots", Integer, nullable=False),
    #: slots held by QUEUED or RUNNING steps (kept with the steps' status changes)
    Column("used", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("slots >= 0 AND used >= 0", name="pool_counts"),
)


#: the alert outbox (spec/alerts.md): a row is written in the transaction of the status change
#: that causes it (or armed as a timer) and sent afterwards by a scheduler's alert sender
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    #: the alert's public id: the payload's ``id`` and every request's ``Idempotency-Key``
    Column("key", String(36), nullable=False),
    #: one alert per cause (``run:42:rule:0:run_failed``): a cause recorded twice is one alert
    Column("dedupe", String(160), nullable=False),
    Column("workflow_id", String(128), nullable=False),
    Column("run_id", BigId, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(64), nullable=True),
    Column("event", String(32), nullable=False),
    #: webhook, slack, email or python
    Column("channel", String(16), nullable=False),
    #: the rule as written in the definition (templates unrendered; no secret: connections
    #: are names), with ``index`` and ``level`` (workflow or step)
    Column("rule", Json, nullable=False),
    #: what the receiver gets; NULL while a timer is SCHEDULED
    Column("payload", Json, nullable=True),
    #: states.AlertStatus
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    #: SCHEDULED: when the timer fires; PENDING: when the next try may start (a sender that
    #: takes one moves it past its delivery timeout, a lease); NULL once it ended
    Column("due_at", UTCDateTime, nullable=True),
    #: a PENDING alert whose tries all failed until then becomes FAILED (the dead letter)
    Column("retry_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("uq_alerts_key", "key", unique=True),
    Index("uq_alerts_dedupe", "dedupe", unique=True),
    Index("ix_alerts_run", "run_id", "id"),
    Index("ix_alerts_workflow", "workflow_id", "id"),
    Index("ix_alerts_status", "status", "id"),
    Index(
        "ix_alerts_due",
        "due_at",
        sqlite_where=text("due_at IS NOT NULL"),
        postgresql_where=text("due_at IS NOT NULL"),
    ),
    _status_check("alert_status", AlertStatus),
)
