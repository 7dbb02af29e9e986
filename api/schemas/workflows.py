"""Workflows and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PagePublic, Public
from api.schemas.dates import UtcDatetime
from maestro.states import RunStatus


class RunBriefPublic(Public):
    id: int
    number: int
    status: RunStatus
    created_at: datetime
    ended_at: datetime | None


class WorkflowPublic(Public):
    id: str
    name: str
    description: str
    owner: str
    tags: list[str]
    active_version: int
    latest_version: int
    paused: bool
    created_at: datetime
    updated_at: datetime
    last_run: RunBriefPublic | None
    next_trigger_at: datetime | None = Field(
        description="When a cron trigger fires next (null when paused or without one)."
    )
    blocked_by_run_id: int | None = Field(
        description="strict_sequential: the failed run holding new runs back (see /unblock)."
    )


class WorkflowsPublic(PagePublic):
    items: list[WorkflowPublic]


class WorkflowDetailPublic(WorkflowPublic):
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


class VersionPublic(Public):
    workflow_id: str
    version: int
    content_hash: str
    created_at: datetime
    created_by: str | None
    active: bool


class VersionsPublic(PagePublic):
    items: list[VersionPublic]


class VersionDetailPublic(VersionPublic):
    source: str | None
    definition: dict[str, Any]


class BackfillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: UtcDatetime
    end: UtcDatetime
    max_concurrency: int = Field(default=1, ge=1, le=1000)


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
