"""What foreach and while steps share: the parent a child run is decided in, the row of an
iteration (a child run over the step's body), and the step's wait for its children."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maestro.engine.compiled import CompiledWorkflow
from maestro.engine.followups import Wait
from maestro.states import RunStatus, StepStatus, WaitingFor
from maestro.store.records import RunRow, StepRow
from maestro.store.transitions import transition
from maestro.store.unit import Unit

WAITING_FOR_CHILDREN = WaitingFor.children


@dataclass(frozen=True)
class Parent:
    """What a child run's parent step needs to be decided: the run, its workflow, the step."""

    u: Unit
    run: RunRow
    compiled: CompiledWorkflow
    context: Mapping[str, Any]


def wait_for_children(parent: Parent, step: StepRow, total: int, started: int) -> Wait:
    transition(
        parent.u,
        "step",
        step.id,
        StepStatus.WAITING,
        StepStatus.PENDING,
        run_id=parent.run.id,
        values={
            "waiting_for": WAITING_FOR_CHILDREN,
            "children_total": total,
            "children_started": started,
            "started_at": parent.u.now,
        },
    )
    return Wait()


def outer_names(run: RunRow) -> dict[str, Any]:
    """The loop names an iteration created inside ``run`` inherits: ``run``'s own (it may be
    an iteration itself) over those it inherited."""
    outer = dict((run.scope or {}).get("outer", {}))
    if run.scope and "var" in run.scope:
        outer[run.scope["var"]] = run.scope["item"]
    outer.update((run.scope or {}).get("vars", {}))
    return outer


def iteration_row(
    parent: Parent, step: StepRow, body: str | None, root: int, i: int, scope: dict[str, Any]
) -> dict[str, Any]:
    """The row of iteration ``i`` of ``step`` (QUEUED), with what it adds to the scope."""
    run = parent.run
    return {
        "workflow_id": run.workflow_id,
        "number": i,
        "version": run.version,
        "status": RunStatus.QUEUED.value,
        "params": run.params,
        "trigger": run.trigger,
        "logical_date": run.logical_date,
        "parent_run_id": run.id,
        "root_run_id": root,
        "parent_step_run_id": step.id,
        "iteration": i,
        "body": body,
        "scope": {**scope, "signal": (run.scope or {}).get("signal", {})},
        "max_active_steps": run.max_active_steps,
        "created_at": parent.u.now,
    }
