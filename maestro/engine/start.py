"""Starting a run: QUEUED → RUNNING, its step rows inserted, its ready steps handed on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select

from maestro.definition import Step
from maestro.engine import alerting
from maestro.engine.advance import RunAdvance
from maestro.engine.compiled import CompiledWorkflow, VersionCache
from maestro.engine.runs import Reused, reused_steps
from maestro.states import STEP_FAILED, RunStatus, StepStatus
from maestro.store import direct, run_start, tables
from maestro.store import steps as step_rows
from maestro.store.counters import RunCounters
from maestro.store.records import STEP_COLUMNS, RunRow, StepRow, load_run
from maestro.store.transitions import created_steps, transition
from maestro.store.unit import Unit

S = tables.step_runs


_ALL_STEPS = select(*STEP_COLUMNS).where(S.c.run_id == bindparam("p_run")).order_by(S.c.position)


def start_run(u: Unit, versions: VersionCache, run_id: int, run: RunRow | None = None) -> bool:
    """QUEUED → RUNNING: create the step rows and hand the ready steps to workers. ``run``:
    its row, if this unit read it already.

    A restart's reused steps (kept on the run by ``create_run``) start out with the earlier
    run's status and outputs.
    """
    if run is None:
        run = u.new_runs.pop(run_id, None) or load_run(u.conn, run_id)
    reuse = reused_steps(u.conn, run_id) if run.restarted_from is not None else {}
    compiled = versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    total = len(compiled.steps)
    unfinished = total - len(reuse)
    timeout_at = u.now + compiled.definition.timeout
    values = {
        "started_at": u.now,
        "timeout_at": timeout_at,
        "steps_total": total,
        "steps_unfinished": unfinished,
        "steps_failed": sum(1 for r in reuse.values() if r.status in STEP_FAILED),
    }
    rows: list[StepRow] | None = None
    if not reuse and u.conn.dialect.name == "postgresql":
        # the run RUNNING and its step rows in one statement (nothing if it was not QUEUED)
        rows = _new_steps(u, run, compiled, lambda steps: _start_with(u, run_id, timeout_at, steps))
        if rows is None:
            return False
    elif not transition(
        u, "run", run_id, RunStatus.RUNNING, RunStatus.QUEUED, run_id=run_id, values=values
    ):
        return False
    alerting.arm_overdue(u, compiled.definition, run_id, run.workflow_id)
    run = replace(run, status=RunStatus.RUNNING, started_at=u.now)  # as written above
    if reuse:
        _insert_steps(u, run, compiled, reuse)
        # a restart's reused steps may have made any step ready
        rows = [StepRow.of(r) for r in direct.execute(u.conn, _ALL_STEPS, {"p_run": run_id})]
    elif rows is None:
        rows = _new_steps(u, run, compiled, partial(step_rows.insert_steps_returning, u.conn))
        assert rows is not None  # (that INSERT always writes its rows)
    ready = [r for r in rows if r.status is StepStatus.PENDING and r.up_done == r.up_total]
    advance = RunAdvance(u, run, compiled)
    # the run's counters are the ones written above (its row is this unit's until commit)
    advance.know_counters(
        RunCounters(
            run_id,
            RunStatus.RUNNING,
            0,
            run.max_active_steps,
            unfinished,
            0,
        )
    )
    advance.evaluate(ready)
    if not ready and unfinished == 0:
        advance.complete_if_done()
    u.timer(timeout_at)  # the run's timeout is a new timer
    return True


#: up to this many steps, a new run's first events are written from Python with the unit's
#: other events (no statement of their own); a larger run writes them in one INSERT … SELECT
_EVENTS_FROM_PYTHON = 64


def _start_with(
    u: Unit, run_id: int, timeout_at: datetime, steps: list[dict[str, Any]]
) -> list[int] | None:
    """PostgreSQL: the run QUEUED → RUNNING with its new step rows, in one statement; the
    run's event recorded as ``transition`` records it. None: it was not QUEUED."""
    ids = run_start.start_with_steps(u.conn, run_id, u.now, timeout_at, steps)
    if ids is not None:
        u.add_event(
            run_id=run_id,
            entity="run",
            from_status=RunStatus.QUEUED.value,
            to_status=RunStatus.RUNNING.value,
        )
    return ids


def _new_steps(
    u: Unit,
    run: RunRow,
    compiled: CompiledWorkflow,
    insert: Callable[[list[dict[str, Any]]], list[int] | None],
) -> list[StepRow] | None:
    """A new run's step rows, all PENDING, in one statement (``insert``) that returns their
    ids (None: it wrote nothing); their creation events; the root steps (no upstream) as
    rows, without reading them back."""
    steps = sorted(compiled.definition.steps, key=lambda step: compiled.positions[step.id])
    rows = [_step_row(u, run.id, compiled, step, {}) for step in steps]
    ids = insert(rows)
    if ids is None:
        return None
    if len(rows) > _EVENTS_FROM_PYTHON:
        created_steps(u, run.id)
    else:
        for step_run_id in ids:
            u.add_event(
                run_id=run.id,
                step_run_id=step_run_id,
                entity="step",
                to_status=StepStatus.PENDING.value,
                record=False,
            )
    return [
        StepRow(
            id=step_run_id,
            run_id=run.id,
            step_id=step.id,
            status=StepStatus.PENDING,
            attempts=0,
            platform_failures=0,
            current_attempt_id=None,
            priority=step.priority,
            up_total=0,
            up_done=0,
            up_failed=0,
            up_skipped=0,
        )
        for step_run_id, step in zip(ids, steps, strict=True)
        if not step.upstreams
    ]


def _insert_steps(
    u: Unit, run: RunRow, compiled: CompiledWorkflow, reuse: Mapping[str, Reused]
) -> None:
    """A restart's step rows, in one statement, each with its creation event: PENDING, or
    the status the restart reuses."""
    rows = [_step_row(u, run.id, compiled, step, reuse) for step in compiled.definition.steps]
    step_rows.insert_steps(u.conn, rows)
    created_steps(u, run.id, reused_from=run.restarted_from if reuse else None)


def _step_row(
    u: Unit, run_id: int, compiled: CompiledWorkflow, step: Step, reuse: Mapping[str, Reused]
) -> dict[str, Any]:
    """A step's row as a run starts: PENDING with its upstream counters, or the status and
    result a restart reuses (``reuse``: step id → the earlier run's, empty for a new run)."""
    upstreams = [reuse.get(up) for up in dict.fromkeys(step.upstreams)]
    done = [r.status for r in upstreams if r is not None]
    reused = reuse.get(step.id)
    return {
        "run_id": run_id,
        "step_id": step.id,
        "step_type": step.type.value,
        "position": compiled.positions[step.id],
        "status": reused.status if reused else StepStatus.PENDING,
        "outputs": reused.outputs if reused else None,
        "params": reused.params if reused else None,
        "ended_at": u.now if reused else None,
        "priority": step.priority,
        "pool": step.pool,
        "up_total": len(upstreams),
        "up_done": len(done),
        "up_failed": sum(1 for status in done if status in STEP_FAILED),
        "up_skipped": sum(1 for status in done if status is StepStatus.SKIPPED),
        "attempts": 0,
        "platform_failures": 0,
        "created_at": u.now,
    }
