"""Alerts through the API: listing (filters, keyset pages, bad parameters), one alert with where
it goes (a one-line target without secrets), sending a FAILED one again (scope, owner, state),
a workflow's alert rules, the metrics — and no connection secret on any of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from maestro import reads
from maestro.alerts.sender import AlertSender
from maestro.states import AlertStatus
from tests.api.conftest import API, TYPED, Tokens, problem_of
from tests.engine.harness import Harness
from tests.engine.test_query_plans import _captured_selects, _plans
from tests.support.alerts import alert_ids, alert_of, failed_run, failing, mark_failed
from tests.support.receiver import Receiver

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _all_pages(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(API + "/alerts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= int(params.get("limit", 50))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never end")


def test_alerts_are_listed_newest_first_across_pages_and_filtered(
    client: TestClient, harness: Harness
) -> None:
    first = failed_run(harness, "etl")
    second = failed_run(harness, "etl")
    other = failed_run(harness, "other", owner="team-b")
    everything = alert_ids(harness)
    assert len(everything) == 9
    dead = [alert_of(harness, first, "webhook"), alert_of(harness, other, "python")]
    for alert_id in dead:
        mark_failed(harness, alert_id)

    paged = _all_pages(client, limit=2)
    assert [a["id"] for a in paged] == sorted(everything, reverse=True)  # no gap, no repeat

    of_run = _all_pages(client, run_id=second, limit=2)
    assert [a["id"] for a in of_run] == sorted(alert_ids(harness, second), reverse=True)
    assert {a["run_id"] for a in of_run} == {second} and {a["run_number"] for a in of_run} == {2}
    of_other = _all_pages(client, workflow_id="other")
    assert {a["workflow_id"] for a in of_other} == {"other"} and len(of_other) == 3
    failed = _all_pages(client, status="FAILED", limit=1)
    assert sorted(a["id"] for a in failed) == sorted(dead)
    assert {a["status"] for a in failed} == {"FAILED"}
    pending = _all_pages(client, status="PENDING", limit=4)
    assert len(pending) == 7 and {a["status"] for a in pending} == {"PENDING"}
    combined = _all_pages(client, workflow_id="etl", status="FAILED")
    assert [a["id"] for a in combined] == [dead[0]]
    assert _all_pages(client, run_id=first, status="DELIVERED") == []
    assert _all_pages(client, workflow_id="nope") == []  # a filter, not a resource: empty
    assert _all_pages(client, run_id=999_999) == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "NOPE"},
        {"status": "pending"},
        {"run_id": "0"},
        {"run_id": "abc"},
        {"run_id": str(2**63)},
        {"limit": "0"},
        {"limit": "501"},
        {"workflow_id": "no spaces"},
        {"workflow_id": "x" * 200},
    ],
)
def test_bad_parameters_are_a_422_problem(client: TestClient, params: dict[str, str]) -> None:
    body = problem_of(client.get(API + "/alerts", params=params), 422)
    assert body["errors"] and body["errors"][0]["loc"][0] == "query"


def test_a_foreign_cursor_is_a_400_problem(client: TestClient) -> None:
    problem_of(client.get(API + "/alerts", params={"cursor": "not-a-cursor"}), 400)
    problem_of(client.get(API + "/alerts", params={"cursor": "czpldGw"}), 400)  # a str cursor


def test_one_alert_says_what_where_and_how_its_delivery_stands(
    client: TestClient, harness: Harness
) -> None:
    run_id = failed_run(harness)
    listed = client.get(API + "/alerts", params={"run_id": run_id}).json()["items"]
    by_channel = {a["channel"]: a for a in listed}
    assert set(by_channel) == {"webhook", "slack", "python"}
    hook = by_channel["webhook"]
    assert hook == client.get(f"{API}/alerts/{hook['id']}").json()
    assert UUID.match(hook["key"])
    assert hook["event"] == "run_failed" and hook["step_id"] is None and hook["level"] == "workflow"
    assert hook["workflow_id"] == "etl" and hook["run_id"] == run_id and hook["run_number"] == 1
    assert hook["target"] == "POST https://***@hooks.example.com/maestro?token=***"
    assert hook["status"] == "PENDING" and hook["attempts"] == 0 and hook["last_error"] is None
    assert hook["due_at"] is not None and hook["delivered_at"] is None
    assert hook["created_at"].endswith("Z") and hook["updated_at"] == hook["created_at"]
    assert by_channel["slack"]["target"] == "slack via connection team_slack to #data"
    page = by_channel["python"]
    assert page["target"] == "python hooks.notify:page"
    assert page["event"] == "step_failed" and page["step_id"] == "load"
    assert page["level"] == "step"

    mark_failed(harness, hook["id"], "webhook: 503 Service Unavailable")
    dead = client.get(f"{API}/alerts/{hook['id']}").json()
    assert dead["status"] == "FAILED" and dead["last_error"] == "webhook: 503 Service Unavailable"
    assert dead["due_at"] is None  # no next try

    assert problem_of(client.get(API + "/alerts/424242"), 404)["detail"] == (
        "alert 424242 does not exist"
    )
    problem_of(client.get(API + "/alerts/0"), 422)
    problem_of(client.get(API + "/alerts/abc"), 422)


def test_retry_sends_a_failed_alert_again_and_refuses_the_others(
    client: TestClient, harness: Harness
) -> None:
    run_id = failed_run(harness)
    hook = alert_of(harness, run_id, "webhook")
    problem_of(client.post(API + "/alerts/424242/retry", headers=TYPED), 404)
    pending = problem_of(client.post(f"{API}/alerts/{hook}/retry", headers=TYPED), 409)
    assert "PENDING" in pending["detail"]

    mark_failed(harness, hook)
    harness.clock.advance(60)
    response = client.post(f"{API}/alerts/{hook}/retry", headers=TYPED)
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["id"] == hook and again["status"] == "PENDING"
    assert again["due_at"] == again["updated_at"]  # due now, a new series of tries
    assert again["last_error"] == "webhook: 503 Service Unavailable"  # until the next try
    problem_of(client.post(f"{API}/alerts/{hook}/retry", headers=TYPED), 409)


def test_retry_needs_write_scope_for_the_workflows_owner(authed: Tokens, harness: Harness) -> None:
    hook = alert_of(harness, failed_run(harness, owner="team-a"), "webhook")
    mark_failed(harness, hook)
    path = f"/alerts/{hook}/retry"
    problem_of(authed.call(None, "POST", path, headers=TYPED), 401)
    assert (
        "write scope" in problem_of(authed.call("read", "POST", path, headers=TYPED), 403)["detail"]
    )
    assert (
        "team-a" in problem_of(authed.call("write-b", "POST", path, headers=TYPED), 403)["detail"]
    )
    assert authed.call("read", "GET", f"/alerts/{hook}").json()["status"] == "FAILED"
    assert authed.call("read", "GET", "/alerts").status_code == 200  # reading needs read only
    done = authed.call("write-a", "POST", path, headers=TYPED)
    assert done.status_code == 200 and done.json()["status"] == "PENDING"


def test_a_workflows_alert_rules_come_with_events_and_targets(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(
        """
id: nightly
owner: team-a
alerts:
  - on: [run_overdue]
    after: 2h
    slack: {connection: team_slack}
  - on: [deadline_missed]
    deadline: 6h
    email: {connection: smtp_main, to: [a@x.io, b@x.io, c@x.io, d@x.io]}
steps:
  - id: fan
    type: foreach
    foreach:
      items: [1, 2]
      steps:
        - id: inner
          type: noop
          alerts: [{on: step_failed, python: {callable: "hooks.notify:page"}}]
  - id: load
    type: noop
    depends_on: [fan]
    alerts:
      - on: [step_failed, step_retried]
        webhook: {url: "https://hooks.example.com/x?sig=abc", method: PUT}
"""
    )
    response = client.get(API + "/workflows/nightly/alert-rules")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow_id"] == "nightly" and body["version"] == 1
    rules = body["items"]
    assert [(r["level"], r["step_id"], r["foreach_step"], r["index"]) for r in rules] == [
        ("workflow", None, None, 0),
        ("workflow", None, None, 1),
        ("step", "inner", "fan", 0),
        ("step", "load", None, 0),
    ]
    overdue, deadline, inner, load = rules
    assert overdue["events"] == ["run_overdue"] and overdue["after"] == "2h"
    assert overdue["deadline"] is None and overdue["channel"] == "slack"
    assert overdue["target"] == "slack via connection team_slack"
    assert deadline["deadline"] == "6h"
    assert deadline["target"] == (
        "email to a@x.io, b@x.io, c@x.io and 1 more via connection smtp_main"
    )
    assert inner["target"] == "python hooks.notify:page"
    assert load["events"] == ["step_failed", "step_retried"]
    assert load["target"] == "PUT https://hooks.example.com/x?sig=***"
    problem_of(client.get(API + "/workflows/nope/alert-rules"), 404)
    harness.submit("id: plain\nowner: o\nsteps: [{id: a, type: noop}]\n")
    assert client.get(API + "/workflows/plain/alert-rules").json()["items"] == []


def test_the_metrics_count_alerts_per_status(client: TestClient, harness: Harness) -> None:
    def gauges() -> dict[str, float]:
        text = client.get(API + "/metrics").text
        return {
            m.group(1): float(m.group(2))
            for m in re.finditer(r'^maestro_alerts\{status="(\w+)"\} (\S+)$', text, re.M)
        }

    assert gauges() == {"SCHEDULED": 0, "PENDING": 0, "DELIVERED": 0, "FAILED": 0}
    assert "maestro_alerts_oldest_pending_seconds 0.0" in client.get(API + "/metrics").text
    run_id = failed_run(harness)
    mark_failed(harness, alert_of(harness, run_id, "webhook"))
    assert gauges() == {"SCHEDULED": 0, "PENDING": 2, "DELIVERED": 0, "FAILED": 1}
    harness.clock.advance(90)
    text = client.get(API + "/metrics").text
    age = re.search(r"^maestro_alerts_oldest_pending_seconds (\S+)$", text, re.M)
    assert age is not None and float(age.group(1)) >= 90


def test_no_connection_secret_reaches_any_answer(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Slack connection's URL (a secret as a whole), the webhook's password, query token
    and header value: none appears in what the API and the web view answer about alerts, even
    after the sender tried them and recorded why they failed."""
    receiver = Receiver(answers=[404] * 10).start()
    try:
        slack_url = receiver.url + "/services/T0/B0/slack-s3cret"
        monkeypatch.setenv("MAESTRO_CONN_TEAM_SLACK", slack_url)
        hook = receiver.url.replace("http://", "http://bot:pw-hidden@") + "?token=tok-hidden"
        response = client.post(
            API + "/workflows",
            content=failing("leaky", url=hook),
            headers={"Content-Type": "application/yaml"},
        )
        assert response.status_code == 201, response.text  # the connection resolves here
        run_id = failed_run(harness, "leaky", url=hook)
        AlertSender(harness.engine).send_due()
        assert {r.path for r in receiver.received} >= {
            "/hook?token=tok-hidden",
            "/hook/services/T0/B0/slack-s3cret",
        }  # both were really tried with their secrets
    finally:
        receiver.stop()
    listed = client.get(API + "/alerts", params={"run_id": run_id}).json()["items"]
    assert {a["channel"]: a["status"] for a in listed} == {
        "webhook": "FAILED",  # a 404 is permanent
        "slack": "FAILED",
        "python": "FAILED",  # hooks.notify cannot be imported
    }
    assert all(a["last_error"] for a in listed)
    answers = [
        client.get(API + "/alerts").text,
        *(client.get(f"{API}/alerts/{a['id']}").text for a in listed),
        client.post(f"{API}/alerts/{listed[0]['id']}/retry", headers=TYPED).text,
        client.get(API + "/workflows/leaky/alert-rules").text,
        client.get(API + "/metrics").text,
        client.get(f"/runs/{run_id}").text,
        client.get("/workflows/leaky").text,
    ]
    for text in answers:
        for secret in ("slack-s3cret", "pw-hidden", "tok-hidden", "hdr-hidden"):
            assert secret not in text
    # the connection's URL is nowhere at all, the stored definition included
    assert "slack-s3cret" not in client.get(API + "/workflows/leaky").text


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, None),  # the primary key, backwards
        ({"run_id": 1}, "ix_alerts_run"),
        ({"workflow_id": "etl"}, "ix_alerts_workflow"),
        ({"status": AlertStatus.FAILED}, "ix_alerts_status"),
        ({"run_id": 1, "cursor": "aTo5"}, "ix_alerts_run"),
    ],
)
def test_a_page_of_alerts_reads_an_index_in_order_never_sorts(
    harness: Harness, filters: dict[str, Any], index: str | None
) -> None:
    failed_run(harness)

    def list_them() -> None:
        with harness.db.read() as conn:
            reads.list_alerts(conn, **filters)

    (plan,) = _plans(harness, _captured_selects(harness, list_them))
    if harness.db.is_sqlite:
        assert "TEMP B-TREE" not in plan, plan
        assert f"USING INDEX {index} " in plan if index else "SCAN alerts" in plan, plan
    else:
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        assert f"Index Scan Backward using {index or 'pk_alerts'} on alerts" in plan, plan
