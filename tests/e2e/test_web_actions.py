"""Issue 16's actions in a real browser (Chromium through Playwright, one live ``maestro
standalone`` for the module): pause, resume and kill a run, stop one step, retry a step once
its run has ended, restart from a chosen step, and backfills — started from the workflow page
(bad input kept in the form), watched on their refreshing page, cancelled (with JavaScript
off: the confirmations are HTML alone). Every click is
checked through the API; the destructive ones go through their confirmation. The backfill page
is saved at 1400 px and 420 px, and the new parts fit a 420 px phone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Server, screenshot, start_server, stop_server
from tests.e2e.test_web_defects import _overflow, _start, _submit, _wait_ended

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

PAIR = """
id: pair
owner: data-eng
steps:
  - {id: wait, type: shell, shell: {command: "sleep 30"}}
  - {id: other, type: shell, shell: {command: "sleep 30"}}
  - {id: after, type: noop, depends_on: [wait, other]}
"""
FLAKY = """
id: flaky
owner: data-eng
steps:
  - {id: extract, type: shell, shell: {command: "echo extracting"}}
  - {id: transform, type: shell, depends_on: [extract], shell: {command: "test -f FLAG || exit 3"}}
  - {id: load, type: noop, depends_on: [transform]}
"""
DAILY = """
id: daily
owner: data-eng
params:
  ds: {type: string, default: none}
  region: {type: string, default: us}
triggers:
  - cron: "0 3 * * *"
    params: {ds: "{{ run.logical_date | ds }}"}
steps:
  - {id: load, type: shell, shell: {command: "sleep 2"}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One standalone for the module, with its workflows submitted once."""
    home = tmp_path_factory.mktemp("actions-home")
    started = start_server(home, MAESTRO_AUTH="false")
    try:
        for yaml in (PAIR, FLAKY.replace("FLAG", str(home / "flag")), DAILY):
            _submit(started, yaml)
        yield started
    finally:
        stop_server(started)


def _until(what: str, probe: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def _run(server: Server, run_id: int) -> dict[str, Any]:
    found: dict[str, Any] = server.api("GET", f"/runs/{run_id}").json()
    return found


def _steps(server: Server, run_id: int) -> dict[str, dict[str, Any]]:
    items = server.api("GET", f"/runs/{run_id}/steps").json()["items"]
    return {s["step_id"]: s for s in items}


def _fits_its_frames(page: Any) -> bool:
    """No table frame scrolls sideways (what is in it is not cut off on a phone)."""
    fits: bool = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')]"
        ".every(w => w.scrollWidth <= w.clientWidth + 1)"
    )
    return fits


def _confirm(page: Any, details: str) -> None:
    """Open the confirmation ``details`` and press its button."""
    page.locator(f"#{details} > summary").click()
    page.locator(f"#{details} button[type=submit]").click()


def test_pause_resume_stop_a_step_and_kill(page: Any, server: Server) -> None:
    run_id = _start(server, "pair")
    _until(
        "both steps run",
        lambda: (
            {s["status"] for k, s in _steps(server, run_id).items() if k != "after"} == {"RUNNING"}
        ),
    )
    page.goto(f"{server.url}/runs/{run_id}")
    page.get_by_role("button", name="‖ Pause").click()
    _until("paused", lambda: _run(server, run_id)["status"] == "PAUSED")
    page.get_by_role("button", name="▶ Resume").click()
    _until("resumed", lambda: _run(server, run_id)["status"] == "RUNNING")

    _confirm(page, "confirm-stop-wait")
    _until("wait stopped", lambda: _steps(server, run_id)["wait"]["status"] == "STOPPED")
    assert _steps(server, run_id)["other"]["status"] == "RUNNING"  # one step, not the run
    assert _run(server, run_id)["status"] == "RUNNING"

    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{server.url}/runs/{run_id}")
    page.locator("#confirm-kill > summary").click()
    expect(page.locator("#confirm-kill .confirm-body")).to_be_visible()
    page.locator("#confirm-stop-other > summary").click()
    assert _overflow(page) <= 0, "the run page with its confirmations open scrolls sideways"
    assert _fits_its_frames(page), "a confirmation is cut off inside the steps table"
    screenshot(page, "30-run-actions-phone")
    page.locator("#confirm-kill button[type=submit]").click()
    _until("killed", lambda: _run(server, run_id)["status"] == "FAILED")
    expect(page.locator("#run-status .badge")).to_have_attribute("data-status", "FAILED")
    expect(page.locator("#confirm-kill")).to_have_count(0)


def test_retry_after_the_end_and_restart_from_a_chosen_step(page: Any, server: Server) -> None:
    failed = _start(server, "flaky")
    assert _wait_ended(server, failed) == "FAILED"
    (server.home / "flag").touch()
    page.goto(f"{server.url}/runs/{failed}")
    _confirm(page, "confirm-retry-transform")
    page.wait_for_url(re.compile(rf"/runs/(?!{failed}$)\d+$"))
    retried = int(page.url.rsplit("/", 1)[1])
    assert _wait_ended(server, retried) == "SUCCEEDED"
    run = _run(server, retried)
    assert (run["restarted_from"], run["trigger"]) == (failed, "restart")
    steps = _steps(server, retried)
    assert {k: s["attempt_count"] for k, s in steps.items()} == {
        "extract": 0,  # reused from the failed run
        "transform": 1,
        "load": 1,
    }

    page.goto(f"{server.url}/runs/{retried}")
    page.locator("#confirm-restart-step > summary").click()
    page.locator("#restart-step").select_option("extract")
    page.locator("#confirm-restart-step button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/runs/(?!{retried}$)\d+$"))
    again = int(page.url.rsplit("/", 1)[1])
    assert _wait_ended(server, again) == "SUCCEEDED"
    assert _run(server, again)["restarted_from"] == retried
    assert {s["attempt_count"] for s in _steps(server, again).values()} == {1}  # all again


def test_a_backfill_from_the_form_watched_and_cancelled(page: Any, server: Server) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server.url}/workflows/daily")
    page.locator("#new-backfill > summary").click()
    page.locator("#backfill-start").fill("2025-12-05T00:00")
    page.locator("#backfill-end").fill("2025-12-01T00:00")
    page.locator("#backfill-concurrency").fill("1")
    page.locator("#backfill-params").fill('{"region": "eu"}')
    page.get_by_role("button", name="Start the backfill").click()
    expect(page.get_by_role("alert")).to_contain_text("before it starts")
    assert page.locator("#backfill-start").input_value() == "2025-12-05T00:00"  # kept
    assert page.locator("#backfill-params").input_value() == '{"region": "eu"}'
    assert page.locator("#backfill-end").get_attribute("aria-invalid") == "true"

    page.locator("#backfill-start").fill("2025-12-01T00:00")
    page.locator("#backfill-end").fill("2025-12-05T23:00")
    page.get_by_role("button", name="Start the backfill").click()
    page.wait_for_url(re.compile(r"/workflows/daily/backfills/\d+$"))
    backfill_id = int(page.url.rsplit("/", 1)[1])
    progress = server.api("GET", f"/workflows/daily/backfills/{backfill_id}").json()
    assert (progress["total"], progress["status"]) == (5, "RUNNING")
    first = server.api("GET", "/workflows/daily/runs").json()["items"][-1]
    assert _run(server, first["id"])["params"] == {"ds": "2025-12-01", "region": "eu"}
    # the page refreshes itself: the first run's end shows up without a reload
    expect(page.locator("[data-count=done] strong")).to_have_text(
        re.compile("[1-4]"), timeout=15_000
    )
    screenshot(page, "31-backfill")
    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()
    page.locator("#confirm-cancel > summary").click()
    assert _overflow(page) <= 0, "the backfill page scrolls sideways"
    assert _fits_its_frames(page), "the backfill's runs scroll sideways"
    screenshot(page, "32-backfill-phone")

    # the confirmation is HTML alone: it works with JavaScript off
    plain = page.context.browser.new_context(java_script_enabled=False)
    try:
        nojs = plain.new_page()
        nojs.goto(page.url)
        _confirm(nojs, "confirm-cancel")
        badge = nojs.locator("#backfill-status .badge")
        expect(badge).to_have_attribute("data-status", "CANCELLED")
    finally:
        plain.close()
    progress = server.api("GET", f"/workflows/daily/backfills/{backfill_id}").json()
    assert progress["status"] == "CANCELLED" and progress["queued"] == 0
    assert progress["stopped"] >= 1

    page.goto(f"{server.url}/workflows/daily")
    row = page.locator(f"tr[data-backfill='{backfill_id}']")
    assert row.get_attribute("data-status") == "CANCELLED"
    page.locator("#new-backfill > summary").click()
    assert _overflow(page) <= 0, "the workflow page with the backfill form scrolls sideways"
    assert _fits_its_frames(page), "the backfills table scrolls sideways"
    screenshot(page, "33-workflow-backfills-phone")
