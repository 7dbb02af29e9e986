"""POST /api/v1/workflows accepts a Netflix Maestro JSON definition (docs/maestro.md)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import API, problem_of

FIXTURES = Path(__file__).parent.parent / "compat" / "fixtures"


def test_post_maestro_json_translates_it(client: TestClient) -> None:
    body = (FIXTURES / "plain-dag.json").read_text()
    response = client.post(
        API + "/workflows", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["id"] == "compat-plain-dag"


def test_post_not_importable_maestro_json_is_422_naming_the_path(client: TestClient) -> None:
    body = (FIXTURES / "container.json").read_text()
    response = client.post(
        API + "/workflows", content=body, headers={"Content-Type": "application/json"}
    )
    problem = problem_of(response, 422)
    assert "workflow.steps[0].step.type" in response.text
    assert "container runtime" in problem["detail"] + response.text
