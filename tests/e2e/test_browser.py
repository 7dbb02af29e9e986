"""What a data engineer does first thing in the morning, in a real browser: see that last
night's run failed, where and why, fix the cause, restart from the failed step, and watch the
new run succeed — plus a log followed while its step runs, and the login of a server with
tokens."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Server, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

NIGHTLY = """
id: nightly_sales
name: Nightly sales
description: Extract orders and customers, join them, load the warehouse, report.
owner: data-eng
tags: [nightly, sales]
triggers:
  - cron: "0 3 * * *"
steps:
  - id: extract_orders
    type: shell
    shell: {{command: "echo extracting orders; echo rows=1042 >> $MAESTRO_OUTPUT"}}
  - id: extract_customers
    type: shell
    shell: {{command: "echo extracting customers"}}
  - id: transform
    type: shell
    depends_on: [extract_orders, extract_customers]
    shell:
      command: |
        echo "joining orders and customers"
        test -f {flag} || {{ echo "input partition {flag} is missing" >&2; exit 3; }}
        echo "joined"
  - id: load
    type: noop
    depends_on: [transform]
  - id: report
    type: noop
    depends_on: [load, extract_orders]
"""

TICKER = """
id: ticker
owner: data-eng
steps:
  - id: tick
    type: shell
    shell: {command: "for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.4; done"}
"""


def _submit(server: Server, yaml: str) -> None:
    response = server.api(
        "POST", "/workflows", content=yaml, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text


def _run_status(page: Any) -> str:
    status: str = page.locator("h1 .badge").first.get_attribute("data-status")
    return status


def _wait_for_run_end(page: Any, timeout: float = 30) -> str:
    """Wait on the run page, which refreshes itself, until the run has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _run_status(page)
        if status in ("SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT"):
            return status
        page.wait_for_timeout(250)
    raise AssertionError(f"the run did not end: {_run_status(page)}")


def test_find_the_failure_fix_it_and_restart_from_failed(
    page: Any, standalone: Server, home: Path
) -> None:
    flag = home / "partition-ready"
    _submit(standalone, NIGHTLY.format(flag=flag))

    # the workflows page: the workflow, its owner, tags and (no) runs
    page.goto(standalone.url + "/")
    row = page.locator("tr[data-workflow=nightly_sales]")
    assert "data-eng" in row.inner_text() and "nightly" in row.inner_text()

    # start a run from the workflow page; the run page refreshes itself until it fails
    row.get_by_role("link", name="Nightly sales").click()
    page.get_by_role("button", name="▶ Start a run").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    failed_run = page.url.rsplit("/", 1)[1]
    assert _wait_for_run_end(page) == "FAILED"

    # the DAG and the step table show where, the banner says why
    transform = page.locator("svg.dag g.dag-node[data-step=transform]")
    assert transform.get_attribute("data-status") == "FAILED"
    assert "failed" in transform.text_content()
    assert page.locator("svg.dag g.dag-node[data-step=load]").get_attribute("data-status") == (
        "UPSTREAM_FAILED"
    )
    assert (
        page.locator("svg.dag g.dag-node[data-step=extract_orders]").get_attribute("data-status")
        == "SUCCEEDED"
    )
    assert "command exited with code 3" in page.locator(".message").inner_text()
    assert page.locator("svg.gantt g.attempt").count() == 3
    screenshot(page, "03-run-failed")

    # the workflows page shows the failed run as a square
    page.goto(standalone.url + "/")
    square = page.locator(f"tr[data-workflow=nightly_sales] a.sq[href='/runs/{failed_run}']")
    assert square.get_attribute("data-status") == "FAILED"
    screenshot(page, "01-workflows")

    # the grid: transform failed in the newest run; its cell leads to the attempt's log
    page.goto(standalone.url + "/workflows/nightly_sales")
    cell = page.locator("table.grid tr[data-step=transform] td.cell").first
    assert cell.get_attribute("data-status") == "FAILED"
    assert (
        page.locator("table.grid tr[data-step=load] td.cell").first.get_attribute("data-status")
        == "UPSTREAM_FAILED"
    )
    assert page.locator("svg.durations rect").count() == 1
    screenshot(page, "02-workflow-grid")
    cell.locator("a").click()
    page.wait_for_url(re.compile(r"/steps/transform/attempts/1$"))
    assert "is missing" in page.locator("#attempt-log").inner_text()
    screenshot(page, "04-attempt-log")

    # fix the cause, restart from the failed step, and watch the new run succeed
    flag.touch()
    page.goto(f"{standalone.url}/runs/{failed_run}")
    page.get_by_role("button", name="↻ Restart from failed").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    new_run = page.url.rsplit("/", 1)[1]
    assert new_run != failed_run
    assert _wait_for_run_end(page) == "SUCCEEDED"
    for step in ("transform", "load", "report"):
        node = page.locator(f"svg.dag g.dag-node[data-step={step}]")
        assert node.get_attribute("data-status") == "SUCCEEDED"
    assert page.get_by_role("link", name="run #1", exact=True).count() == 1  # restarted from
    screenshot(page, "05-run-restarted")

    # the grid now has the successful run in the newest (leftmost) column
    page.goto(standalone.url + "/workflows/nightly_sales")
    heads = page.locator("table.grid th.run a.sq")
    assert heads.count() == 2
    assert heads.first.get_attribute("data-status") == "SUCCEEDED"
    assert heads.nth(1).get_attribute("data-status") == "FAILED"
    screenshot(page, "06-workflow-after-restart")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("table.grid").is_visible()
    screenshot(page, "07-workflow-phone")


def test_the_log_of_a_running_step_is_followed(page: Any, standalone: Server) -> None:
    _submit(standalone, TICKER)
    run_id = standalone.api("POST", "/workflows/ticker/runs", json={}).json()["id"]
    deadline = time.monotonic() + 15
    while standalone.api("GET", f"/runs/{run_id}/steps/tick").json()["attempt_count"] < 1:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)
    page.goto(f"{standalone.url}/runs/{run_id}/steps/tick/attempts/1")
    log = page.locator("#attempt-log")
    first = log.inner_text()
    expect(log).to_contain_text("tick 8", timeout=20_000)
    assert "tick 8" not in first, "the page was opened after the step had ended"
    # once the attempt ends the page shows its final status
    expect(page.locator("h1 .badge")).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    assert log.inner_text().count("tick 8") == 1 and "tick 1" in log.inner_text()


def test_a_server_with_tokens_asks_for_one_and_shows_buttons_by_scope(
    page: Any, standalone_with_auth: Server
) -> None:
    server = standalone_with_auth
    reader = server.maestro("token", "create", "--name", "viewer", "--scope", "read").strip()
    writer = server.maestro(
        "token", "create", "--name", "oncall", "--scope", "write", "--owner", "data-eng"
    ).strip()
    headers = {"Content-Type": "application/yaml", "Authorization": f"Bearer {writer}"}
    response = server.api("POST", "/workflows", content=TICKER, headers=headers)
    assert response.status_code == 201, response.text

    page.goto(server.url + "/workflows/ticker")
    page.wait_for_url(re.compile(r"/login\?next="))
    screenshot(page, "08-login")
    page.get_by_label("Token").fill("mae_not_a_token")
    page.get_by_role("button", name="Log in").click()
    assert "unknown or revoked" in page.locator("[role=alert]").inner_text()

    page.get_by_label("Token").fill(reader)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server.url + "/workflows/ticker")
    assert page.get_by_role("button", name="▶ Start a run").count() == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "maestro_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["value"].startswith("mws_") and cookie["value"] != reader  # not the token
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login$"))

    page.get_by_label("Token").fill(writer)
    page.get_by_role("button", name="Log in").click()
    page.goto(server.url + "/workflows/ticker")
    page.get_by_role("button", name="▶ Start a run").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    assert _wait_for_run_end(page) == "SUCCEEDED"
