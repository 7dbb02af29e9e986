"""Steps, attempts and logs of a run: one shape per concept (``StepSummary``, ``StepDetail``,
``AttemptDetail``) for the API, the web view and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from maestro.errors import NotFound
from maestro.reads.paging import MAX_LIMIT, Page, clamp_limit, int_cursor, page_of
from maestro.reads.runs import require_run
from maestro.states import StepStatus
from maestro.store import tables

R, S, A = tables.runs, tables.step_runs, tables.attempts


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
    #: step params as rendered when the step was about to run (empty: none)
    params: dict[str, Any] = field(default_factory=dict)
    #: the log of its current (latest) attempt, where the run's steps are read whole
    log_path: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


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
    S.c.params,
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
    values["params"] = values["params"] or {}
    values["log_path"] = getattr(row, "log_path", None)
    return StepSummary(**values)


def run_steps(conn: Connection, run_id: int) -> list[StepSummary]:
    """Every step of the run in definition order (``uq_step_runs_run_step``), each with its
    current attempt's log: what the run page and ``maestro run`` show."""
    rows = conn.execute(
        select(*_STEP_COLUMNS, A.c.log_path)
        .select_from(S.outerjoin(A, A.c.id == S.c.current_attempt_id))
        .where(S.c.run_id == run_id)
        .order_by(S.c.position)
    )
    return [_step_summary(r) for r in rows]


def list_steps(
    conn: Connection, run_id: int, *, limit: int = MAX_LIMIT, cursor: str | None = None
) -> Page[StepSummary]:
    """The run's steps in definition order (keyset on their position)."""
    limit = clamp_limit(limit)
    require_run(conn, run_id)
    query = (
        select(*_STEP_COLUMNS).where(S.c.run_id == run_id).order_by(S.c.position).limit(limit + 1)
    )
    after = int_cursor(cursor)
    if after is not None:
        query = query.where(S.c.position > after)
    return page_of(conn.execute(query).all(), limit, _step_summary, "position")


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


def run_tree_logs(
    conn: Connection, run_id: int, after_attempt: int = 0, labels: dict[int, str] | None = None
) -> list[LogSource]:
    """The attempts of ``run_id`` and of its child runs with an id above ``after_attempt``,
    in the order they were made (what ``maestro run`` streams and ``maestro logs`` prints).
    An attempt not claimed yet has no log path: attempts are claimed out of order.

    Each is labelled with its whole path from ``run_id``: ``tables[1].parts[0].touch`` for a
    step of a foreach inside a foreach. ``labels``: run id → its label's prefix, kept by a
    caller that asks again (the runs already labelled are not read again)."""
    rows = conn.execute(
        select(A.c.id, A.c.number, A.c.log_path, S.c.step_id, S.c.run_id)
        .select_from(A.join(S, S.c.id == A.c.step_run_id).join(R, R.c.id == S.c.run_id))
        .where(
            (R.c.id == run_id) | (R.c.root_run_id == run_id),
            A.c.id > after_attempt,
        )
        .order_by(A.c.id)
    ).all()
    prefixes = labels if labels is not None else {}
    prefixes[run_id] = ""
    _label_runs(conn, {r.run_id for r in rows} - prefixes.keys(), prefixes)
    return [
        LogSource(attempt_id, prefixes[run] + step_id, step_id, number, path)
        for attempt_id, number, path, step_id, run in rows
    ]


_LABEL_CHUNK = 500


def _label_runs(conn: Connection, runs: set[int], prefixes: dict[int, str]) -> None:
    """Add the label prefix of each of ``runs`` (child runs below a labelled run) to
    ``prefixes``: its parent's prefix, the parent step, the iteration."""
    parent_step = S.alias("parent_step")
    above: dict[int, tuple[int | None, int | None, str | None]] = {}
    todo = sorted(runs)
    while todo:
        found: list[Any] = []
        for first in range(0, len(todo), _LABEL_CHUNK):
            found += conn.execute(
                select(R.c.id, R.c.parent_run_id, R.c.iteration, parent_step.c.step_id)
                .select_from(R.outerjoin(parent_step, parent_step.c.id == R.c.parent_step_run_id))
                .where(R.c.id.in_(todo[first : first + _LABEL_CHUNK]))
            ).all()
        for child, parent, iteration, step_id in found:
            above[child] = (parent, iteration, step_id)
        todo = sorted(
            {p for p, _, _ in above.values() if p is not None} - prefixes.keys() - above.keys()
        )

    def prefix(run: int) -> str:
        if run not in prefixes:
            parent, iteration, step_id = above.get(run, (None, None, None))
            where = f"[{iteration}]" if iteration is not None else ""
            prefixes[run] = (
                "" if parent is None or step_id is None else f"{prefix(parent)}{step_id}{where}."
            )
        return prefixes[run]

    for run in runs:
        prefix(run)
