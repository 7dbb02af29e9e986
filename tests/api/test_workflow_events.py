"""Who did what to a workflow (issue 17, item 6): submit, activate, pause, resume, unblock and
delete are events of the workflow with the token's name as the actor, newest first on
``GET /workflows/{id}/events`` and on the workflow page; a deleted workflow's trail stays."""

from __future__ import annotations

from fastapi.testclient import TestClient

from maestro.engine import catalog
from tests.api.conftest import API, TYPED, Tokens, workflow_yaml
from tests.engine.harness import Harness


def _submit(authed: Tokens, who: str, tag: str) -> None:
    answer = authed.call(
        who,
        "POST",
        "/workflows",
        content=workflow_yaml("hello", "team-a", tag),
        headers={"Content-Type": "application/yaml"},
    )
    assert answer.status_code in (200, 201), answer.text


def _trail(authed: Tokens, workflow: str = "hello") -> list[tuple[str, str, str]]:
    answer = authed.call("read", "GET", f"/workflows/{workflow}/events")
    assert answer.status_code == 200, answer.text
    return [(e["action"], e["actor"], e["message"]) for e in answer.json()["items"]]


def test_each_action_on_a_workflow_is_recorded_with_its_actor(authed: Tokens) -> None:
    _submit(authed, "write-a", "one")
    _submit(authed, "write-a", "one")  # unchanged: no new version, nothing recorded
    _submit(authed, "write-any", "two")
    for who, path in [
        ("write-a", "/workflows/hello/versions/1/activate"),
        ("write-any", "/workflows/hello/pause"),
        ("admin", "/workflows/hello/resume"),
    ]:
        assert authed.call(who, "POST", path, headers=TYPED).status_code == 200, path
    trail = _trail(authed)
    assert [(a, who) for a, who, _ in trail] == [
        ("resume", "admin"),
        ("pause", "write-any"),
        ("activate", "write-a"),
        ("submit", "write-any"),
        ("submit", "write-a"),
    ]
    assert trail[2][2] == "version 1 (was 2)"
    assert trail[4][2] == "version 1 (active), from api"
    page = authed.call("read", "GET", "/workflows/hello/events", params={"limit": 2}).json()
    older = authed.call(
        "read", "GET", "/workflows/hello/events", params={"cursor": page["next_cursor"]}
    ).json()
    assert [e["action"] for e in page["items"] + older["items"]] == [a for a, _, _ in trail]


def test_a_deleted_workflows_trail_stays(authed: Tokens) -> None:
    _submit(authed, "write-a", "one")
    assert authed.call("admin", "DELETE", "/workflows/hello").status_code == 204
    assert authed.call("read", "GET", "/workflows/hello").status_code == 404
    trail = _trail(authed)
    assert [(a, who) for a, who, _ in trail] == [("delete", "admin"), ("submit", "write-a")]
    assert authed.call("read", "GET", "/workflows/never/events").status_code == 404


def test_unblocking_is_recorded(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(
        "id: strict\nowner: o\nrun_strategy: {kind: strict_sequential}\n"
        "steps: [{id: a, type: shell, shell: {command: 'exit 1'}}]\n"
    )
    harness.drain(run_id)
    catalog.unblock(harness.engine, "strict", "someone")
    items = client.get(f"{API}/workflows/strict/events").json()["items"]
    assert (items[0]["action"], items[0]["actor"]) == ("unblock", "someone")
    assert items[0]["message"] == f"run {run_id} no longer holds it"


def test_the_workflow_page_shows_its_activity(client: TestClient, harness: Harness) -> None:
    harness.submit(workflow_yaml("hello", "team-a", "x"))
    assert client.post(f"{API}/workflows/hello/pause", headers=TYPED).status_code == 200
    page = client.get("/workflows/hello").text
    section = page.split('id="activity"')[1].split("</section>")[0]
    assert 'data-action="pause"' in section
    assert "maestro workflow events hello" in section
