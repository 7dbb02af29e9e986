"""What else must happen, in the same unit of work, when a run ends.

One place for the consequences of a run's end that are not about its own steps: the run
strategy's queue (admit the next run, block a strict_sequential workflow), and the parent of
a child run (a foreach iteration or a subworkflow). Called on every terminal path of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from maestro.engine import strategies
from maestro.engine.records import RunRow
from maestro.states import RunStatus
from maestro.store.unit import Unit

if TYPE_CHECKING:
    from maestro.engine.compiled import CompiledWorkflow


def run_ended(u: Unit, run: RunRow, status: RunStatus, compiled: CompiledWorkflow) -> None:
    """``run`` has just moved to the terminal ``status`` in this unit of work."""
    from maestro.engine import children

    # The scheduler admits queued runs of this workflow on its next pass.
    u.wake_scheduler = True
    strategies.on_run_ended(u, run, status)
    if run.parent_step_run_id is not None:
        children.child_ended(u, compiled.cache, run, status)
