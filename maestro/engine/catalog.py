"""What users do to workflows as a whole: submit a definition, delete a workflow, unblock a
strict_sequential workflow — the use cases the REST API (and any other front end) calls, with
their checks, in one place."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from maestro import reads
from maestro.connections import ConnectionLookupError, resolve
from maestro.definition import Step, WorkflowDefinition
from maestro.definition.alerts import AlertRule
from maestro.engine import actions, audit
from maestro.engine.core import Engine
from maestro.engine.workflows import Submitted, submit
from maestro.errors import Conflict, DefinitionError, Loc, NotFound, Problem
from maestro.reads.workflows import unknown_workflow
from maestro.settings import Settings
from maestro.store import tables
from maestro.store import workflows as workflow_rows

W = tables.workflows
#: passes when the caller may act for an owner, raises otherwise (the API's owner check)
OwnerCheck = Callable[[str], None]


@dataclass(frozen=True)
class SubmittedWorkflow(Submitted):
    active_version: int = 0


def submit_definition(
    eng: Engine,
    definition: WorkflowDefinition,
    actor: str,
    may_act_for: OwnerCheck,
    *,
    activate: bool = True,
    source: str = "api",
) -> SubmittedWorkflow:
    """A new version of ``definition`` unless it equals the latest. The caller must act for the
    definition's owner and, when the workflow exists, for its current owner: nobody takes
    over another owner's workflow by submitting it under their own name."""
    may_act_for(definition.owner)
    check_alert_connections(eng, definition)
    with eng.unit(actor=actor) as u:
        current = u.conn.execute(select(W.c.owner).where(W.c.id == definition.id)).scalar()
        if current is not None:
            may_act_for(current)
        submitted = submit(u, definition, source=source, activate=activate)
        active = u.conn.execute(select(W.c.active_version).where(W.c.id == definition.id))
        active_version: int = active.scalar_one()
    eng.versions.put(definition.id, submitted.version, definition)
    return SubmittedWorkflow(**vars(submitted), active_version=active_version)


def delete_workflow(eng: Engine, workflow_id: str, actor: str, *, force: bool = False) -> None:
    """Delete a workflow with its versions and runs. ``Conflict`` while runs are queued,
    running or paused, unless ``force``, which stops them first (and tries again a few times
    if new ones keep starting)."""
    for _ in range(3):
        if force:
            _stop_all(eng, workflow_id, actor)
        with eng.unit(actor=actor) as u:
            locked = u.conn.execute(
                select(W.c.id).where(W.c.id == workflow_id).with_for_update()
            ).first()
            if locked is None:
                raise unknown_workflow(u.conn, workflow_id)
            active = reads.active_runs(u.conn, workflow_id)
            if not active:
                workflow_rows.delete_workflow(u.conn, workflow_id)
                audit.workflow_event(u, workflow_id, "delete", "with its versions and runs")
                return
        if not force:
            raise Conflict(
                f"workflow {workflow_id!r} has {len(active)} active run(s) (QUEUED, RUNNING "
                f"or PAUSED), e.g. run {active[0]}: stop them or pass force=true"
            )
    raise Conflict(f"workflow {workflow_id!r} keeps starting runs; pause it and try again")


def _stop_all(eng: Engine, workflow_id: str, actor: str) -> None:
    with eng.db.read() as conn:
        active = reads.active_runs(conn, workflow_id)
    for run_id in active:
        with contextlib.suppress(Conflict, NotFound):  # it ended (or went) meanwhile
            actions.stop_run(eng, run_id, actor)


def unblock(eng: Engine, workflow_id: str, actor: str) -> int:
    """Release a strict_sequential workflow blocked by a FAILED run (which stays FAILED);
    returns that run's id. Conflict when the workflow is not blocked."""
    with eng.unit(actor=actor) as u:
        row = u.conn.execute(
            select(W.c.blocked_by_run_id).where(W.c.id == workflow_id).with_for_update()
        ).first()
        if row is None:
            raise unknown_workflow(u.conn, workflow_id)
        if row.blocked_by_run_id is None:
            raise Conflict(f"workflow {workflow_id!r} is not blocked")
        blocker = int(row.blocked_by_run_id)
        workflow_rows.unblock(u.conn, workflow_id)
        u.add_event(
            run_id=blocker, entity="run", action="unblock", message=f"workflow unblocked by {actor}"
        )
        audit.workflow_event(u, workflow_id, "unblock", f"run {blocker} no longer holds it")
        u.wake_scheduler = True  # the queue moves again
        return blocker


def check_alert_connections(eng: Engine, definition: WorkflowDefinition) -> None:
    """A definition whose alert names a connection this process cannot resolve is refused
    (``DefinitionError`` with the path), unless ``alert_check_connections`` is off."""
    problems = alert_connection_problems(eng.settings, definition)
    if problems:
        raise DefinitionError(problems, definition.id)


def alert_connection_problems(settings: Settings, definition: WorkflowDefinition) -> list[Problem]:
    """The alerts' connections ``settings`` cannot resolve, each with its path (none when
    ``alert_check_connections`` is off): what a submit refuses, and ``maestro validate``
    reports."""
    if not settings.alert_check_connections:
        return []
    problems = []
    for loc, rule in _alert_rules(definition.alerts, definition.steps, ()):
        name = rule.connection
        if name is None:
            continue
        try:
            resolve(
                name,
                connections_file=settings.connections_file,
                project_dir=settings.project_dir,
            )
        except ConnectionLookupError as exc:
            problems.append(Problem((*loc, rule.channel, "connection"), str(exc)))
    return problems


def _alert_rules(
    alerts: Sequence[AlertRule], steps: Sequence[Step], loc: Loc
) -> Iterator[tuple[Loc, AlertRule]]:
    """Every alert rule of a definition with its path, foreach bodies included."""
    for i, rule in enumerate(alerts):
        yield (*loc, "alerts", i), rule
    for s, step in enumerate(steps):
        yield from _alert_rules(step.alerts, [], (*loc, "steps", s))
        if step.foreach is not None:
            yield from _alert_rules([], step.foreach.steps, (*loc, "steps", s, "foreach"))
