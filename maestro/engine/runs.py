"""Creating and starting runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from maestro import expressions
from maestro.definition import resolve_params
from maestro.engine.advance import RunAdvance
from maestro.engine.compiled import CompiledWorkflow, VersionCache
from maestro.engine.records import STEP_COLUMNS, StepRow, load_run
from maestro.engine.strategies import refused_at_creation
from maestro.errors import NotFound
from maestro.states import STEP_FAILED, RunStatus, StepStatus
from maestro.store import tables
from maestro.store.transitions import created, transition
from maestro.store.unit import Unit

W, R, S = tables.workflows, tables.runs, tables.step_runs

TRIGGERS = ("manual", "cron", "signal", "backfill", "subworkflow", "restart")


def create_run(
    u: Unit,
    versions: VersionCache,
    workflow_id: str,
    *,
    version: int | None = None,
    params: Mapping[str, Any] | None = None,
    trigger_params: Mapping[str, Any] | None = None,
    trigger: str = "manual",
    logical_date: datetime | None = None,
    restarted_from: int | None = None,
    idempotency_key: str | None = None,
    parent_run_id: int | None = None,
    parent_step_run_id: int | None = None,
    backfill_id: int | None = None,
    signal: Mapping[str, Any] | None = None,
) -> int:
    """Insert a QUEUED run of ``workflow_id`` (its active version unless told) and return its id.

    Params are merged (definition defaults → trigger params → given params) and coerced; an
    unknown or ill-typed param raises ``ParamError`` and nothing is written. Under the
    ``first_only`` run strategy a regular run created while another is open ends STOPPED at
    once (starting it then does nothing).
    """
    wf = u.conn.execute(
        select(W.c.active_version, W.c.run_counter).where(W.c.id == workflow_id).with_for_update()
    ).first()
    if wf is None:
        raise NotFound(f"workflow {workflow_id!r} does not exist")
    version = version or wf.active_version
    compiled = versions.get(u.conn, workflow_id, version)
    number = wf.run_counter + 1
    logical = logical_date or u.now
    scope = {
        "run": {
            "id": None,
            "number": number,
            "workflow_id": workflow_id,
            "version": version,
            "trigger": trigger,
            "logical_date": logical,
            "started_at": u.now,
        },
        "params": {},
        "steps": {},
        "signal": dict(signal or {}),
    }
    resolved = resolve_params(
        compiled.definition.params,
        [trigger_params or {}, params or {}],
        lambda value: expressions.render(value, scope),
    )
    u.conn.execute(update(W).where(W.c.id == workflow_id).values(run_counter=number))
    run_id: int = u.conn.execute(
        insert(R)
        .values(
            workflow_id=workflow_id,
            number=number,
            version=version,
            status=RunStatus.QUEUED,
            params=resolved,
            trigger=trigger,
            logical_date=logical,
            max_active_steps=compiled.definition.max_active_steps,
            created_at=u.now,
            restarted_from=restarted_from,
            idempotency_key=idempotency_key,
            parent_run_id=parent_run_id,
            parent_step_run_id=parent_step_run_id,
            root_run_id=_root_of(u, parent_run_id),
            backfill_id=backfill_id,
            # a signal-triggered run keeps the payload: its steps see it as `signal`
            scope={"signal": dict(signal)} if signal else None,
        )
        .returning(R.c.id)
    ).scalar_one()
    created(u, "run", run_id, RunStatus.QUEUED, run_id=run_id, message=f"trigger: {trigger}")
    if backfill_id is None and parent_run_id is None:
        strategy = versions.get(u.conn, workflow_id, wf.active_version).definition.run_strategy
        refused = refused_at_creation(u.conn, strategy, workflow_id, run_id)
        if refused:
            RunAdvance(u, load_run(u.conn, run_id), compiled).end_run(
                RunStatus.STOPPED, refused, action="run_strategy"
            )
    return run_id


@dataclass(frozen=True)
class Reused:
    """A step a restarted run does not run again: it keeps the earlier run's result."""

    status: StepStatus
    outputs: dict[str, Any]


def start_run(
    u: Unit, versions: VersionCache, run_id: int, reuse: Mapping[str, Reused] | None = None
) -> bool:
    """QUEUED → RUNNING: create the step rows and hand the ready steps to workers.

    ``reuse`` (restarts): steps that start out with an earlier run's status and outputs.
    """
    reuse = reuse or {}
    run = load_run(u.conn, run_id)
    compiled = versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    total = len(compiled.steps)
    values = {
        "started_at": u.now,
        "timeout_at": u.now + compiled.definition.timeout,
        "steps_total": total,
        "steps_unfinished": total - len(reuse),
        "steps_failed": sum(1 for r in reuse.values() if r.status in STEP_FAILED),
    }
    if not transition(
        u, "run", run_id, RunStatus.RUNNING, RunStatus.QUEUED, run_id=run_id, values=values
    ):
        return False
    _insert_steps(u, run_id, compiled, reuse)
    run = load_run(u.conn, run_id)
    rows = (
        [
            StepRow.of(r)
            for r in u.conn.execute(
                select(*STEP_COLUMNS).where(S.c.run_id == run_id).order_by(S.c.position)
            )
        ]
        if reuse
        else [
            StepRow.of(r)
            for r in u.conn.execute(
                select(*STEP_COLUMNS)
                .where(S.c.run_id == run_id, S.c.up_total == 0)
                .order_by(S.c.position)
            )
        ]
    )
    for row in rows:
        if row.step_id in reuse:
            u.add_event(
                run_id=run_id,
                step_run_id=row.id,
                entity="step",
                to_status=reuse[row.step_id].status.value,
                action="reuse",
                message=f"result reused from run {run.restarted_from}",
            )
    ready = [r for r in rows if r.status is StepStatus.PENDING and r.up_done == r.up_total]
    advance = RunAdvance(u, run, compiled)
    advance.evaluate(ready)
    if not ready and values["steps_unfinished"] == 0:
        advance.complete_if_done()
    u.wake_scheduler = True  # the run's timeout is a new timer
    return True


def _insert_steps(
    u: Unit, run_id: int, compiled: CompiledWorkflow, reuse: Mapping[str, Reused]
) -> None:
    rows = []
    for step in compiled.definition.steps:
        upstreams = [reuse.get(up) for up in dict.fromkeys(step.depends_on)]
        done = [r.status for r in upstreams if r is not None]
        reused = reuse.get(step.id)
        rows.append(
            {
                "run_id": run_id,
                "step_id": step.id,
                "step_type": step.type.value,
                "position": compiled.positions[step.id],
                "status": reused.status if reused else StepStatus.PENDING,
                "outputs": reused.outputs if reused else None,
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
        )
    u.conn.execute(insert(S), rows)


def _root_of(u: Unit, parent_run_id: int | None) -> int | None:
    """The top-level run of a new child run's tree."""
    if parent_run_id is None:
        return None
    root = u.conn.execute(select(R.c.root_run_id).where(R.c.id == parent_run_id)).scalar()
    return int(root) if root is not None else parent_run_id
