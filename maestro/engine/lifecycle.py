"""What else must happen, in the same unit of work, when a run ends.

One place for the consequences of a run's end that are not about its own steps: the run
strategy's queue (admit the next run, block a strict_sequential workflow), and the parent of
a child run (a foreach iteration or a subworkflow: a ``ChildRunEnded`` follow-up). Called on
every terminal path of a run.
"""

from __future__ import annotations

from maestro.engine import strategies
from maestro.engine.followups import ChildRunEnded
from maestro.states import RunStatus
from maestro.store.records import RunRow, load_run
from maestro.store.transitions import transition
from maestro.store.unit import Unit


def run_ended(u: Unit, run: RunRow, status: RunStatus) -> None:
    """``run`` has just moved to the terminal ``status`` in this unit of work."""
    # The scheduler admits queued runs of this workflow on its next pass (a child run —
    # an iteration, a subworkflow — is started by its parent step, never admitted).
    if run.parent_run_id is None:
        u.wake_scheduler = True
    strategies.on_run_ended(u, run, status)
    if run.parent_step_run_id is not None:
        u.followups.append(ChildRunEnded(run, status))


def stop_unstarted(u: Unit, run_id: int, why: str, action: str) -> bool:
    """End a QUEUED run STOPPED before it started (it has no steps yet)."""
    if not transition(
        u,
        "run",
        run_id,
        RunStatus.STOPPED,
        RunStatus.QUEUED,
        run_id=run_id,
        values={"ended_at": u.now, "error": why},
        action=action,
        message=why,
    ):
        return False
    run_ended(u, load_run(u.conn, run_id), RunStatus.STOPPED)
    return True
