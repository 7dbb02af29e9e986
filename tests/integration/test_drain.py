"""A worker's graceful drain, with real processes: SIGTERM lets running steps finish within
``--drain-timeout``, then stops the rest and hands them back to run on another worker (not
one of their retries); a second SIGTERM stops them at once. No step runs twice at once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import needs_services
from tests.integration.test_db_outage import _alive
from tests.integration.test_faults import attempts_of, eventually
from tests.support.cluster import Cluster

pytestmark = [needs_services, pytest.mark.timeout(180)]


def workflow(tmp_path: Path) -> str:
    ledger, pids = tmp_path / "ledger", tmp_path / "pids"
    short = f"echo start short >> {ledger}; sleep 2; echo end short >> {ledger}"
    # the first attempt would take a minute; a retry is quick
    long = (
        f"echo $$ >> {pids}; echo start long $MAESTRO_ATTEMPT >> {ledger}; "
        f'if [ "$MAESTRO_ATTEMPT" = 1 ]; then sleep 60; fi; echo end long >> {ledger}'
    )
    return f"""
id: drained
owner: t
steps:
  - {{id: short, type: shell, shell: {{command: "{short}"}}}}
  - {{id: long, type: shell, shell: {{command: '{long}'}}}}
"""


def started(tmp_path: Path, *names: str) -> bool:
    ledger = tmp_path / "ledger"
    text = ledger.read_text() if ledger.exists() else ""
    return all(f"start {name}" in text for name in names)


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_sigterm_lets_running_steps_finish_then_hands_back_the_rest(
    cluster: Cluster, tmp_path: Path, pool: str
) -> None:
    """With prefork the steps run in the pool's children: at the timeout the worker tells
    each child to stop its own (``STOP_SIGNAL``), as the threads pool stops them itself."""
    cluster.scheduler()
    worker = cluster.worker("draining", "default", 2, pool, "--drain-timeout", "5s")
    run_id = cluster.start_run(workflow(tmp_path))
    eventually(lambda: started(tmp_path, "short", "long"), what="both steps started")
    long_pid = int((tmp_path / "pids").read_text().split()[0])
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    took = time.monotonic() - signalled
    assert 4 <= took < 15, took  # it waited for the drain timeout, not for the long step
    assert not _alive(long_pid)  # nothing left behind
    ledger = (tmp_path / "ledger").read_text()
    assert "end short" in ledger and "end long" not in ledger
    cluster.worker("second")
    view = cluster.wait(run_id, timeout=60)
    assert view.status == "SUCCEEDED", cluster.logs()
    attempts = {(step, number): status for step, number, status, _ in attempts_of(cluster, run_id)}
    assert attempts == {
        ("short", 1): "SUCCEEDED",  # finished during the drain, not killed
        ("long", 1): "LOST",  # handed back at the drain timeout...
        ("long", 2): "SUCCEEDED",  # ...and run elsewhere, though it has no retries
    }
    assert "draining 2 running step(s) for up to 5s" in (cluster.home / "draining.log").read_text()


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_second_sigterm_stops_running_steps_at_once(
    cluster: Cluster, tmp_path: Path, pool: str
) -> None:
    cluster.scheduler()
    worker = cluster.worker("impatient", "default", 2, pool, "--drain-timeout", "10m")
    run_id = cluster.start_run(workflow(tmp_path).replace("sleep 2", "sleep 60"))
    eventually(lambda: started(tmp_path, "short", "long"), what="both steps started")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # draining
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    assert time.monotonic() - signalled < 10
    statuses = {(s, n): st for s, n, st, _ in attempts_of(cluster, run_id)}
    assert statuses[("short", 1)] == "LOST" and statuses[("long", 1)] == "LOST"
