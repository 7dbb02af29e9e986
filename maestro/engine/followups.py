"""What one run's change means for other runs, and for the step that decided it.

Deciders below the run advance (children, pools, signal waits, the run lifecycle) never call
back into a ``RunAdvance``. They return a ``StepOutcome`` for the step being decided, or put a
``Followup`` on the unit of work — a consequence for *another* run (a pool slot freed, a child
run ended, a step whose child runs must stop, child runs to start). ``maestro.engine.settle``
applies the follow-ups, in order, before the unit commits: the same transaction, no recursion
between modules, and one place that turns consequences into writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maestro.states import RunStatus, StepStatus
from maestro.store.records import RunRow

# -- a step's outcome, as a decider sees it -----------------------------------------------------


@dataclass(frozen=True)
class Succeed:
    """The step ends SUCCEEDED with these outputs."""

    outputs: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    """The step ends failed (``on_failure`` still applies)."""

    error: str
    status: StepStatus = StepStatus.FAILED


@dataclass(frozen=True)
class Wait:
    """The step waits; its row already says for what."""


StepOutcome = Succeed | Fail | Wait

# -- consequences for other runs -------------------------------------------------------------


@dataclass(frozen=True)
class PoolSlotFreed:
    """A slot of ``pool`` was given back: the next waiting step of the pool may go."""

    pool: str


@dataclass(frozen=True)
class ChildRunEnded:
    """A foreach iteration or subworkflow run ended: its parent step accounts for it."""

    child: RunRow
    status: RunStatus


@dataclass(frozen=True)
class StepStopped:
    """A step that runs other runs ended early: its open child runs are stopped."""

    step_run_id: int


@dataclass(frozen=True)
class StartRuns:
    """QUEUED child runs to start, in this order, on behalf of ``actor`` (None: the unit's)."""

    run_ids: tuple[int, ...]
    actor: str | None = None
    #: their rows, when read in this unit (each start then reads none again); else empty
    rows: tuple[RunRow, ...] = ()


Followup = PoolSlotFreed | ChildRunEnded | StepStopped | StartRuns
