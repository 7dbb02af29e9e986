"""Workflows and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PagePublic, Public
from api.schemas.dates import UtcDatetime
from api.schemas.shapes import from_shape
from maestro import reads
from maestro.states import RunStatus


@from_shape(reads.RunBrief)
class RunBriefPublic(Public):
    """A workflow's newest run."""

    status: RunStatus


@from_shape(reads.WorkflowSummary)
class WorkflowPublic(Public):
    """A workflow."""

    last_run: RunBriefPublic | None
    next_trigger_at: datetime | None = Field(
        description="When a cron trigger fires next (null when paused or without one)."
    )
    blocked_by_run_id: int | None = Field(
        description="strict_sequential: the failed run holding new runs back (see /unblock)."
    )


class WorkflowsPublic(PagePublic):
    items: list[WorkflowPublic]


@from_shape(reads.WorkflowDetail)
class WorkflowDetailPublic(WorkflowPublic):
    """A workflow with its active version's definition."""

    definition: dict[str, Any] = Field(description="The active version's normalized definition.")
    triggers: list[dict[str, Any]]
    run_strategy: dict[str, Any]


class WorkflowSubmitted(Public):
    id: str
    version: int
    created: bool = Field(description="False when the definition equals the latest version.")
    active_version: int


class DefinitionValid(Public):
    valid: bool = True
    id: str
    definition: dict[str, Any] = Field(description="The normalized definition.")


@from_shape(reads.VersionSummary)
class VersionPublic(Public):
    """A version of a workflow."""


class VersionsPublic(PagePublic):
    items: list[VersionPublic]


@from_shape(reads.VersionDetail)
class VersionDetailPublic(VersionPublic):
    """A version with its source and normalized definition."""


class BackfillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: UtcDatetime
    end: UtcDatetime
    max_concurrency: int = Field(default=1, ge=1, le=1000)
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Override the cron trigger's params for every run of the backfill.",
    )


class BackfillPublic(Public):
    backfill_id: int
    run_ids: list[int]


class BackfillProgress(Public):
    """How far a backfill got: ``done`` = succeeded + failed + stopped."""

    backfill_id: int
    status: str
    total: int
    done: int
    succeeded: int
    failed: int
    stopped: int
    running: int
    queued: int


@from_shape(reads.AuditEvent)
class WorkflowEventPublic(Public):
    """Something done to the workflow as a whole: ``submit``, ``activate``, ``pause``,
    ``resume``, ``unblock`` or ``delete``, by ``actor``."""


class WorkflowEventsPublic(PagePublic):
    items: list[WorkflowEventPublic]
