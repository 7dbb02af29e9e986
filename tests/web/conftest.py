"""The web view on the real app (``create_app``), on SQLite and PostgreSQL.

Runs execute only when a test drains them (the engine harness's inline dispatcher), so each
test decides exactly which runs exist and how they ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from maestro.store.tokens import Scope, create_token
from tests.engine.harness import Harness

#: a workflow whose ``transform`` fails until ``flag`` exists
FLAKY = """
id: {id}
name: {name}
owner: {owner}
tags: [nightly]
triggers:
  - cron: "0 3 * * *"
steps:
  - id: extract
    type: shell
    shell: {{command: "echo extracting"}}
  - id: transform
    type: shell
    depends_on: [extract]
    shell: {{command: "test -f {flag} || {{ echo 'no input partition' >&2; exit 3; }}"}}
  - id: load
    type: noop
    depends_on: [transform]
"""


def flaky(tmp_path: Path, id: str = "sales", owner: str = "team-a", name: str = "Sales") -> str:
    return FLAKY.format(id=id, owner=owner, name=name, flag=tmp_path / "flag")


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5)
    yield h
    h.close()


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    """The app without authentication (as ``maestro standalone`` serves it)."""
    with TestClient(create_app(harness.engine, auth=False), base_url="http://test") as c:
        yield c


TOKENS: dict[str, tuple[Scope, list[str]]] = {
    "reader": (Scope.read, []),
    "writer-a": (Scope.write, ["team-a"]),
    "writer-b": (Scope.write, ["team-b"]),
}


@dataclass
class Authed:
    client: TestClient
    tokens: dict[str, str]

    def log_in(self, who: str) -> Response:
        return post_form(self.client, "/login", {"token": self.tokens[who], "next": "/"})


@pytest.fixture
def authed(harness: Harness) -> Iterator[Authed]:
    tokens = {}
    with harness.db.tx() as conn:
        for name, (scope, owners) in TOKENS.items():
            tokens[name] = create_token(conn, name, scope, owners, harness.clock.now())
    with TestClient(create_app(harness.engine, auth=True), base_url="http://test") as c:
        yield Authed(c, tokens)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(client: TestClient, page: str = "/") -> str:
    """The CSRF value of the forms of ``page`` (fetching it sets the CSRF cookie)."""
    html = client.get(page).text
    found = CSRF.search(html)
    if found:
        return found.group(1)
    cookie = client.cookies.get("maestro_csrf")
    assert cookie, "a page sets the CSRF cookie"
    return str(cookie)


def post_form(
    client: TestClient, path: str, fields: dict[str, Any] | None = None, *, csrf: bool = True
) -> Response:
    """Submit a form as the browser would: with the CSRF value of a page just loaded."""
    data = dict(fields or {})
    if csrf:
        data.setdefault("csrf", csrf_of(client, "/login" if path == "/login" else "/"))
    return client.post(path, data=data, follow_redirects=False)
