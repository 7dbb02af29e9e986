"""Runs, their steps, attempts and events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PagePublic, Public
from api.schemas.dates import UtcDatetime
from api.schemas.shapes import from_shape
from maestro import reads
from maestro.states import AttemptStatus

MAX_INT = 2**31 - 1


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(
        default=None, ge=1, le=MAX_INT, description="Default: the active version."
    )
    logical_date: UtcDatetime | None = Field(default=None, description="Default: now.")


class RunRestart(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Literal["failed", "beginning", "step"] = Field(default="failed", alias="from")
    step_id: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] | None = None


@from_shape(reads.RunSummary)
class RunPublic(Public):
    """A run, as run histories list it."""


class RunsPublic(PagePublic):
    items: list[RunPublic]
    searched_to: int | None = Field(
        default=None,
        description=(
            "Set when a filter checked run by run (trigger, q, since/until) stopped at its "
            "budget of runs read before the page was full: runs with an id below this one "
            "were not searched yet, and next_cursor continues from there."
        ),
    )
    counts: dict[str, int] | None = Field(
        default=None,
        description=(
            "With ?counts=true: runs per status in the workflow and date range (not the "
            "trigger or q filters), each counted up to 1001 (more than 1000: show 1000+)."
        ),
    )


@from_shape(reads.RunDetail)
class RunDetailPublic(RunPublic):
    """A run with its params, outputs and step counts."""

    step_counts: dict[str, int] = Field(description="Steps per status.")
    children: list[int] = Field(
        description="Runs started by this run's steps (foreach iterations, subworkflows)."
    )
    iteration_values: dict[str, Any] | None = Field(
        default=None,
        description="A foreach iteration's values by name (its `as` name or each matrix name).",
    )


@from_shape(reads.StepSummary, exclude=("log_path",))
class StepPublic(Public):
    """A step of a run."""

    children_total: int = Field(description="foreach/subworkflow: child runs created.")
    children_done: int = Field(description="Child runs ended.")
    children_failed: int = Field(description="Child runs that ended without success.")


class StepsPublic(PagePublic):
    items: list[StepPublic]


@from_shape(reads.AttemptDetail)
class AttemptPublic(Public):
    """One attempt of a step."""

    status: AttemptStatus


@from_shape(reads.StepDetail, exclude=("log_path",))
class StepDetailPublic(StepPublic):
    """A step with its attempts."""

    attempts: list[AttemptPublic]


@from_shape(reads.EventView)
class EventPublic(Public):
    """A status change or action in a run."""

    entity: Literal["run", "step", "attempt"]


class EventsPublic(PagePublic):
    items: list[EventPublic]


class RestartedPublic(Public):
    run_id: int = Field(description="The new run.")
    restarted_from: int
