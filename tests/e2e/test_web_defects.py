"""Issue 16 in a real browser (Chromium through Playwright, a live ``maestro standalone``): the
refresh morphs the page (focus stays, the status is announced), an idle page picks up a new
run within seconds, the pages fit a 420 px phone, the DAG's links reach screen readers, and
bad params stay in the form. Each test failed before its fix."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.conftest import Server, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

SLOW = """
id: slow
owner: data-eng
params: {who: {type: string, default: x}}
steps:
  - id: wait
    type: shell
    shell: {command: "sleep 4"}
  - id: after
    type: noop
    depends_on: [wait]
"""

FAILING = """
id: failing
owner: data-eng
steps:
  - id: extract
    type: shell
    shell: {command: "echo extracting"}
  - id: transform_with_a_long_name
    type: shell
    depends_on: [extract]
    shell:
      command: >-
        echo "the input partition of yesterday could not be found in the landing bucket,
        check the upstream export job and its credentials before retrying" >&2; exit 3
  - id: load
    type: noop
    depends_on: [transform_with_a_long_name]
"""


def _submit(server: Server, yaml: str) -> None:
    response = server.api(
        "POST", "/workflows", content=yaml, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text


def _start(server: Server, workflow: str) -> int:
    response = server.api("POST", f"/workflows/{workflow}/runs", json={})
    assert response.status_code == 201, response.text
    run_id: int = response.json()["id"]
    return run_id


def _wait_ended(server: Server, run_id: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: str = server.api("GET", f"/runs/{run_id}").json()["status"]
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end")


def test_the_refresh_keeps_focus_and_announces_the_status(page: Any, standalone: Server) -> None:
    _submit(standalone, SLOW)
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    run_id = _start(standalone, "slow")
    page.goto(f"{standalone.url}/runs/{run_id}")
    fit = page.get_by_role("button", name="Fit to screen")
    fit.focus()
    page.evaluate(
        "() => { window.focusedBefore = document.activeElement;"
        " window.liveBefore = document.getElementById('run-status'); }"
    )
    expect(page.locator("h1 .badge")).to_have_attribute("data-status", "SUCCEEDED", timeout=30_000)
    # the same elements, morphed: focus and the live region (which announces) survived
    assert page.evaluate("document.activeElement === window.focusedBefore"), "focus was lost"
    live = page.locator("#run-status")
    assert live.get_attribute("aria-live") == "polite" and "succeeded" in live.inner_text()
    assert page.evaluate("document.getElementById('run-status') === window.liveBefore")
    assert page.evaluate("typeof Idiomorph") == "object"  # vendored, served by this server
    page.keyboard.press("Enter")  # the focused button still works
    expect(page.locator("#dag-wrap")).to_have_class(re.compile(r"\bfit\b"))
    assert hosts == {urlsplit(standalone.url).netloc}, hosts  # nothing from another host


def test_an_idle_workflow_page_picks_up_a_new_run_within_seconds(
    page: Any, standalone: Server
) -> None:
    _submit(standalone, SLOW)
    first = _start(standalone, "slow")
    assert _wait_ended(standalone, first) == "SUCCEEDED"
    page.goto(f"{standalone.url}/workflows/slow")
    assert page.locator("main").get_attribute("data-active") == "false"
    page.wait_for_timeout(1000)
    second = _start(standalone, "slow")
    # the idle page used to wait 30 s; the change feed brings the run in a few seconds
    expect(page.locator(f"table.grid a[data-run='{second}']")).to_have_count(1, timeout=8_000)
    expect(page.locator("#newest-run")).to_contain_text("Newest run: #2")
    # and says how fresh it is, with a button to refresh now
    expect(page.locator("#updated")).to_contain_text("Updated")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#updated")).to_have_text("Updated just now")


def test_bad_params_stay_in_the_form_with_the_error(page: Any, standalone: Server) -> None:
    _submit(standalone, SLOW)
    page.goto(f"{standalone.url}/workflows/slow")
    page.get_by_text("with params").click()
    typed = '{"who": "Ada",}'
    page.get_by_label("Run params").fill(typed)
    page.get_by_role("button", name="▶ Start a run").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("params are not valid JSON")
    assert page.get_by_label("Run params").input_value() == typed
    assert page.get_by_label("Run params").get_attribute("aria-invalid") == "true"


def _accessibility_tree(page: Any) -> dict[str, dict[str, Any]]:
    """Chromium's own accessibility tree (what screen readers are given), by node id."""
    nodes = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    return {n["nodeId"]: n for n in nodes}


def _role(node: dict[str, Any]) -> str:
    return str(node.get("role", {}).get("value", ""))


def _name(node: dict[str, Any]) -> str:
    return str(node.get("name", {}).get("value", ""))


def test_the_dag_links_are_exposed_to_screen_readers(page: Any, standalone: Server) -> None:
    """The DAG held its links in an ``img``, whose children ARIA makes presentational (screen
    readers other than Chromium's drop them): it is a group now, each link named."""
    _submit(standalone, FAILING)
    run_id = _start(standalone, "failing")
    assert _wait_ended(standalone, run_id) == "FAILED"
    page.goto(f"{standalone.url}/runs/{run_id}")
    tree = _accessibility_tree(page)
    dag = next(n for n in tree.values() if _name(n).startswith("DAG of run"))
    assert _role(dag) == "group", f"the DAG is exposed as {_role(dag)!r}"

    def inside_dag(node: dict[str, Any]) -> bool:
        while "parentId" in node:
            node = tree[node["parentId"]]
            if node is dag:
                return True
        return False

    links = sorted(_name(n) for n in tree.values() if _role(n) == "link" and inside_dag(n))
    assert links == [
        "extract: succeeded, shell, 1 attempt(s)",
        "load: upstream failed, noop, 0 attempt(s)",
        "transform_with_a_long_name: failed, shell, 1 attempt(s)",
    ]
    page.get_by_role("link", name="extract: succeeded, shell, 1 attempt(s)").click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}/steps/extract$"))


def _overflow(page: Any) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return width


def test_the_pages_fit_a_phone(page: Any, standalone: Server) -> None:
    _submit(standalone, FAILING)
    run_id = _start(standalone, "failing")
    assert _wait_ended(standalone, run_id) == "FAILED"
    page.set_viewport_size({"width": 420, "height": 900})

    page.goto(f"{standalone.url}/runs/{run_id}")
    assert _overflow(page) <= 0, "the run page scrolls sideways"
    table = page.locator("table.steps").bounding_box()
    assert table["width"] <= 420
    started = page.locator("tr[data-step=extract] td.when").first
    line = float(page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)"))
    assert started.bounding_box()["height"] < 2.6 * line, "a date wraps to several lines"
    label = page.locator("svg.gantt text.label").first.bounding_box()
    assert label["height"] >= 9, f"timeline labels shrink to {label['height']:.1f} px"
    screenshot(page, "09-run-phone")

    page.goto(f"{standalone.url}/runs/{run_id}/steps/transform_with_a_long_name")
    assert _overflow(page) <= 0, "the step page scrolls sideways"
    error = page.locator("table.stack td.error").first.bounding_box()
    assert error["width"] >= 250, f"the attempt's error is squeezed to {error['width']:.0f} px"
    screenshot(page, "10-step-phone")

    for path in ("/workflows/failing", "/", "/runs/abc"):
        page.goto(standalone.url + path)
        assert _overflow(page) <= 0, f"{path} scrolls sideways"
