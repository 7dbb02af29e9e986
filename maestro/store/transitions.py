"""The one function that changes a status.

A conditional UPDATE (``WHERE id = :id AND status = :expected``) plus an event row, in the
caller's transaction. Zero rows updated means someone else already moved the row — a duplicate
delivery, a racing scheduler, a stop that won — and the caller gets ``False`` and does nothing.
A change the state tables do not allow is a bug and raises ``InvalidTransition``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import Table, bindparam, case, insert, literal, null, select, update
from sqlalchemy.sql import ClauseElement

from maestro.errors import ConcurrentChange, InvalidTransition
from maestro.states import (
    ATTEMPT_TRANSITIONS,
    BACKFILL_TRANSITIONS,
    RUN_TRANSITIONS,
    STEP_ACTION_TRANSITIONS,
    STEP_TRANSITIONS,
    AttemptStatus,
    BackfillStatus,
    RunStatus,
    StepStatus,
)
from maestro.store import direct, tables
from maestro.store.unit import Unit

Entity = Literal["run", "step", "attempt", "backfill"]
Status = RunStatus | StepStatus | AttemptStatus | BackfillStatus

_TABLES: Mapping[Entity, Table] = {
    "run": tables.runs,
    "step": tables.step_runs,
    "attempt": tables.attempts,
    "backfill": tables.backfills,
}
_RULES: Mapping[Entity, Mapping[Any, frozenset[Any]]] = {
    "run": RUN_TRANSITIONS,
    "step": STEP_TRANSITIONS,
    "attempt": ATTEMPT_TRANSITIONS,
    "backfill": BACKFILL_TRANSITIONS,
}


def transition(
    u: Unit,
    entity: Entity,
    row_id: int,
    to: Status,
    expected: Status | Iterable[Status],
    *,
    run_id: int | None,
    step_run_id: int | None = None,
    attempt_id: int | None = None,
    values: Mapping[str, Any] | None = None,
    action: str | None = None,
    message: str | None = None,
) -> bool:
    """Move ``entity`` ``row_id`` to ``to`` if it is in ``expected``; record the event.
    ``run_id``: the run the row belongs to (None for a backfill)."""
    candidates = [expected] if isinstance(expected, StrEnum) else list(expected)
    _check_allowed(entity, candidates, to, action)
    if len(candidates) == 1:
        current: str | None = candidates[0]
        if _update(u, entity, row_id, current, to, values or {}) != 1:
            return False
    else:
        current = _move_from_any(u, entity, row_id, candidates, to, values or {})
        if current is None:
            return False
    if entity == "step":
        step_run_id = row_id
    elif entity == "attempt":
        attempt_id = row_id
    u.add_event(
        run_id=run_id,
        step_run_id=step_run_id,
        attempt_id=attempt_id,
        backfill_id=row_id if entity == "backfill" else None,
        entity=entity,
        from_status=str(current),
        to_status=str(to),
        action=action,
        message=message,
    )
    return True


def created(
    u: Unit,
    entity: Entity,
    row_id: int,
    status: Status,
    *,
    run_id: int | None,
    step_run_id: int | None = None,
    action: str | None = None,
    message: str | None = None,
    record: bool = True,
) -> None:
    """Record a row's first status: the event that starts its history (a run, a foreach
    iteration, an attempt, a backfill), as ``transition`` records every later one.
    ``record``: keep it in ``Unit.changes`` too (see ``Unit.add_event``)."""
    u.add_event(
        record=record,
        run_id=run_id,
        step_run_id=step_run_id if entity != "step" else row_id,
        attempt_id=row_id if entity == "attempt" else None,
        backfill_id=row_id if entity == "backfill" else None,
        entity=entity,
        to_status=str(status),
        action=action,
        message=message,
    )


def _created_steps_statement() -> Any:
    s, e = tables.step_runs, tables.events
    reused = s.c.ended_at.is_not(None)
    rows = (
        select(
            s.c.run_id,
            s.c.id,
            literal("step"),
            s.c.status,
            case((reused, literal("reuse")), else_=null()),
            bindparam("p_actor", type_=e.c.actor.type),
            case((reused, bindparam("p_message", type_=e.c.message.type)), else_=null()),
            bindparam("p_now", type_=e.c.at.type),
        )
        .where(s.c.run_id == bindparam("p_run"))
        .order_by(s.c.position)
    )
    columns = ["run_id", "step_run_id", "entity", "to_status", "action", "actor", "message", "at"]
    return insert(e).from_select(columns, rows)


#: built once: a run start executes it, and building it cost more than running it
_CREATED_STEPS = _created_steps_statement()


def created_steps(u: Unit, run_id: int, *, reused_from: int | None = None) -> None:
    """Record the first status of every step row of a run that just started, in one
    INSERT … SELECT (a 1,000-step run writes no 1,000 events from Python): PENDING, or the
    status a restart reused from run ``reused_from`` (those rows already have an end)."""
    u.flush()  # the events before these keep their order
    message = f"result reused from run {reused_from}" if reused_from is not None else None
    direct.execute(
        u.conn,
        _CREATED_STEPS,
        {"p_run": run_id, "p_actor": u.actor, "p_message": message, "p_now": u.now},
    )


def _move_from_any(
    u: Unit,
    entity: Entity,
    row_id: int,
    candidates: Sequence[Status],
    to: Status,
    values: Mapping[str, Any],
) -> str | None:
    """Move the row to ``to`` if its status is one of ``candidates``; the status it had, or
    None when it had another one.

    PostgreSQL: one statement — the old status comes back from a locked read of the same row
    in the UPDATE's FROM (a row another transaction is changing is waited for, then re-read).
    SQLite cannot return a FROM column, but has one writer at a time: read, then update."""
    sources = [str(c) for c in candidates]
    table = _TABLES[entity]
    if u.conn.dialect.name == "sqlite":
        current = direct.execute(u.conn, _status_of(entity), {"p_id": row_id}).scalar()
        if current not in sources:
            return None
        return str(current) if _update(u, entity, row_id, current, to, values) == 1 else None
    old = (
        select(table.c.id, table.c.status.label("old_status"))
        .where(table.c.id == row_id)
        .with_for_update()
        .subquery("old")
    )
    previous = u.conn.execute(
        update(table)
        .where(table.c.id == old.c.id, table.c.id == row_id, old.c.old_status.in_(sources))
        .values(status=to, **values)
        .returning(old.c.old_status)
    ).scalar()
    return None if previous is None else str(previous)


def transition_many(
    u: Unit,
    entity: Entity,
    changes: Sequence[tuple[int, Mapping[str, Any]]],
    to: Status,
    expected: Status,
    *,
    run_id: int,
    action: str | None = None,
    message: str | None = None,
) -> None:
    """Move several rows, all in ``expected``, to ``to`` in one round trip.

    For rows the caller owns in this transaction (steps it just found ready): every row must
    move, or ``ConcurrentChange`` rolls the whole unit back. Every change needs the same keys.
    """
    if len(changes) == 1:
        row_id, values = changes[0]
        if not transition(
            u,
            entity,
            row_id,
            to,
            expected,
            run_id=run_id,
            values=values,
            action=action,
            message=message,
        ):
            raise ConcurrentChange(f"{entity} {row_id} was not {expected}")
        return
    _check_allowed(entity, [expected], to, action)
    keys = tuple(sorted(changes[0][1])) if changes else ()
    params = []
    for row_id, values in changes:
        params.append(
            {
                "p_id": row_id,
                "p_expected": str(expected),
                "p_to": str(to),
                **{f"v_{k}": values[k] for k in keys},
            }
        )
    if not params:
        return
    moved = direct.execute(u.conn, _cached_update(entity, keys), params).rowcount
    if moved != len(params):
        raise ConcurrentChange(
            f"{len(params) - moved} of {len(params)} {entity} rows were not {expected}"
        )
    for row_id, _values in changes:
        u.add_event(
            run_id=run_id,
            step_run_id=row_id if entity == "step" else None,
            attempt_id=row_id if entity == "attempt" else None,
            entity=entity,
            from_status=str(expected),
            to_status=str(to),
            action=action,
            message=message,
        )


def _update(
    u: Unit, entity: Entity, row_id: int, current: str | None, to: Status, values: Mapping[str, Any]
) -> int:
    """Run the conditional UPDATE; the number of rows it moved (0 or 1)."""
    statement, params = _update_statement(entity, row_id, current, to, values)
    if params:  # the cached statement: run directly
        return direct.execute(u.conn, statement, params).rowcount
    return u.conn.execute(statement).rowcount


@functools.cache
def _status_of(entity: Entity) -> Any:
    table = _TABLES[entity]
    return select(table.c.status).where(table.c.id == bindparam("p_id"))


def _update_statement(
    entity: Entity, row_id: int, current: str | None, to: Status, values: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The conditional UPDATE and its parameters; plain-valued updates reuse a cached,
    pre-built statement (building SQLAlchemy statements dominated the hot path)."""
    if any(isinstance(v, ClauseElement) for v in values.values()):
        table = _TABLES[entity]
        stmt = (
            update(table)
            .where(table.c.id == row_id, table.c.status == current)
            .values(status=to, **values)
        )
        return stmt, {}
    params = {f"v_{k}": v for k, v in values.items()}
    params.update(p_id=row_id, p_expected=current, p_to=str(to))
    return _cached_update(entity, tuple(sorted(values))), params


@functools.lru_cache(maxsize=256)
def _cached_update(entity: Entity, keys: tuple[str, ...]) -> Any:
    table = _TABLES[entity]
    return (
        update(table)
        .where(table.c.id == bindparam("p_id"), table.c.status == bindparam("p_expected"))
        .values(
            status=bindparam("p_to"),
            **{k: bindparam(f"v_{k}", type_=table.c[k].type) for k in keys},
        )
    )


_ACTION_RULES: Mapping[str, frozenset[StepStatus]] = {
    str(k): v for k, v in STEP_ACTION_TRANSITIONS.items()
}


def _check_allowed(
    entity: Entity, candidates: list[Status], to: Status, action: str | None
) -> None:
    rules = _RULES[entity]
    for source in candidates:
        if to in rules[source]:
            continue
        if action and entity == "step" and to in _ACTION_RULES.get(str(source), ()):
            continue
        raise InvalidTransition(f"{entity} status {source} → {to} is not allowed")


def check_allowed(entity: Entity, expected: Status, to: Status) -> None:
    """Raise ``InvalidTransition`` unless the state tables allow ``expected`` → ``to`` (for
    the fused statements of ``maestro.store.handoff``, which move rows themselves)."""
    _check_allowed(entity, [expected], to, None)
