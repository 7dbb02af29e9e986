"""The alert outbox end to end on both stores: rows written with the status change, sent by
the sender to a real HTTP server on loopback, retried with backoff, dead-lettered, sent again
by hand; timers (run_overdue, deadline_missed) fire once; templates render; secrets stay out.
The engine runs inline on a fake clock (tests/engine/harness.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from maestro.alerts.sender import AlertSender
from maestro.definition import load_definition
from maestro.engine import signals
from maestro.engine.actions import stop_run
from maestro.engine.alert_timers import retry_alert
from maestro.engine.catalog import check_alert_connections
from maestro.errors import Conflict, DefinitionError
from maestro.store import tables
from tests.engine.harness import Harness
from tests.support.receiver import Receiver

AL = tables.alerts


def failing(url: str, extra_rules: str = "", step_rules: str = "") -> str:
    return f"""
id: etl
owner: t
alerts:
  - on: [run_failed, step_failed]
    webhook: {{url: "{url}", headers: {{X-Team: data}}}}
{extra_rules}
steps:
  - id: load
    type: shell
    shell: {{command: "exit 3"}}
{step_rules}
"""


def alerts(h: Harness) -> list[Any]:
    with h.db.read() as conn:
        return list(conn.execute(select(AL).order_by(AL.c.id)))


def test_a_failed_run_sends_each_alert_once_with_the_payload(
    harness: Harness, receiver: Receiver
) -> None:
    run_id = harness.start(failing(receiver.url))
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    rows = alerts(harness)
    assert sorted(r.event for r in rows) == ["run_failed", "step_failed"]
    assert {r.status for r in rows} == {"PENDING"}  # written with the failure, not sent yet

    sender = AlertSender(harness.engine)
    assert sender.send_due() == 2
    assert sender.send_due() == 0  # nothing twice
    got = {r.body["event"]: r for r in receiver.received}
    assert set(got) == {"run_failed", "step_failed"}
    run_failed = got["run_failed"]
    assert run_failed.headers["Idempotency-Key"] == run_failed.body["id"]
    assert run_failed.headers["X-Team"] == "data"
    body = run_failed.body
    assert body["workflow_id"] == "etl" and body["run_id"] == run_id and body["run_number"] == 1
    assert body["status"] == "FAILED" and body["step_id"] is None
    assert body["url"].endswith(f"/runs/{run_id}")
    step = got["step_failed"].body
    assert step["step_id"] == "load" and "3" in step["error"]
    assert step["url"].endswith(f"/runs/{run_id}/steps/load")
    assert {r.status for r in alerts(harness)} == {"DELIVERED"}
    assert {r.attempts for r in alerts(harness)} == {1}


def test_a_refused_try_is_retried_after_the_backoff(harness: Harness, receiver: Receiver) -> None:
    receiver.answers = [500]
    run_id = harness.start(failing(receiver.url).replace(", step_failed", ""))
    harness.drain(run_id)
    sender = AlertSender(harness.engine)
    assert sender.send_due() == 1
    (row,) = alerts(harness)
    assert row.status == "PENDING" and row.attempts == 1 and "500" in row.last_error
    wait = (row.due_at - harness.clock.now()).total_seconds()
    assert 8 <= wait <= 12  # the first retry after ~10 s
    assert sender.send_due() == 0  # not due yet
    harness.clock.advance(12)
    assert sender.send_due() == 1
    (row,) = alerts(harness)
    assert row.status == "DELIVERED" and row.attempts == 2 and row.last_error is None
    keys = receiver.keys()
    assert len(keys) == 2 and keys[0] == keys[1]  # the same alert: the receiver can drop one


def test_the_last_failed_try_is_a_dead_letter_that_can_be_sent_again(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.answers = [503] * 50
    run_id = harness.start(failing(receiver.url).replace(", step_failed", ""))
    harness.drain(run_id)
    sender = AlertSender(harness.engine)
    tries = 0
    while alerts(harness)[0].status == "PENDING":
        tries += sender.send_due()
        harness.clock.advance(3600)
        assert tries < 40
    (row,) = alerts(harness)
    assert row.status == "FAILED" and "503" in row.last_error and row.due_at is None
    # 10 s, 20 s, … capped at 1 h: about 30 tries in the 24 h before giving up
    assert 15 <= tries <= 35, tries
    retry_alert(harness.engine, row.id, "t", lambda owner: None)
    with pytest.raises(Conflict):  # only a FAILED alert is sent again
        retry_alert(harness.engine, row.id, "t", lambda owner: None)
    receiver.answers = []
    assert alerts(harness)[0].status == "PENDING"
    assert sender.send_due() == 1
    assert alerts(harness)[0].status == "DELIVERED"


def test_a_permanent_refusal_fails_at_once(harness: Harness, receiver: Receiver) -> None:
    receiver.answers = [404]
    run_id = harness.start(failing(receiver.url).replace(", step_failed", ""))
    harness.drain(run_id)
    AlertSender(harness.engine).send_due()
    (row,) = alerts(harness)
    assert row.status == "FAILED" and row.attempts == 1 and "404" in row.last_error


def test_templates_render_with_the_run_scope_and_the_alert(
    harness: Harness, receiver: Receiver
) -> None:
    url = receiver.url + "/{{ params.team }}"
    text = failing(url).replace("X-Team: data", 'X-Event: "{{ alert.event }}"')
    text = text.replace("owner: t", "owner: t\nparams: {team: {default: core}}")
    text = text.replace(
        "headers:",
        'message: "{{ run.workflow_id }} #{{ run.number }}: {{ alert.status }}", headers:',
    )
    run_id = harness.start(text.replace(", step_failed", ""))
    harness.drain(run_id)
    AlertSender(harness.engine).send_due()
    (got,) = receiver.received
    assert got.path == "/hook/core"
    assert got.headers["X-Event"] == "run_failed"
    assert got.body["message"] == "etl #1: FAILED"


def test_a_template_that_cannot_render_fails_the_alert_not_the_sender(
    harness: Harness, receiver: Receiver
) -> None:
    text = failing(receiver.url + "/{{ params.missing }}").replace(", step_failed", "")
    run_id = harness.start(text)
    harness.drain(run_id)
    AlertSender(harness.engine).send_due()
    (row,) = alerts(harness)
    assert row.status == "FAILED" and "missing" in row.last_error
    assert receiver.received == []


def test_a_run_that_succeeds_alerts_only_rules_that_ask_for_it(
    harness: Harness, receiver: Receiver
) -> None:
    text = f"""
id: ok
owner: t
alerts:
  - {{on: [run_failed], webhook: {{url: "{receiver.url}"}}}}
  - {{on: run_succeeded, webhook: {{url: "{receiver.url}"}}}}
steps:
  - {{id: a, type: noop}}
"""
    harness.drain(harness.start(text))
    assert [r.event for r in alerts(harness)] == ["run_succeeded"]


WAITING = """
id: slow
owner: t
alerts:
  - on: [run_overdue]
    after: 5m
    webhook: {{url: "{url}"}}
  - on: [deadline_missed]
    deadline: 2h
    webhook: {{url: "{url}"}}
steps:
  - {{id: gate, type: noop, wait_for: [{{signal: go}}]}}
"""


def test_run_overdue_fires_once_while_the_run_is_still_going(
    harness: Harness, receiver: Receiver
) -> None:
    run_id = harness.start(WAITING.format(url=receiver.url))
    timers = {r.event: r for r in alerts(harness)}
    assert {e: t.status for e, t in timers.items()} == {
        "run_overdue": "SCHEDULED",
        "deadline_missed": "SCHEDULED",
    }
    assert timers["run_overdue"].due_at == harness.clock.now() + timedelta(minutes=5)
    harness.clock.advance(299)
    harness.scheduler.tick()
    assert {r.status for r in alerts(harness)} == {"SCHEDULED"}
    harness.clock.advance(2)
    harness.scheduler.tick()
    harness.scheduler.tick()
    sender = AlertSender(harness.engine)
    assert sender.send_due() == 1
    (got,) = receiver.received
    assert got.body["event"] == "run_overdue" and got.body["status"] == "RUNNING"
    harness.clock.advance(60)
    harness.scheduler.tick()
    assert sender.send_due() == 0  # once per run
    # the run succeeds before its deadline: that timer goes, nothing more is sent
    signals.publish(harness.engine, "go", {})
    assert harness.drain(run_id).status == "SUCCEEDED"
    assert [r.event for r in alerts(harness)] == ["run_overdue"]


def test_deadline_missed_fires_for_a_run_not_succeeded_by_then(
    harness: Harness, receiver: Receiver
) -> None:
    logical = harness.clock.now() - timedelta(hours=1)
    run_id = harness.start(WAITING.format(url=receiver.url), logical_date=logical)
    stop_run(harness.engine, run_id, "t")  # stopped: the overdue timer is moot, not the deadline
    assert [r.event for r in alerts(harness)] == ["deadline_missed"]
    harness.clock.advance(3601)
    harness.scheduler.tick()
    AlertSender(harness.engine).send_due()
    (got,) = receiver.received
    assert got.body["event"] == "deadline_missed" and got.body["status"] == "STOPPED"
    assert got.body["logical_date"].startswith(logical.strftime("%Y-%m-%dT%H:%M"))


def test_a_deadline_already_past_at_creation_is_not_armed(
    harness: Harness, receiver: Receiver
) -> None:
    logical = harness.clock.now() - timedelta(hours=3)  # a backfill of an old date
    harness.start(WAITING.format(url=receiver.url), logical_date=logical)
    assert [r.event for r in alerts(harness)] == ["run_overdue"]


def test_step_events_retried_timed_out_and_signal_wait(
    harness: Harness, receiver: Receiver
) -> None:
    text = f"""
id: steps
owner: t
steps:
  - id: flaky
    type: shell
    shell: {{command: "exit 1"}}
    retries: {{limit: 1, delay: 1s}}
    alerts: [{{on: [step_retried, step_failed], webhook: {{url: "{receiver.url}"}}}}]
  - id: gate
    type: noop
    wait_for: [{{signal: never, timeout: 1m}}]
    alerts: [{{on: signal_wait_timed_out, webhook: {{url: "{receiver.url}"}}}}]
  - id: other
    type: shell
    shell: {{command: "exit 1"}}
"""
    harness.drain(harness.start(text), advance=10)
    got = sorted((r.step_id, r.event) for r in alerts(harness))
    assert got == [
        ("flaky", "step_failed"),
        ("flaky", "step_retried"),
        ("gate", "signal_wait_timed_out"),
    ]  # "other" has no rule; a step's rules hear only that step


def test_foreach_iterations_alert_step_rules_not_the_workflows_run_rules(
    harness: Harness, receiver: Receiver
) -> None:
    text = f"""
id: loop
owner: t
alerts: [{{on: [run_failed], webhook: {{url: "{receiver.url}"}}}}]
steps:
  - id: each
    type: foreach
    foreach:
      items: [1, 2, 3]
      steps:
        - id: body
          type: shell
          shell: {{command: "exit 1"}}
          alerts: [{{on: step_failed, webhook: {{url: "{receiver.url}"}}}}]
"""
    harness.drain(harness.start(text))
    got = sorted(r.event for r in alerts(harness))
    assert got == ["run_failed", "step_failed", "step_failed", "step_failed"]


def test_an_unknown_connection_is_refused_at_submit_with_its_path(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = load_definition(
        """
id: c
owner: t
alerts: [{on: run_failed, slack: {connection: team_slack}}]
steps:
  - {id: a, type: noop, alerts: [{on: step_failed, email: {connection: smtp_x, to: a@b.c}}]}
"""
    )
    with pytest.raises(DefinitionError) as caught:
        check_alert_connections(harness.engine, definition)
    where = [str(p) for p in caught.value.problems]
    assert any(p.startswith("alerts[0].slack.connection") for p in where), where
    assert any(p.startswith("steps[0].alerts[0].email.connection") for p in where), where
    monkeypatch.setenv("MAESTRO_CONN_TEAM_SLACK", "https://hooks.slack.test/T/B/x")
    monkeypatch.setenv("MAESTRO_CONN_SMTP_X", "smtp://u:p@127.0.0.1:25")
    check_alert_connections(harness.engine, definition)


def test_a_slack_secret_stays_out_of_rows_errors_and_logs(
    harness: Harness,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_url = receiver.url + "/T000/B000/s3cr3tToken"
    monkeypatch.setenv("MAESTRO_CONN_TEAM_SLACK", secret_url)
    receiver.answers = [403]
    text = """
id: s
owner: t
alerts: [{on: run_failed, slack: {connection: team_slack, channel: "#data"}}]
steps:
  - {id: a, type: shell, shell: {command: "exit 2"}}
"""
    harness.drain(harness.start(text))
    with caplog.at_level(logging.DEBUG):
        AlertSender(harness.engine).send_due()
    (got,) = receiver.received
    assert got.path == "/hook/T000/B000/s3cr3tToken" and got.body.get("channel") == "#data"
    (row,) = alerts(harness)
    assert row.status == "FAILED" and "403" in row.last_error
    with harness.db.read() as conn:
        dumped = " ".join(
            str(tuple(r)) for t in (AL, tables.events) for r in conn.execute(select(t))
        )
    assert "s3cr3tToken" not in dumped
    assert "s3cr3tToken" not in caplog.text
