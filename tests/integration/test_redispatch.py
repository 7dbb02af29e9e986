"""Re-sending unclaimed attempts without a storm (found by the chaos soak): behind a long
queue the scheduler sends no copies — before, every pass added one message per waiting
attempt, the queue grew faster than workers could drain it, and runs stalled for good — yet
after Redis restarts empty it sends them again at once. A real scheduler process, Redis and
PostgreSQL; no worker until the end."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import needs_services
from tests.integration.test_faults import eventually
from tests.support.cluster import Cluster, RedisServer
from workers.celery_app import CeleryDispatcher, create_celery_app

pytestmark = [needs_services, pytest.mark.timeout(120)]

FAN = "id: fan\nowner: t\nsteps:\n" + "".join(f"  - {{id: s{i}, type: noop}}\n" for i in range(30))


def test_no_copies_behind_a_queue_and_all_again_after_a_broker_loss(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    depth = CeleryDispatcher(create_celery_app(cluster.engine.settings)).depth
    cluster.scheduler()  # redispatch after 2 s (tests/integration/conftest.py)
    run_id = cluster.start_run(FAN)
    eventually(lambda: depth("default") > 0, what="messages queued")
    time.sleep(1)
    queued = depth("default")  # the run's step slots' worth (max_active_steps)
    time.sleep(6)  # three re-send periods with nobody consuming
    assert depth("default") == queued, "copies were queued behind the waiting messages"
    redis_server.restart_empty()
    assert depth("default") == 0
    eventually(lambda: depth("default") >= queued, timeout=20, what="re-sent after the loss")
    time.sleep(3)
    assert depth("default") == queued
    cluster.worker()
    assert cluster.wait(run_id, timeout=60).status == "SUCCEEDED"
