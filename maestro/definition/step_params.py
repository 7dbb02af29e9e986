"""Step params: ``params:`` on a step — values or templates, optionally typed — rendered when
the step is about to run. Inside the step's own scope ``params.<name>`` shadows the run's
params; downstream they are ``steps.<id>.params.<name>`` (spec/maestro-compat.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from maestro.definition.basics import ParamType, _Model

#: the keys of the typed form ``{type: int, value: ...}``
TYPED_KEYS = frozenset({"type", "value", "description"})


class TypedStepParam(_Model):
    """``{type: int, value: "{{ params.x + 1 }}"}``: the rendered value coerced to ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType = ParamType.string
    value: Any = None
    description: str = ""


def is_typed(raw: Any) -> bool:
    """A mapping with ``value`` and only the typed form's keys is the typed form; any other
    value (a mapping included) is the param's value as written."""
    return isinstance(raw, Mapping) and "value" in raw and set(raw) <= TYPED_KEYS


def parse_step_param(raw: Any) -> Any:
    """The model of a param as written: a ``TypedStepParam`` or the plain value."""
    return TypedStepParam.model_validate(dict(raw)) if is_typed(raw) else raw
