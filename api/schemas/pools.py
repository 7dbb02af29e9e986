"""Slot pools."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Public
from api.schemas.shapes import from_shape
from maestro import reads


class PoolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slots: int = Field(ge=0, le=1_000_000)


@from_shape(reads.PoolView)
class PoolPublic(Public):
    """A slot pool."""

    used: int = Field(description="Slots held by QUEUED or RUNNING steps.")


class PoolsPublic(Public):
    items: list[PoolPublic]
