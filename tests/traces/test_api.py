"""With traces on, each API request is a span (OpenTelemetry's FastAPI instrumentation), sent
where the runs' spans go; probes and static files are left out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.traces.conftest import Traced


@pytest.mark.parametrize("traced", ["memory"], indirect=True)
def test_api_requests_are_spans_and_probes_are_not(traced: Traced) -> None:
    traced.harness.submit("id: wf\nowner: t\nsteps: [{id: s, type: noop}]\n")
    with TestClient(create_app(traced.harness.engine, auth=False)) as client:
        assert client.get("/api/v1/workflows").status_code == 200
        assert client.get("/api/v1/workflows/nope").status_code == 404
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200
    spans = traced.collect()
    servers = [s for s in spans if s.kind == "SERVER"]
    assert sorted(s.attributes["http.route"] for s in servers) == [
        "/api/v1/workflows",
        "/api/v1/workflows/{workflow_id}",
    ]
    missing = next(s for s in servers if s.attributes["http.route"].endswith("}"))
    assert (
        missing.attributes.get(
            "http.response.status_code", missing.attributes.get("http.status_code")
        )
        == 404
    )
    # one span per request: no spans of its own for each ASGI message
    assert len(spans) == 2
    assert all(s.resource["service.name"] == "maestro" for s in spans)
