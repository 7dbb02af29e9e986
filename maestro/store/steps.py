"""Step rows of a run, as the run advance reads and writes them outside status changes
(those go through ``maestro.store.transitions``): upstream counters, slot waits, and the
rows a restart or a run's end looks at. Hot-path statements are built once: constructing
SQLAlchemy statements per call cost more than executing them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, literal_column, select, update

from maestro.states import STEP_TERMINAL, StepStatus, WaitingFor
from maestro.store import direct, tables
from maestro.store.records import STEP_COLUMNS, StepRow
from maestro.store.tables import status_is

R, S, A = tables.runs, tables.step_runs, tables.attempts
#: the WAITING reasons counted in ``runs.steps_waiting`` (released when a slot frees up)
SLOT_WAITS = (WaitingFor.slot, WaitingFor.paused)
NON_TERMINAL = tuple(s for s in StepStatus if s not in STEP_TERMINAL)

_NOTIFY_SUCCESSOR = (
    update(S)
    .where(S.c.run_id == bindparam("p_run"), S.c.step_id == bindparam("p_step"))
    .values(
        up_done=S.c.up_done + 1,
        up_failed=S.c.up_failed + bindparam("p_failed"),
        up_skipped=S.c.up_skipped + bindparam("p_skipped"),
    )
    .returning(*STEP_COLUMNS)
)
_NOTIFY_SUCCESSORS = (
    update(S)
    .where(S.c.run_id == bindparam("p_run"), S.c.step_id.in_(bindparam("p_steps", expanding=True)))
    .values(
        up_done=S.c.up_done + 1,
        up_failed=S.c.up_failed + bindparam("p_failed"),
        up_skipped=S.c.up_skipped + bindparam("p_skipped"),
    )
    .returning(*STEP_COLUMNS)
)
_NEXT_WAITING = (
    select(*STEP_COLUMNS)
    .where(
        S.c.run_id == bindparam("p_run"),
        status_is(S.c.status, StepStatus.WAITING),
        # inlined: an expanding IN would be compiled at every call (and skip direct execution)
        S.c.waiting_for.in_([literal_column(f"'{w.value}'") for w in SLOT_WAITS]),
    )
    .order_by(S.c.priority.desc(), S.c.position)
    .limit(bindparam("p_limit"))
    # two units freeing slots at once let in different steps
    .with_for_update(skip_locked=True)
)
_INSERT_ATTEMPT = insert(A).returning(A.c.id)
_INSERT_ATTEMPTS = insert(A).returning(A.c.id, sort_by_parameter_order=True)


def upstream_ended(
    conn: Connection, run_id: int, step_id: str, *, failed: bool, skipped: bool
) -> StepRow | None:
    """Count one more ended upstream on step ``step_id``; the row as it is now."""
    params = {
        "p_run": run_id,
        "p_step": step_id,
        "p_failed": int(failed),
        "p_skipped": int(skipped),
    }
    row = direct.execute(conn, _NOTIFY_SUCCESSOR, params).first()
    return StepRow.of(row) if row is not None else None


def upstreams_ended(
    conn: Connection, run_id: int, step_ids: Sequence[str], *, failed: bool, skipped: bool
) -> list[StepRow]:
    """Count one more ended upstream on each of the steps ``step_ids``, in one statement; the
    rows as they are now, in the order of ``step_ids``."""
    if len(step_ids) == 1:
        row = upstream_ended(conn, run_id, step_ids[0], failed=failed, skipped=skipped)
        return [] if row is None else [row]
    params = {
        "p_run": run_id,
        "p_steps": list(step_ids),
        "p_failed": int(failed),
        "p_skipped": int(skipped),
    }
    order = {step_id: i for i, step_id in enumerate(step_ids)}
    found = direct.execute(conn, _NOTIFY_SUCCESSORS, params)
    rows = sorted(found, key=lambda r: order[r.step_id])
    return [StepRow.of(r) for r in rows]


def set_upstream_counts(
    conn: Connection, run_id: int, step_id: str, done: int, failed: int, skipped: int
) -> StepRow:
    row = conn.execute(
        update(S)
        .where(S.c.run_id == run_id, S.c.step_id == step_id)
        .values(up_done=done, up_failed=failed, up_skipped=skipped)
        .returning(*STEP_COLUMNS)
    ).one()
    return StepRow.of(row)


def next_waiting_for_slot(conn: Connection, run_id: int, limit: int) -> list[StepRow]:
    """The run's steps waiting for a slot (or for the run to resume), highest priority
    first, locked (a concurrent unit skips them)."""
    rows = direct.execute(conn, _NEXT_WAITING, {"p_run": run_id, "p_limit": limit}).all()
    return [StepRow.of(r) for r in rows]


def set_waiting_for(conn: Connection, step_run_id: int, reason: WaitingFor) -> None:
    """A WAITING step now waits for something else (no status change)."""
    conn.execute(update(S).where(S.c.id == step_run_id).values(waiting_for=reason))


def of_run(
    conn: Connection,
    run_id: int,
    *,
    step_ids: Collection[str] | None = None,
    statuses: Collection[StepStatus] | None = None,
) -> list[StepRow]:
    query = select(*STEP_COLUMNS).where(S.c.run_id == run_id)
    if step_ids is not None:
        query = query.where(S.c.step_id.in_(list(step_ids)))
    if statuses is not None:
        query = query.where(S.c.status.in_([s.value for s in statuses]))
    return [StepRow.of(r) for r in conn.execute(query)]


def statuses(conn: Connection, run_id: int, step_ids: Collection[str]) -> dict[str, StepStatus]:
    rows = conn.execute(
        select(S.c.step_id, S.c.status).where(S.c.run_id == run_id, S.c.step_id.in_(step_ids))
    )
    return {r.step_id: StepStatus(r.status) for r in rows}


def insert_attempts(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """QUEUED attempt rows (one statement for a fan-out); their ids in the rows' order."""
    if len(rows) == 1:
        return [direct.execute(conn, _INSERT_ATTEMPT, rows[0]).scalar_one()]
    return list(conn.execute(_INSERT_ATTEMPTS, rows).scalars())


def clear_run_counters(conn: Connection, run_id: int) -> None:
    """An ended run has nothing unfinished, active or waiting."""
    conn.execute(
        update(R)
        .where(R.c.id == run_id)
        .values(steps_unfinished=0, active_steps=0, steps_waiting=0)
    )


_FAILED = select(R.c.steps_failed).where(R.c.id == bindparam("p_run"))


def failed_count(conn: Connection, run_id: int) -> int:
    return int(direct.execute(conn, _FAILED, {"p_run": run_id}).scalar_one())


def insert_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """A run's step rows, in one statement (their first statuses: ``created_steps``)."""
    conn.execute(insert(S), rows)


_INSERT_RETURNING = insert(S).returning(S.c.id)


def insert_steps_returning(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """``insert_steps``, returning the rows' ids in the order given: one
    ``INSERT … RETURNING`` per row on the driver's cursor — for SQLite (in-process, no round
    trips; twice as fast for 1,000 rows as SQLAlchemy's batching of a many-row
    ``RETURNING``). PostgreSQL starts a new run in one statement (``store.run_start``)."""
    return [direct.execute(conn, _INSERT_RETURNING, row).scalar_one() for row in rows]


def set_outputs(conn: Connection, step_run_id: int, outputs: dict[str, Any]) -> None:
    """Outputs of a step that is still WAITING (a foreach's, written before it fails)."""
    conn.execute(update(S).where(S.c.id == step_run_id).values(outputs=outputs))


_CHILDREN_STARTED = (
    update(S).where(S.c.id == bindparam("p_step")).values(children_started=bindparam("p_n"))
)


#: a child's end counted in its parent step, if that one still waits for its children
_COUNT_CHILD_END = (
    update(S)
    .where(S.c.id == bindparam("p_step"), S.c.status == StepStatus.WAITING.value)
    .values(
        children_done=S.c.children_done + 1,
        children_failed=S.c.children_failed + bindparam("p_failed"),
    )
    .returning(
        *STEP_COLUMNS,
        S.c.children_total,
        S.c.children_started,
        S.c.children_done,
        S.c.children_failed,
        # the parent run's status as it is now (the rest of its row never changes)
        select(R.c.status).where(R.c.id == S.c.run_id).scalar_subquery().label("parent_status"),
    )
)


def count_child_end(conn: Connection, step_run_id: int, failed: bool) -> Any:
    """Count a child run's end in its parent step: the step's row (``STEP_COLUMNS`` and its
    children counters, as counted) and its run's status (``parent_status``), or None when the
    step no longer waits for children."""
    return direct.execute(
        conn, _COUNT_CHILD_END, {"p_step": step_run_id, "p_failed": int(failed)}
    ).first()


def children_started(conn: Connection, step_run_id: int, started: int) -> None:
    direct.execute(conn, _CHILDREN_STARTED, {"p_step": step_run_id, "p_n": started})


def set_children(conn: Connection, step_run_id: int, count: int) -> None:
    """A while step's iterations so far (created and started: one at a time)."""
    conn.execute(
        update(S).where(S.c.id == step_run_id).values(children_total=count, children_started=count)
    )


def set_params(conn: Connection, step_run_id: int, values: Mapping[str, Any]) -> None:
    """Record a step's rendered step params (``engine/step_params.py``)."""
    conn.execute(update(S).where(S.c.id == step_run_id).values(params=dict(values)))
