"""Reopening finished steps of a run that goes on: a retried or skipped step changes what
the steps downstream of it should do, so they go back to PENDING and their upstream counters
are recomputed from their upstreams' statuses (``maestro.engine.actions``: retry, skip)."""

from __future__ import annotations

from maestro.engine.advance import RunAdvance
from maestro.errors import Conflict
from maestro.states import STEP_FAILED, STEP_TERMINAL, StepStatus
from maestro.store import steps as step_rows
from maestro.store.records import StepRow
from maestro.store.transitions import transition


def reopen_downstream(advance: RunAdvance, step_id: str) -> list[str]:
    """Put every finished step downstream of ``step_id`` back to PENDING (a retried or
    skipped step changes what they should do). Refused while one of them is under way."""
    closure = advance.compiled.descendants(step_id)
    if not closure:
        return []
    rows = step_rows.of_run(advance.u.conn, advance.run.id, step_ids=closure)
    busy = [r for r in rows if r.status not in STEP_TERMINAL and r.status is not StepStatus.PENDING]
    if busy:
        raise Conflict(
            f"step {busy[0].step_id!r} downstream of {step_id!r} is {busy[0].status}: "
            "stop it or wait for it to end first"
        )
    reset = {"ended_at": None, "started_at": None, "outputs": None, "error": None}
    for row in rows:
        if row.status in STEP_TERMINAL:
            transition(
                advance.u,
                "step",
                row.id,
                StepStatus.PENDING,
                row.status,
                run_id=advance.run.id,
                values=reset,
                action="reopen",
                message=f"downstream of {step_id!r}",
            )
            advance.counters.d_unfinished += 1
            advance.counters.d_failed -= 1 if row.status in STEP_FAILED else 0
    return closure


def recount_upstreams(advance: RunAdvance, step_ids: list[str]) -> None:
    """Recompute the upstream counters of these steps from their upstreams' statuses, and
    evaluate those whose upstreams have all ended."""
    needed = {up for sid in step_ids for up in advance.compiled.steps[sid].upstreams}
    statuses = step_rows.statuses(advance.u.conn, advance.run.id, needed)
    ready: list[StepRow] = []
    for sid in step_ids:
        done = [
            statuses[up]
            for up in dict.fromkeys(advance.compiled.steps[sid].upstreams)
            if statuses[up] in STEP_TERMINAL
        ]
        step = step_rows.set_upstream_counts(
            advance.u.conn,
            advance.run.id,
            sid,
            done=len(done),
            failed=sum(1 for st in done if st in STEP_FAILED),
            skipped=sum(1 for st in done if st is StepStatus.SKIPPED),
        )
        if step.status is StepStatus.PENDING and step.up_done == step.up_total:
            ready.append(step)
    advance.evaluate(ready)
