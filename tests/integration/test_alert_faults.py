"""Alerts under faults, with real processes (PostgreSQL, Redis, ``maestro scheduler`` and
``maestro worker``) and a real HTTP receiver on loopback: nothing lost, nothing doubled."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from sqlalchemy import select

from maestro.store import tables
from tests.integration.conftest import needs_services
from tests.integration.test_faults import eventually
from tests.support.cluster import Cluster
from tests.support.receiver import Receiver

pytestmark = [needs_services, pytest.mark.timeout(180)]
AL = tables.alerts


def failing(workflow_id: str, url: str) -> str:
    return f"""
id: {workflow_id}
owner: t
alerts: [{{on: run_failed, webhook: {{url: "{url}"}}}}]
steps:
  - {{id: load, type: shell, shell: {{command: "exit 3"}}}}
"""


def alert_rows(cluster: Cluster) -> list[tuple[str, int, str]]:
    with cluster.engine.db.read() as conn:
        rows = conn.execute(select(AL.c.status, AL.c.attempts, AL.c.key).order_by(AL.c.id))
        return [(r.status, r.attempts, r.key) for r in rows]


def test_an_alert_waits_for_a_receiver_that_is_down_and_arrives_once_it_is_back(
    cluster: Cluster,
) -> None:
    cluster.env["MAESTRO_ALERT_RETRY_FIRST"] = "0.3"
    cluster.env["MAESTRO_ALERT_RETRY_MAX"] = "0.5"
    receiver = Receiver()  # its port is chosen, nothing listens yet
    cluster.scheduler()
    cluster.worker()
    run_id = cluster.start_run(failing("down", receiver.url))
    assert cluster.wait(run_id).status == "FAILED"
    # tries fail while the receiver is down; the alert stays PENDING
    eventually(lambda: alert_rows(cluster)[0][1] >= 3, what="three refused tries")
    assert alert_rows(cluster)[0][0] == "PENDING"
    receiver.start()
    try:
        (got,) = receiver.wait_for(1)
        assert got.body["event"] == "run_failed" and got.body["run_id"] == run_id
        eventually(lambda: alert_rows(cluster)[0][0] == "DELIVERED", what="DELIVERED")
        time.sleep(1.5)  # a few more retry periods: nothing more arrives
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


def test_a_scheduler_killed_before_sending_delivers_exactly_once_after_restart(
    cluster: Cluster,
) -> None:
    receiver = Receiver().start()
    try:
        first = cluster.scheduler("scheduler-1")
        cluster.worker()
        time.sleep(1)  # it is up and listening
        first.send_signal(signal.SIGSTOP)  # frozen: it cannot send what is committed next
        run_id = cluster.start_run(failing("killed", receiver.url))
        assert cluster.wait(run_id).status == "FAILED"  # the worker committed step + alert
        assert [(s, n) for s, n, _ in alert_rows(cluster)] == [("PENDING", 0)]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert receiver.received == []
        cluster.scheduler("scheduler-2")
        (got,) = receiver.wait_for(1)
        assert got.body["run_id"] == run_id
        eventually(lambda: alert_rows(cluster)[0][0] == "DELIVERED", what="DELIVERED")
        time.sleep(1.5)
        assert len(receiver.received) == 1
        assert alert_rows(cluster)[0][1] == 1  # one try
    finally:
        receiver.stop()


def test_two_schedulers_deliver_each_alert_once(cluster: Cluster) -> None:
    receiver = Receiver().start()
    try:
        cluster.scheduler("scheduler-1")
        cluster.scheduler("scheduler-2")
        cluster.worker(concurrency=8)
        runs = [cluster.start_run(failing(f"twice{i}", receiver.url)) for i in range(30)]
        for run_id in runs:
            assert cluster.wait(run_id).status == "FAILED"
        receiver.wait_for(30)
        eventually(lambda: {s for s, _, _ in alert_rows(cluster)} == {"DELIVERED"}, what="all sent")
        time.sleep(1.5)
        keys = Counter(receiver.keys())
        assert len(keys) == 30 and set(keys.values()) == {1}, keys
        assert sorted(r.body["run_id"] for r in receiver.received) == sorted(runs)
        assert {n for _, n, _ in alert_rows(cluster)} == {1}
    finally:
        receiver.stop()
