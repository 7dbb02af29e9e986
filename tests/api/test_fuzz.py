"""Random YAML and JSON bodies: the definition parser behind the API answers 2xx or a
problem+json 4xx, never anything else (the parser's own fuzz is in tests/unit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from maestro.engine.core import Engine
from maestro.settings import load_settings
from maestro.store.db import Database
from maestro.store.migrate import upgrade
from tests.api.conftest import API, workflow_yaml

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_JSONISH = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    ["id", "owner", "steps", "params", "triggers", "depends_on", "type", "shell", "when", "x"]
)
_TEXT_LINES = st.sampled_from([*workflow_yaml().splitlines(), "- {", "  &a [*a]", ": :", "\t"])


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    db = Database(f"sqlite:///{home / 'maestro.db'}")
    upgrade(db)
    with TestClient(create_app(Engine(db, load_settings(home=home)), auth=False)) as client:
        yield client
    db.dispose()


def _ok(status: int) -> bool:
    return status in (200, 201, 400, 413, 422)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(_KEYS, _JSONISH, max_size=6) | _JSONISH)
def test_random_json_definitions(fuzz_client: TestClient, data: object) -> None:
    body = json.dumps(data, allow_nan=True)
    for path in ("/workflows/validate", "/workflows"):
        response = fuzz_client.post(
            API + path, content=body, headers={"Content-Type": "application/json"}
        )
        assert _ok(response.status_code), response.text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_TEXT_LINES, max_size=25).map("\n".join) | st.binary(max_size=200))
def test_random_yaml_definitions(fuzz_client: TestClient, text: str | bytes) -> None:
    response = fuzz_client.post(
        API + "/workflows", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert _ok(response.status_code), response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
