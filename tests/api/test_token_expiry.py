"""Tokens with an expiry (``maestro token create --expires``): refused with 401 from the
moment they expire — by the API and by the web sessions opened with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from maestro.store.tokens import Scope, create_token
from maestro.store.web_sessions import open_session, verify_session
from tests.engine.harness import Harness


def test_an_expired_token_is_refused_at_once(harness: Harness) -> None:
    now = harness.clock.now()
    with harness.db.tx() as conn:
        token = create_token(conn, "temp", Scope.read, [], now, now + timedelta(hours=1))
        forever = create_token(conn, "forever", Scope.read, [], now)
        session = open_session(conn, token, now)
    assert session is not None
    with TestClient(create_app(harness.engine, auth=True), base_url="http://test") as client:

        def status(secret: str) -> int:
            headers = {"Authorization": f"Bearer {secret}"}
            return client.get("/api/v1/workflows", headers=headers).status_code

        assert status(token) == 200
        harness.clock.advance(3599)
        assert status(token) == 200
        harness.clock.advance(2)
        assert status(token) == 401
        assert status(forever) == 200  # no --expires: lives until revoked
    with harness.db.read() as conn:
        assert verify_session(conn, session, harness.clock.now()) is None
        assert open_session(conn, token, harness.clock.now()) is None


def test_the_cli_creates_and_lists_a_token_with_its_expiry(tmp_path: Path) -> None:
    env = {**os.environ, "MAESTRO_HOME": str(tmp_path), "MAESTRO_DATABASE_URL": ""}

    def maestro(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "maestro", "token", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = maestro("create", "--name", "ci", "--expires", "90d")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("mae_") and "expires 20" in created.stderr
    (listed,) = json.loads(maestro("list", "--json").stdout)
    assert listed["name"] == "ci" and listed["expires_at"]
    refused = maestro("create", "--name", "x", "--expires", "soon")
    assert refused.returncode != 0 and "--expires" in refused.stderr
