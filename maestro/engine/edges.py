"""Conditional edges at run time: which incoming edges of a step are *taken*.

An edge is taken when its upstream ended ok (SUCCEEDED or FAILED_IGNORED) and its condition,
if any, is true. Asked once, when every upstream of the step has ended, and only for steps
that have a conditional edge (others are decided from the step row's counters alone). An edge
not taken counts as a skipped upstream, so every trigger rule keeps its meaning; ``any_taken``
(the default of such steps) runs when at least one edge is taken.

The condition's scope: the run's (``params``, ``run``, ``steps``, ``signal``), then the
upstream's step params shadowing the run's in ``params``, its ``outputs``, and its step params
and outputs as bare names (Maestro's ``param2 < 0``); params win over outputs of one name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro import expressions
from maestro.definition import Step
from maestro.engine.decisions import UpstreamCounts
from maestro.errors import ExpressionError, MaestroError
from maestro.states import STEP_FAILED, StepStatus


class EdgeError(MaestroError):
    """A condition could not be evaluated; the message names the edge."""


def counts(spec: Step, context: Mapping[str, Any]) -> UpstreamCounts:
    """How the upstreams of ``spec`` ended, edges not taken counted as skipped. Raises
    :class:`EdgeError`."""
    conditions = spec.edge_conditions
    steps = context["steps"]
    upstreams = list(dict.fromkeys(spec.upstreams))
    failed = skipped = 0
    for k, up in enumerate(upstreams):
        row = steps[up]
        status = StepStatus(row["status"])
        if status in STEP_FAILED:
            failed += 1
            continue
        if status is StepStatus.SKIPPED:
            skipped += 1
            continue
        condition = conditions.get(up)
        if condition is not None and not _holds(spec, k, up, condition, row, context):
            skipped += 1
    return UpstreamCounts(len(upstreams), failed, skipped)


def _holds(
    spec: Step,
    index: int,
    up: str,
    condition: str,
    row: Mapping[str, Any],
    context: Mapping[str, Any],
) -> bool:
    outputs = dict(row.get("outputs") or {})
    params = dict(row.get("params") or {})
    scope = {
        **context,
        **outputs,
        **params,
        "outputs": outputs,
        "params": {**context.get("params", {}), **params},
    }
    try:
        return expressions.evaluate_condition(condition, scope)
    except ExpressionError as exc:
        where = _entry_index(spec, up, index)
        raise EdgeError(f"steps.{spec.id}.depends_on[{where}].if (from {up}): {exc}") from exc


def _entry_index(spec: Step, up: str, fallback: int) -> int:
    return next((i for i, u in enumerate(spec.upstreams) if u == up), fallback)
