"""Issue 16, reading comfort, in a real browser (Chromium through Playwright, a live
``maestro standalone``): times in the reader's zone with UTC on hover and a remembered
toggle, also after the auto-refresh morphs the page; the dark color scheme; the DAG's
upstream/downstream highlight on hover and focus, its zoom and pan; the duration axis; a
version's definition and the diff between two versions. Screenshots at 1400 px, 420 px and
in the dark scheme."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Server, screenshot
from tests.e2e.test_web_defects import _start, _submit, _wait_ended

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

#: a zone without daylight saving time, half an hour off whole hours: easy to tell from UTC
ZONE = "Asia/Kolkata"
OFFSET = timedelta(hours=5, minutes=30)

BRANCHY = """
id: branchy
owner: data-eng
steps:
  - {id: extract, type: shell, shell: {command: "sleep 3"}}
  - {id: clean, type: noop, depends_on: [extract]}
  - {id: audit, type: noop, depends_on: [extract]}
  - {id: load, type: noop, depends_on: [clean]}
  - {id: report, type: noop, depends_on: [load, audit]}
"""
VARIED = """
id: varied
owner: data-eng
params: {t: {type: float, default: 0.1}}
steps:
  - {id: work, type: shell, shell: {command: "sleep {{ params.t }}"}}
"""
V1 = """
id: changing
owner: data-eng
description: the first cut
steps:
  - {id: extract, type: noop}
  - {id: load, type: noop, depends_on: [extract]}
"""
V2 = """
id: changing
owner: data-eng
description: "<script>document.title = 'pwned'</script> the second cut"
steps:
  - {id: extract, type: noop}
  - {id: transform, type: noop, depends_on: [extract]}
  - {id: load, type: noop, depends_on: [transform]}
"""


@pytest.fixture
def kolkata(browser: Any) -> Iterator[Any]:
    """A page whose browser lives in Asia/Kolkata (UTC+05:30)."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id=ZONE, locale="en-US"
    )
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture
def dark(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def _utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _shown(page: Any, selector: str) -> tuple[str, str, str]:
    """A <time>'s datetime attribute, its text and its title."""
    time_ = page.locator(selector)
    return (
        time_.get_attribute("datetime"),
        time_.inner_text(),
        time_.get_attribute("title") or "",
    )


def test_times_are_local_with_utc_on_hover_and_the_toggle_is_remembered(
    kolkata: Any, standalone: Server
) -> None:
    page = kolkata
    _submit(standalone, BRANCHY)
    run_id = _start(standalone, "branchy")
    page.goto(f"{standalone.url}/runs/{run_id}")
    expect(page.locator("h1 .badge")).to_have_attribute("data-status", "RUNNING", timeout=10_000)
    # "Ended" appears only when the run ends, brought by the auto-refresh's morph: it is
    # converted like the times the page was loaded with
    ended = "div:has(> dt:text-is('Ended')) time"
    expect(page.locator(ended)).to_have_count(1, timeout=30_000)
    for selector in ("div:has(> dt:text-is('Started')) time", ended):
        stamp, text, title = _shown(page, selector)
        moment = _utc(stamp)
        local = (moment + OFFSET).strftime("%Y-%m-%d %H:%M:%S")
        assert text == f"{local} GMT+5:30", selector
        assert title == moment.strftime("%Y-%m-%d %H:%M:%S UTC"), selector
    screenshot(page, "comfort-01-local-times")

    toggle = page.get_by_role("button", name="Times in UTC")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    stamp, text, title = _shown(page, ended)
    assert text == _utc(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert title.endswith("GMT+5:30")  # the local time, on hover
    page.reload()  # the choice is remembered
    expect(page.get_by_role("button", name="Times in UTC")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert page.locator(ended).inner_text().endswith(" UTC")
    page.get_by_role("button", name="Refresh").click()  # and kept through a morph
    expect(page.locator("#updated")).to_have_text("Updated just now")
    assert page.locator(ended).inner_text().endswith(" UTC")
    page.get_by_role("button", name="Times in UTC").click()
    expect(page.locator(ended)).to_have_text(re.compile(r"GMT\+5:30$"))
    # the longer local times still fit a phone
    page.set_viewport_size({"width": 420, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "comfort-01b-local-times-phone")


def test_the_dark_scheme_darkens_the_page_and_keeps_the_statuses(
    dark: Any, standalone: Server
) -> None:
    page = dark
    _submit(standalone, BRANCHY)
    run_id = _start(standalone, "branchy")
    assert _wait_ended(standalone, run_id) == "SUCCEEDED"
    page.goto(f"{standalone.url}/runs/{run_id}")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    text = page.evaluate("getComputedStyle(document.querySelector('main h1')).color")
    assert text == "rgb(230, 237, 243)"
    node = page.locator("svg.dag .dag-node[data-step=extract] > rect")
    assert node.evaluate("el => getComputedStyle(el).fill") == "rgb(0, 122, 90)"  # succeeded
    frame = page.evaluate("getComputedStyle(document.getElementById('dag-wrap')).backgroundColor")
    assert frame == "rgb(1, 4, 9)"
    screenshot(page, "comfort-02-run-dark")
    page.goto(f"{standalone.url}/workflows/branchy")
    grid_head = page.locator("table.grid thead th[scope=row]").first
    assert grid_head.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(13, 17, 23)"
    screenshot(page, "comfort-03-workflow-dark")
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{standalone.url}/runs/{run_id}")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    screenshot(page, "comfort-03b-run-dark-phone")


def _classes(page: Any, step: str) -> set[str]:
    value = page.locator(f"svg.dag .dag-node[data-step={step}]").get_attribute("class")
    return set(value.split())


def _transform(page: Any) -> str:
    value: str | None = page.locator("#dag-wrap g.dag-view").get_attribute("transform")
    return value or ""


def test_the_dag_lights_up_lineage_and_zooms(page: Any, standalone: Server) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    _submit(standalone, BRANCHY)
    run_id = _start(standalone, "branchy")
    assert _wait_ended(standalone, run_id) == "SUCCEEDED"
    page.goto(f"{standalone.url}/runs/{run_id}")

    # hover: clean's upstream (extract) and downstream (load, report); audit is not on a path
    page.locator("svg.dag .dag-node[data-step=clean]").hover()
    expect(page.locator("svg.dag")).to_have_class(re.compile(r"\bdag-lit\b"))
    assert "is-self" in _classes(page, "clean")
    assert "is-up" in _classes(page, "extract")
    assert {"is-down"} <= _classes(page, "load") and {"is-down"} <= _classes(page, "report")
    assert not {"is-up", "is-down", "is-self"} & _classes(page, "audit")
    edge = page.locator('svg.dag path[data-from=extract][data-to="clean"]')
    assert "is-up" in (edge.get_attribute("class") or "")
    assert "is-up" not in (
        page.locator('svg.dag path[data-from=extract][data-to="audit"]').get_attribute("class")
        or ""
    )
    expect(page.locator("#dag-lineage")).to_have_text(
        "clean: 1 upstream step(s), 2 downstream step(s)"
    )
    dimmed = page.locator("svg.dag .dag-node[data-step=audit]")
    assert float(dimmed.evaluate("el => getComputedStyle(el).opacity")) < 0.5
    screenshot(page, "comfort-04-dag-lineage")
    page.mouse.move(5, 5)  # away: the drawing is plain again
    expect(page.locator("svg.dag")).not_to_have_class(re.compile(r"\bdag-lit\b"))

    # focus (keyboard): report's upstream is everything
    page.get_by_role("link", name=re.compile(r"^report: ")).focus()
    for step in ("extract", "clean", "audit", "load"):
        assert "is-up" in _classes(page, step), step
    expect(page.locator("#dag-lineage")).to_have_text(
        "report: 4 upstream step(s), 0 downstream step(s)"
    )

    # zoom with the buttons, then the keys; reset
    assert _transform(page) == ""
    page.get_by_role("button", name="Zoom in").click()
    assert "scale(1.2500)" in _transform(page)
    page.get_by_role("button", name="Zoom out").click()
    page.get_by_role("button", name="Zoom out").click()
    assert "scale(0.8000)" in _transform(page)
    page.get_by_role("button", name="Reset view").click()
    assert _transform(page) == ""
    page.locator("#dag-wrap").focus()
    page.keyboard.press("+")
    assert "scale(1.2500)" in _transform(page)
    before = _transform(page)
    page.keyboard.press("ArrowLeft")  # pans
    assert _transform(page) != before and "scale(1.2500)" in _transform(page)
    # a drag pans too, and the step under the pointer is not opened by it
    box = page.locator("svg.dag .dag-node[data-step=audit]").bounding_box()
    before = _transform(page)
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 60, steps=5)
    page.mouse.up()
    assert _transform(page) != before
    assert page.url.endswith(f"/runs/{run_id}")
    # the zoom survives the refresh's morph (which puts the server's markup back)
    zoomed = _transform(page)
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#updated")).to_have_text("Updated just now")
    assert _transform(page) == zoomed
    # and "Fit to screen" is still there
    page.get_by_role("button", name="Fit to screen").click()
    expect(page.locator("#dag-wrap")).to_have_class(re.compile(r"\bfit\b"))
    screenshot(page, "comfort-05-dag-zoomed")


def test_the_duration_axis_and_percentiles_on_the_workflow_page(
    page: Any, standalone: Server
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    _submit(standalone, VARIED)
    runs = []
    for seconds in (0.2, 1.5, 0.4, 2.5, 0.8, 0.3, 1.1, 0.6):
        response = standalone.api("POST", "/workflows/varied/runs", json={"params": {"t": seconds}})
        assert response.status_code == 201, response.text
        runs.append(response.json()["id"])
    for run_id in runs:
        assert _wait_ended(standalone, run_id) == "SUCCEEDED"
    page.goto(f"{standalone.url}/workflows/varied")
    axis = page.locator("th.chart-axis svg.duration-axis")
    expect(axis).to_be_visible()
    labels = axis.locator("text.tick").all_text_contents()
    assert labels[0] == "0" and len(labels) >= 2
    assert axis.locator("text.pct.p50").text_content().startswith("p50 ")
    assert axis.locator("text.pct.p95").text_content().startswith("p95 ")
    # the axis and the bars share their bottom line
    bars = page.locator("svg.durations").bounding_box()
    beside = axis.bounding_box()
    assert abs((bars["y"] + bars["height"]) - (beside["y"] + beside["height"])) <= 1.5
    screenshot(page, "comfort-06-workflow-axis")
    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    expect(page.locator("th.chart-axis svg.duration-axis")).to_be_visible()
    screenshot(page, "comfort-07-workflow-axis-phone")


def test_a_version_and_the_diff_between_two(page: Any, standalone: Server) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    _submit(standalone, V1)
    _submit(standalone, V2)
    page.goto(f"{standalone.url}/workflows/changing")
    page.get_by_role("link", name="v2", exact=True).click()
    page.wait_for_url(re.compile(r"/workflows/changing/versions/2$"))
    definition = page.locator("#definition-text")
    expect(definition).to_contain_text("- id: transform")
    expect(definition).to_contain_text("<script>document.title")  # shown as text
    assert page.title() != "pwned"
    screenshot(page, "comfort-08-version")

    page.get_by_role("link", name="Changes from v1").click()
    page.wait_for_url(re.compile(r"/versions/1/diff/2$"))
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    removed = page.locator("table.diff tr.removed td.text")
    added = page.locator("table.diff tr.added td.text")
    assert "description: the first cut" in removed.all_inner_texts()
    assert any("- id: transform" in t for t in added.all_inner_texts())
    # each change is named in words for a screen reader
    marks = page.locator("table.diff tr.added td.mark .visually-hidden").all_text_contents()
    assert marks == ["added"] * added.count()
    assert page.title() != "pwned"
    screenshot(page, "comfort-09-diff")

    # the compare form of a version page goes to the same diff
    page.goto(f"{standalone.url}/workflows/changing/versions/2")
    page.get_by_label("Compare with version").fill("1")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/versions/1/diff/2$"))

    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "comfort-10-diff-phone")
    page.goto(f"{standalone.url}/workflows/changing/versions/1")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "comfort-11-version-phone")
