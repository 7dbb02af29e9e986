"""A database restart or outage, with real processes (PostgreSQL stopped and started by the
test, ``maestro scheduler`` and ``maestro worker`` subprocesses): a succeeded step is never run
twice, healthy steps are not declared LOST, and the API answers no 500 (503 while the database
is down). Plus the workers' share of the queue: a busy worker holds no step an idle one could
start, and a cold shutdown of a thread worker kills its steps instead of crashing.

Each step appends ``start NAME`` and ``end NAME`` to a ledger file: the ledger shows every
step's work exactly once. The cluster's heartbeat timeout is 2 s (tests/integration/conftest.py),
so an outage of 5 s is "longer than the heartbeat timeout" at this scale.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from maestro.engine.core import Engine
from maestro.settings import load_settings
from maestro.store.db import Database
from maestro.store.tokens import Scope, create_token
from tests.integration.conftest import needs_services
from tests.integration.test_faults import attempts_of, eventually
from tests.support.cluster import Cluster

pytestmark = [
    needs_services,
    pytest.mark.skipif(not os.environ.get("MAESTRO_PG_CTL"), reason="needs MAESTRO_PG_CTL (pg.sh)"),
    pytest.mark.timeout(180),
]


def _pg(action: str) -> None:
    ctl = shlex.split(os.environ["MAESTRO_PG_CTL"])
    extra = ["-m", "fast"] if action == "stop" else []
    # the server must not inherit our pipes (MAESTRO_PG_CTL names its log file)
    subprocess.run(
        [*ctl, action, *extra, "-w"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def outage() -> Iterator[None]:
    """Whatever a test does, the server is running again after it."""
    yield
    ctl = shlex.split(os.environ["MAESTRO_PG_CTL"])
    if subprocess.run([*ctl, "status"], capture_output=True).returncode != 0:
        _pg("start")


def _step(name: str, seconds: float, ledger: Path, deps: str = "") -> str:
    command = f"echo start {name} >> {ledger}; sleep {seconds}; echo end {name} >> {ledger}"
    after = f", depends_on: [{deps}]" if deps else ""
    return f'  - {{id: {name}, type: shell{after}, shell: {{command: "{command}"}}}}'


def _ledger(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def test_a_report_that_meets_a_restart_completes_once(
    cluster: Cluster, tmp_path: Path, outage: None
) -> None:
    ledger = tmp_path / "ledger"
    cluster.scheduler()
    cluster.worker(concurrency=2)
    yaml = "id: report\nowner: t\nsteps:\n" + _step("slow", 3, ledger) + "\n"
    yaml += _step("next", 0.1, ledger, deps="slow") + "\n"
    run_id = cluster.start_run(yaml)
    eventually(lambda: _ledger(ledger)["start slow"], what="slow started")
    time.sleep(1.5)
    _pg("stop")  # the step ends (and reports) while the database is down
    time.sleep(5)
    _pg("start")
    restarted = time.monotonic()
    view = cluster.wait(run_id, timeout=90)
    assert view.status == "SUCCEEDED", cluster.logs()
    assert time.monotonic() - restarted < 10, "a stall longer than a re-send after the restart"
    assert _ledger(ledger) == {"start slow": 1, "end slow": 1, "start next": 1, "end next": 1}
    slow = [a for a in attempts_of(cluster, run_id) if a[0] == "slow"]
    assert [(a[1], a[2]) for a in slow] == [(1, "SUCCEEDED")], slow


def test_an_outage_longer_than_the_heartbeat_timeout_leaves_running_steps_running(
    cluster: Cluster, tmp_path: Path, outage: None
) -> None:
    ledger = tmp_path / "ledger"
    cluster.scheduler()
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    names = [f"s{i}" for i in range(4)]
    yaml = "id: long\nowner: t\nsteps:\n" + "\n".join(_step(n, 10, ledger) for n in names) + "\n"
    run_id = cluster.start_run(yaml)
    eventually(
        lambda: all(_ledger(ledger)[f"start {n}"] for n in names), timeout=30, what="all started"
    )
    _pg("stop")
    time.sleep(5)  # 2.5 heartbeat timeouts without a heartbeat written
    _pg("start")
    view = cluster.wait(run_id, timeout=90)
    assert view.status == "SUCCEEDED", cluster.logs()
    assert _ledger(ledger) == {f"{edge} {n}": 1 for n in names for edge in ("start", "end")}
    assert {(a[0], a[1], a[2]) for a in attempts_of(cluster, run_id)} == {
        (n, 1, "SUCCEEDED") for n in names
    }


def test_the_api_answers_503_while_the_database_is_down_and_no_500_around_it(
    pg_url: str, tmp_path: Path, outage: None
) -> None:
    settings = load_settings(home=tmp_path, project_dir=tmp_path)
    db = Database(pg_url, pre_ping=True)  # as `maestro server` opens it
    engine = Engine(db, settings)
    with db.tx() as conn:
        token = create_token(conn, "reader", Scope.read, [], engine.clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(create_app(engine, auth=True), raise_server_exceptions=False)
    try:
        for _ in range(3):  # fill the pool with connections the restart will drop
            assert client.get("/api/v1/workflows", headers=headers).status_code == 200
        _pg("stop")
        down = client.get("/api/v1/workflows", headers=headers)
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"].isdigit()
        assert down.json()["status"] == 503
        _pg("start")
        for _ in range(5):  # the first requests after the restart meet dropped connections
            answer = client.get("/api/v1/workflows", headers=headers)
            assert answer.status_code == 200, answer.text
    finally:
        client.close()
        db.dispose()


def test_a_busy_worker_holds_no_step_that_an_idle_worker_could_start(
    cluster: Cluster, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    # no re-send of unclaimed attempts within the test: it would hide a step held by a worker
    cluster.env["MAESTRO_REDISPATCH_AFTER"] = "60"
    cluster.scheduler()
    cluster.worker("busy", concurrency=1)
    yaml = "id: two\nowner: t\nsteps:\n" + _step("a", 8, ledger) + "\n" + _step("b", 8, ledger)
    run_id = cluster.start_run(yaml + "\n")
    first = eventually(lambda: _ledger(ledger)["start a"] or _ledger(ledger)["start b"])
    assert first
    time.sleep(1)  # time for the busy worker to reserve the other step, if it would
    cluster.worker("idle", concurrency=1)
    eventually(
        lambda: _ledger(ledger)["start a"] and _ledger(ledger)["start b"],
        timeout=6,  # well before the first step ends (8 s)
        what="the second step started on the idle worker",
    )
    view = cluster.wait(run_id, timeout=60)
    assert view.status == "SUCCEEDED", cluster.logs()
    workers = {a[3] for a in attempts_of(cluster, run_id)}
    assert len(workers) == 2, workers  # one step on each worker


def test_a_cold_shutdown_of_a_thread_worker_kills_its_steps_and_loses_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    pidfile = tmp_path / "pid"
    cluster.scheduler()
    worker = cluster.worker("cold", concurrency=2)
    command = f"echo $$ > {pidfile}; echo start long >> {ledger}; sleep 60; echo end long"
    step = f'  - {{id: long, type: shell, shell: {{command: "{command}"}}}}'
    yaml = f"id: cold\nowner: t\nsteps:\n{step}\n"
    run_id = cluster.start_run(yaml)
    eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), what="step started")
    step_pid = int(pidfile.read_text())
    worker.send_signal(signal.SIGINT)
    time.sleep(0.5)
    worker.send_signal(signal.SIGINT)  # cold shutdown
    worker.wait(timeout=30)
    log = (cluster.home / "cold.log").read_text()
    assert "NotImplementedError" not in log and "kill_job" not in log, log[-3000:]
    eventually(lambda: not _alive(step_pid), timeout=10, what="the step's process killed")
    attempts = attempts_of(cluster, run_id)
    assert attempts[0][2] == "LOST", attempts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
