"""The auth matrix: every route × no token, read, write for another owner, write for the
owner, write for any owner, admin. The list of routes is checked against the app's, so a
new route without an entry here fails the suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from api.app import create_app
from maestro.engine.core import Engine
from maestro.settings import load_settings
from maestro.store.db import Database
from tests.api.conftest import Tokens, workflow_yaml
from tests.engine.harness import Harness
from tests.support.alerts import alert_of, failed_run, mark_failed

WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
YAML = {"content": workflow_yaml(), "headers": {"Content-Type": "application/yaml"}}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    #: read, write (+ the workflow's owner when ``owned``) or admin
    scope: str
    owned: bool = False
    body: Any = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("POST", "/workflows", "write", owned=True, body=YAML),
    Route("POST", "/workflows/validate", "read", body=YAML),
    Route("GET", "/workflows", "read"),
    Route("GET", "/workflows/{workflow_id}", "read"),
    Route("DELETE", "/workflows/{workflow_id}", "write", owned=True),
    Route("GET", "/workflows/{workflow_id}/versions", "read"),
    Route("GET", "/workflows/{workflow_id}/versions/{version}", "read"),
    Route("POST", "/workflows/{workflow_id}/versions/{version}/activate", "write", owned=True),
    Route("POST", "/workflows/{workflow_id}/pause", "write", owned=True),
    Route("POST", "/workflows/{workflow_id}/resume", "write", owned=True),
    Route("POST", "/workflows/{workflow_id}/unblock", "write", owned=True),
    Route("POST", "/workflows/{workflow_id}/runs", "write", owned=True, body={"json": {}}),
    Route("GET", "/workflows/{workflow_id}/runs", "read"),
    Route("GET", "/workflows/{workflow_id}/events", "read"),
    Route("GET", "/workflows/{workflow_id}/alert-rules", "read"),
    Route("POST", "/workflows/{workflow_id}/backfills", "write", owned=True, body={"json": WINDOW}),
    Route("GET", "/workflows/{workflow_id}/backfills/{backfill_id}", "read"),
    Route("GET", "/runs", "read"),
    Route("POST", "/workflows/{workflow_id}/backfills/{backfill_id}/cancel", "write", owned=True),
    Route("GET", "/runs/{run_id}", "read"),
    Route("GET", "/runs/{run_id}/steps", "read"),
    Route("GET", "/runs/{run_id}/steps/{step_id}", "read"),
    Route("GET", "/runs/{run_id}/steps/{step_id}/attempts/{number}/logs", "read"),
    Route("GET", "/runs/{run_id}/events", "read"),
    Route("POST", "/runs/{run_id}/stop", "write", owned=True),
    Route("POST", "/runs/{run_id}/kill", "write", owned=True),
    Route("POST", "/runs/{run_id}/pause", "write", owned=True),
    Route("POST", "/runs/{run_id}/resume", "write", owned=True),
    Route("POST", "/runs/{run_id}/restart", "write", owned=True, body={"json": {}}),
    Route("POST", "/runs/{run_id}/steps/{step_id}/retry", "write", owned=True),
    Route("POST", "/runs/{run_id}/steps/{step_id}/skip", "write", owned=True),
    Route("POST", "/runs/{run_id}/steps/{step_id}/stop", "write", owned=True),
    Route("GET", "/alerts", "read"),
    Route("GET", "/alerts/{alert_id}", "read"),
    Route("POST", "/alerts/{alert_id}/retry", "write", owned=True),
    Route("POST", "/signals", "write", body={"json": {"name": "landed"}}),
    Route("GET", "/signals", "read"),
    Route("GET", "/pools", "read"),
    Route("PUT", "/pools/{name}", "admin", body={"json": {"slots": 2}}),
    Route("GET", "/metrics", "read"),
]
#: routes every caller may use (probes)
OPEN = {("GET", "/healthz"), ("GET", "/readyz")}


def test_the_matrix_covers_every_route(tmp_path: Any) -> None:
    engine = Engine(Database(f"sqlite:///{tmp_path}/x.db"), load_settings(home=tmp_path))
    app = create_app(engine, auth=True)
    served = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert served == {(r.method, r.path) for r in ROUTES} | OPEN
    engine.db.dispose()


def _expected(route: Route, who: str | None) -> str:
    """deny-401, deny-403 or allow."""
    if who is None:
        return "deny-401"
    needed = {"read": 0, "write": 1, "admin": 2}[route.scope]
    rank = {"read": 0, "write-a": 1, "write-b": 1, "write-any": 1, "admin": 2}[who]
    if rank < needed:
        return "deny-403"
    if route.owned and who == "write-b":  # the workflow belongs to team-a
        return "deny-403"
    return "allow"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_each_route_checks_the_token(authed: Tokens, harness: Harness, route: Route) -> None:
    admin = authed.headers("admin")
    assert authed.call("admin", "POST", "/workflows", **YAML).status_code == 201
    run = authed.call("admin", "POST", "/workflows/hello/runs", json={}, headers=admin).json()
    alert_id = 1
    if "{alert_id}" in route.path:  # a FAILED alert of a team-a workflow to act on
        alert_id = alert_of(harness, failed_run(harness, owner="team-a"), "webhook")
        mark_failed(harness, alert_id)
    path = route.path.format(
        workflow_id="hello",
        version=1,
        run_id=run["id"],
        step_id="greet",
        number=1,
        name="p",
        backfill_id=1,
        alert_id=alert_id,
    )
    # the denials first: allowed calls may change what later calls find
    for who in (None, "read", "write-b", "write-a", "write-any", "admin"):
        response = authed.call(who, route.method, path, **(route.body or {}))
        expected = _expected(route, who)
        if expected == "deny-401":
            assert response.status_code == 401, (who, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
        elif expected == "deny-403":
            assert response.status_code == 403, (who, response.text)
        else:
            assert response.status_code not in (401, 403), (who, response.text)
            assert response.status_code < 500, response.text
        assert (
            response.headers["content-type"].split(";")[0]
            in (
                "application/json",
                "application/problem+json",
                "text/plain",
            )
            or response.status_code == 204
        )


def test_bad_tokens_and_revocation(authed: Tokens) -> None:
    from maestro.store.tokens import revoke_token

    client = authed.client
    for header in ("Bearer nope", "Bearer mae_unknown", "Basic abc", "Bearer"):
        response = client.get("/api/v1/workflows", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert authed.call("read", "GET", "/workflows").status_code == 200
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.db.tx() as conn:
        revoke_token(conn, "read", engine.clock.now())
    assert authed.call("read", "GET", "/workflows").status_code == 401
    assert client.get("/api/v1/healthz").status_code == 200  # probes need no token


def test_actions_are_recorded_with_the_token_name(authed: Tokens) -> None:
    assert authed.call("write-a", "POST", "/workflows", **YAML).status_code == 201
    run = authed.call("write-a", "POST", "/workflows/hello/runs", json={}).json()
    assert authed.call("write-any", "POST", f"/runs/{run['id']}/stop").status_code == 200
    detail = authed.call("read", "GET", f"/runs/{run['id']}").json()
    assert (detail["started_by"], detail["ended_by"]) == ("write-a", "write-any")
    events = authed.call("read", "GET", f"/runs/{run['id']}/events?limit=500").json()["items"]
    assert events[0]["actor"] == "write-a"
    assert any(e["actor"] == "write-any" and e["action"] == "stop" for e in events)
    versions = authed.call("read", "GET", "/workflows/hello/versions").json()["items"]
    assert versions[0]["created_by"] == "write-a"


def test_a_write_token_cannot_take_over_another_owners_workflow(authed: Tokens) -> None:
    assert authed.call("write-a", "POST", "/workflows", **YAML).status_code == 201
    stolen = {**YAML, "content": workflow_yaml(owner="team-b")}
    assert authed.call("write-b", "POST", "/workflows", **stolen).status_code == 403
    assert authed.call("write-any", "POST", "/workflows", **stolen).status_code == 201
