"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import Public


class Health(Public):
    status: Literal["ok"] = "ok"


class Readiness(Public):
    status: Literal["ready"] = "ready"
    checks: dict[str, str]
