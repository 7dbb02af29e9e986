"""The distributed processes serve their own metrics (``--metrics-port``): a real ``maestro
scheduler`` and ``maestro worker`` on PostgreSQL and Redis, scraped over HTTP on loopback after
a chain of steps ran through them."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import needs_services
from tests.integration.test_faults import eventually
from tests.support.cluster import Cluster, free_port

pytestmark = [needs_services, pytest.mark.timeout(120)]

CHAIN = """
id: chain
owner: t
steps:
  - {id: a, type: noop}
  - {id: b, type: noop, depends_on: [a]}
  - {id: c, type: shell, depends_on: [b], shell: {command: "exit 1"}}
"""


def _scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _reachable(port: int) -> bool:
    try:
        _scrape(port)
        return True
    except httpx.HTTPError:
        return False


def test_the_scheduler_and_the_worker_serve_their_metrics(cluster: Cluster) -> None:
    scheduler_port, worker_port = free_port(), free_port()
    cluster._spawn("scheduler", "--metrics-port", str(scheduler_port), log="scheduler.log")
    cluster.worker("worker", "default", 2, "threads", "--metrics-port", str(worker_port))
    eventually(lambda: _reachable(scheduler_port) and _reachable(worker_port), timeout=30)
    run = cluster.wait(cluster.start_run(CHAIN), timeout=60)
    assert run.status == "FAILED"

    worker = _scrape(worker_port)
    assert worker["maestro_step_handoff_seconds_count[('queue', 'default')]"] == 3
    assert worker["maestro_attempts_ended_total[('status', 'SUCCEEDED')]"] == 2
    assert worker["maestro_attempts_ended_total[('status', 'FAILED')]"] == 1
    assert any(k.startswith("maestro_db_pool_size[('pool', 'postgresql") for k in worker)
    eventually(lambda: _scrape(scheduler_port)["maestro_scheduler_loop_seconds_count[]"] > 0)
