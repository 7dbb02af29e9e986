"""Finding runs: ``GET /api/v1/runs`` across workflows and ``GET /workflows/{id}/runs``, by
status, trigger, creation date and params text, with counts per status, the scan budget of the
run-by-run filters and keyset pages (``maestro/reads/run_search.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from maestro.reads import run_search
from tests.api.conftest import API, TYPED
from tests.engine.harness import Harness

GATE = """
id: {id}
owner: team-a
params:
  ok: {{type: bool, default: true}}
  region: {{type: string, default: us-east}}
steps:
  - id: check
    type: shell
    shell: {{command: "test '{{{{ params.ok }}}}' = 'True' || test '{{{{ params.ok }}}}' = 'true'"}}
"""


def _run(harness: Harness, wf: str, ok: bool = True, region: str = "us-east") -> int:
    run_id = harness.start(GATE.format(id=wf), params={"ok": ok, "region": region})
    harness.drain(run_id)
    harness.clock.advance(60)
    return run_id


def _ids(body: dict[str, Any]) -> list[int]:
    return [r["id"] for r in body["items"]]


@pytest.fixture
def seeded(harness: Harness) -> dict[str, int]:
    """Six runs of two workflows, a minute apart: ``a1`` … ``b3`` (oldest first)."""
    return {
        "a1": _run(harness, "alpha"),
        "b1": _run(harness, "beta", ok=False),
        "a2": _run(harness, "alpha", region="EU-West"),
        "b2": _run(harness, "beta"),
        "a3": _run(harness, "alpha", ok=False, region="eu-west"),
        "b3": _run(harness, "beta", region="100%_sure"),
    }


def test_runs_of_every_workflow_newest_first_and_by_workflow(
    client: TestClient, seeded: dict[str, int]
) -> None:
    s = seeded
    everything = client.get(f"{API}/runs").json()
    assert _ids(everything) == [s["b3"], s["a3"], s["b2"], s["a2"], s["b1"], s["a1"]]
    assert everything["next_cursor"] is None
    assert {r["workflow_id"] for r in everything["items"]} == {"alpha", "beta"}
    alpha = client.get(f"{API}/runs", params={"workflow": "alpha"}).json()
    assert _ids(alpha) == [s["a3"], s["a2"], s["a1"]]
    same = client.get(f"{API}/workflows/alpha/runs").json()
    assert _ids(same) == _ids(alpha)


def test_status_filters_merge_each_status_by_id(client: TestClient, seeded: dict[str, int]) -> None:
    s = seeded
    failed = client.get(f"{API}/runs", params={"status": "FAILED"}).json()
    assert _ids(failed) == [s["a3"], s["b1"]]
    both = client.get(f"{API}/runs", params=[("status", "FAILED"), ("status", "SUCCEEDED")])
    assert _ids(both.json()) == [s["b3"], s["a3"], s["b2"], s["a2"], s["b1"], s["a1"]]
    beta_failed = client.get(f"{API}/workflows/beta/runs", params={"status": "FAILED"}).json()
    assert _ids(beta_failed) == [s["b1"]]


def test_params_text_ignores_case_and_takes_wildcards_literally(
    client: TestClient, seeded: dict[str, int]
) -> None:
    s = seeded
    eu = client.get(f"{API}/runs", params={"q": "eu-WEST"}).json()
    assert _ids(eu) == [s["a3"], s["a2"]]
    literal = client.get(f"{API}/runs", params={"q": "100%_"}).json()
    assert _ids(literal) == [s["b3"]]
    assert _ids(client.get(f"{API}/runs", params={"q": "0%_s"}).json()) == [s["b3"]]
    assert _ids(client.get(f"{API}/runs", params={"q": "%"}).json()) == [s["b3"]]


def test_trigger_and_date_range(
    client: TestClient, harness: Harness, seeded: dict[str, int]
) -> None:
    s = seeded
    restarted = client.post(f"{API}/runs/{s['a3']}/restart", headers=TYPED, json={}).json()
    by_trigger = client.get(f"{API}/runs", params={"trigger": "restart"}).json()
    assert _ids(by_trigger) == [restarted["id"]]
    manual = client.get(f"{API}/runs", params={"trigger": "manual", "workflow": "alpha"}).json()
    assert _ids(manual) == [s["a3"], s["a2"], s["a1"]]

    created = {k: client.get(f"{API}/runs/{v}").json()["created_at"] for k, v in seeded.items()}
    window = client.get(
        f"{API}/runs", params={"since": created["b1"], "until": created["b2"]}
    ).json()
    assert _ids(window) == [s["a2"], s["b1"]]  # since inclusive, until exclusive
    after_all = client.get(f"{API}/runs", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert after_all["items"] == []
    before_all = client.get(f"{API}/runs", params={"until": "2000-01-01T00:00:00Z"}).json()
    assert before_all["items"] == []


def test_counts_per_status_follow_workflow_and_dates(
    client: TestClient, seeded: dict[str, int]
) -> None:
    counts = client.get(f"{API}/runs", params={"counts": "true"}).json()["counts"]
    assert counts["SUCCEEDED"] == 4 and counts["FAILED"] == 2 and counts["RUNNING"] == 0
    alpha = client.get(f"{API}/workflows/alpha/runs", params={"counts": "true"}).json()
    assert alpha["counts"]["FAILED"] == 1 and alpha["counts"]["SUCCEEDED"] == 2
    assert client.get(f"{API}/runs").json()["counts"] is None


def test_counts_stop_at_the_cap(
    client: TestClient, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_search, "COUNT_CAP", 2)
    counts = client.get(f"{API}/runs", params={"counts": "true"}).json()["counts"]
    assert counts["SUCCEEDED"] == 3  # cap + 1: "more than 2"
    assert counts["FAILED"] == 2


def test_pages_follow_their_cursor_with_filters(client: TestClient, seeded: dict[str, int]) -> None:
    s = seeded
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 1, "status": "SUCCEEDED"}
    for _ in range(10):
        body = client.get(f"{API}/runs", params=params).json()
        seen += _ids(body)
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [s["b3"], s["b2"], s["a2"], s["a1"]]


def test_a_row_filter_stops_at_its_budget_and_says_how_far_it_searched(
    client: TestClient, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_search, "SCAN_BUDGET", 2)
    s = seeded
    first = client.get(f"{API}/runs", params={"q": "eu-west"}).json()
    # the budget reads b3 and a3 only: a3 matches, the page is not full, the rest is unread
    assert _ids(first) == [s["a3"]]
    assert first["searched_to"] == s["a3"]
    found, cursor, pages = _ids(first), first["next_cursor"], 0
    while cursor is not None and pages < 10:
        body = client.get(f"{API}/runs", params={"q": "eu-west", "cursor": cursor}).json()
        found += _ids(body)
        cursor, pages = body["next_cursor"], pages + 1
    assert found == [s["a3"], s["a2"]]
    assert body["searched_to"] is None  # the last window reached the oldest run


def test_bad_filters_are_client_errors_that_name_the_parameter(client: TestClient) -> None:
    for params, name in [
        ({"status": "BROKEN"}, "status"),
        ({"trigger": "Cron!"}, "trigger"),
        ({"since": "yesterday"}, "since"),
        ({"q": "x" * 201}, "q"),
        ({"workflow": "../etc"}, "workflow"),
        ({"cursor": "nope"}, None),
    ]:
        answer = client.get(f"{API}/runs", params=params)
        assert answer.status_code in (400, 422), (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if name:
            assert name in answer.text
    reversed_range = client.get(
        f"{API}/runs", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    )
    assert reversed_range.status_code == 422
    assert "until" in reversed_range.json()["detail"]
    assert client.get(f"{API}/workflows/nope/runs").status_code == 404


def test_foreach_iterations_are_not_listed(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(
        """
        id: loop
        owner: team-a
        steps:
          - id: each
            type: foreach
            foreach:
              items: "[1, 2, 3]"
              as: n
              steps:
                - {id: body, type: noop}
        """
    )
    harness.drain(run_id)
    assert _ids(client.get(f"{API}/runs").json()) == [run_id]
