"""Step params at run time: rendered once, when the step is about to run (after its trigger
rule, before its ``when``), recorded on the step row, and in scope from then on — shadowing
the run's params inside the step (``when``, settings, env), and downstream as
``steps.<id>.params``. A step without params costs nothing here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro import expressions
from maestro.definition import Step
from maestro.definition.params import coerce
from maestro.definition.step_params import TypedStepParam
from maestro.errors import ExpressionError, MaestroError, ParamError


class StepParamError(MaestroError):
    """A step param did not render, or is not of its type; the message names it."""


def render(spec: Step, context: Mapping[str, Any]) -> dict[str, Any]:
    """The step's params, rendered; each sees the others as ``params.<name>`` — in whatever
    order they depend on each other (``b: "{{ params.a + 1 }}"`` works with ``b`` written
    first: a stored definition's key order is not kept by PostgreSQL's JSONB). Rendered in
    passes: a param whose template fails is tried again once others have rendered; what still
    fails when a pass renders nothing new is the error. Raises :class:`StepParamError`."""
    values: dict[str, Any] = {}
    pending = dict(spec.params)
    while pending:
        errors: dict[str, StepParamError] = {}
        for name, raw in pending.items():
            try:
                values[name] = _render_one(spec, name, raw, with_params(context, values))
            except StepParamError as exc:
                errors[name] = exc
        if len(errors) == len(pending):  # no progress: report the first, in written order
            raise next(iter(errors.values()))
        pending = {name: pending[name] for name in errors}
    return {name: values[name] for name in spec.params}


def _render_one(spec: Step, name: str, raw: Any, scope: Mapping[str, Any]) -> Any:
    where = f"steps.{spec.id}.params.{name}"
    try:
        if isinstance(raw, TypedStepParam):
            return coerce(name, raw.type, expressions.render(raw.value, scope))
        return expressions.render(raw, scope)
    except ExpressionError as exc:
        raise StepParamError(f"{where}: {exc}") from exc
    except ParamError as exc:
        detail = "; ".join(p.msg for p in exc.problems) or str(exc)
        raise StepParamError(f"{where}: {detail}") from exc


def with_params(context: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` with ``params`` = the run's params shadowed by ``values``."""
    if not values:
        return dict(context)
    return {**context, "params": {**context.get("params", {}), **values}}
