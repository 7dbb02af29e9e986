"""Runs: starting (params, versions, Idempotency-Key), history, detail, steps, logs, events,
and the run and step actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from maestro.store import tables
from tests.api.conftest import API, TYPED, problem_of
from tests.engine.harness import Harness


def test_start_with_params_version_and_logical_date(
    client: TestClient, submit: Callable[..., Any]
) -> None:
    submit()
    body = {"params": {"who": "Ada"}, "version": 1, "logical_date": "2026-03-01T00:00:00+02:00"}
    response = client.post(API + "/workflows/hello/runs", json=body)
    assert response.status_code == 201
    run = response.json()
    assert run["params"] == {"who": "Ada"} and run["version"] == 1 and run["number"] == 1
    assert run["status"] == "RUNNING" and run["trigger"] == "manual"
    assert run["logical_date"] == "2026-02-28T22:00:00Z"
    assert run["step_counts"] == {"QUEUED": 1, "PENDING": 1} and run["steps_total"] == 2
    no_body = client.post(API + "/workflows/hello/runs", headers=TYPED)
    assert no_body.status_code == 201 and no_body.json()["params"] == {"who": "world"}


def test_start_refuses_bad_params_and_versions(
    client: TestClient, submit: Callable[..., Any]
) -> None:
    submit()
    body = problem_of(client.post(API + "/workflows/hello/runs", json={"params": {"x": 1}}), 422)
    assert body["errors"] == [{"loc": ["params", "x"], "msg": "unknown param 'x'"}]
    problem_of(client.post(API + "/workflows/hello/runs", json={"version": 7}), 422)
    problem_of(client.post(API + "/workflows/hello/runs", json={"nope": 1}), 422)
    naive = {"logical_date": "2026-03-01T00:00:00"}
    problem_of(client.post(API + "/workflows/hello/runs", json=naive), 422)
    problem_of(client.post(API + "/workflows/nope/runs", json={}), 404)
    assert client.get(API + "/workflows/hello/runs").json()["items"] == []


def test_the_same_idempotency_key_returns_the_same_run(
    client: TestClient, submit: Callable[..., Any]
) -> None:
    submit()
    submit("other")
    key = {"Idempotency-Key": "deploy-42"}
    first = client.post(API + "/workflows/hello/runs", json={}, headers=key)
    again = client.post(API + "/workflows/hello/runs", json={}, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = client.post(API + "/workflows/other/runs", json={}, headers=key)
    assert other.status_code == 201  # keys are per workflow
    fresh = client.post(API + "/workflows/hello/runs", json={}, headers={"Idempotency-Key": "x"})
    assert fresh.status_code == 201 and fresh.json()["number"] == 2
    problem_of(
        client.post(API + "/workflows/hello/runs", json={}, headers={"Idempotency-Key": "a" * 129}),
        422,
    )


def test_history_newest_first_with_cursors_and_filters(
    client: TestClient, start: Callable[..., int], harness: Harness
) -> None:
    ids = [start() for _ in range(7)]
    with harness.db.tx() as conn:
        conn.execute(update(tables.runs).where(tables.runs.c.id == ids[2]).values(status="FAILED"))
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(API + "/workflows/hello/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    # stable under inserts: a new run does not shift the next page
    first = client.get(API + "/workflows/hello/runs?limit=3").json()
    start()
    after = client.get(
        API + "/workflows/hello/runs", params={"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [r["id"] for r in after["items"]] == ids[::-1][3:6]
    failed = client.get(API + "/workflows/hello/runs?status=FAILED").json()["items"]
    assert [r["id"] for r in failed] == [ids[2]]
    # the default run strategy is sequential: one run RUNNING, the later ones QUEUED
    both = client.get(API + "/workflows/hello/runs?status=FAILED&status=RUNNING&limit=500")
    assert [r["status"] for r in both.json()["items"]].count("FAILED") == 1
    assert len(both.json()["items"]) == 2
    every = client.get(
        API + "/workflows/hello/runs?status=FAILED&status=RUNNING&status=QUEUED&limit=500"
    )
    assert len(every.json()["items"]) == 8
    assert client.get(API + "/workflows/hello/runs?trigger=cron").json()["items"] == []
    window = {"since": "2025-12-31T00:00:00Z", "until": "2026-01-02T00:00:00Z"}
    assert len(client.get(API + "/workflows/hello/runs", params=window).json()["items"]) == 8
    assert (
        client.get(API + "/workflows/hello/runs?since=2026-01-02T00:00:00Z").json()["items"] == []
    )
    problem_of(client.get(API + "/workflows/hello/runs?status=NOPE"), 422)


def test_run_steps_step_events_and_logs(
    client: TestClient, start: Callable[..., int], harness: Harness
) -> None:
    run_id = start(params={"who": "Ada"})
    harness.drain(run_id)
    run = client.get(f"{API}/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED" and run["step_counts"] == {"SUCCEEDED": 2}
    steps = client.get(f"{API}/runs/{run_id}/steps").json()
    assert [(s["step_id"], s["status"], s["attempt_count"]) for s in steps["items"]] == [
        ("greet", "SUCCEEDED", 1),
        ("after", "SUCCEEDED", 1),
    ]
    assert steps["items"][0]["outputs"] == {"greeting": "hello Ada"}
    paged = client.get(f"{API}/runs/{run_id}/steps?limit=1").json()
    rest = client.get(f"{API}/runs/{run_id}/steps", params={"cursor": paged["next_cursor"]})
    assert [s["step_id"] for s in rest.json()["items"]] == ["after"]
    step = client.get(f"{API}/runs/{run_id}/steps/greet").json()
    assert [(a["number"], a["status"], a["worker"]) for a in step["attempts"]] == [
        (1, "SUCCEEDED", "test-worker")
    ]
    log = client.get(f"{API}/runs/{run_id}/steps/greet/attempts/1/logs")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert "hello, Ada" in log.text
    size = int(log.headers["X-Log-Size"])
    assert size == len(log.content) and log.headers["X-Attempt-Status"] == "SUCCEEDED"
    part = client.get(f"{API}/runs/{run_id}/steps/greet/attempts/1/logs?offset=2&limit=5")
    assert part.content == log.content[2:7] and part.headers["X-Next-Offset"] == "7"
    past = client.get(f"{API}/runs/{run_id}/steps/greet/attempts/1/logs?offset=99999")
    assert past.content == b"" and past.headers["X-Next-Offset"] == "99999"
    empty = client.get(f"{API}/runs/{run_id}/steps/after/attempts/1/logs")
    assert empty.status_code == 200 and empty.content == b""  # noop never wrote a log
    problem_of(client.get(f"{API}/runs/{run_id}/steps/greet/attempts/2/logs"), 404)
    problem_of(client.get(f"{API}/runs/{run_id}/steps/nope"), 404)
    problem_of(client.get(f"{API}/runs/999999/steps"), 404)
    problem_of(client.get(f"{API}/runs/{2**63}"), 422)
    events = client.get(f"{API}/runs/{run_id}/events?limit=4").json()
    assert events["items"][0]["to_status"] == "QUEUED" and events["items"][0]["entity"] == "run"
    assert events["items"][0]["actor"] == "anonymous"
    rest = client.get(f"{API}/runs/{run_id}/events", params={"cursor": events["next_cursor"]})
    all_ids = [e["id"] for e in events["items"]] + [e["id"] for e in rest.json()["items"]]
    assert all_ids == sorted(all_ids) and len(set(all_ids)) == len(all_ids)
    assert rest.json()["items"][-1]["to_status"] == "SUCCEEDED"


def test_a_log_is_readable_while_the_step_runs(
    client: TestClient, start: Callable[..., int], harness: Harness, tmp_path: Path
) -> None:
    run_id = start()
    attempt_id = harness.dispatcher.pending[0].attempt_id
    log = tmp_path / "live.log"
    with harness.db.tx() as conn:
        conn.execute(
            update(tables.attempts)
            .where(tables.attempts.c.id == attempt_id)
            .values(status="RUNNING", log_path=str(log))
        )
    url = f"{API}/runs/{run_id}/steps/greet/attempts/1/logs"
    assert client.get(url).content == b""  # not written yet
    log.write_bytes(b"line 1\n")
    first = client.get(url)
    assert first.content == b"line 1\n" and first.headers["X-Attempt-Status"] == "RUNNING"
    with log.open("ab") as f:
        f.write(b"line 2\n")
    more = client.get(url, params={"offset": first.headers["X-Next-Offset"]})
    assert more.content == b"line 2\n"


def test_run_actions_record_the_actor_and_refuse_invalid_states(
    client: TestClient, start: Callable[..., int]
) -> None:
    run_id = start()
    paused = client.post(f"{API}/runs/{run_id}/pause", headers=TYPED)
    assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
    body = problem_of(client.post(f"{API}/runs/{run_id}/pause", headers=TYPED), 409)
    assert "PAUSED" in body["detail"]
    assert client.post(f"{API}/runs/{run_id}/resume", headers=TYPED).json()["status"] == "RUNNING"
    stopped = client.post(f"{API}/runs/{run_id}/stop", headers=TYPED)
    assert stopped.status_code == 200 and stopped.json()["status"] == "STOPPED"
    body = problem_of(client.post(f"{API}/runs/{run_id}/kill", headers=TYPED), 409)
    assert "STOPPED" in body["detail"]
    events = client.get(f"{API}/runs/{run_id}/events?limit=500").json()["items"]
    actions = {e["action"] for e in events if e["actor"] == "anonymous"}
    assert {"pause", "resume", "stop"} <= actions
    problem_of(client.post(f"{API}/runs/999999/stop", headers=TYPED), 404)


def test_kill_and_restart(client: TestClient, start: Callable[..., int], harness: Harness) -> None:
    run_id = start()
    assert client.post(f"{API}/runs/{run_id}/kill", headers=TYPED).json()["status"] == "FAILED"
    restarted = client.post(f"{API}/runs/{run_id}/restart", json={"from": "beginning"})
    assert restarted.status_code == 201
    new = restarted.json()
    assert new["restarted_from"] == run_id and new["number"] == 2 and new["trigger"] == "restart"
    harness.drain(new["id"])
    assert client.get(f"{API}/runs/{new['id']}").json()["status"] == "SUCCEEDED"
    problem_of(client.post(f"{API}/runs/{run_id}/restart", json={"from": "step"}), 422)
    problem_of(client.post(f"{API}/runs/{run_id}/restart", json={"from": "sideways"}), 422)


STEPS = """
id: steps
owner: team-a
steps:
  - {id: bad, type: shell, shell: {command: "echo failing; exit 3"}}
  - {id: other, type: noop}
  - {id: after, type: noop, depends_on: [bad]}
"""


def test_step_actions(client: TestClient, harness: Harness) -> None:
    client.post(API + "/workflows", content=STEPS, headers={"Content-Type": "application/yaml"})
    run_id = client.post(API + "/workflows/steps/runs", json={}).json()["id"]
    bad, _other = harness.dispatcher.pending
    harness.dispatcher.pending.remove(bad)
    harness.executor.execute(bad.attempt_id)  # only `bad` runs: the run stays RUNNING
    assert client.get(f"{API}/runs/{run_id}/steps/bad").json()["status"] == "FAILED"
    retried = client.post(f"{API}/runs/{run_id}/steps/bad/retry", headers=TYPED)
    assert retried.status_code == 200 and retried.json()["status"] in ("QUEUED", "WAITING")
    assert len(retried.json()["attempts"]) == 2
    body = problem_of(client.post(f"{API}/runs/{run_id}/steps/bad/retry", headers=TYPED), 409)
    assert "QUEUED" in body["detail"] or "WAITING" in body["detail"]
    skipped = client.post(f"{API}/runs/{run_id}/steps/after/skip", headers=TYPED)
    assert skipped.status_code == 200 and skipped.json()["status"] == "SKIPPED"
    stopped = client.post(f"{API}/runs/{run_id}/steps/other/stop", headers=TYPED)
    assert stopped.status_code == 200 and stopped.json()["status"] == "STOPPED"
    problem_of(client.post(f"{API}/runs/{run_id}/steps/nope/skip", headers=TYPED), 404)
    problem_of(client.post(f"{API}/runs/{run_id}/steps/bad%20x/skip", headers=TYPED), 422)


@pytest.mark.parametrize("path", ["stop", "kill", "pause", "resume"])
def test_unknown_runs_are_404_for_every_action(client: TestClient, path: str) -> None:
    problem_of(client.post(f"{API}/runs/424242/{path}", headers=TYPED), 404)


FOREACH = """
id: fan
owner: team-a
steps:
  - id: each
    type: foreach
    foreach: {items: "range(3) | list", concurrency: 2, steps: [{id: s, type: noop}]}
"""


def test_foreach_iterations_are_children_not_history(client: TestClient, harness: Harness) -> None:
    client.post(API + "/workflows", content=FOREACH, headers={"Content-Type": "application/yaml"})
    run_id = client.post(API + "/workflows/fan/runs", json={}).json()["id"]
    assert harness.drain(run_id).status.value == "SUCCEEDED"
    run = client.get(f"{API}/runs/{run_id}").json()
    assert len(run["children"]) == 3
    step = client.get(f"{API}/runs/{run_id}/steps/each").json()
    assert (step["children_total"], step["children_done"], step["children_failed"]) == (3, 3, 0)
    history = client.get(API + "/workflows/fan/runs").json()["items"]
    assert [r["id"] for r in history] == [run_id]
    child = client.get(f"{API}/runs/{run['children'][0]}").json()
    assert child["parent_run_id"] == run_id and child["status"] == "SUCCEEDED"
