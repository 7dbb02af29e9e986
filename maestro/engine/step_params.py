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
    """The step's params, rendered in order; each sees the ones before it as ``params.<name>``
    (so ``b: "{{ params.a + 1 }}"`` works). Raises :class:`StepParamError`."""
    values: dict[str, Any] = {}
    for name, raw in spec.params.items():
        where = f"steps.{spec.id}.params.{name}"
        scope = with_params(context, values)
        try:
            if isinstance(raw, TypedStepParam):
                values[name] = coerce(name, raw.type, expressions.render(raw.value, scope))
            else:
                values[name] = expressions.render(raw, scope)
        except ExpressionError as exc:
            raise StepParamError(f"{where}: {exc}") from exc
        except ParamError as exc:
            detail = "; ".join(p.msg for p in exc.problems) or str(exc)
            raise StepParamError(f"{where}: {detail}") from exc
    return values


def with_params(context: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``context`` with ``params`` = the run's params shadowed by ``values``."""
    if not values:
        return dict(context)
    return {**context, "params": {**context.get("params", {}), **values}}
