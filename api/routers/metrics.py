"""/metrics: Prometheus text exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ReadToken
from api.errors import responses
from api.metrics import Metrics

router = APIRouter(tags=["metrics"], responses=responses(401, 403))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text", "content": {"text/plain": {}}}},
)
def metrics(request: Request, principal: ReadToken) -> Response:
    """Runs and steps by status, queue depth per worker queue, alerts by status, API request
    counts and latencies."""
    registry: Metrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
