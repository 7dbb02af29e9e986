"""Workflows: submission (YAML and JSON), validation, listing, versions, pause, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.api.conftest import API, TYPED, problem_of, workflow_yaml
from tests.engine.harness import Harness

YAML = {"Content-Type": "application/yaml"}


def test_submit_yaml_then_the_same_again_then_a_change(client: TestClient) -> None:
    text = workflow_yaml()
    first = client.post(API + "/workflows", content=text, headers=YAML)
    assert first.status_code == 201
    assert first.json() == {"id": "hello", "version": 1, "created": True, "active_version": 1}
    again = client.post(API + "/workflows", content=text, headers=YAML)
    assert again.status_code == 200 and again.json()["created"] is False
    changed = client.post(API + "/workflows", content=text.replace("world", "you"), headers=YAML)
    assert changed.status_code == 201 and changed.json()["version"] == 2


def test_submit_json_and_stage_a_version_without_activating_it(client: TestClient) -> None:
    data = yaml.safe_load(workflow_yaml())
    assert client.post(API + "/workflows", json=data).status_code == 201
    data["description"] = "staged"
    staged = client.post(API + "/workflows?activate=false", json=data)
    assert staged.json() == {"id": "hello", "version": 2, "created": True, "active_version": 1}
    detail = client.get(API + "/workflows/hello").json()
    assert detail["active_version"] == 1 and detail["latest_version"] == 2
    assert detail["definition"]["description"] == ""
    activated = client.post(API + "/workflows/hello/versions/2/activate", headers=TYPED)
    assert activated.status_code == 200 and activated.json()["active_version"] == 2
    problem_of(client.post(API + "/workflows/hello/versions/9/activate", headers=TYPED), 404)


def test_an_invalid_definition_lists_every_problem_with_its_path(client: TestClient) -> None:
    text = """
id: broken
steps:
  - id: a
    type: shell
  - id: b
    type: noop
    depends_on: [nope]
"""
    for path in ("/workflows", "/workflows/validate"):
        body = problem_of(client.post(API + path, content=text, headers=YAML), 422)
        locs = {tuple(e["loc"]) for e in body["errors"]}
        assert ("owner",) in locs
        assert ("steps", 1, "depends_on", 0) in locs
        assert all(e["msg"] for e in body["errors"])


def test_malformed_bodies(client: TestClient) -> None:
    problem_of(client.post(API + "/workflows", content="a: [unclosed", headers=YAML), 422)
    problem_of(client.post(API + "/workflows", content=b"\xff\xfe", headers=YAML), 422)
    bad_json = {"Content-Type": "application/json"}
    problem_of(client.post(API + "/workflows/hello/runs", content="{", headers=bad_json), 400)
    problem_of(client.post(API + "/workflows", content=b"x" * (1024 * 1024 + 1), headers=YAML), 413)
    # a body that does not announce its length is counted as it streams
    chunks = (b"x" * 65536 for _ in range(20))
    problem_of(client.post(API + "/workflows", content=chunks, headers=YAML), 413)


def test_validate_returns_the_normalized_definition(client: TestClient) -> None:
    response = client.post(API + "/workflows/validate", content=workflow_yaml(), headers=YAML)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True and body["id"] == "hello"
    assert body["definition"]["steps"][1]["depends_on"] == ["greet"]
    assert client.get(API + "/workflows").json()["items"] == []  # nothing stored


def test_list_filters_and_pages(client: TestClient, submit: Callable[..., Any]) -> None:
    for i in range(5):
        submit(
            f"wf-{i}", owner="team-a" if i % 2 else "team-b", tag="even" if i % 2 == 0 else "odd"
        )
    page = client.get(API + "/workflows?limit=2").json()
    assert [w["id"] for w in page["items"]] == ["wf-0", "wf-1"]
    seen = [w["id"] for w in page["items"]]
    while page["next_cursor"]:
        page = client.get(API + "/workflows", params={"limit": 2, "cursor": page["next_cursor"]})
        page = page.json()
        seen += [w["id"] for w in page["items"]]
    assert seen == [f"wf-{i}" for i in range(5)]
    by_owner = client.get(API + "/workflows?owner=team-a").json()["items"]
    assert [w["id"] for w in by_owner] == ["wf-1", "wf-3"]
    by_tag = client.get(API + "/workflows?tag=even").json()["items"]
    assert [w["id"] for w in by_tag] == ["wf-0", "wf-2", "wf-4"]
    assert [w["id"] for w in client.get(API + "/workflows?q=F-3").json()["items"]] == ["wf-3"]
    assert client.get(API + "/workflows?q=%25").json()["items"] == []  # % is no wildcard
    client.post(API + "/workflows/wf-2/pause", headers=TYPED)
    paused = client.get(API + "/workflows?paused=true").json()["items"]
    assert [w["id"] for w in paused] == ["wf-2"] and paused[0]["paused"] is True
    client.post(API + "/workflows/wf-2/resume", headers=TYPED)
    assert client.get(API + "/workflows?paused=true").json()["items"] == []
    problem_of(client.get(API + "/workflows?cursor=garbage!"), 400)
    problem_of(client.get(API + "/workflows?limit=0"), 422)


def test_the_list_shows_the_last_run(client: TestClient, start: Callable[..., int]) -> None:
    start()
    second = start()
    item = client.get(API + "/workflows").json()["items"][0]
    # sequential (the default strategy): the second run waits for the first
    assert item["last_run"]["id"] == second and item["last_run"]["status"] == "QUEUED"
    assert item["next_trigger_at"] is None


def test_detail_versions_and_unknowns(client: TestClient, submit: Callable[..., Any]) -> None:
    submit()
    detail = client.get(API + "/workflows/hello").json()
    assert detail["owner"] == "team-a" and detail["tags"] == ["demo"]
    assert detail["triggers"] == [] and detail["run_strategy"]["kind"] == "sequential"
    assert detail["blocked_by_run_id"] is None
    versions = client.get(API + "/workflows/hello/versions").json()
    assert [(v["version"], v["active"], v["created_by"]) for v in versions["items"]] == [
        (1, True, "anonymous")
    ]
    one = client.get(API + "/workflows/hello/versions/1").json()
    assert one["definition"]["id"] == "hello" and one["source"] == "api"
    problem_of(client.get(API + "/workflows/nope"), 404)
    problem_of(client.get(API + "/workflows/hello/versions/2"), 404)
    problem_of(client.get(API + "/workflows/nope/runs"), 404)
    problem_of(client.get(API + "/workflows/bad%00id"), 422)
    problem_of(client.post(API + "/workflows/nope/pause", headers=TYPED), 404)
    problem_of(client.get(API + "/no/such/route"), 404)
    problem_of(client.put(API + "/workflows"), 405)


def test_delete_refuses_active_runs_unless_forced(
    client: TestClient, start: Callable[..., int], harness: Harness
) -> None:
    run_id = start()
    body = problem_of(client.delete(API + "/workflows/hello"), 409)
    assert f"run {run_id}" in body["detail"]
    assert client.delete(API + "/workflows/hello?force=true").status_code == 204
    problem_of(client.get(API + "/workflows/hello"), 404)
    problem_of(client.get(f"{API}/runs/{run_id}"), 404)
    with harness.db.read() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM events WHERE run_id IS NOT NULL")
        trail = conn.exec_driver_sql("SELECT action FROM events WHERE workflow_id = 'hello'")
        assert left.scalar() == 0  # versions, runs, steps, attempts and their events went
        # the workflow's own trail stays: who submitted it, who deleted it
        assert sorted(r.action for r in trail) == ["delete", "submit"]


def test_delete_an_idle_workflow(
    client: TestClient, start: Callable[..., int], harness: Harness
) -> None:
    run_id = start()
    harness.drain(run_id)
    assert client.delete(API + "/workflows/hello").status_code == 204
    problem_of(client.delete(API + "/workflows/hello"), 404)


CRON = """
id: hourly
owner: team-a
triggers:
  - cron: "0 * * * *"
steps:
  - {id: a, type: noop}
"""


def test_unblock_backfill_and_signals(client: TestClient, submit: Callable[..., Any]) -> None:
    submit()
    body = problem_of(client.post(API + "/workflows/hello/unblock", headers=TYPED), 409)
    assert "not blocked" in body["detail"]
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T03:00:00Z"}
    body = problem_of(client.post(API + "/workflows/hello/backfills", json=window), 409)
    assert "cron" in body["detail"]
    client.post(API + "/workflows", content=CRON, headers=YAML)
    created = client.post(API + "/workflows/hourly/backfills", json=window)
    assert created.status_code == 201, created.text
    assert len(created.json()["run_ids"]) >= 3
    runs = client.get(API + "/workflows/hourly/runs").json()["items"]
    assert {r["trigger"] for r in runs} == {"backfill"}
    reversed_window = {"start": window["end"], "end": window["start"]}
    problem_of(client.post(API + "/workflows/hourly/backfills", json=reversed_window), 422)
    signal = {"name": "landed", "payload": {"day": 1}, "dedupe_key": "d1"}
    sent = client.post(API + "/signals", json=signal)
    assert sent.status_code == 202 and sent.json()["duplicate"] is False
    again = client.post(API + "/signals", json=signal)
    assert again.json() == {
        **sent.json(),
        "duplicate": True,
        "runs_started": [],
        "steps_released": [],
    }
    listed = client.get(API + "/signals?name=landed").json()
    assert [(s["id"], s["payload"], s["created_by"]) for s in listed["items"]] == [
        (sent.json()["signal_id"], {"day": 1}, "anonymous")
    ]


def test_pools(client: TestClient) -> None:
    assert client.get(API + "/pools").json() == {"items": []}
    put = client.put(API + "/pools/spark", json={"slots": 4})
    assert put.status_code == 200 and put.json()["slots"] == 4 and put.json()["used"] == 0
    client.put(API + "/pools/spark", json={"slots": 2})
    assert [(p["name"], p["slots"]) for p in client.get(API + "/pools").json()["items"]] == [
        ("spark", 2)
    ]
    problem_of(client.put(API + "/pools/spark", json={"slots": -1}), 422)


def test_health_readiness_and_metrics(client: TestClient, start: Callable[..., int]) -> None:
    start()
    assert client.get(API + "/healthz").json() == {"status": "ok"}
    assert client.get("/healthz").status_code == 200
    ready = client.get(API + "/readyz").json()
    assert ready == {"status": "ready", "checks": {"database": "ok"}}
    text = client.get("/metrics").text
    assert 'maestro_runs{status="RUNNING"} 1.0' in text
    assert 'maestro_steps{status="QUEUED"} 1.0' in text
    assert 'maestro_queue_depth{queue="default"} 1.0' in text
    assert 'route="/api/v1/workflows/{workflow_id}/runs",status="201"' in text
    assert client.get(API + "/metrics").status_code == 200


def test_a_bug_answers_a_bare_500(client: TestClient, harness: Harness, monkeypatch: Any) -> None:
    from maestro import reads

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(reads, "list_workflows", broken)
    with TestClient(create_app_without_auth(harness), raise_server_exceptions=False) as c:
        response = c.get(API + "/workflows")
    body = problem_of(response, 500)
    assert "secret" not in json.dumps(body)


def create_app_without_auth(harness: Harness) -> Any:
    from api.app import create_app

    return create_app(harness.engine, auth=False)


def test_backfill_progress(client: TestClient, submit: Callable[..., Any]) -> None:
    submit()
    cronned = (
        "id: cronned\nowner: team-a\ntriggers: [{cron: '0 3 * * *'}]\n"
        "steps: [{id: a, type: noop}]\n"
    )
    posted = client.post(
        API + "/workflows", content=cronned, headers={"Content-Type": "application/yaml"}
    )
    assert posted.status_code == 201, posted.text
    created = client.post(
        API + "/workflows/cronned/backfills",
        json={"start": "2024-01-01T00:00:00Z", "end": "2024-01-03T23:00:00Z", "max_concurrency": 2},
    )
    assert created.status_code == 201, created.text
    backfill_id = created.json()["backfill_id"]
    progress = client.get(API + f"/workflows/cronned/backfills/{backfill_id}").json()
    assert progress["total"] == 3
    assert progress["done"] + progress["running"] + progress["queued"] == 3
    assert client.get(API + f"/workflows/hello/backfills/{backfill_id}").status_code == 404


def test_backfill_params_and_cancel(client: TestClient, submit: Callable[..., Any]) -> None:
    submit()
    cronned = (
        "id: cronned\nowner: team-a\nparams: {who: {type: string, default: x}}\n"
        "triggers: [{cron: '0 3 * * *'}]\nrun_strategy: sequential\n"
        "steps: [{id: a, type: noop}]\n"
    )
    client.post(API + "/workflows", content=cronned, headers=YAML)
    window = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-03T23:00:00Z"}
    bad = client.post(API + "/workflows/cronned/backfills", json={**window, "params": {"n": 1}})
    assert "n" in problem_of(bad, 422)["detail"]
    created = client.post(
        API + "/workflows/cronned/backfills", json={**window, "params": {"who": "Ada"}}
    )
    assert created.status_code == 201, created.text
    backfill_id, run_ids = created.json()["backfill_id"], created.json()["run_ids"]
    assert {client.get(API + f"/runs/{r}").json()["params"]["who"] for r in run_ids} == {"Ada"}
    path = f"/workflows/cronned/backfills/{backfill_id}/cancel"
    elsewhere = f"/workflows/hello/backfills/{backfill_id}/cancel"
    problem_of(client.post(API + elsewhere, headers=TYPED), 404)
    cancelled = client.post(API + path, headers=TYPED)
    assert cancelled.status_code == 200, cancelled.text
    progress = cancelled.json()
    assert progress["status"] == "CANCELLED" and progress["queued"] == 0
    assert progress["stopped"] == progress["total"] - progress["running"] - progress["succeeded"]
    assert "CANCELLED" in problem_of(client.post(API + path, headers=TYPED), 409)["detail"]
