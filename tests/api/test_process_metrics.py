"""The process's own metrics on ``/metrics`` (``maestro/metrics.py``): step handoffs, attempts
ended per status, scheduler passes and database pools — what the Grafana dashboard
(``deploy/grafana/maestro.json``) plots. Counters are process-wide, so each test compares
before and after."""

from __future__ import annotations

import re
import threading
import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from maestro.engine.scheduler import Scheduler
from tests.engine.harness import Harness

DIAMOND = """
id: diamond
owner: team-a
steps:
  - {id: a, type: noop}
  - {id: b, type: noop, depends_on: [a]}
  - {id: c, type: shell, depends_on: [a], shell: {command: "exit 3"}, on_failure: ignore}
  - {id: d, type: noop, depends_on: [b, c]}
"""


def _samples(client: TestClient) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``name{label="value",…}`` → value."""
    text = client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            found[f"{s.name}{{{labels}}}"] = s.value
    return found


def _get(samples: dict[str, float], key: str) -> float:
    return samples.get(key, 0.0)


def test_handoffs_and_attempt_ends_are_counted(client: TestClient, harness: Harness) -> None:
    before = _samples(client)
    harness.drain(harness.start(DIAMOND))
    after = _samples(client)
    handoffs = 'maestro_step_handoff_seconds_count{queue="default"}'
    assert _get(after, handoffs) - _get(before, handoffs) == 4  # one claim per step
    # every handoff of this run took less than the largest finite bucket
    big = 'maestro_step_handoff_seconds_bucket{le="300.0",queue="default"}'
    assert _get(after, big) - _get(before, big) == 4
    succeeded = 'maestro_attempts_ended_total{status="SUCCEEDED"}'
    failed = 'maestro_attempts_ended_total{status="FAILED"}'
    assert _get(after, succeeded) - _get(before, succeeded) == 3
    assert _get(after, failed) - _get(before, failed) == 1


def test_the_database_pools_of_the_process_are_reported(
    client: TestClient, harness: Harness
) -> None:
    samples = _samples(client)
    sizes = {k: v for k, v in samples.items() if k.startswith("maestro_db_pool_size{")}
    assert sizes and all(v > 0 for v in sizes.values())
    in_use = [k for k in samples if k.startswith("maestro_db_pool_connections{") and "in_use" in k]
    assert in_use


def test_scheduler_passes_are_timed(client: TestClient, harness: Harness) -> None:
    key = "maestro_scheduler_loop_seconds_count{}"
    before = _get(_samples(client), key)
    stop = threading.Event()
    loop = threading.Thread(target=Scheduler(harness.engine).run_forever, args=(stop,))
    loop.start()
    deadline = time.monotonic() + 10
    while _get(_samples(client), key) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    loop.join(10)
    assert _get(_samples(client), key) >= before + 2
    assert re.search(r"maestro_scheduler_loop_failures_total \d", client.get("/metrics").text)
