"""The reliability promises of DESIGN.md, each proven with real processes and a real fault:
PostgreSQL, Redis, ``maestro scheduler`` and ``maestro worker`` run as separate processes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from maestro.store import tables
from tests.integration.conftest import needs_services
from tests.support.cluster import Cluster, RedisServer

pytestmark = [needs_services, pytest.mark.timeout(180)]
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 30, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except OperationalError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or probe}")


def attempts_of(cluster: Cluster, run_id: int) -> list[tuple[str, int, str, str | None]]:
    a, s = tables.attempts, tables.step_runs
    with cluster.engine.db.read() as conn:
        rows = conn.execute(
            select(s.c.step_id, a.c.number, a.c.status, a.c.worker)
            .join(s, s.c.id == a.c.step_run_id)
            .where(a.c.run_id == run_id)
            .order_by(a.c.id)
        ).all()
    return [(r.step_id, r.number, r.status, r.worker) for r in rows]


def step_status(cluster: Cluster, run_id: int, step_id: str) -> str:
    return {s.step_id: s.status.value for s in cluster.view(run_id).steps}[step_id]


def test_a_sigkilled_worker_loses_its_attempt_and_another_worker_finishes_the_run(
    cluster: Cluster, tmp_path: Path
) -> None:
    marks, ledger = tmp_path / "marks", tmp_path / "ledger"
    cluster.scheduler()
    workers = {
        p.pid: p for p in (cluster.worker("w1", concurrency=2), cluster.worker("w2", concurrency=2))
    }
    run_id = cluster.start_run(f"""
        id: killworker
        owner: t
        steps:
          - id: long
            type: shell
            shell:
              command: |
                echo "$MAESTRO_ATTEMPT $$" >> {marks}
                if [ "$MAESTRO_ATTEMPT" = 1 ]; then sleep 4; fi
                echo "$MAESTRO_ATTEMPT" >> {ledger}
          - {{id: after, type: noop, depends_on: [long]}}
        """)
    first = eventually(
        lambda: next((a for a in attempts_of(cluster, run_id) if a[2] == "RUNNING"), None),
        what="attempt 1 running",
    )
    assert first[3] is not None
    victim = int(first[3].rsplit(":", 1)[1])
    assert victim in workers
    # attempt 1's shell, on the worker about to die; it runs only once its warden stands (a
    # held start, docs/architecture.md), which the check below confirms
    orphan = eventually(
        lambda: int(marks.read_text().split()[1]) if marks.exists() else None,
        what="attempt 1's shell started",
    )
    eventually(lambda: _warden_of(orphan), timeout=10, what="the step's warden started")
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    eventually(lambda: _gone(orphan), timeout=2, what="the dead worker's step to die with it")
    view = cluster.wait(run_id, timeout=60)
    assert view.status == "SUCCEEDED", cluster.logs()
    history = attempts_of(cluster, run_id)
    assert [(a[0], a[1], a[2]) for a in history] == [
        ("long", 1, "LOST"),
        ("long", 2, "SUCCEEDED"),
        ("after", 1, "SUCCEEDED"),
    ]
    assert int(history[1][3].rsplit(":", 1)[1]) != victim  # another worker took it over
    lines = marks.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"]
    time.sleep(max(0.0, killed_at + 5 - time.monotonic()))  # attempt 1 would have ended by now
    assert ledger.read_text().split() == ["2"]  # the work was done once, by the retry


def _warden_of(pgid: int) -> bool:
    """Whether a warden (``workers/runtimes/warden.py``) guards process group ``pgid``."""
    wanted = f"maestro-warden\0{pgid}\0".encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if wanted in cmdline.read_bytes():
                return True
        except OSError:  # the process ended meanwhile
            continue
    return False


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_a_sigkilled_scheduler_restarted_mid_run_loses_nothing_and_repeats_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    scheduler = cluster.scheduler("s1")
    cluster.worker()
    run_id = cluster.start_run(f"""
        id: killscheduler
        owner: t
        steps:
          - {{id: a, type: shell, shell: {{command: "echo a >> {marks}"}}}}
          - id: b
            type: shell
            depends_on: [a]
            retries: {{limit: 1, delay: 2s}}
            shell: {{command: 'echo b >> {marks}; [ "$MAESTRO_ATTEMPT" = 2 ]'}}
          - {{id: c, type: shell, depends_on: [b], shell: {{command: "echo c >> {marks}"}}}}
        """)
    # b failed once and waits for its backoff: only a scheduler can start the retry
    eventually(lambda: step_status(cluster, run_id, "b") == "RETRYING", what="b retrying")
    scheduler.send_signal(signal.SIGKILL)
    scheduler.wait(10)
    time.sleep(2.5)  # the retry falls due while no scheduler runs
    assert step_status(cluster, run_id, "b") == "RETRYING"
    cluster.scheduler("s2")
    view = cluster.wait(run_id, timeout=60)
    assert view.status == "SUCCEEDED", cluster.logs()
    assert Counter(marks.read_text().split()) == {"a": 1, "b": 2, "c": 1}


def test_redis_restarted_empty_mid_run_and_queued_work_is_sent_again(
    cluster: Cluster, redis_server: RedisServer, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    cluster.scheduler()
    cluster.worker(concurrency=1)
    steps = "\n".join(
        f"  - {{id: s{i}, type: shell, shell: {{command: 'sleep 0.3; echo s{i} >> {marks}'}}}}"
        for i in range(8)
    )
    run_id = cluster.start_run(f"id: redisloss\nowner: t\nsteps:\n{steps}\n")
    eventually(
        lambda: any(a[2] == "RUNNING" for a in attempts_of(cluster, run_id)), what="a step running"
    )
    redis_server.restart_empty()  # the queued messages are gone
    view = cluster.wait(run_id, timeout=90)
    assert view.status == "SUCCEEDED", cluster.logs()
    assert Counter(marks.read_text().split()) == {f"s{i}": 1 for i in range(8)}


@pytest.mark.skipif(not os.environ.get("MAESTRO_PG_CTL"), reason="needs MAESTRO_PG_CTL (pg.sh)")
def test_postgresql_restarted_mid_run_every_process_reconnects(
    cluster: Cluster, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    cluster.scheduler()
    cluster.worker(concurrency=2)
    steps = [f"  - {{id: s0, type: shell, shell: {{command: 'sleep 0.2; echo s0 >> {marks}'}}}}"]
    steps += [
        f"  - {{id: s{i}, type: shell, depends_on: [s{i - 1}], "
        f"shell: {{command: 'sleep 0.2; echo s{i} >> {marks}'}}}}"
        for i in range(1, 12)
    ]
    run_id = cluster.start_run("id: pgrestart\nowner: t\nsteps:\n" + "\n".join(steps) + "\n")
    eventually(
        lambda: step_status(cluster, run_id, "s3") in ("RUNNING", "SUCCEEDED"), what="s3 running"
    )
    ctl = shlex.split(os.environ["MAESTRO_PG_CTL"])
    # the restarted server must not inherit our pipes (MAESTRO_PG_CTL names its log file)
    subprocess.run(
        [*ctl, "restart", "-m", "fast", "-w"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    view = cluster.wait(run_id, timeout=120)
    assert view.status == "SUCCEEDED", cluster.logs()
    executed = Counter(marks.read_text().split())
    assert executed == {f"s{i}": 1 for i in range(12)}  # each once: no report given up


def test_two_schedulers_and_two_workers_execute_every_step_exactly_once(
    cluster: Cluster, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    cluster.scheduler("s1")
    cluster.scheduler("s2")
    cluster.worker("w1", concurrency=4)
    cluster.worker("w2", concurrency=4)
    run_ids = []
    for r in range(2):
        lines = []
        for layer in range(10):
            for i in range(10):
                deps = (
                    f", depends_on: [l{layer - 1}_{i}, l{layer - 1}_{(i + 1) % 10}]"
                    if layer
                    else ""
                )
                lines.append(
                    f"  - {{id: l{layer}_{i}, type: shell{deps}, "
                    f"retries: {{limit: 2, delay: 0.2s}}, "
                    f"shell: {{command: 'echo {r}.l{layer}_{i} >> {marks}'}}}}"
                )
        run_ids.append(
            cluster.start_run(
                f"id: race{r}\nowner: t\nmax_active_steps: 50\nsteps:\n" + "\n".join(lines) + "\n"
            )
        )
    for run_id in run_ids:
        assert cluster.wait(run_id, timeout=120).status == "SUCCEEDED", cluster.logs()
    executed = Counter(marks.read_text().split())
    assert len(executed) == 200
    assert set(executed.values()) == {1}
    for run_id in run_ids:
        assert {a[1] for a in attempts_of(cluster, run_id)} == {1}
