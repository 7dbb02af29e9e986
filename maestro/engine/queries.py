"""Read models of the API and CLI: lists and details of workflows, versions, runs, steps,
attempts and events.

Every list is a keyset page: rows after an opaque cursor (the base64 of the last row's key),
read through an index, one row more than asked to learn whether there is a next page. No
OFFSET and no COUNT(*): the run history stays as fast on its millionth run as on its first
(``ix_runs_workflow_history`` on ``(workflow_id, id)``, read backwards).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Select, exists, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from maestro.errors import MaestroError, NotFound
from maestro.states import AttemptStatus, RunStatus, StepStatus
from maestro.store import tables

W, V, R, S, A, E, TR = (
    tables.workflows,
    tables.workflow_versions,
    tables.runs,
    tables.step_runs,
    tables.attempts,
    tables.events,
    tables.triggers,
)
T = TypeVar("T")
MAX_LIMIT = 500
#: runs that hold a workflow back from being deleted
ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


class InvalidCursor(MaestroError):
    """The pagination cursor is not one this server handed out."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


# -- cursors -------------------------------------------------------------------------------


def encode_cursor(key: int | str) -> str:
    raw = f"{'i' if isinstance(key, int) else 's'}:{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    kind, sep, value = raw.partition(":")
    if not sep or kind not in ("i", "s"):
        raise InvalidCursor()
    return kind, value


def int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    kind, value = _decode(cursor)
    if kind != "i" or not value.lstrip("-").isdigit() or len(value) > 19:
        raise InvalidCursor()
    return int(value)


def str_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    kind, value = _decode(cursor)
    if kind != "s":
        raise InvalidCursor()
    return value


def _page(rows: Sequence[Any], limit: int, make: Callable[[Any], T], key: str) -> Page[T]:
    """The first ``limit`` rows as items; the cursor is the key of the last one shown, if more
    rows follow (one extra row was read to know)."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page([make(r) for r in shown], encode_cursor(getattr(shown[-1], key)) if more else None)


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


# -- workflows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunBrief:
    id: int
    number: int
    status: RunStatus
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class WorkflowSummary:
    id: str
    name: str
    description: str
    owner: str
    tags: list[str]
    active_version: int
    latest_version: int
    paused: bool
    created_at: datetime
    updated_at: datetime
    last_run: RunBrief | None
    #: when a time trigger fires next (None when paused or without cron triggers)
    next_trigger_at: datetime | None = None
    #: strict_sequential: the failed run holding the queue back
    blocked_by_run_id: int | None = None


@dataclass(frozen=True)
class WorkflowDetail(WorkflowSummary):
    definition: dict[str, Any] = field(default_factory=dict)


def _last_run_id() -> Any:
    # one index probe per workflow (newest run of ix_runs_workflow_history), never a GROUP BY
    # over all runs
    return (
        select(R.c.id)
        .where(R.c.workflow_id == W.c.id)
        .order_by(R.c.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("last_run_id")
    )


def _next_trigger_at() -> Any:
    # the triggers of one workflow, by uq_triggers_workflow_position
    return (
        select(func.min(TR.c.next_fire_at))
        .where(TR.c.workflow_id == W.c.id)
        .scalar_subquery()
        .label("next_fire_at")
    )


def _has_tag(conn: Connection, tag: str) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return W.c.tags.op("@>")(func.jsonb_build_array(tag))
    each = func.json_each(W.c.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))


def list_workflows(
    conn: Connection,
    *,
    owner: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    paused: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[WorkflowSummary]:
    """Workflows by id, with their newest run."""
    limit = _limit(limit)
    query = select(W, _last_run_id(), _next_trigger_at()).order_by(W.c.id).limit(limit + 1)
    after = str_cursor(cursor)
    if after is not None:
        query = query.where(W.c.id > after)
    if owner is not None:
        query = query.where(W.c.owner == owner)
    if paused is not None:
        query = query.where(W.c.paused.is_(paused))
    if tag is not None:
        query = query.where(_has_tag(conn, tag))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(*(c.ilike(pattern, escape="\\") for c in (W.c.id, W.c.name, W.c.description)))
        )
    rows = conn.execute(query).all()
    briefs = _run_briefs(conn, [r.last_run_id for r in rows[:limit] if r.last_run_id])
    return _page(rows, limit, lambda r: _summary(r, briefs.get(r.last_run_id)), "id")


def _run_briefs(conn: Connection, run_ids: Collection[int]) -> dict[int, RunBrief]:
    if not run_ids:
        return {}
    rows = conn.execute(
        select(R.c.id, R.c.number, R.c.status, R.c.created_at, R.c.ended_at).where(
            R.c.id.in_(list(run_ids))
        )
    )
    return {
        r.id: RunBrief(r.id, r.number, RunStatus(r.status), r.created_at, r.ended_at) for r in rows
    }


def _summary(row: Any, last_run: RunBrief | None) -> WorkflowSummary:
    return WorkflowSummary(
        id=row.id,
        name=row.name,
        description=row.description,
        owner=row.owner,
        tags=list(row.tags or []),
        active_version=row.active_version,
        latest_version=row.latest_version,
        paused=row.paused,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_run=last_run,
        next_trigger_at=None if row.paused else row.next_fire_at,
        blocked_by_run_id=row.blocked_by_run_id,
    )


def workflow_detail(conn: Connection, workflow_id: str) -> WorkflowDetail:
    row = conn.execute(
        select(W, _last_run_id(), _next_trigger_at()).where(W.c.id == workflow_id)
    ).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id!r} does not exist")
    definition = conn.execute(
        select(V.c.definition).where(
            V.c.workflow_id == workflow_id, V.c.version == row.active_version
        )
    ).scalar()
    briefs = _run_briefs(conn, [row.last_run_id] if row.last_run_id else [])
    summary = _summary(row, briefs.get(row.last_run_id))
    return WorkflowDetail(**vars(summary), definition=definition or {})


def workflow_owner(conn: Connection, workflow_id: str) -> str:
    owner: str | None = conn.execute(select(W.c.owner).where(W.c.id == workflow_id)).scalar()
    if owner is None:
        raise NotFound(f"workflow {workflow_id!r} does not exist")
    return owner


def active_runs(conn: Connection, workflow_id: str) -> list[int]:
    """Runs of the workflow that are queued, running or paused."""
    return list(
        conn.execute(
            select(R.c.id)
            .where(R.c.workflow_id == workflow_id, R.c.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(R.c.id)
        ).scalars()
    )


# -- versions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    workflow_id: str
    version: int
    content_hash: str
    created_at: datetime
    created_by: str | None
    active: bool


@dataclass(frozen=True)
class VersionDetail(VersionSummary):
    source: str | None = None
    definition: dict[str, Any] = field(default_factory=dict)


def list_versions(
    conn: Connection, workflow_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page[VersionSummary]:
    """Versions, newest first."""
    limit = _limit(limit)
    active = _active_version(conn, workflow_id)
    query = (
        select(V.c.workflow_id, V.c.version, V.c.content_hash, V.c.created_at, V.c.created_by)
        .where(V.c.workflow_id == workflow_id)
        .order_by(V.c.version.desc())
        .limit(limit + 1)
    )
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(V.c.version < before)
    rows = conn.execute(query).all()
    return _page(
        rows,
        limit,
        lambda r: VersionSummary(
            r.workflow_id,
            r.version,
            r.content_hash,
            r.created_at,
            r.created_by,
            r.version == active,
        ),
        "version",
    )


def version_detail(conn: Connection, workflow_id: str, version: int) -> VersionDetail:
    active = _active_version(conn, workflow_id)
    row = conn.execute(
        select(V).where(V.c.workflow_id == workflow_id, V.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version}")
    return VersionDetail(
        workflow_id=row.workflow_id,
        version=row.version,
        content_hash=row.content_hash,
        created_at=row.created_at,
        created_by=row.created_by,
        active=row.version == active,
        source=row.source,
        definition=row.definition,
    )


def _active_version(conn: Connection, workflow_id: str) -> int:
    active: int | None = conn.execute(
        select(W.c.active_version).where(W.c.id == workflow_id)
    ).scalar()
    if active is None:
        raise NotFound(f"workflow {workflow_id!r} does not exist")
    return active


# -- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    id: int
    workflow_id: str
    number: int
    version: int
    status: RunStatus
    trigger: str
    logical_date: datetime
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    parent_run_id: int | None
    restarted_from: int | None


@dataclass(frozen=True)
class RunDetail(RunSummary):
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    steps_total: int = 0
    step_counts: dict[str, int] = field(default_factory=dict)
    #: runs started by this one's steps (foreach iterations, subworkflows), at most 500
    children: list[int] = field(default_factory=list)


_SUMMARY_COLUMNS = (
    R.c.id,
    R.c.workflow_id,
    R.c.number,
    R.c.version,
    R.c.status,
    R.c.trigger,
    R.c.logical_date,
    R.c.created_at,
    R.c.started_at,
    R.c.ended_at,
    R.c.error,
    R.c.parent_run_id,
    R.c.restarted_from,
)


def _run_summary(row: Any) -> RunSummary:
    return RunSummary(**{c.name: getattr(row, c.name) for c in _SUMMARY_COLUMNS})


def run_history_query(
    workflow_id: str,
    *,
    statuses: Collection[str] = (),
    triggers: Collection[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Select[Any]:
    """Newest first, by keyset on ``runs.id`` (``bench/history.py`` checks its plan)."""
    query = select(*_SUMMARY_COLUMNS).where(
        R.c.workflow_id == workflow_id,
        R.c.iteration.is_(None),  # not foreach iterations
    )
    if before is not None:
        query = query.where(R.c.id < before)
    if statuses:
        query = query.where(R.c.status.in_(list(statuses)))
    if triggers:
        query = query.where(R.c.trigger.in_(list(triggers)))
    if since is not None:
        query = query.where(R.c.created_at >= since)
    if until is not None:
        query = query.where(R.c.created_at < until)
    return query.order_by(R.c.id.desc()).limit(limit + 1)


def run_history(
    conn: Connection,
    workflow_id: str,
    *,
    statuses: Collection[str] = (),
    triggers: Collection[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[RunSummary]:
    limit = _limit(limit)
    workflow_owner(conn, workflow_id)  # 404 for an unknown workflow, not an empty page
    query = run_history_query(
        workflow_id,
        statuses=statuses,
        triggers=triggers,
        since=since,
        until=until,
        before=int_cursor(cursor),
        limit=limit,
    )
    return _page(conn.execute(query).all(), limit, _run_summary, "id")


def run_detail(conn: Connection, run_id: int) -> RunDetail:
    row = conn.execute(
        select(*_SUMMARY_COLUMNS, R.c.params, R.c.outputs, R.c.steps_total).where(R.c.id == run_id)
    ).first()
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    counts = conn.execute(
        select(S.c.status, func.count()).where(S.c.run_id == run_id).group_by(S.c.status)
    ).all()
    # child runs through the run's steps: ix_runs_parent_step, never a scan of all runs
    children = conn.execute(
        select(R.c.id)
        .where(R.c.parent_step_run_id.in_(select(S.c.id).where(S.c.run_id == run_id)))
        .order_by(R.c.id)
        .limit(MAX_LIMIT)
    ).scalars()
    return RunDetail(
        **vars(_run_summary(row)),
        params=row.params or {},
        outputs=row.outputs or {},
        steps_total=row.steps_total,
        step_counts={str(status): n for status, n in counts},
        children=list(children),
    )


def run_owner(conn: Connection, run_id: int) -> str:
    """The owner of the run's workflow (whom a write token must act for)."""
    owner: str | None = conn.execute(
        select(W.c.owner).select_from(R.join(W, W.c.id == R.c.workflow_id)).where(R.c.id == run_id)
    ).scalar()
    if owner is None:
        raise NotFound(f"run {run_id} does not exist")
    return owner


def run_by_idempotency_key(conn: Connection, workflow_id: str, key: str) -> int | None:
    run_id: int | None = conn.execute(
        select(R.c.id).where(R.c.workflow_id == workflow_id, R.c.idempotency_key == key)
    ).scalar()
    return run_id


# -- steps and attempts --------------------------------------------------------------------


@dataclass(frozen=True)
class StepSummary:
    step_id: str
    step_type: str
    position: int
    status: StepStatus
    attempt_count: int
    waiting_for: str | None
    next_attempt_at: datetime | None
    outputs: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    #: foreach/subworkflow steps: child runs created, started, ended, ended without success
    children_total: int
    children_started: int
    children_done: int
    children_failed: int


@dataclass(frozen=True)
class AttemptDetail:
    number: int
    status: str
    queue: str
    worker: str | None
    external_id: str | None
    exit_code: int | None
    error: str | None
    created_at: datetime
    dispatched_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class StepDetail(StepSummary):
    run_id: int = 0
    attempts: list[AttemptDetail] = field(default_factory=list)


@dataclass(frozen=True)
class AttemptLog:
    status: str
    log_path: str | None


_STEP_COLUMNS = (
    S.c.step_id,
    S.c.step_type,
    S.c.position,
    S.c.status,
    S.c.attempts,
    S.c.waiting_for,
    S.c.next_attempt_at,
    S.c.outputs,
    S.c.error,
    S.c.created_at,
    S.c.started_at,
    S.c.ended_at,
    S.c.children_total,
    S.c.children_started,
    S.c.children_done,
    S.c.children_failed,
)


def _step_summary(row: Any) -> StepSummary:
    values = {c.name: getattr(row, c.name) for c in _STEP_COLUMNS}
    values["status"] = StepStatus(values["status"])
    values["attempt_count"] = values.pop("attempts")
    values["outputs"] = values["outputs"] or {}
    return StepSummary(**values)


def require_run(conn: Connection, run_id: int) -> None:
    """Raise NotFound naming the run when it does not exist."""
    if conn.execute(select(R.c.id).where(R.c.id == run_id)).first() is None:
        raise NotFound(f"run {run_id} does not exist")


def list_steps(
    conn: Connection, run_id: int, *, limit: int = MAX_LIMIT, cursor: str | None = None
) -> Page[StepSummary]:
    """The run's steps in definition order (keyset on their position)."""
    limit = _limit(limit)
    require_run(conn, run_id)
    query = (
        select(*_STEP_COLUMNS).where(S.c.run_id == run_id).order_by(S.c.position).limit(limit + 1)
    )
    after = int_cursor(cursor)
    if after is not None:
        query = query.where(S.c.position > after)
    return _page(conn.execute(query).all(), limit, _step_summary, "position")


def step_detail(conn: Connection, run_id: int, step_id: str) -> StepDetail:
    row = conn.execute(
        select(S.c.id.label("step_run_id"), *_STEP_COLUMNS).where(
            S.c.run_id == run_id, S.c.step_id == step_id
        )
    ).first()
    if row is None:
        require_run(conn, run_id)
        raise NotFound(f"run {run_id} has no step {step_id!r}")
    attempt_rows = conn.execute(
        select(A).where(A.c.step_run_id == row.step_run_id).order_by(A.c.number)
    )
    attempts = [
        AttemptDetail(
            number=a.number,
            status=a.status,
            queue=a.queue,
            worker=a.worker,
            external_id=a.external_id,
            exit_code=a.exit_code,
            error=a.error,
            created_at=a.created_at,
            dispatched_at=a.dispatched_at,
            started_at=a.started_at,
            heartbeat_at=a.heartbeat_at,
            ended_at=a.ended_at,
        )
        for a in attempt_rows
    ]
    return StepDetail(**vars(_step_summary(row)), run_id=run_id, attempts=attempts)


def attempt_log(conn: Connection, run_id: int, step_id: str, number: int) -> AttemptLog:
    row = conn.execute(
        select(A.c.status, A.c.log_path)
        .select_from(A.join(S, S.c.id == A.c.step_run_id))
        .where(S.c.run_id == run_id, S.c.step_id == step_id, A.c.number == number)
    ).first()
    if row is None:
        step_detail(conn, run_id, step_id)  # names the run or the step when they are missing
        raise NotFound(f"step {step_id!r} of run {run_id} has no attempt {number}")
    return AttemptLog(row.status, row.log_path)


@dataclass(frozen=True)
class LogSource:
    """One attempt's log in a run's tree, labelled for a reader who follows the whole tree:
    ``step``, ``loop[3].step`` (a foreach iteration) or ``child.step`` (a subworkflow's)."""

    attempt_id: int
    label: str
    step_id: str
    attempt: int
    #: None until a worker claims the attempt
    log_path: str | None


def run_tree_logs(conn: Connection, run_id: int, after_attempt: int = 0) -> list[LogSource]:
    """The attempts of ``run_id`` and of its child runs with an id above ``after_attempt``,
    in the order they were made (what ``maestro run`` streams and ``maestro logs`` prints).
    An attempt not claimed yet has no log path: attempts are claimed out of order."""
    parent = S.alias("parent_step")
    rows = conn.execute(
        select(A.c.id, A.c.number, A.c.log_path, S.c.step_id, R.c.iteration, parent.c.step_id)
        .select_from(
            A.join(S, S.c.id == A.c.step_run_id)
            .join(R, R.c.id == S.c.run_id)
            .outerjoin(parent, parent.c.id == R.c.parent_step_run_id)
        )
        .where(
            (R.c.id == run_id) | (R.c.root_run_id == run_id),
            A.c.id > after_attempt,
        )
        .order_by(A.c.id)
    ).all()
    sources = []
    for attempt_id, number, path, step_id, iteration, parent_step in rows:
        label = step_id
        if parent_step is not None:
            where = f"[{iteration}]" if iteration is not None else ""
            label = f"{parent_step}{where}.{step_id}"
        sources.append(LogSource(attempt_id, label, step_id, number, path))
    return sources


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    entity: str
    step_id: str | None
    attempt: int | None
    from_status: str | None
    to_status: str | None
    action: str | None
    actor: str
    message: str | None


def list_events(
    conn: Connection, run_id: int, *, limit: int = 50, cursor: str | None = None
) -> Page[EventView]:
    """The run's timeline, oldest first (keyset on ``events.id``, index ``ix_events_run``)."""
    limit = _limit(limit)
    require_run(conn, run_id)
    query = (
        select(
            E.c.id,
            E.c.at,
            E.c.entity,
            S.c.step_id,
            A.c.number.label("attempt"),
            E.c.from_status,
            E.c.to_status,
            E.c.action,
            E.c.actor,
            E.c.message,
        )
        .select_from(
            E.outerjoin(S, S.c.id == E.c.step_run_id).outerjoin(A, A.c.id == E.c.attempt_id)
        )
        .where(E.c.run_id == run_id)
        .order_by(E.c.id)
        .limit(limit + 1)
    )
    after = int_cursor(cursor)
    if after is not None:
        query = query.where(E.c.id > after)
    return _page(
        conn.execute(query).all(),
        limit,
        lambda r: EventView(**{k: getattr(r, k) for k in EventView.__dataclass_fields__}),
        "id",
    )


# -- signals and pools --------------------------------------------------------------------


@dataclass(frozen=True)
class SignalView:
    id: int
    name: str
    payload: dict[str, Any]
    dedupe_key: str | None
    created_at: datetime
    created_by: str | None


def list_signals(
    conn: Connection, *, name: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page[SignalView]:
    """Signals, newest first (by name: ``ix_signals_name``)."""
    limit = _limit(limit)
    SG = tables.signals
    query = select(SG).order_by(SG.c.id.desc()).limit(limit + 1)
    if name is not None:
        query = query.where(SG.c.name == name)
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(SG.c.id < before)
    return _page(
        conn.execute(query).all(),
        limit,
        lambda r: SignalView(r.id, r.name, r.payload, r.dedupe_key, r.created_at, r.created_by),
        "id",
    )


@dataclass(frozen=True)
class PoolView:
    name: str
    slots: int
    used: int
    updated_at: datetime


def list_pools(conn: Connection) -> list[PoolView]:
    P = tables.pools
    rows = conn.execute(select(P).order_by(P.c.name))
    return [PoolView(r.name, r.slots, r.used, r.updated_at) for r in rows]


def pool(conn: Connection, name: str) -> PoolView:
    P = tables.pools
    row = conn.execute(select(P).where(P.c.name == name)).first()
    if row is None:
        raise NotFound(f"pool {name!r} does not exist")
    return PoolView(row.name, row.slots, row.used, row.updated_at)


# -- gauges (metrics) ----------------------------------------------------------------------


def run_gauges(conn: Connection) -> dict[str, int]:
    """Runs per non-terminal status (``ix_runs_status_timeout`` leads with status)."""
    rows = conn.execute(
        select(R.c.status, func.count())
        .where(R.c.status.in_(ACTIVE_RUN_STATUSES))
        .group_by(R.c.status)
    )
    counts = {s.value: 0 for s in ACTIVE_RUN_STATUSES}
    counts.update({status: n for status, n in rows})
    return counts


def step_gauges(conn: Connection) -> dict[str, int]:
    """Steps waiting, retrying, queued and running, each counted on its partial index
    (queued and running steps are counted by their current attempts)."""

    def count(table: Any, status: StrEnum) -> int:
        n: int = conn.execute(
            select(func.count()).select_from(table).where(tables.status_is(table.c.status, status))
        ).scalar_one()
        return n

    return {
        "WAITING": count(S, StepStatus.WAITING),
        "RETRYING": count(S, StepStatus.RETRYING),
        "QUEUED": count(A, AttemptStatus.QUEUED),
        "RUNNING": count(A, AttemptStatus.RUNNING),
    }


def queue_depths(conn: Connection) -> dict[str, int]:
    """QUEUED attempts (handed to workers, not claimed yet) per worker queue."""
    rows = conn.execute(
        select(A.c.queue, func.count())
        .where(tables.status_is(A.c.status, AttemptStatus.QUEUED))
        .group_by(A.c.queue)
    )
    return {queue: n for queue, n in rows}
