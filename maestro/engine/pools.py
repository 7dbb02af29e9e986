"""Slot pools, as operators manage them: create or resize a pool, list pools, and the
scheduler's pass that lets waiting steps into pools with free slots.

A step with ``pool:`` holds one of the pool's slots while QUEUED or RUNNING. The counting is
the store's (``maestro.store.pools``: conditional UPDATEs, never more slots handed out than
there are); the run advance takes a slot when it queues such a step and gives it back on
every terminal path (success, failure, timeout, LOST, stop, the run's end), and the freed
slot lets the highest-priority waiting step of the pool in — from any run, in the same unit
of work (``maestro.engine.settle``).
"""

from __future__ import annotations

from typing import Any

from maestro.engine.core import Engine
from maestro.engine.settle import let_into_pool
from maestro.errors import NotFound
from maestro.store import pools as pool_rows


def set_slots(eng: Engine, name: str, slots: int, actor: str) -> None:
    """Create pool ``name`` or change its size; waiting steps are let in if it grew."""
    with eng.unit(actor=actor) as u:
        pool_rows.put(u, name, slots)
        let_into_pool(u, eng.versions, name)


def wake_all(eng: Engine) -> None:
    """Scheduler pass: pools with free slots and waiting steps (after a resize, a crash)."""
    with eng.db.read() as conn:
        names = pool_rows.pools_with_waiters(conn)
    for name in names:
        with eng.unit() as u:
            let_into_pool(u, eng.versions, name)


def list_pools(eng: Engine) -> list[dict[str, Any]]:
    with eng.db.read() as conn:
        return pool_rows.all_pools(conn)


def get_pool(eng: Engine, name: str) -> dict[str, Any]:
    for pool in list_pools(eng):
        if pool["name"] == name:
            return pool
    raise NotFound(f"pool {name!r} does not exist")
