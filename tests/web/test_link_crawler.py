"""Issue 16: every internal link answers. Runs of every status (succeeded, failed, restarted,
running, queued, paused, stopped, timed out, a foreach with its iterations, a subworkflow) are
seeded, then a crawler starts at ``/`` and follows every ``href`` and ``src`` on this site,
page by page, and checks each answers 200 (HTML pages, logs, static files, the API's links).
Links that change something are forms (POST), never ``href``s, so crawling is harmless."""

from __future__ import annotations

import re
from collections import deque
from html import unescape
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

from fastapi.testclient import TestClient

from maestro.engine import actions
from maestro.engine.runs import create_run
from maestro.states import RunStatus
from tests.engine.harness import Harness
from tests.web.conftest import flaky

LINK = re.compile(r'(?:href|src)="([^"]+)"')
#: pages the crawl may visit (the seeded set has ~60 runs' worth of pages)
MAX_PAGES = 1500
LOOP = """
id: loop
owner: team-a
steps:
  - id: each
    type: foreach
    foreach:
      items: "[1, 2, 3]"
      as: n
      steps:
        - {id: body, type: shell, shell: {command: "echo item {{ n }}"}}
"""
CHILD = """
id: child
owner: team-a
steps: [{id: leaf, type: noop}]
"""
PARENT = """
id: parent
owner: team-a
steps:
  - id: call
    type: subworkflow
    subworkflow: {workflow: child}
"""
SLOW = """
id: slow
owner: team-b
timeout: 5s
steps:
  - {id: wait, type: shell, shell: {command: "sleep 30"}}
  - {id: after, type: noop, depends_on: [wait]}
"""


def _seed(harness: Harness, tmp_path: Path) -> set[RunStatus]:
    failed = harness.start(flaky(tmp_path))
    harness.drain(failed)
    (tmp_path / "flag").touch()
    harness.drain(actions.restart_run(harness.engine, failed, "crawler"))
    for text in (LOOP, CHILD, PARENT):
        harness.drain(harness.start(text))
    timed_out = harness.start(SLOW)
    harness.clock.advance(60)
    harness.scheduler.tick()
    assert harness.view(timed_out).status == RunStatus.TIMED_OUT
    paused = harness.start(SLOW)
    actions.pause_run(harness.engine, paused, "crawler")
    stopped = harness.start(SLOW)
    actions.stop_run(harness.engine, stopped, "crawler")
    harness.start(SLOW)  # running: its step stays queued with the inline dispatcher
    with harness.engine.unit() as u:
        create_run(u, harness.engine.versions, "slow")  # queued: never started
        stopped_queued = create_run(u, harness.engine.versions, "slow")
    actions.stop_run(harness.engine, stopped_queued, "crawler")  # its steps never created
    return {harness.view(r).status for r in _run_ids(harness)}


def _run_ids(harness: Harness) -> list[int]:
    with harness.db.read() as conn:
        return [r.id for r in conn.exec_driver_sql("SELECT id FROM runs ORDER BY id")]


def _links(base: str, html: str) -> list[str]:
    found = []
    for raw in LINK.findall(html):
        url, _ = urldefrag(urljoin(base, unescape(raw)))
        parts = urlsplit(url)
        if parts.scheme in ("", "http") and parts.netloc in ("", "test") and parts.path:
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def test_every_internal_link_answers(client: TestClient, harness: Harness, tmp_path: Path) -> None:
    statuses = _seed(harness, tmp_path)
    assert statuses >= set(RunStatus), f"seeded {statuses}"
    seen: dict[str, int] = {}
    queue: deque[tuple[str, str]] = deque([("/", "start")])
    broken: list[str] = []
    while queue and len(seen) < MAX_PAGES:
        path, source = queue.popleft()
        if path in seen:
            continue
        answer = client.get(path, follow_redirects=False)
        seen[path] = answer.status_code
        if answer.status_code != 200:
            broken.append(f"{path} → {answer.status_code} (linked from {source})")
            continue
        if answer.headers.get("content-type", "").startswith("text/html"):
            queue.extend((link, path) for link in _links(f"http://test{path}", answer.text))
    assert not broken, "\n".join(broken)
    print(f"crawled {len(seen)} addresses")
    assert len(seen) < MAX_PAGES, "the crawl did not finish"
    kinds = {re.sub(r"\d+", "N", p.split("?")[0]) for p in seen}
    for expected in (
        "/",
        "/runs",
        "/workflows/sales",
        "/runs/N",
        "/runs/N/steps/transform/attempts/N",
        "/runs/N/steps/body/attempts/N",  # a foreach iteration's step
        "/docs",
    ):
        assert expected in kinds, f"the crawl never reached {expected}: {sorted(kinds)}"
