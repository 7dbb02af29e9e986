"""The API through HTTP on the real app, on SQLite and PostgreSQL (the ``db_url`` fixture).

Runs do not execute unless a test says so: attempts wait in the harness's inline dispatcher
until ``harness.drain(run_id)`` executes them in the test's thread.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from maestro.store.tokens import Scope, create_token
from tests.engine.harness import Harness

API = "/api/v1"
#: a body-less action still names a type (without tokens the API refuses untyped POSTs)
TYPED = {"Content-Type": "application/json"}

WORKFLOW = """
id: {id}
owner: {owner}
tags: [{tag}]
params:
  who: {{type: string, default: world}}
steps:
  - id: greet
    type: shell
    shell:
      command: |
        echo "hello, {{{{ params.who }}}}"
        echo "greeting=hello {{{{ params.who }}}}" >> "$MAESTRO_OUTPUT"
  - id: after
    type: noop
    depends_on: [greet]
"""


def workflow_yaml(id: str = "hello", owner: str = "team-a", tag: str = "demo") -> str:
    return textwrap.dedent(WORKFLOW.format(id=id, owner=owner, tag=tag))


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5)
    yield h
    h.close()


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    """The API without authentication (as ``maestro standalone`` serves it)."""
    with TestClient(create_app(harness.engine, auth=False), base_url="http://test") as c:
        yield c


@dataclass
class Tokens:
    """A client with authentication on, and tokens of every kind."""

    client: TestClient
    tokens: dict[str, str]

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.request(method, API + path, headers=headers, **kwargs)


TOKEN_KINDS: dict[str, tuple[Scope, list[str]]] = {
    "read": (Scope.read, []),
    "write-a": (Scope.write, ["team-a"]),
    "write-b": (Scope.write, ["team-b"]),
    "write-any": (Scope.write, []),
    "admin": (Scope.admin, []),
}


@pytest.fixture
def authed(harness: Harness) -> Iterator[Tokens]:
    tokens = {}
    with harness.db.tx() as conn:
        for name, (scope, owners) in TOKEN_KINDS.items():
            tokens[name] = create_token(conn, name, scope, owners, harness.clock.now())
    with TestClient(create_app(harness.engine, auth=True), base_url="http://test") as c:
        yield Tokens(c, tokens)


@pytest.fixture
def submit(client: TestClient) -> Callable[..., dict[str, Any]]:
    def do(id: str = "hello", owner: str = "team-a", tag: str = "demo") -> dict[str, Any]:
        response = client.post(
            API + "/workflows",
            content=workflow_yaml(id, owner, tag),
            headers={"Content-Type": "application/yaml"},
        )
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    return do


@pytest.fixture
def start(client: TestClient, submit: Callable[..., dict[str, Any]]) -> Callable[..., int]:
    """Submit ``hello`` (once) and start a run of it; returns the run id."""

    def do(workflow_id: str = "hello", **body: Any) -> int:
        submit(workflow_id)
        response = client.post(f"{API}/workflows/{workflow_id}/runs", json=body)
        assert response.status_code == 201, response.text
        run_id: int = response.json()["id"]
        return run_id

    return do


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """Assert ``response`` is a problem+json with ``status`` and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and isinstance(body["detail"], str)
    assert "Traceback" not in response.text
    return body
