"""Runs, their steps, attempts and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PagePublic, Public
from api.schemas.dates import UtcDatetime
from maestro.states import AttemptStatus, RunStatus, StepStatus

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


class RunPublic(Public):
    id: int
    workflow_id: str
    number: int
    version: int
    status: RunStatus
    trigger: str
    logical_date: datetime
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    parent_run_id: int | None
    restarted_from: int | None


class RunsPublic(PagePublic):
    items: list[RunPublic]


class RunDetailPublic(RunPublic):
    params: dict[str, Any]
    outputs: dict[str, Any]
    steps_total: int
    step_counts: dict[str, int] = Field(description="Steps per status.")
    children: list[int] = Field(
        description="Runs started by this run's steps (foreach iterations, subworkflows)."
    )


class StepPublic(Public):
    step_id: str
    step_type: str
    position: int
    status: StepStatus
    attempt_count: int
    waiting_for: str | None
    next_attempt_at: datetime | None
    outputs: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    children_total: int = Field(description="foreach/subworkflow: child runs created.")
    children_started: int
    children_done: int = Field(description="Child runs ended.")
    children_failed: int = Field(description="Child runs that ended without success.")


class StepsPublic(PagePublic):
    items: list[StepPublic]


class AttemptPublic(Public):
    number: int
    status: AttemptStatus
    queue: str
    worker: str | None
    external_id: str | None
    exit_code: int | None
    error: str | None
    created_at: datetime
    dispatched_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    ended_at: datetime | None


class StepDetailPublic(StepPublic):
    run_id: int
    attempts: list[AttemptPublic]


class EventPublic(Public):
    id: int
    at: datetime
    entity: Literal["run", "step", "attempt"]
    step_id: str | None
    attempt: int | None
    from_status: str | None
    to_status: str | None
    action: str | None
    actor: str
    message: str | None


class EventsPublic(PagePublic):
    items: list[EventPublic]


class RestartedPublic(Public):
    run_id: int = Field(description="The new run.")
    restarted_from: int
