"""The step page's log viewer in a real browser: a running step's log is followed as numbered
lines, its stderr lines marked; the log is searched with the keyboard alone; a long log
loads its earlier part on demand; the page fits a 420 px phone."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import Server, screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

CHATTY = """
id: chatty
owner: data-eng
steps:
  - id: talk
    type: shell
    shell:
      command: |
        echo "<b>not bold</b>"
        for i in $(seq 1 12); do
          echo "line $i"
          W=WARN; if [ $((i % 4)) = 0 ]; then echo "${W}ED $i: disk almost full" >&2; fi
          sleep 0.35
        done
        printf 'a-very-long-word-%.0s' $(seq 1 60); echo
        echo done
  - id: bulk
    type: shell
    depends_on: [talk]
    shell: {command: "for i in $(seq 1 4000); do printf '%05d %095d\\n' $i 0; done"}
"""


def _overflow(page: Any) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return width


def test_follow_search_and_read_a_log_with_the_keyboard(page: Any, standalone: Server) -> None:
    response = standalone.api(
        "POST", "/workflows", content=CHATTY, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code in (200, 201), response.text
    run_id = standalone.api("POST", "/workflows/chatty/runs", json={}).json()["id"]
    deadline = time.monotonic() + 15
    while standalone.api("GET", f"/runs/{run_id}/steps/talk").json()["attempt_count"] < 1:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.1)

    # follow: the page opens while the step runs and the lines arrive, numbered
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{standalone.url}/runs/{run_id}/steps/talk/attempts/1")
    log = page.locator("#attempt-log")
    assert "line 12" not in log.inner_text(), "the page was opened after the step had ended"
    expect(log).to_contain_text("line 12", timeout=20_000)
    expect(page.locator("h1 .badge")).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    assert log.inner_text().count("line 12") == 1
    first = page.locator("#attempt-log li").first
    assert first.get_attribute("id") == "L1" and first.locator(".n").inner_text() == "1"
    assert first.locator(".tx").inner_text().startswith("[maestro] /bin/bash -c")
    # the log's own markup is text (its line follows the command's, shown after "$ ")
    markup = page.get_by_text("<b>not bold</b>", exact=True)
    bold = page.locator("#attempt-log li").filter(has=markup)
    expect(bold).to_have_count(1)
    assert page.locator("#attempt-log b").count() == 0
    # stderr lines are marked (a class, the "err" label), stdout lines are not
    errors = page.locator("#attempt-log li.err")
    expect(errors).to_have_count(3)
    assert errors.first.locator(".src").inner_text() == "err"
    assert "WARNED 4" in errors.first.inner_text()
    assert page.locator("#attempt-log li:not(.err)", has_text="line 4").count() == 1
    # arrival times: the first line carries one
    assert first.locator(".tm").get_attribute("title").endswith(" UTC")

    # search with the keyboard alone: "/" jumps to the box, Enter goes on, Shift+Enter back
    page.locator("body").press("/")
    expect(page.locator("#log-q")).to_be_focused()
    page.keyboard.type("warned")
    count = page.locator("#log-count")
    expect(count).to_have_text("3 of 3")  # the last match first: a log is read from its end
    assert page.locator("#attempt-log mark").count() == 3
    current = page.locator("#attempt-log mark.current")
    assert current.inner_text() == "WARNED"
    assert "WARNED 12" in page.locator("#attempt-log li.hit-line").inner_text()
    page.keyboard.press("Enter")
    expect(count).to_have_text("1 of 3")
    expect(page.locator("#attempt-log li.hit-line")).to_contain_text("WARNED 4")
    page.keyboard.press("Shift+Enter")
    expect(count).to_have_text("3 of 3")
    page.keyboard.press("Tab")  # to the previous-match button
    page.keyboard.press("Enter")
    expect(count).to_have_text("2 of 3")
    screenshot(page, "20-log-search")

    # a phone: the long line wraps, the page never scrolls sideways
    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()
    page.locator("#log-q").fill("line 1")
    expect(count).not_to_have_text("")
    assert _overflow(page) <= 0, "the step page scrolls sideways"
    box = page.locator("#attempt-log").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 420
    long_line = page.locator("#attempt-log li", has_text="a-very-long-word-a-very-long-word")
    line_height = page.locator("#attempt-log li", has_text="line 2").bounding_box()["height"]
    assert long_line.bounding_box()["height"] > 3 * line_height, "the long line did not wrap"
    screenshot(page, "21-log-phone")

    # a long log shows its tail; "Load earlier" brings its start, numbered from 1
    page.set_viewport_size({"width": 1400, "height": 900})
    deadline = time.monotonic() + 20
    while standalone.api("GET", f"/runs/{run_id}").json()["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.2)
    page.goto(f"{standalone.url}/runs/{run_id}/steps/bulk")
    last = page.locator("#attempt-log li").last
    assert last.locator(".tx").inner_text().startswith("04000 000")
    total = int(last.locator(".n").inner_text())  # the runtime's header lines come first
    assert total > 4000 and last.get_attribute("id") == f"L{total}"
    assert page.locator("#L1").count() == 0
    # a link to a line shows that line, not the end
    page.goto(f"{standalone.url}/runs/{run_id}/steps/bulk/attempts/1#L{total - 2000}")
    expect(page.locator(f"#L{total - 2000}")).to_be_in_viewport()
    expect(page.locator(f"#L{total}")).not_to_be_in_viewport()
    page.goto(f"{standalone.url}/runs/{run_id}/steps/bulk")
    at_end = "(l) => l.scrollTop + l.clientHeight >= l.scrollHeight - 2"
    assert page.locator("#attempt-log").evaluate(at_end)  # no line named: the log's end
    # the search says how many matches lie before the lines shown
    page.locator("#log-q").fill("00012 0")
    expect(count).to_have_text("no match shown · 1 earlier")
    earlier = page.get_by_role("button", name="Load earlier")
    earlier.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#L1")).to_have_count(1)
    assert page.locator(f"#L{total - 3999} .tx").inner_text().startswith("00001 000")
    expect(page.locator("#log-earlier-row")).to_be_hidden()
    expect(count).to_have_text("1 of 1")
    numbers = page.locator("#attempt-log li .n").all_inner_texts()
    assert numbers == [str(n) for n in range(1, total + 1)]
    texts = page.locator("#attempt-log li .tx").all_inner_texts()
    assert [t[:5] for t in texts[total - 4000 :]] == [f"{n:05d}" for n in range(1, 4001)]
    screenshot(page, "22-log-earlier")
