"""Liveness and readiness (no token needed: probes of load balancers and orchestrators)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import problem, responses
from api.schemas.health import Health, Readiness

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

#: a named check that raises when its dependency is unusable
Check = tuple[str, Callable[[], None]]


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses=responses(503))
def readyz(request: Request) -> Readiness | JSONResponse:
    """The database (and the broker, in distributed mode) answer."""
    checks: Sequence[Check] = request.app.state.readiness
    results: dict[str, str] = {}
    failed: list[str] = []
    for name, check in checks:
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
            results[name] = "unavailable"
            failed.append(name)
    if failed:
        return problem(503, f"not ready: {', '.join(failed)} unavailable")
    return Readiness(checks=results)
