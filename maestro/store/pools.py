"""The pools table: slots counted by conditional UPDATEs, and a pool's waiting steps.

Taking a slot is ``UPDATE … SET used = used + 1 WHERE used < slots``: two units can never
hand out more slots than there are. What a freed slot means for waiting steps is the
engine's business (``maestro.engine.settle``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, literal_column, select, update

from maestro.states import StepStatus, WaitingFor
from maestro.store import tables
from maestro.store.records import STEP_COLUMNS, StepRow
from maestro.store.tables import status_is
from maestro.store.unit import Unit

P, S = tables.pools, tables.step_runs

#: inlined literals, so that the partial index ix_step_runs_pool_waiting serves the query
POOL_WAITING = (
    status_is(S.c.status, StepStatus.WAITING),
    S.c.waiting_for == literal_column(f"'{WaitingFor.pool}'"),
)

_TAKE = (
    update(P).where(P.c.name == bindparam("p_name"), P.c.used < P.c.slots).values(used=P.c.used + 1)
)
_GIVE_BACK = (
    update(P).where(P.c.name == bindparam("p_name"), P.c.used > 0).values(used=P.c.used - 1)
)
_NEXT_WAITER = (
    select(*STEP_COLUMNS)
    .where(
        S.c.pool == bindparam("p_name"),
        status_is(S.c.status, StepStatus.WAITING),
        S.c.waiting_for == WaitingFor.pool,
    )
    .order_by(S.c.priority.desc(), S.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)


def exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(P.c.name).where(P.c.name == name)).first() is not None


def take(u: Unit, name: str) -> bool:
    """Take a slot of pool ``name``; False when it is full (or does not exist)."""
    return bool(u.conn.execute(_TAKE, {"p_name": name}).rowcount)


def give_back(u: Unit, name: str) -> None:
    u.conn.execute(_GIVE_BACK, {"p_name": name})


def free_slots(conn: Connection, name: str) -> int:
    free = conn.execute(select(P.c.slots - P.c.used).where(P.c.name == name)).scalar()
    return int(free or 0)


def next_waiter(u: Unit, name: str) -> StepRow | None:
    """The highest-priority step waiting for the pool, locked (others skip it)."""
    row = u.conn.execute(_NEXT_WAITER, {"p_name": name}).first()
    return StepRow.of(row) if row is not None else None


def pools_with_waiters(conn: Connection) -> list[str]:
    """Pools that have waiting steps and free slots (after a resize, a crash)."""
    waited_for = list(conn.execute(select(S.c.pool).where(*POOL_WAITING).distinct()).scalars())
    return [name for name in waited_for if free_slots(conn, name) > 0]


def put(u: Unit, name: str, slots: int) -> None:
    """Create pool ``name`` or change its size."""
    if exists(u.conn, name):
        u.conn.execute(update(P).where(P.c.name == name).values(slots=slots, updated_at=u.now))
    else:
        u.conn.execute(insert(P).values(name=name, slots=slots, used=0, updated_at=u.now))


def all_pools(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(P.c.name, P.c.slots, P.c.used, P.c.updated_at).order_by(P.c.name)
    ).all()
    return [
        {"name": r.name, "slots": r.slots, "used": r.used, "updated_at": r.updated_at} for r in rows
    ]
