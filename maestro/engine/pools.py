"""Slot pools: a step with ``pool:`` holds one of the pool's slots while QUEUED or RUNNING.

The pool row counts the slots in use; taking one is a conditional UPDATE (``used < slots``),
so two units can never hand out more slots than there are. A step that finds its pool full
WAITs (``waiting_for = pool``); every terminal path of a step that held a slot (success,
failure, timeout, LOST, stop, the run's end) gives it back and lets the highest-priority
waiting step of that pool in — from any run, in the same unit of work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, literal_column, select, update

from maestro.engine.records import STEP_COLUMNS, StepRow, load_run
from maestro.errors import NotFound
from maestro.states import RUN_ACTIVE, StepStatus, WaitingFor
from maestro.store import tables
from maestro.store.tables import status_is
from maestro.store.unit import Unit

if TYPE_CHECKING:
    from maestro.engine.compiled import VersionCache
    from maestro.engine.core import Engine

P, S = tables.pools, tables.step_runs
WAITING_FOR_POOL = WaitingFor.pool

#: inlined literals, so that the partial index ix_step_runs_pool_waiting serves the query
_POOL_WAITING = (
    status_is(S.c.status, StepStatus.WAITING),
    S.c.waiting_for == literal_column(f"'{WAITING_FOR_POOL}'"),
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
        S.c.waiting_for == WAITING_FOR_POOL,
    )
    .order_by(S.c.priority.desc(), S.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)


def exists(u: Unit, name: str) -> bool:
    return u.conn.execute(select(P.c.name).where(P.c.name == name)).first() is not None


def take(u: Unit, name: str) -> bool:
    """Take a slot of pool ``name``; False when it is full."""
    return bool(u.conn.execute(_TAKE, {"p_name": name}).rowcount)


def give_back(u: Unit, versions: VersionCache | None, name: str) -> None:
    """Return a slot and let the next waiting step of the pool in."""
    u.conn.execute(_GIVE_BACK, {"p_name": name})
    if versions is not None:
        _let_one_in(u, versions, name)


def set_slots(eng: Engine, name: str, slots: int, actor: str) -> None:
    """Create pool ``name`` or change its size; waiting steps are let in if it grew."""
    with eng.unit(actor=actor) as u:
        if exists(u, name):
            u.conn.execute(update(P).where(P.c.name == name).values(slots=slots, updated_at=u.now))
        else:
            u.conn.execute(insert(P).values(name=name, slots=slots, used=0, updated_at=u.now))
        let_in(u, eng.versions, name)


def let_in(u: Unit, versions: VersionCache, name: str) -> None:
    """Let waiting steps of the pool in while it has free slots, highest priority first."""
    while True:
        free = u.conn.execute(select(P.c.slots - P.c.used).where(P.c.name == name)).scalar()
        if not free or free <= 0 or not _let_one_in(u, versions, name):
            return


def wake_all(eng: Engine) -> None:
    """Scheduler pass: pools with free slots and waiting steps (after a resize, a crash)."""
    with eng.db.read() as conn:
        waited_for = list(conn.execute(select(S.c.pool).where(*_POOL_WAITING).distinct()).scalars())
        names = [
            name
            for name in waited_for
            if (conn.execute(select(P.c.slots - P.c.used).where(P.c.name == name)).scalar() or 0)
            > 0
        ]
    for name in names:
        with eng.unit() as u:
            let_in(u, eng.versions, name)


def _let_one_in(u: Unit, versions: VersionCache, name: str) -> bool:
    from maestro.engine.advance import RunAdvance

    row = u.conn.execute(_NEXT_WAITER, {"p_name": name}).first()
    if row is None:
        return False
    step = StepRow.of(row)
    run = load_run(u.conn, step.run_id)
    if run.status not in RUN_ACTIVE:
        return False
    compiled = versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    RunAdvance(u, run, compiled).queue(step, StepStatus.WAITING)
    return True


def list_pools(eng: Engine) -> list[dict[str, object]]:
    with eng.db.read() as conn:
        rows = conn.execute(
            select(P.c.name, P.c.slots, P.c.used, P.c.updated_at).order_by(P.c.name)
        ).all()
    return [
        {"name": r.name, "slots": r.slots, "used": r.used, "updated_at": r.updated_at} for r in rows
    ]


def get_pool(eng: Engine, name: str) -> dict[str, object]:
    for pool in list_pools(eng):
        if pool["name"] == name:
            return pool
    raise NotFound(f"pool {name!r} does not exist")
