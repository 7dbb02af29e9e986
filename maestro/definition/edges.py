"""A ``depends_on`` entry: an upstream step id, or ``{step: <id>, if: <expression>}`` — an edge
taken only when its upstream ended ok and the condition holds (Maestro's conditional
``transition.successors``; spec/maestro-compat.md)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from maestro.definition.basics import NonBlank, _Model


class Edge(_Model):
    """``{step: job.1, if: "param2 < 0"}``. The expression sees the upstream's step params
    and outputs as bare names, ``outputs``, ``params`` (the run's, shadowed by the upstream's
    step params) and the run's usual scope (``steps``, ``run``, ``signal``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    step: NonBlank  # an unknown id is the DAG check's to name
    if_: NonBlank | None = Field(default=None, alias="if")


def upstream_of(entry: str | Edge) -> str:
    return entry if isinstance(entry, str) else entry.step


def is_conditional(entry: Any) -> bool:
    """An entry with an ``if`` (raw data or model): the step defaults to ``any_taken``."""
    if isinstance(entry, Edge):
        return entry.if_ is not None
    return isinstance(entry, dict) and entry.get("if") is not None
