"""Creating runs: a QUEUED row with its params resolved (starting one: ``maestro.engine.start``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from maestro import expressions
from maestro.definition import resolve_params
from maestro.engine import alerting
from maestro.engine.compiled import VersionCache
from maestro.engine.lifecycle import stop_unstarted
from maestro.engine.strategies import refused_at_creation
from maestro.errors import InvalidRequest
from maestro.reads.workflows import unknown_workflow
from maestro.states import RunStatus, StepStatus
from maestro.store import runs as run_rows
from maestro.store import tables
from maestro.store.transitions import created
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
    reuse: Mapping[str, Reused] | None = None,
    pass_undeclared: bool = False,
) -> int:
    """Insert a QUEUED run of ``workflow_id`` (its active version unless told) and return its id.
    A version the workflow does not have (yet) raises ``InvalidRequest``.

    Params are merged (definition defaults → trigger params → given params) and coerced; an
    unknown or ill-typed param raises ``ParamError`` and nothing is written. Under the
    ``first_only`` run strategy a regular run created while another is open ends STOPPED at
    once (starting it then does nothing). ``reuse`` (restarts): steps that start out with
    an earlier run's status and outputs, whenever the run strategy starts the run.
    """
    # the workflow's run counter moves (and its row is locked) in one statement: a run that
    # cannot be created rolls it back with the rest of the unit
    wf = run_rows.next_run_number(u.conn, workflow_id)
    if wf is None:
        raise unknown_workflow(u.conn, workflow_id)
    if version is not None and version > wf.latest_version:
        raise InvalidRequest(
            f"workflow {workflow_id!r} has no version {version} (latest: {wf.latest_version})"
        )
    u.counted_workflows[workflow_id] = wf
    version = version or wf.active_version
    compiled = versions.get(u.conn, workflow_id, version)
    number = wf.run_counter
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
    given = dict(params or {})
    undeclared = {}  # passed as given, untyped (a subworkflow step's ``pass_undeclared``)
    if pass_undeclared:
        declared = compiled.definition.params
        undeclared = {k: given.pop(k) for k in list(given) if k not in declared}
    resolved = resolve_params(
        compiled.definition.params,
        [trigger_params or {}, given],
        lambda value: expressions.render(value, scope),
    )
    resolved = {**undeclared, **resolved}
    row = run_rows.insert_run(
        u.conn,
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
        root_run_id=run_rows.root_of(u.conn, parent_run_id) if parent_run_id else None,
        backfill_id=backfill_id,
        # a signal-triggered run keeps the payload: its steps see it as `signal`
        scope={"signal": dict(signal)} if signal else None,
        reuse={sid: r.as_json() for sid, r in reuse.items()} if reuse else None,
    )
    run_id = row.id
    created(u, "run", run_id, RunStatus.QUEUED, run_id=run_id, message=f"trigger: {trigger}")
    alerting.arm_deadlines(u, compiled.definition, run_id, workflow_id, logical)
    if backfill_id is None and parent_run_id is None:
        strategy = versions.get(u.conn, workflow_id, wf.active_version).definition.run_strategy
        refused = refused_at_creation(u.conn, strategy, workflow_id, run_id)
        if refused:
            stop_unstarted(u, run_id, refused, action="run_strategy")
            return run_id
    u.new_runs[run_id] = row
    return run_id


@dataclass(frozen=True)
class Reused:
    """A step a restarted run does not run again: it keeps the earlier run's result."""

    status: StepStatus
    outputs: dict[str, Any]
    #: its step params, as rendered in the earlier run (downstream steps read them)
    params: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        kept = {"status": self.status.value, "outputs": self.outputs}
        return {**kept, "params": self.params} if self.params else kept


def reused_steps(conn: Connection, run_id: int) -> dict[str, Reused]:
    """The steps a restarted run reuses (none for another run)."""
    stored = conn.execute(select(R.c.reuse).where(R.c.id == run_id)).scalar() or {}
    return {
        sid: Reused(StepStatus(r["status"]), r["outputs"], r.get("params"))
        for sid, r in stored.items()
    }
