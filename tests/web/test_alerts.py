"""Alerts in the web view: the run page lists the run's alerts (a FAILED one marked, with a
button to send it again for those who may), the workflow page lists its alert rules; targets
without secrets, text escaped."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.web import pages
from maestro import reads
from tests.engine.harness import Harness
from tests.support.alerts import alert_of, failed_run, mark_failed
from tests.web.conftest import Authed, post_form


def _rows(html: str) -> dict[int, str]:
    """Each alert row of a run page by alert id."""
    return {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'<tr id="alert-(\d+)".*?</tr>', html, re.S)
    }


def test_the_run_page_lists_the_runs_alerts_and_marks_a_dead_letter(
    client: TestClient, harness: Harness
) -> None:
    run_id = failed_run(harness)
    hook = alert_of(harness, run_id, "webhook")
    mark_failed(harness, hook, "webhook: POST https://hooks.example.com/maestro: 503")
    html = client.get(f"/runs/{run_id}").text
    assert '<h2 id="alerts">Alerts</h2>' in html
    rows = _rows(html)
    assert len(rows) == 3
    dead = rows[hook]
    assert 'class="dead"' in dead and 'data-status="FAILED"' in dead
    assert '<span class="badge st-FAILED" data-status="FAILED">' in dead
    assert "POST https://***@hooks.example.com/maestro?token=***" in dead
    assert "webhook: POST https://hooks.example.com/maestro: 503" in dead  # the last error
    assert "gave up" in dead
    assert f'action="/alerts/{hook}/retry"' in dead and "Send again" in dead
    assert "1 could not be delivered" in html
    slack = rows[alert_of(harness, run_id, "slack")]
    assert "slack via connection team_slack to #data" in slack and "next try" in slack
    assert 'class="dead"' not in slack and "/retry" not in slack  # PENDING: nothing to retry
    step = rows[alert_of(harness, run_id, "python")]
    assert "<code>step_failed</code>" in step and f'href="/runs/{run_id}/steps/load"' in step
    for secret in ("pw-hidden", "tok-hidden", "hdr-hidden"):
        assert secret not in html


def test_a_run_without_alerts_shows_no_alert_section(client: TestClient, harness: Harness) -> None:
    run_id = harness.start("id: w\nowner: o\nsteps: [{id: a, type: noop}]\n")
    harness.drain(run_id)
    html = client.get(f"/runs/{run_id}").text
    assert 'id="alerts"' not in html and "Could not be delivered" not in html


def test_the_run_page_shows_the_newest_alerts_and_says_where_the_rest_are(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "RUN_ALERTS", 2)
    run_id = failed_run(harness)
    html = client.get(f"/runs/{run_id}").text
    with harness.db.read() as conn:
        newest = [a.id for a in reads.list_alerts(conn, run_id=run_id).items][:2]
    assert list(_rows(html)) == newest
    assert f"maestro alerts list --run {run_id}" in html


def test_send_again_from_the_run_page(client: TestClient, harness: Harness) -> None:
    run_id = failed_run(harness)
    hook = alert_of(harness, run_id, "webhook")
    refused = post_form(client, f"/alerts/{hook}/retry")
    assert refused.status_code == 409 and "is PENDING" in refused.text  # not FAILED yet
    mark_failed(harness, hook)
    sent = post_form(client, f"/alerts/{hook}/retry")
    assert sent.status_code == 303 and sent.headers["location"] == f"/runs/{run_id}#alert-{hook}"
    row = _rows(client.get(f"/runs/{run_id}").text)[hook]
    assert 'data-status="PENDING"' in row and "/retry" not in row
    assert post_form(client, "/alerts/424242/retry").status_code == 404
    assert post_form(client, f"/alerts/{hook}/retry", csrf=False).status_code == 403


def test_only_a_writer_for_the_owner_sees_and_uses_the_button(
    authed: Authed, harness: Harness
) -> None:
    run_id = failed_run(harness, owner="team-a")
    hook = alert_of(harness, run_id, "webhook")
    mark_failed(harness, hook)
    for who in ("reader", "writer-b"):
        authed.log_in(who)
        html = authed.client.get(f"/runs/{run_id}").text
        assert 'data-status="FAILED"' in _rows(html)[hook] and "/retry" not in html
        refused = post_form(authed.client, f"/alerts/{hook}/retry")
        assert refused.status_code == 403, who
    authed.log_in("writer-a")
    assert f'action="/alerts/{hook}/retry"' in authed.client.get(f"/runs/{run_id}").text
    assert post_form(authed.client, f"/alerts/{hook}/retry").status_code == 303
    assert 'data-status="PENDING"' in _rows(authed.client.get(f"/runs/{run_id}").text)[hook]


def test_the_workflow_page_lists_its_alert_rules_escaped(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(
        """
id: nightly
owner: team-a
alerts:
  - on: [run_overdue]
    after: 2h
    slack: {connection: team_slack, channel: "<b>oncall</b>"}
  - on: [run_failed, run_timed_out]
    webhook: {url: "https://u:p4ss@hooks.example.com/x?key=k3y"}
steps:
  - id: fan
    type: foreach
    foreach:
      items: [1, 2]
      steps:
        - id: inner
          type: noop
          alerts: [{on: step_failed, python: {callable: "hooks.notify:page"}}]
"""
    )
    html = client.get("/workflows/nightly").text
    assert '<h2 id="alert-rules">Alert rules</h2>' in html
    rows = re.findall(r'<tr data-level="(\w+)"(?: data-step="(\w+)")?>(.*?)</tr>', html, re.S)
    assert [(level, step) for level, step, _ in rows] == [
        ("workflow", ""),
        ("workflow", ""),
        ("step", "inner"),
    ]
    overdue, failed, inner = (body for _, _, body in rows)
    assert "<code>run_overdue</code> · 2h after the start" in overdue
    assert "slack via connection team_slack to &lt;b&gt;oncall&lt;/b&gt;" in overdue
    assert "<b>oncall</b>" not in html
    assert "<code>run_failed</code>, <code>run_timed_out</code>" in failed
    assert "POST https://***@hooks.example.com/x?key=***" in failed
    assert "p4ss" not in html and "k3y" not in html
    assert "step <code>inner</code> in foreach <code>fan</code>" in inner
    assert "python hooks.notify:page" in inner
    harness.submit("id: plain\nowner: o\nsteps: [{id: a, type: noop}]\n")
    assert "None: no <code>alerts:</code>" in client.get("/workflows/plain").text
