"""Slot pools."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Public


class PoolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slots: int = Field(ge=0, le=1_000_000)


class PoolPublic(Public):
    name: str
    slots: int
    used: int = Field(description="Slots held by QUEUED or RUNNING steps.")
    updated_at: datetime


class PoolsPublic(Public):
    items: list[PoolPublic]
