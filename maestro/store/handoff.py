"""The statements of a step handoff, fused: a worker's claim, the end of its attempt, and the
queueing of the successors that became ready (issue "The hot path at the floor").

On PostgreSQL each of these is one statement: data-modifying CTEs move the attempt and the
step together, write their events, and return the rows the engine decides on (the step and
run as they were before the statement, and the run's counters), so a claim is one round trip
and a report four (end, successors' counters, queue, run counters). SQLite has no
data-modifying CTEs; there each part is its own statement, as the functions of
``maestro.store.transitions`` do it (an in-process call, not a round trip), and the events
are written in one batch before commit.

Every change is the same as the one ``transitions.transition`` would make — a conditional
UPDATE that moves nothing when the row was not in the expected status — and every status
change still gets its event row and its entry in ``Unit.changes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from maestro.errors import ConcurrentChange
from maestro.states import RUN_ACTIVE, AttemptStatus, RunStatus, StepStatus
from maestro.store import direct, event_rows, tables
from maestro.store.counters import APPLY, RunCounters
from maestro.store.records import (
    ATTEMPT_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    AttemptRow,
    RunRow,
    StepRow,
)
from maestro.store.transitions import check_allowed, created, transition, transition_many
from maestro.store.unit import Unit

R, S, A, E = tables.runs, tables.step_runs, tables.attempts, tables.events
_ACTIVE_RUN = sorted(s.value for s in RUN_ACTIVE)
_COUNTER_COLUMNS = (
    R.c.status.label("counted_status"),
    R.c.active_steps,
    R.c.steps_unfinished,
    R.c.steps_waiting,
)
_EVENT_COLUMNS = ["run_id", "step_run_id", "attempt_id", "entity", "from_status", "to_status"]
_EVENT_COLUMNS += ["actor", "message", "at"]


@dataclass(frozen=True)
class Loaded:
    """An attempt with its step and run as they were when the unit first touched them, the
    run's counters then, and whether the step was moved with the attempt."""

    attempt: AttemptRow
    step: StepRow
    run: RunRow
    counters: RunCounters
    step_moved: bool = False


def _now() -> Any:
    return bindparam("p_now", type_=A.c.started_at.type)


def _events(*parts: Any) -> Any:
    return insert(E).from_select(_EVENT_COLUMNS, union_all(*parts) if len(parts) > 1 else parts[0])


def _step_event(
    moved: Any, step: Any, was: StepStatus, to: StepStatus, actor: Any, now: Any
) -> Any:
    """The event row of the step a statement moved (``step``: its CTE, no row if it did not
    move) along with the attempt (``moved``: the attempt's CTE)."""
    return select(
        moved.c.run_id,
        step.c.id,
        null(),
        literal("step"),
        literal(was.value),
        literal(to.value),
        actor,
        null(),
        now,
    ).select_from(step.join(moved, true()))


def _with_step(moved: Any, step: Any, events: Any) -> Any:
    """The moved attempt's row (with its step and run as they were) and whether its step
    moved too, the events written by the same statement."""
    return (
        select(moved, step.c.id.is_not(None).label("step_moved"))
        .select_from(moved.outerjoin(step, true()))
        .add_cte(events.cte("e"))
    )


def _counters(row: Any) -> RunCounters:
    return RunCounters(
        row.run_id,
        RunStatus(row.counted_status),
        row.active_steps,
        row.max_active_steps,
        row.steps_unfinished,
        row.steps_waiting,
    )


# -- claim: QUEUED → RUNNING, attempt and step ------------------------------------------------


def _claim_statement() -> Any:
    now = _now()
    log_path = (
        bindparam("p_logs", type_=String)
        + "/"
        + cast(S.c.run_id, String)
        + "/"
        + S.c.step_id
        + "/"
        + cast(A.c.number, String)
        + ".log"
    )
    moved = (
        update(A)
        .where(
            A.c.id == bindparam("p_id"),
            A.c.status == AttemptStatus.QUEUED.value,
            S.c.id == A.c.step_run_id,
            S.c.current_attempt_id == A.c.id,
            R.c.id == S.c.run_id,
            or_(*(R.c.status == status for status in _ACTIVE_RUN)),
        )
        .values(
            status=AttemptStatus.RUNNING.value,
            worker=bindparam("p_worker"),
            started_at=now,
            heartbeat_at=now,
            log_path=log_path,
        )
        .returning(*ATTEMPT_COLUMNS, *STEP_COLUMNS, *RUN_COLUMNS[1:], *_COUNTER_COLUMNS)
        .cte("a")
    )
    step = (
        update(S)
        .where(S.c.id == moved.c.step_run_id, S.c.status == StepStatus.QUEUED.value)
        .values(
            status=StepStatus.RUNNING.value,
            # a step's start is the start of its first attempt
            started_at=case((S.c.attempts == 1, now), else_=S.c.started_at),
        )
        .returning(S.c.id)
        .cte("s")
    )
    actor = bindparam("p_actor", type_=String)
    events = _events(
        select(
            moved.c.run_id,
            moved.c.step_run_id,
            moved.c.attempt_id,
            literal("attempt"),
            literal(AttemptStatus.QUEUED.value),
            literal(AttemptStatus.RUNNING.value),
            actor,
            null(),
            now,
        ),
        _step_event(moved, step, StepStatus.QUEUED, StepStatus.RUNNING, actor, now),
    )
    return _with_step(moved, step, events)


_CLAIM = _claim_statement()


def claim(u: Unit, attempt_id: int, worker: str, logs_dir: Path) -> Loaded | None:
    """QUEUED → RUNNING, the attempt and its step, if the attempt is still its step's current
    one and the run is active; None when there is nothing to run (nothing changed).

    The attempt's log is ``logs_dir/<run>/<step>/<number>.log``."""
    if u.conn.dialect.name != "postgresql":
        return _claim_separately(u, attempt_id, worker, logs_dir)
    u.flush_events()  # the events before these keep their order
    row = direct.execute(
        u.conn,
        _CLAIM,
        {
            "p_id": attempt_id,
            "p_worker": worker,
            "p_now": u.now,
            "p_logs": str(logs_dir),
            "p_actor": u.actor,
        },
    ).first()
    if row is None:
        return None
    loaded = _loaded(row, AttemptStatus.QUEUED, StepStatus.QUEUED)
    u.record_change(
        run_id=loaded.run.id,
        step_run_id=loaded.step.id,
        attempt_id=attempt_id,
        entity="attempt",
        from_status=AttemptStatus.QUEUED.value,
        to_status=AttemptStatus.RUNNING.value,
    )
    if row.step_moved:
        u.record_change(
            run_id=loaded.run.id,
            step_run_id=loaded.step.id,
            entity="step",
            from_status=StepStatus.QUEUED.value,
            to_status=StepStatus.RUNNING.value,
        )
    return loaded


def _claim_separately(u: Unit, attempt_id: int, worker: str, logs_dir: Path) -> Loaded | None:
    # an attempt this unit queued (a worker following on to it) has its rows in the unit;
    # whatever the unit did to it since, the UPDATEs below expect it QUEUED, as it was written
    kept = u.queued_here.pop(attempt_id, None)
    loaded = (kept.attempt, kept.step, kept.run, kept.counters) if kept else _load(u, attempt_id)
    if loaded is None:
        return None
    attempt, step, run, counters = loaded
    if (
        attempt.status is not AttemptStatus.QUEUED
        or step.current_attempt_id != attempt_id
        or run.status not in RUN_ACTIVE
    ):
        return None
    values = {
        "worker": worker,
        "started_at": u.now,
        "heartbeat_at": u.now,
        # as the PostgreSQL statement builds it (a string: three path joins cost more)
        "log_path": f"{logs_dir}/{run.id}/{step.step_id}/{attempt.number}.log",
    }
    if not transition(
        u,
        "attempt",
        attempt_id,
        AttemptStatus.RUNNING,
        AttemptStatus.QUEUED,
        run_id=run.id,
        step_run_id=step.id,
        values=values,
    ):
        return None
    moved = transition(
        u,
        "step",
        step.id,
        StepStatus.RUNNING,
        StepStatus.QUEUED,
        run_id=run.id,
        values={"started_at": u.now} if step.attempts == 1 else {},
    )
    return Loaded(attempt, step, run, counters, moved)


_TIMEOUT = (
    update(A)
    .where(A.c.id == bindparam("p_id"))
    .values(timeout_at=bindparam("p_at", type_=A.c.timeout_at.type))
)


def set_timeout(u: Unit, attempt_id: int, at: datetime) -> None:
    """When the scheduler declares a claimed attempt timed out (if its worker does not)."""
    direct.execute(u.conn, _TIMEOUT, {"p_id": attempt_id, "p_at": at})


# -- the end of an attempt (RUNNING → its result), and of its step on success -----------------


def _end_statement(succeed_step: bool) -> Any:
    now = _now()
    moved = (
        update(A)
        .where(
            A.c.id == bindparam("p_id"),
            A.c.status == AttemptStatus.RUNNING.value,
            S.c.id == A.c.step_run_id,
            R.c.id == S.c.run_id,
        )
        .values(
            status=bindparam("p_to", type_=String),
            ended_at=now,
            error=bindparam("p_error", type_=A.c.error.type),
            exit_code=bindparam("p_exit", type_=A.c.exit_code.type),
        )
        .returning(*ATTEMPT_COLUMNS, *STEP_COLUMNS, *RUN_COLUMNS[1:], *_COUNTER_COLUMNS)
        .cte("a")
    )
    actor = bindparam("p_actor", type_=String)
    attempt_event = select(
        moved.c.run_id,
        moved.c.step_run_id,
        moved.c.attempt_id,
        literal("attempt"),
        literal(AttemptStatus.RUNNING.value),
        bindparam("p_to", type_=String),
        actor,
        bindparam("p_error", type_=E.c.message.type),
        now,
    )
    if not succeed_step:
        return select(moved, literal(False).label("step_moved")).add_cte(
            _events(attempt_event).cte("e")
        )
    step = (
        update(S)
        .where(
            S.c.id == moved.c.step_run_id,
            S.c.current_attempt_id == moved.c.attempt_id,
            S.c.status == StepStatus.RUNNING.value,
        )
        .values(
            status=StepStatus.SUCCEEDED.value,
            ended_at=now,
            next_attempt_at=None,
            waiting_for=None,
            outputs=bindparam("p_outputs", type_=S.c.outputs.type),
            error=None,  # a success clears the error of earlier attempts
        )
        .returning(S.c.id)
        .cte("s")
    )
    step_event = _step_event(moved, step, StepStatus.RUNNING, StepStatus.SUCCEEDED, actor, now)
    return _with_step(moved, step, _events(attempt_event, step_event))


_END = _end_statement(succeed_step=False)
_END_AND_SUCCEED = _end_statement(succeed_step=True)


def end_attempt(
    u: Unit,
    attempt_id: int,
    to: AttemptStatus,
    *,
    error: str | None,
    exit_code: int | None,
    step_outputs: dict[str, Any] | None = None,
) -> Loaded | None:
    """RUNNING → ``to``; None when the attempt was not RUNNING (nothing changed).

    ``step_outputs`` (for a success): the step, if it is RUNNING on this attempt, moves to
    SUCCEEDED with these outputs in the same statement (``Loaded.step_moved``); what follows
    from its end is the caller's (``RunAdvance.ended``)."""
    if u.conn.dialect.name != "postgresql":
        return _end_separately(u, attempt_id, to, error, exit_code, step_outputs)
    check_allowed("attempt", AttemptStatus.RUNNING, to)
    u.flush_events()
    statement = _END if step_outputs is None else _END_AND_SUCCEED
    params: dict[str, Any] = {
        "p_id": attempt_id,
        "p_to": to.value,
        "p_now": u.now,
        "p_error": error,
        "p_exit": exit_code,
        "p_actor": u.actor,
    }
    if step_outputs is not None:
        params["p_outputs"] = step_outputs
    row = direct.execute(u.conn, statement, params).first()
    if row is None:
        return None
    loaded = _loaded(row, AttemptStatus.RUNNING, None)
    u.record_change(
        run_id=loaded.run.id,
        step_run_id=loaded.step.id,
        attempt_id=attempt_id,
        entity="attempt",
        from_status=AttemptStatus.RUNNING.value,
        to_status=to.value,
        message=error,
    )
    if row.step_moved:
        u.record_change(
            run_id=loaded.run.id,
            step_run_id=loaded.step.id,
            entity="step",
            from_status=StepStatus.RUNNING.value,
            to_status=StepStatus.SUCCEEDED.value,
        )
    return loaded


def _end_separately(
    u: Unit,
    attempt_id: int,
    to: AttemptStatus,
    error: str | None,
    exit_code: int | None,
    step_outputs: dict[str, Any] | None,
) -> Loaded | None:
    loaded = _load(u, attempt_id)
    if loaded is None:
        return None
    attempt, step, run, counters = loaded
    if not transition(
        u,
        "attempt",
        attempt_id,
        to,
        AttemptStatus.RUNNING,
        run_id=run.id,
        step_run_id=step.id,
        values={"ended_at": u.now, "error": error, "exit_code": exit_code},
        message=error,
    ):
        return None
    moved = False
    if (
        step_outputs is not None
        and step.current_attempt_id == attempt_id
        and step.status is StepStatus.RUNNING
    ):
        moved = transition(
            u,
            "step",
            step.id,
            StepStatus.SUCCEEDED,
            StepStatus.RUNNING,
            run_id=run.id,
            values={
                "ended_at": u.now,
                "next_attempt_at": None,
                "waiting_for": None,
                "outputs": step_outputs,
                "error": None,
            },
        )
    return Loaded(attempt, step, run, counters, moved)


_LOAD = (
    select(*ATTEMPT_COLUMNS, *STEP_COLUMNS, *RUN_COLUMNS[1:], *_COUNTER_COLUMNS)
    .select_from(A.join(S, S.c.id == A.c.step_run_id).join(R, R.c.id == S.c.run_id))
    .where(A.c.id == bindparam("p_id"))
)


def _load(u: Unit, attempt_id: int) -> tuple[AttemptRow, StepRow, RunRow, RunCounters] | None:
    """The attempt with its step, its run and the run's counters, in one query."""
    row = direct.execute(u.conn, _LOAD, {"p_id": attempt_id}).first()
    if row is None:
        return None
    return AttemptRow.of(row), StepRow.of(row), RunRow.of(row), _counters(row)


def _loaded(row: Any, attempt_was: AttemptStatus, step_was: StepStatus | None) -> Loaded:
    """The rows as they were before the statement (RETURNING gives the attempt as moved)."""
    attempt = AttemptRow.of(row)
    attempt = AttemptRow(
        attempt.id,
        attempt.number,
        attempt_was,
        attempt.queue,
        attempt.log_path,
        attempt.started_at,
        attempt.created_at,
    )
    step = StepRow.of(row)
    return Loaded(attempt, step, RunRow.of(row), _counters(row), bool(row.step_moved))


# -- queueing ready steps: a QUEUED attempt each, the steps QUEUED; the run's counters ----------


@dataclass(frozen=True)
class ToQueue:
    """A step to hand to a worker: its attempt's number and queue, the status it leaves."""

    step_run_id: int
    number: int
    queue: str
    expected: StepStatus
    action: str | None = None


def keep_queued(
    u: Unit, attempt_id: int, wanted: ToQueue, step: StepRow, run: RunRow, counters: RunCounters
) -> None:
    """An attempt this unit just queued for ``step`` of ``run`` (RUNNING): its rows as
    written, for a claim of it in the same unit (``Unit.queued_here``). SQLite only: a claim
    on PostgreSQL is one statement that reads what it needs."""
    if u.conn.dialect.name == "postgresql":
        return
    attempt = AttemptRow(
        attempt_id, wanted.number, AttemptStatus.QUEUED, wanted.queue, None, None, u.now
    )
    step = replace(
        step,
        status=StepStatus.QUEUED,
        attempts=wanted.number,
        current_attempt_id=attempt_id,
        waiting_for=None,
    )
    u.queued_here[attempt_id] = Loaded(attempt, step, run, counters)


def _in_columns(part: Any, columns: list[str]) -> Any:
    """An event part of ``_queue_statement`` (its columns ``_EVENT_COLUMNS`` + action) with
    its columns in the order ``columns`` (NULL for the ones it has not)."""
    have = dict(zip([*_EVENT_COLUMNS, "action"], part.selected_columns, strict=True))
    nulls = {"backfill_id": BigInteger, "workflow_id": String}
    return part.with_only_columns(
        *(have[c] if c in have else null().cast(nulls[c]) for c in columns)
    )


def _queue_statement(counted: bool, buffered: bool = False) -> Any:
    """The attempts QUEUED with their steps and events; ``counted``: the run's counters
    too; ``buffered``: the unit's buffered events too (``event_rows.UNNESTED``), first."""
    now = _now()
    wanted = (
        func.unnest(
            bindparam("p_steps", type_=ARRAY(BigInteger)),
            bindparam("p_numbers", type_=ARRAY(Integer)),
            bindparam("p_queues", type_=ARRAY(String)),
            bindparam("p_expected", type_=ARRAY(String)),
            bindparam("p_actions", type_=ARRAY(String)),
            bindparam("p_order", type_=ARRAY(Integer)),
        )
        .table_valued("step_run_id", "number", "queue", "expected", "action", "ord")
        .render_derived(name="w")
    )
    wanted_rows = select(wanted).cte("w")
    run_id = bindparam("p_run", type_=BigInteger)
    made = (
        insert(A)
        .from_select(
            ["step_run_id", "run_id", "number", "status", "queue", "created_at", "dispatched_at"],
            select(
                wanted_rows.c.step_run_id,
                run_id,
                wanted_rows.c.number,
                literal(AttemptStatus.QUEUED.value),
                wanted_rows.c.queue,
                now,
                now,
            ).order_by(wanted_rows.c.ord),
        )
        .returning(A.c.id, A.c.step_run_id, A.c.number)
        .cte("a")
    )
    steps = (
        update(S)
        .where(
            S.c.id == made.c.step_run_id,
            made.c.step_run_id == wanted_rows.c.step_run_id,
            S.c.status == wanted_rows.c.expected,
        )
        .values(
            status=StepStatus.QUEUED.value,
            attempts=made.c.number,
            current_attempt_id=made.c.id,
            waiting_for=None,
            next_attempt_at=None,
        )
        .returning(S.c.id, wanted_rows.c.expected, wanted_rows.c.action, wanted_rows.c.ord)
        .cte("s")
    )
    actor = bindparam("p_actor", type_=String)
    attempt_events = (
        select(
            run_id,
            made.c.step_run_id,
            made.c.id,
            literal("attempt"),
            null(),
            literal(AttemptStatus.QUEUED.value),
            actor,
            null(),
            now,
            null(),
        )
        .select_from(made.join(wanted_rows, wanted_rows.c.step_run_id == made.c.step_run_id))
        .order_by(wanted_rows.c.ord)
    )
    step_events = select(
        run_id,
        steps.c.id,
        null(),
        literal("step"),
        steps.c.expected,
        literal(StepStatus.QUEUED.value),
        actor,
        null(),
        now,
        steps.c.action,
    ).order_by(steps.c.ord)
    columns = [*_EVENT_COLUMNS, "action"]
    parts = [attempt_events, step_events]
    if buffered:
        # the unit's buffered events first, in their order: one INSERT, its parts in order
        columns = list(event_rows.COLUMNS)
        parts = [event_rows.UNNESTED, *(_in_columns(p, columns) for p in parts)]
    events = insert(E).from_select(columns, union_all(*parts)).cte("e")
    query = select(made.c.id, made.c.step_run_id, steps.c.id.is_not(None).label("step_moved"))
    joined = made.outerjoin(steps, steps.c.id == made.c.step_run_id)
    if counted:  # the run's counters in the same statement (RunCounters.write)
        count = APPLY.cte("c")
        query = query.add_columns(
            count.c.status, count.c.active_steps, count.c.steps_unfinished, count.c.steps_waiting
        )
        joined = joined.outerjoin(count, true())
    return query.select_from(joined).add_cte(events)


#: (counted, buffered) → the statement
_QUEUE = {(c, b): _queue_statement(c, b) for c in (False, True) for b in (False, True)}


def queue_attempts(
    u: Unit, run_id: int, wanted: Sequence[ToQueue], counters: RunCounters | None = None
) -> list[int]:
    """A QUEUED attempt for each step (each in its ``expected`` status, owned by this unit),
    the steps QUEUED on them; the attempts' ids in ``wanted``'s order. With ``counters``, the
    run's counters are written too (``RunCounters.write``), in the same statement on
    PostgreSQL. A step that was not in its ``expected`` status raises ``ConcurrentChange``
    (the unit rolls back)."""
    if u.conn.dialect.name != "postgresql":
        ids = _queue_separately(u, run_id, wanted)  # its events are written at the unit's end
        if counters is not None:
            counters.write(u.conn)
        return ids
    counted = counters is not None and counters.changed
    # the unit's buffered events go first in the same statement: they keep their order
    buffered = list(u.events)
    u.events.clear()
    params: dict[str, Any] = {
        "p_steps": [w.step_run_id for w in wanted],
        "p_numbers": [w.number for w in wanted],
        "p_queues": [w.queue for w in wanted],
        "p_expected": [w.expected.value for w in wanted],
        "p_actions": [w.action for w in wanted],
        "p_order": list(range(len(wanted))),
        "p_run": run_id,
        "p_now": u.now,
        "p_actor": u.actor,
    }
    if counted:
        assert counters is not None
        params.update(counters.params())
    if buffered:
        params.update(event_rows.unnested_params(buffered))
    rows = direct.execute(u.conn, _QUEUE[counted, bool(buffered)], params).all()
    if len(rows) != len(wanted) or not all(r.step_moved for r in rows):
        moved = sum(1 for r in rows if r.step_moved)
        raise ConcurrentChange(f"{len(wanted) - moved} of {len(wanted)} steps were not queueable")
    if counted:
        assert counters is not None
        counters.written(rows[0] if rows[0].status is not None else None)
    made = {r.step_run_id: r.id for r in rows}
    result = [made[w.step_run_id] for w in wanted]
    for w, attempt_id in zip(wanted, result, strict=True):
        u.record_change(
            run_id=run_id,
            step_run_id=w.step_run_id,
            attempt_id=attempt_id,
            entity="attempt",
            to_status=AttemptStatus.QUEUED.value,
        )
    for w in wanted:
        u.record_change(
            run_id=run_id,
            step_run_id=w.step_run_id,
            entity="step",
            from_status=w.expected.value,
            to_status=StepStatus.QUEUED.value,
            action=w.action,
        )
    return result


def _queue_separately(u: Unit, run_id: int, wanted: Sequence[ToQueue]) -> list[int]:
    rows = [
        {
            "step_run_id": w.step_run_id,
            "run_id": run_id,
            "number": w.number,
            "status": AttemptStatus.QUEUED.value,
            "queue": w.queue,
            "created_at": u.now,
            "dispatched_at": u.now,
        }
        for w in wanted
    ]
    # one INSERT … RETURNING per row on the driver's cursor (SQLite: in-process, no round
    # trips; twice as fast for 1,000 rows as SQLAlchemy's batching of a many-row RETURNING)
    ids = [direct.execute(u.conn, _INSERT_ATTEMPT, row).scalar_one() for row in rows]
    for w, attempt_id in zip(wanted, ids, strict=True):
        created(
            u, "attempt", attempt_id, AttemptStatus.QUEUED, run_id=run_id, step_run_id=w.step_run_id
        )
    # the steps in runs of the same (expected, action): one statement each
    groups: dict[tuple[StepStatus, str | None], list[tuple[int, dict[str, Any]]]] = {}
    for w, attempt_id in zip(wanted, ids, strict=True):
        values = {
            "attempts": w.number,
            "current_attempt_id": attempt_id,
            "waiting_for": None,
            "next_attempt_at": None,
        }
        groups.setdefault((w.expected, w.action), []).append((w.step_run_id, values))
    for (expected, action), changes in groups.items():
        transition_many(
            u, "step", changes, StepStatus.QUEUED, expected, run_id=run_id, action=action
        )
    return ids


_INSERT_ATTEMPT = insert(A).returning(A.c.id)
