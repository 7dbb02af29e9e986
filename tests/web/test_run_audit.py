"""The run page says who started a run and who ended it (from the run's events); the
platform's own doings ("system") and the anonymous caller of a standalone are not named."""

from __future__ import annotations

from fastapi.testclient import TestClient

from maestro.engine.actions import start_run_now, stop_run
from tests.engine.harness import Harness

WORKFLOW = """
id: audited
owner: t
steps:
  - {id: a, type: noop}
"""


def test_the_run_page_names_who_started_and_who_stopped_it(
    harness: Harness, client: TestClient
) -> None:
    harness.submit(WORKFLOW)
    run_id = start_run_now(harness.engine, "audited", "ada").run_id
    stop_run(harness.engine, run_id, "bob")
    html = client.get(f"/runs/{run_id}").text
    assert "manual by ada" in html
    assert "Stopped by bob" in html or "stopped by bob" in html.lower()


def test_system_and_anonymous_actors_are_not_named(harness: Harness, client: TestClient) -> None:
    harness.submit(WORKFLOW)
    run_id = start_run_now(harness.engine, "audited", "anonymous").run_id
    harness.drain(run_id)
    html = client.get(f"/runs/{run_id}").text
    assert " by anonymous" not in html and " by system" not in html
