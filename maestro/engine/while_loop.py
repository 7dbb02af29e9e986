"""The ``while`` step: its body runs as one child run per iteration (like a foreach
iteration: visible, stoppable), one at a time, while its condition holds.

Start: ``loop`` is rendered (the loop variables' first values) and ``condition`` evaluated
with them in scope; false → the step succeeds with ``{count: 0, outputs: <variables>}``.
Each iteration's end (in the child's own unit of work): a failed iteration fails the step;
otherwise ``update`` is rendered with the variables and the iteration's ``steps.<id>``
(outputs, params) in scope, giving the next values; then the condition decides — false: the
step succeeds with ``{count, outputs: <variables>}``; true: the next iteration starts, unless
``max_iterations`` have run (the step fails, saying so). State lives in rows (each
iteration's ``scope.vars``), nothing in memory between units.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro import expressions
from maestro.definition import Step
from maestro.engine import iterations
from maestro.engine.context import StepsView, expression_context
from maestro.engine.followups import Fail, StartRuns, StepOutcome, Succeed
from maestro.errors import ExpressionError
from maestro.states import RunStatus
from maestro.store import runs as run_rows
from maestro.store import steps as step_rows
from maestro.store.records import RunRow, StepRow
from maestro.store.transitions import created


def start(parent: iterations.Parent, step: StepRow, spec: Step) -> StepOutcome:
    settings = spec.while_
    assert settings is not None
    scope = dict(parent.context)
    try:
        values = expressions.render(dict(settings.loop), scope)
    except ExpressionError as exc:
        return Fail(f"while.loop: {exc}")
    holds = _condition(spec, scope, values)
    if isinstance(holds, Fail):
        return holds
    if not holds:
        return Succeed({"count": 0, "outputs": values})
    _create(parent, step, spec, 0, values)
    return iterations.wait_for_children(parent, step, total=1, started=1)


def iteration_ended(
    parent: iterations.Parent, step: StepRow, spec: Step, child: RunRow, status: RunStatus
) -> StepOutcome | None:
    """The step's outcome once iteration ``child`` ended, or None when the next one started."""
    settings = spec.while_
    assert settings is not None
    number = (child.iteration or 0) + 1
    if status is not RunStatus.SUCCEEDED:
        return Fail(f"iteration {child.iteration} ended {status}")
    u = parent.u
    values = dict((child.scope or {}).get("vars", {}))
    scope = {
        **expression_context(u.conn, parent.run),
        **values,
        "steps": StepsView(u.conn, child.id, (parent.run.id,)),
    }
    try:
        values = {**values, **expressions.render(dict(settings.update), scope)}
    except ExpressionError as exc:
        return Fail(f"while.update (after iteration {child.iteration}): {exc}")
    holds = _condition(spec, expression_context(u.conn, parent.run), values)
    if isinstance(holds, Fail):
        return holds
    if not holds:
        return Succeed({"count": number, "outputs": values})
    if number >= settings.max_iterations:
        return Fail(
            f"max_iterations ({settings.max_iterations}) reached with the condition still true"
        )
    _create(parent, step, spec, number, values)
    step_rows.set_children(u.conn, step.id, number + 1)
    return None


def _condition(spec: Step, scope: Mapping[str, Any], values: Mapping[str, Any]) -> bool | Fail:
    assert spec.while_ is not None
    try:
        return expressions.evaluate_condition(spec.while_.condition, {**scope, **values})
    except ExpressionError as exc:
        return Fail(f"while.condition: {exc}")


def _create(
    parent: iterations.Parent, step: StepRow, spec: Step, number: int, values: dict[str, Any]
) -> None:
    u, run = parent.u, parent.run
    body = parent.compiled.body_of(step.step_id)
    root = run_rows.root_of(u.conn, run.id)
    scope = {"vars": values, "item": values, "index": number, "outer": iterations.outer_names(run)}
    row = iterations.iteration_row(parent, step, body.body, root, number, scope)
    (child_id,) = run_rows.insert_runs(u.conn, [row])
    message = f"iteration {number} of {step.step_id!r} in run {run.id}"
    created(u, "run", child_id, RunStatus.QUEUED, run_id=child_id, message=message)
    u.followups.append(StartRuns((child_id,)))
