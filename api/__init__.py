"""HTTP API (FastAPI) on the control plane in ``maestro``: ``create_app(engine, auth=…)``."""

from __future__ import annotations

from api.app import create_app

__all__ = ["create_app"]
