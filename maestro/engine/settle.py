"""The applier of follow-ups: what one run's change means for other runs, carried out in the
same unit of work before it commits (``Engine.unit`` calls ``settle`` last).

Deciders put ``maestro.engine.followups`` items on the unit; this module is the one place that
turns them into run advances: the next step waiting for a freed pool slot goes, a child run's
end is accounted for in its parent step, the open child runs of a stopped step are stopped,
new child runs start. Items are applied in order, and an item may add more (a child that
ends at once ends its parent step, whose run may end, whose parent step…): the loop runs
until none is left.
"""

from __future__ import annotations

from maestro.engine import children
from maestro.engine.advance import RunAdvance, release_waiting
from maestro.engine.compiled import VersionCache
from maestro.engine.followups import ChildRunEnded, Followup, PoolSlotFreed, StartRuns, StepStopped
from maestro.engine.start import start_run
from maestro.states import RunStatus, StepStatus
from maestro.store import pools as pool_rows
from maestro.store.records import load_run
from maestro.store.unit import Unit


def settle(u: Unit, versions: VersionCache) -> None:
    """Apply every follow-up of the unit, and those they add, in order."""
    while u.followups:
        apply(u, versions, u.followups.popleft())


def apply(u: Unit, versions: VersionCache, item: Followup) -> None:
    match item:
        case PoolSlotFreed(pool):
            _let_one_in(u, versions, pool)
        case ChildRunEnded(child, status):
            found = children.child_ended(u, versions, child, status)
            if found is not None:
                parent, compiled, step, outcome = found
                RunAdvance(u, parent, compiled).conclude(step, StepStatus.WAITING, outcome)
        case StepStopped(step_run_id):
            for child_id in children.open_children(u, step_run_id):
                child = load_run(u.conn, child_id)
                compiled = versions.for_run(u.conn, child.workflow_id, child.version, child.body)
                RunAdvance(u, child, compiled).end_run(
                    RunStatus.STOPPED, "its parent step ended", action="stop"
                )
        case StartRuns(run_ids, actor, rows):
            caller, u.actor = u.actor, actor or u.actor
            try:
                for i, run_id in enumerate(run_ids):
                    start_run(u, versions, run_id, rows[i] if rows else None)
            finally:
                u.actor = caller


def let_into_pool(u: Unit, versions: VersionCache, name: str) -> None:
    """Let waiting steps of the pool in while it has free slots, highest priority first."""
    while _let_one_in(u, versions, name):
        pass


def _let_one_in(u: Unit, versions: VersionCache, name: str) -> bool:
    if pool_rows.free_slots(u.conn, name) <= 0:
        return False
    step = pool_rows.next_waiter(u, name)
    return step is not None and release_waiting(u, versions, step)
