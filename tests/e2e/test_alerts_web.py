"""Alerts in a real browser (Chromium through Playwright, a live ``maestro standalone``): the
run page lists a failed run's alerts — a dead letter marked, sent again with its button — and
the workflow page its rules; both fit a 420 px phone without scrolling sideways."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Server, screenshot
from tests.e2e.test_web_defects import _overflow, _start, _submit, _wait_ended

#: one alert that fails for good on its first try (a callable that cannot be imported), one
#: that keeps being retried (a refused connection), with a long URL and error to fit a phone
ALERTING = """
id: alerting
owner: data-eng
alerts:
  - on: [run_failed]
    python: {callable: "no_such_module_xyz.hooks:page_the_on_call_person"}
  - on: [run_failed]
    webhook:
      url: "http://127.0.0.1:9/a/rather/long/path/to/the/team/receiver/of/maestro/alerts?token=s3cr3t"
steps:
  - id: load
    type: shell
    shell: {command: "exit 3"}
"""


def _alert(server: Server, run_id: int, channel: str) -> dict[str, Any]:
    items = server.api("GET", "/alerts", params={"run_id": run_id}).json()["items"]
    found: dict[str, Any] = next(a for a in items if a["channel"] == channel)
    return found


def _until(server: Server, run_id: int, channel: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alert = _alert(server, run_id, channel)
        if done(alert):
            return alert
        time.sleep(0.2)
    raise AssertionError(f"the {channel} alert never got there: {_alert(server, run_id, channel)}")


def test_alerts_on_the_run_page_and_rules_on_the_workflow_page(
    page: Any, standalone: Server
) -> None:
    _submit(standalone, ALERTING)
    run_id = _start(standalone, "alerting")
    assert _wait_ended(standalone, run_id) == "FAILED"
    dead = _until(standalone, run_id, "python", lambda a: a["status"] == "FAILED")
    _until(standalone, run_id, "webhook", lambda a: a["attempts"] >= 1 and a["last_error"])

    page.goto(f"{standalone.url}/runs/{run_id}#alerts")
    screenshot(page, "11-run-alerts")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{standalone.url}/runs/{run_id}")
    row = page.locator(f"#alert-{dead['id']}")
    assert row.get_attribute("data-status") == "FAILED"
    section = page.locator("section[aria-labelledby=alerts]").inner_text()
    assert "1 could not be delivered" in section
    assert _overflow(page) <= 0, "the run page scrolls sideways with its alerts"
    table = page.locator("table.alerts").bounding_box()
    assert table["width"] <= 420
    assert "s3cr3t" not in page.content()
    screenshot(page, "11-run-alerts-phone")

    row.get_by_role("button", name="Send again").click()
    page.wait_for_url(f"**/runs/{run_id}#alert-{dead['id']}")
    _until(standalone, run_id, "python", lambda a: a["attempts"] == 2 and a["status"] == "FAILED")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{standalone.url}/workflows/alerting#alert-rules")
    screenshot(page, "12-workflow-alert-rules")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{standalone.url}/workflows/alerting")
    rules = page.locator("table.rules tbody tr")
    assert rules.count() == 2
    assert "python no_such_module_xyz.hooks:page_the_on_call_person" in rules.nth(0).inner_text()
    assert "token=***" in rules.nth(1).inner_text()
    assert _overflow(page) <= 0, "the workflow page scrolls sideways with its alert rules"
    screenshot(page, "12-workflow-alert-rules-phone")
