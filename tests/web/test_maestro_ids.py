"""Maestro's step ids (``job.1``, ``sub-step1``) in the web view's and the API's addresses."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.engine.harness import Harness

IDS = """
id: ids
owner: o
steps:
  - {id: job.1, type: shell, shell: {command: "echo from job.1"}}
  - {id: sub-step1, type: noop, depends_on: [job.1]}
"""


def test_step_pages_and_api_step_urls_take_dotted_and_dashed_ids(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start(IDS)
    assert harness.drain(run_id).status == "SUCCEEDED"

    run_page = client.get(f"/runs/{run_id}")
    assert run_page.status_code == 200
    assert f'href="/runs/{run_id}/steps/job.1"' in run_page.text
    assert f'href="/runs/{run_id}/steps/sub-step1"' in run_page.text

    for step_id in ("job.1", "sub-step1"):
        page = client.get(f"/runs/{run_id}/steps/{step_id}")
        assert page.status_code == 200, step_id
        assert f"Step {step_id}" in page.text
        api = client.get(f"/api/v1/runs/{run_id}/steps/{step_id}")
        assert api.status_code == 200, step_id
        assert api.json()["step_id"] == step_id

    attempt = client.get(f"/runs/{run_id}/steps/job.1/attempts/1")
    assert attempt.status_code == 200
    logs = client.get(f"/api/v1/runs/{run_id}/steps/job.1/attempts/1/logs")
    assert logs.status_code == 200
    assert "from job.1" in logs.text
    # still refused: what no step id may be
    assert client.get(f"/api/v1/runs/{run_id}/steps/.job").status_code == 422
    assert client.get(f"/runs/{run_id}/steps/-job").status_code in (404, 422)
