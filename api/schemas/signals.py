"""Signals."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import PagePublic, Public
from api.schemas.shapes import from_shape
from maestro import reads


class SignalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00]*$")
    payload: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[^\x00]*$"
    )


class SignalAccepted(Public):
    signal_id: int
    duplicate: bool = Field(
        description="A signal with this dedupe_key was received before: nothing more happened."
    )
    runs_started: list[int] = Field(description="Runs started by matching signal triggers.")
    steps_released: list[int] = Field(description="Step runs whose wait_for it satisfied.")


@from_shape(reads.SignalView)
class SignalPublic(Public):
    """A signal as it was received."""


class SignalsPublic(PagePublic):
    items: list[SignalPublic]
