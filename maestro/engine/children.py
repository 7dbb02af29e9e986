"""Steps that run other runs: foreach (one child run per item, over the step's body) and
subworkflow (a run of another workflow).

Such a step never reaches a worker. When it may run it creates its child runs and waits
(``WAITING``, ``waiting_for = children``); each child's end is reported here
(``child_ended``, from the run lifecycle hook) in the child's own unit of work. Iterations
are rows: a 10,000-item foreach inserts 10,000 QUEUED runs in one statement and starts them
``concurrency`` at a time, in item order, by a counter on the step — nothing is held in
memory between units.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from maestro import expressions
from maestro.definition import Step, StepType
from maestro.definition.models import MAX_FOREACH_ITEMS
from maestro.engine.compiled import VersionCache
from maestro.engine.records import STEP_COLUMNS, RunRow, StepRow, load_run
from maestro.errors import ExpressionError, MaestroError, NotFound, ParamError
from maestro.states import RUN_ACTIVE, RunStatus, StepStatus, WaitingFor
from maestro.store import tables
from maestro.store.transitions import created, transition
from maestro.store.unit import Unit
from maestro.wording import plural

if TYPE_CHECKING:
    from maestro.engine.advance import RunAdvance

R, S, W, E = tables.runs, tables.step_runs, tables.workflows, tables.events
MAX_ITEMS = MAX_FOREACH_ITEMS


class StepFailed(MaestroError):
    """The step cannot start its child runs."""


WAITING_FOR_CHILDREN = WaitingFor.children


def start(advance: RunAdvance, step: StepRow, spec: Step) -> None:
    """The step may run: create its child runs (or end it at once if there is none)."""
    try:
        if spec.type is StepType.foreach:
            _start_foreach(advance, step, spec)
        else:
            _start_subworkflow(advance, step, spec)
    except (ExpressionError, ParamError, NotFound, StepFailed) as exc:
        advance.fail(step, StepStatus.PENDING, StepStatus.FAILED, str(exc))


def _wait_for_children(advance: RunAdvance, step: StepRow, total: int, started: int) -> None:
    transition(
        advance.u,
        "step",
        step.id,
        StepStatus.WAITING,
        StepStatus.PENDING,
        run_id=advance.run.id,
        values={
            "waiting_for": WAITING_FOR_CHILDREN,
            "children_total": total,
            "children_started": started,
            "started_at": advance.u.now,
        },
    )


# -- foreach ----------------------------------------------------------------------------------


def _items(advance: RunAdvance, spec: Step) -> list[Any]:
    assert spec.foreach is not None
    source = spec.foreach.items
    try:
        if isinstance(source, list):  # a literal YAML list
            items = expressions.render(source, advance.context)
        else:
            items = expressions.evaluate(source, advance.context)
    except ExpressionError as exc:
        raise StepFailed(f"foreach.items: {exc}") from exc
    if not isinstance(items, list | tuple):
        raise StepFailed(f"foreach.items must give a list, not {type(items).__name__}")
    if len(items) > MAX_ITEMS:
        raise StepFailed(f"foreach.items gave {len(items)} items; at most {MAX_ITEMS}")
    return list(items)


def _start_foreach(advance: RunAdvance, step: StepRow, spec: Step) -> None:
    assert spec.foreach is not None
    items = _items(advance, spec)
    if not items:
        advance.finish(
            step, StepStatus.PENDING, StepStatus.SUCCEEDED, outputs={"count": 0, "outputs": []}
        )
        return
    u, run = advance.u, advance.run
    body = advance.compiled.body_of(step.step_id)
    root = u.conn.execute(select(R.c.root_run_id).where(R.c.id == run.id)).scalar() or run.id
    outer = dict((run.scope or {}).get("outer", {}))
    if run.scope and "var" in run.scope:
        outer[run.scope["var"]] = run.scope["item"]
    iterations = u.conn.execute(
        insert(R).returning(R.c.id, sort_by_parameter_order=True),
        [
            {
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
                "body": body.body,
                "scope": {
                    "var": spec.foreach.as_,
                    "item": item,
                    "index": i,
                    "outer": outer,
                    "signal": (run.scope or {}).get("signal", {}),
                },
                "max_active_steps": run.max_active_steps,
                "created_at": u.now,
            }
            for i, item in enumerate(items)
        ],
    ).scalars()
    for i, child_id in enumerate(iterations):
        message = f"iteration {i} of {step.step_id!r} in run {run.id}"
        created(u, "run", child_id, RunStatus.QUEUED, run_id=child_id, message=message)
    u.add_event(
        run_id=run.id,
        step_run_id=step.id,
        entity="step",
        action="foreach",
        message=f"{plural(len(items), 'iteration')}, {spec.foreach.concurrency} at a time",
    )
    _wait_for_children(advance, step, total=len(items), started=0)
    _start_next(u, advance.compiled.cache, step.id, spec.foreach.concurrency)


def _start_next(u: Unit, versions: VersionCache | None, step_run_id: int, count: int) -> None:
    """Start the next ``count`` iterations that have not started, in item order."""
    from maestro.engine.runs import start_run

    assert versions is not None
    row = u.conn.execute(
        select(S.c.children_started, S.c.children_total)
        .where(S.c.id == step_run_id)
        .with_for_update()
    ).one()
    first, last = row.children_started, min(row.children_total, row.children_started + count)
    if first >= last:
        return
    # counted first: a child that ends at once (all its steps skipped) starts the next itself
    u.conn.execute(update(S).where(S.c.id == step_run_id).values(children_started=last))
    ids = (
        u.conn.execute(
            select(R.c.id)
            .where(
                R.c.parent_step_run_id == step_run_id, R.c.iteration >= first, R.c.iteration < last
            )
            .order_by(R.c.iteration)
        )
        .scalars()
        .all()
    )
    for child_id in ids:
        start_run(u, versions, child_id)


def _foreach_outputs(u: Unit, step_run_id: int, count: int) -> dict[str, Any]:
    per_iteration: dict[int, dict[str, Any]] = defaultdict(dict)
    rows = u.conn.execute(
        select(R.c.iteration, S.c.step_id, S.c.outputs)
        .select_from(R.join(S, S.c.run_id == R.c.id))
        .where(R.c.parent_step_run_id == step_run_id)
    )
    for iteration, step_id, outputs in rows:
        per_iteration[iteration][step_id] = outputs or {}
    return {"count": count, "outputs": [per_iteration.get(i, {}) for i in range(count)]}


# -- subworkflow --------------------------------------------------------------------------------


def _start_subworkflow(advance: RunAdvance, step: StepRow, spec: Step) -> None:
    from maestro.engine.runs import create_run, start_run

    assert spec.subworkflow is not None
    settings = spec.subworkflow
    u, run = advance.u, advance.run
    chain = _workflow_chain(u, run)
    if settings.workflow in chain:
        cycle = " → ".join([*reversed(chain), settings.workflow])
        raise StepFailed(f"subworkflow cycle refused: {cycle}")
    params = expressions.render(dict(settings.params), advance.context)
    versions = advance.compiled.cache
    assert versions is not None
    version = _version(u, settings.workflow, settings.version)
    _check_callable(u, versions, settings.workflow, version, advance.compiled.definition.owner)
    with _acting_as(u, _run_starter(u, run.id)):  # the child is started on their behalf
        child_id = create_run(
            u,
            versions,
            settings.workflow,
            version=version,
            params=params,
            trigger="subworkflow",
            logical_date=run.logical_date,
            parent_run_id=run.id,
            parent_step_run_id=step.id,
        )
        u.add_event(
            run_id=run.id,
            step_run_id=step.id,
            entity="step",
            action="subworkflow",
            message=f"started run {child_id} of {settings.workflow!r}",
        )
        if settings.wait:
            _wait_for_children(advance, step, total=1, started=1)
            start_run(u, versions, child_id)
        else:
            start_run(u, versions, child_id)
            advance.finish(
                step,
                StepStatus.PENDING,
                StepStatus.SUCCEEDED,
                outputs={"run_id": child_id, "workflow_id": settings.workflow},
            )


@contextmanager
def _acting_as(u: Unit, actor: str) -> Iterator[None]:
    caller, u.actor = u.actor, actor
    try:
        yield
    finally:
        u.actor = caller


def _check_callable(
    u: Unit, versions: VersionCache, workflow_id: str, version: int | None, caller_owner: str
) -> None:
    """A workflow starts another owner's workflow only if that one's ``callable_by`` lists the
    caller's owner (or ``"*"``): otherwise a write token of one owner could run another
    owner's workflow, with params of its choosing, through a workflow of its own."""
    target = u.conn.execute(
        select(W.c.owner, W.c.active_version).where(W.c.id == workflow_id)
    ).first()
    if target is None or target.owner == caller_owner:
        return  # an unknown workflow fails in create_run, naming it
    allowed = versions.get(u.conn, workflow_id, version or target.active_version)
    callable_by = allowed.definition.callable_by
    if caller_owner not in callable_by and "*" not in callable_by:
        raise StepFailed(
            f"workflow {workflow_id!r} of owner {target.owner!r} may not be started by a "
            f"workflow of owner {caller_owner!r}: its callable_by does not list {caller_owner!r}"
        )


def _run_starter(u: Unit, run_id: int) -> str:
    """Who started a run: the actor of its first event (a child run's: its parent's starter,
    recorded when it was created)."""
    actor = u.conn.execute(
        select(E.c.actor).where(E.c.run_id == run_id).order_by(E.c.id).limit(1)
    ).scalar()
    return str(actor) if actor else u.actor


def _version(u: Unit, workflow_id: str, wanted: str | int) -> int | None:
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
        return int(wanted)
    if wanted == "latest":
        latest = u.conn.execute(select(W.c.latest_version).where(W.c.id == workflow_id)).scalar()
        return int(latest) if latest is not None else None
    return None  # active


def _workflow_chain(u: Unit, run: RunRow) -> list[str]:
    """The workflows of this run and of every run above it, innermost first."""
    chain = [run.workflow_id]
    parent = run.parent_run_id
    while parent is not None:
        row = u.conn.execute(
            select(R.c.workflow_id, R.c.parent_run_id).where(R.c.id == parent)
        ).one()
        if row.workflow_id != chain[-1]:
            chain.append(row.workflow_id)
        parent = row.parent_run_id
    return chain


# -- a child ended ------------------------------------------------------------------------------


def child_ended(u: Unit, versions: VersionCache | None, child: RunRow, status: RunStatus) -> None:
    """Account for a child run's end in its parent step, and end the step when it is time."""
    from maestro.engine.advance import RunAdvance

    if child.parent_step_run_id is None or child.parent_run_id is None or versions is None:
        return
    row = u.conn.execute(
        select(*STEP_COLUMNS, S.c.children_total, S.c.children_done, S.c.children_failed)
        .where(S.c.id == child.parent_step_run_id)
        .with_for_update()
    ).first()
    if row is None or row.step_status != StepStatus.WAITING.value:
        return  # the parent step already ended (stopped, fail_fast)
    failed = status is not RunStatus.SUCCEEDED
    done = row.children_done + 1
    failures = row.children_failed + int(failed)
    u.conn.execute(
        update(S)
        .where(S.c.id == row.step_run_id)
        .values(children_done=done, children_failed=failures)
    )
    step = StepRow.of(row)
    parent = load_run(u.conn, child.parent_run_id)
    if parent.status not in RUN_ACTIVE:
        return
    compiled = versions.for_run(u.conn, parent.workflow_id, parent.version, parent.body)
    spec = compiled.steps[step.step_id]
    advance = RunAdvance(u, parent, compiled)
    if spec.type is StepType.subworkflow:
        _mirror_child(u, advance, step, child, status)
    elif failed and spec.foreach is not None and spec.foreach.fail_fast:
        advance.fail(
            step,
            StepStatus.WAITING,
            StepStatus.FAILED,
            f"iteration {child.iteration} ended {status} (fail_fast)",
        )
        stop_children(u, versions, step.id)
    elif done >= row.children_total:
        outputs = _foreach_outputs(u, step.id, row.children_total)
        if failures:
            u.conn.execute(update(S).where(S.c.id == step.id).values(outputs=outputs))
            advance.fail(
                step,
                StepStatus.WAITING,
                StepStatus.FAILED,
                f"{failures} of {plural(row.children_total, 'iteration')} did not succeed",
            )
        else:
            advance.finish(step, StepStatus.WAITING, StepStatus.SUCCEEDED, outputs=outputs)
    else:
        _start_next(u, versions, step.id, 1)


def _mirror_child(
    u: Unit, advance: RunAdvance, step: StepRow, child: RunRow, status: RunStatus
) -> None:
    if status is RunStatus.SUCCEEDED:
        outputs = u.conn.execute(select(R.c.outputs).where(R.c.id == child.id)).scalar() or {}
        advance.finish(step, StepStatus.WAITING, StepStatus.SUCCEEDED, outputs=dict(outputs))
        return
    final = StepStatus.TIMED_OUT if status is RunStatus.TIMED_OUT else StepStatus.FAILED
    advance.fail(step, StepStatus.WAITING, final, f"subworkflow run {child.id} ended {status}")


def stop_children(u: Unit, versions: VersionCache | None, step_run_id: int) -> None:
    """Stop every child run of a step that is not over yet (the step itself already ended)."""
    from maestro.engine.advance import RunAdvance

    if versions is None:
        return
    rows = (
        u.conn.execute(
            select(R.c.id).where(
                R.c.parent_step_run_id == step_run_id,
                R.c.status.in_([RunStatus.QUEUED.value, *(s.value for s in RUN_ACTIVE)]),
            )
        )
        .scalars()
        .all()
    )
    for child_id in rows:
        child = load_run(u.conn, child_id)
        compiled = versions.for_run(u.conn, child.workflow_id, child.version, child.body)
        RunAdvance(u, child, compiled).end_run(
            RunStatus.STOPPED, "its parent step ended", action="stop"
        )
