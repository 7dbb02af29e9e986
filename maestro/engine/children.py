"""Steps that run other runs: foreach (one child run per item, over the step's body) and
subworkflow (a run of another workflow).

Such a step never reaches a worker. When it may run it creates its child runs and waits
(``WAITING``, ``waiting_for = children``); each child's end is reported here
(``child_ended``, a ``ChildRunEnded`` follow-up of the child's end) in the child's own unit of
work. These functions decide and return the parent step's outcome; they never drive a run
advance themselves (``maestro.engine.settle`` applies what they return). Iterations
are rows: a 10,000-item foreach inserts 10,000 QUEUED runs in one statement and starts them
``concurrency`` at a time, in item order, by a counter on the step — nothing is held in
memory between units.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, func, select

from maestro import expressions
from maestro.definition import Step, StepType
from maestro.definition.models import MAX_FOREACH_ITEMS
from maestro.engine import while_loop
from maestro.engine.compiled import CompiledWorkflow, VersionCache
from maestro.engine.followups import Fail, StartRuns, StepOutcome, StepStopped, Succeed
from maestro.engine.iterations import Parent, iteration_row, outer_names, wait_for_children
from maestro.engine.runs import create_run
from maestro.errors import ExpressionError, InvalidRequest, MaestroError, NotFound, ParamError
from maestro.states import RUN_ACTIVE, RUN_TERMINAL, RunStatus, StepStatus
from maestro.store import direct, tables
from maestro.store import runs as run_rows
from maestro.store import steps as step_rows
from maestro.store.records import RUN_COLUMNS, RunRow, StepRow, load_run
from maestro.store.transitions import created
from maestro.store.unit import Unit
from maestro.wording import plural

R, S, W, E = tables.runs, tables.step_runs, tables.workflows, tables.events
MAX_ITEMS = MAX_FOREACH_ITEMS
#: iterations created per statement
_CHUNK = 1000


class StepFailed(MaestroError):
    """The step cannot start its child runs."""


def start(parent: Parent, step: StepRow, spec: Step) -> StepOutcome:
    """The step may run: create its child runs (or end it at once if there is none)."""
    try:
        if spec.type is StepType.foreach:
            return _start_foreach(parent, step, spec)
        if spec.type is StepType.while_:
            return while_loop.start(parent, step, spec)
        return _start_subworkflow(parent, step, spec)
    except (ExpressionError, ParamError, NotFound, InvalidRequest, StepFailed) as exc:
        return Fail(str(exc))


# -- foreach ----------------------------------------------------------------------------------


def _items(parent: Parent, spec: Step) -> list[Any]:
    """The items (``items``), or one ``{name: value}`` per combination of the ``matrix``."""
    assert spec.foreach is not None
    if spec.foreach.matrix is None:
        assert spec.foreach.items is not None
        return _list_of(parent, spec.foreach.items, "foreach.items")
    lists = {
        name: _list_of(parent, source, f"foreach.matrix.{name}")
        for name, source in spec.foreach.matrix.items()
    }
    total = math.prod(len(values) for values in lists.values())
    if total > MAX_ITEMS:
        sizes = " × ".join(f"{len(v)} {name}" for name, v in lists.items())
        raise StepFailed(f"foreach.matrix gives {total} iterations ({sizes}); at most {MAX_ITEMS}")
    names = list(lists)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists.values())]


def _list_of(parent: Parent, source: str | list[Any], where: str) -> list[Any]:
    try:
        if isinstance(source, list):  # a literal YAML list
            items = expressions.render(source, dict(parent.context))
        else:
            items = expressions.evaluate(source, dict(parent.context))
    except ExpressionError as exc:
        raise StepFailed(f"{where}: {exc}") from exc
    if not isinstance(items, list | tuple):
        raise StepFailed(f"{where} must give a list, not {type(items).__name__}")
    if len(items) > MAX_ITEMS:
        raise StepFailed(f"{where} gave {len(items)} items; at most {MAX_ITEMS}")
    return list(items)


def _iteration_scope(spec: Step, item: Any, index: int, outer: dict[str, Any]) -> dict[str, Any]:
    """What an iteration adds to the expression scope (``context.expression_context``)."""
    assert spec.foreach is not None
    if spec.foreach.matrix is not None:  # each matrix name bound; ``item`` shows them all
        return {"vars": item, "item": item, "index": index, "outer": outer}
    return {"var": spec.foreach.as_, "item": item, "index": index, "outer": outer}


def _start_foreach(parent: Parent, step: StepRow, spec: Step) -> StepOutcome:
    assert spec.foreach is not None
    items = _items(parent, spec)
    if not items:
        return Succeed({"count": 0, "outputs": []})
    u, run = parent.u, parent.run
    body = parent.compiled.body_of(step.step_id)
    root = run_rows.root_of(u.conn, run.id)
    outer = outer_names(run)
    # in chunks, each chunk's events written at once: a 25,000-item foreach holds no 25,000
    # rows and events in memory (nothing follows an iteration's creation: not recorded)
    for first in range(0, len(items), _CHUNK):
        chunk = items[first : first + _CHUNK]
        rows = [
            iteration_row(parent, step, body.body, root, i, _iteration_scope(spec, item, i, outer))
            for i, item in enumerate(chunk, start=first)
        ]
        for i, child_id in enumerate(run_rows.insert_runs(u.conn, rows), start=first):
            message = f"iteration {i} of {step.step_id!r} in run {run.id}"
            created(
                u, "run", child_id, RunStatus.QUEUED, run_id=child_id, message=message, record=False
            )
        u.flush_events()
    u.add_event(
        run_id=run.id,
        step_run_id=step.id,
        entity="step",
        action="foreach",
        message=f"{plural(len(items), 'iteration')}, {spec.foreach.concurrency} at a time",
    )
    waiting = wait_for_children(parent, step, total=len(items), started=0)
    _start_next(u, step.id, spec.foreach.concurrency)
    return waiting


_STARTED = (
    select(S.c.children_started, S.c.children_total)
    .where(S.c.id == bindparam("p_step"))
    .with_for_update()
)
_ITERATIONS = (
    select(*RUN_COLUMNS)
    .where(
        R.c.parent_step_run_id == bindparam("p_step"),
        R.c.iteration >= bindparam("p_first"),
        R.c.iteration < bindparam("p_last"),
    )
    .order_by(R.c.iteration)
)


def _start_next(
    u: Unit, step_run_id: int, count: int, counted: tuple[int, int] | None = None
) -> None:
    """Start the next ``count`` iterations that have not started, in item order.
    ``counted``: the step's (children_started, children_total) as this unit locked them."""
    if counted is None:
        row = direct.execute(u.conn, _STARTED, {"p_step": step_run_id}).one()
        counted = (row.children_started, row.children_total)
    first, last = counted[0], min(counted[1], counted[0] + count)
    if first >= last:
        return
    # counted first: a child that ends at once (all its steps skipped) starts the next itself
    step_rows.children_started(u.conn, step_run_id, last)
    params = {"p_step": step_run_id, "p_first": first, "p_last": last}
    runs = tuple(RunRow.of(r) for r in direct.execute(u.conn, _ITERATIONS, params))
    # their rows as read here: starting them reads none again
    u.followups.append(StartRuns(tuple(r.id for r in runs), rows=runs))


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


def _start_subworkflow(parent: Parent, step: StepRow, spec: Step) -> StepOutcome:
    assert spec.subworkflow is not None
    settings = spec.subworkflow
    u, run = parent.u, parent.run
    chain = _workflow_chain(u, run)
    if settings.workflow in chain:
        cycle = " → ".join([*reversed(chain), settings.workflow])
        raise StepFailed(f"subworkflow cycle refused: {cycle}")
    params = expressions.render(dict(settings.params), dict(parent.context))
    versions = parent.compiled.cache
    assert versions is not None
    version = _version(u, settings.workflow, settings.version)
    _check_callable(u, versions, settings.workflow, version, parent.compiled.definition.owner)
    starter = _run_starter(u, run.id)
    with _acting_as(u, starter):  # the child is started on their behalf
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
            pass_undeclared=settings.pass_undeclared,
        )
        u.add_event(
            run_id=run.id,
            step_run_id=step.id,
            entity="step",
            action="subworkflow",
            message=f"started run {child_id} of {settings.workflow!r}",
        )
    u.followups.append(StartRuns((child_id,), actor=starter))
    if settings.wait:
        return wait_for_children(parent, step, total=1, started=1)
    return Succeed({"run_id": child_id, "workflow_id": settings.workflow})


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


def child_ended(
    u: Unit, versions: VersionCache, child: RunRow, status: RunStatus
) -> tuple[RunRow, CompiledWorkflow, StepRow, StepOutcome] | None:
    """Account for a child run's end in its parent step; the parent run, its workflow, the
    step and the step's outcome when it is time to end it (None: the step goes on)."""
    if child.parent_step_run_id is None or child.parent_run_id is None:
        return None
    failed = status is not RunStatus.SUCCEEDED
    row = step_rows.count_child_end(u.conn, child.parent_step_run_id, failed)
    if row is None:
        return None  # the parent step already ended (stopped, fail_fast)
    done, failures = row.children_done, row.children_failed
    step = StepRow.of(row)
    parent = _parent_run(u, versions, child.parent_run_id, RunStatus(row.parent_status))
    if parent.status not in RUN_ACTIVE:
        return None
    compiled = versions.for_run(u.conn, parent.workflow_id, parent.version, parent.body)
    spec = compiled.steps[step.step_id]
    outcome: StepOutcome
    if spec.type is StepType.subworkflow:
        outcome = _mirror_child(u, child, status)
    elif spec.type is StepType.while_:
        ended = while_loop.iteration_ended(
            Parent(u, parent, compiled, {}), step, spec, child, status
        )
        if ended is None:
            return None
        outcome = ended
    elif failed and spec.foreach is not None and spec.foreach.fail_fast:
        outcome = Fail(f"iteration {child.iteration} ended {status} (fail_fast)")
        u.followups.append(StepStopped(step.id))
    elif done >= row.children_total:
        outputs = _foreach_outputs(u, step.id, row.children_total)
        if failures:
            step_rows.set_outputs(u.conn, step.id, outputs)
            total = plural(row.children_total, "iteration")
            outcome = Fail(f"{failures} of {total} did not succeed")
        else:
            outcome = Succeed(outputs)
    else:
        counted = (row.children_started, row.children_total)
        _start_next(u, step.id, _may_start(u, step.id, spec), counted)
        return None
    return parent, compiled, step, outcome


_MAX_PARENTS = 1024


def _parent_run(u: Unit, versions: VersionCache, run_id: int, status: RunStatus) -> RunRow:
    """The parent run's row with its current ``status``: read once per engine
    (``VersionCache.parent_runs``), not at every iteration's end (that read, its JSON
    decoded, was ~4 % of an embedded iteration); the status comes with each child's end."""
    known: RunRow | None = versions.parent_runs.get(run_id)
    if known is None or known.started_at is None:
        known = load_run(u.conn, run_id)
        if len(versions.parent_runs) >= _MAX_PARENTS:
            versions.parent_runs.clear()
        versions.parent_runs[run_id] = known
    return known if known.status is status else replace(known, status=status)


def _may_start(u: Unit, step_run_id: int, spec: Step) -> int:
    """How many more iterations may start now that one ended: one — or, with
    ``strict_ordering``, as many as keep every started iteration within ``concurrency`` of the
    oldest one not ended (Maestro's window: iteration n + concurrency waits for n)."""
    if spec.foreach is None or not spec.foreach.strict_ordering:
        return 1
    started = int(
        u.conn.execute(select(S.c.children_started).where(S.c.id == step_run_id)).scalar() or 0
    )
    oldest = u.conn.execute(
        select(func.min(R.c.iteration)).where(
            R.c.parent_step_run_id == step_run_id,
            R.c.iteration < started,
            R.c.status.not_in([s.value for s in RUN_TERMINAL]),
        )
    ).scalar()
    limit = (started if oldest is None else oldest) + spec.foreach.concurrency
    return max(0, limit - started)


def _mirror_child(u: Unit, child: RunRow, status: RunStatus) -> StepOutcome:
    if status is RunStatus.SUCCEEDED:
        outputs = u.conn.execute(select(R.c.outputs).where(R.c.id == child.id)).scalar() or {}
        return Succeed(dict(outputs))
    final = StepStatus.TIMED_OUT if status is RunStatus.TIMED_OUT else StepStatus.FAILED
    return Fail(f"subworkflow run {child.id} ended {status}", final)


def open_children(u: Unit, step_run_id: int) -> list[int]:
    """The child runs of a step that are not over yet."""
    return list(
        u.conn.execute(
            select(R.c.id).where(
                R.c.parent_step_run_id == step_run_id,
                R.c.status.in_([RunStatus.QUEUED.value, *(s.value for s in RUN_ACTIVE)]),
            )
        ).scalars()
    )
