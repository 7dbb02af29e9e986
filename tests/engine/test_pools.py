"""Slot pools: never more holders than slots, priority first, every terminal path gives back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from maestro.cli import embedded
from maestro.engine import actions, pools
from maestro.settings import load_settings
from maestro.store import tables
from tests.engine.harness import Harness
from tests.engine.test_embedded import _run


def _holders(h: Harness | None, db: object, name: str) -> tuple[int, int]:
    s, p = tables.step_runs, tables.pools
    with db.read() as conn:  # type: ignore[attr-defined]
        holding = conn.execute(
            select(func.count()).where(s.c.pool == name, s.c.status.in_(["QUEUED", "RUNNING"]))
        ).scalar_one()
        used = conn.execute(select(p.c.used).where(p.c.name == name)).scalar_one()
    return holding, used


def _fan(name: str, n: int, pool: str, extra: str = "") -> str:
    steps = "\n".join(
        f"  - {{id: s{i}, type: noop, pool: {pool}, priority: {i}{extra}}}" for i in range(n)
    )
    return f"id: {name}\nowner: t\nsteps:\n{steps}\n"


def test_a_pool_admits_as_many_steps_as_it_has_slots_highest_priority_first(
    harness: Harness,
) -> None:
    harness.executor.follow = None  # the order the steps are queued in, one dispatch each
    pools.set_slots(harness.engine, "warehouse", 2, "admin")
    first = harness.start(_fan("p1", 3, "warehouse"))
    second = harness.start(_fan("p2", 3, "warehouse"))
    assert _holders(harness, harness.db, "warehouse") == (2, 2)
    order: list[str] = []
    by_attempt = {}
    while harness.dispatcher.pending:
        d = harness.dispatcher.pending.pop(0)
        with harness.db.read() as conn:
            by_attempt = dict(
                conn.execute(
                    select(
                        tables.attempts.c.id,
                        tables.step_runs.c.step_id + "@" + tables.runs.c.workflow_id,
                    )
                    .join(tables.step_runs, tables.step_runs.c.id == tables.attempts.c.step_run_id)
                    .join(tables.runs, tables.runs.c.id == tables.attempts.c.run_id)
                ).all()
            )
        order.append(by_attempt[d.attempt_id])
        harness.executor.execute(d.attempt_id)
        holding, used = _holders(harness, harness.db, "warehouse")
        assert holding <= 2 and used == holding
    assert harness.view(first).status == harness.view(second).status == "SUCCEEDED"
    assert _holders(harness, harness.db, "warehouse") == (0, 0)
    # the first two took the slots at once; after them the waiting steps went by priority
    # the two slots went to p1's highest priorities; each slot given back went to the
    # highest-priority waiting step of the pool, whichever run it belongs to
    assert order == ["s2@p1", "s1@p1", "s2@p2", "s1@p2", "s0@p1", "s0@p2"]


def test_an_unknown_pool_fails_the_step_with_how_to_create_it(harness: Harness) -> None:
    view = harness.drain(
        harness.start("id: nop\nowner: t\nsteps: [{id: a, type: noop, pool: nope}]\n")
    )
    assert view.steps[0].status == "FAILED"
    assert (
        view.steps[0].error == "pool 'nope' does not exist (create it with PUT /api/v1/pools/nope)"
    )


def test_slots_come_back_on_failure_timeout_and_stop(harness: Harness, tmp_path: Path) -> None:
    pools.set_slots(harness.engine, "p", 1, "admin")
    failing = harness.start("""
        id: f
        owner: t
        steps:
          - {id: bad, type: shell, pool: p, shell: {command: "exit 1"}}
          - {id: slow, type: sleep, pool: p, timeout: 0.2s, sleep: {duration: 10s}}
        """)
    assert harness.drain(failing).status == "FAILED"
    assert _holders(harness, harness.db, "p") == (0, 0)
    stopped = harness.start("""
        id: s
        owner: t
        steps:
          - {id: a, type: sleep, pool: p, sleep: {duration: 1h}}
          - {id: b, type: noop, pool: p}
        """)
    assert _holders(harness, harness.db, "p") == (1, 1)
    actions.stop_run(harness.engine, stopped, "ops")
    assert _holders(harness, harness.db, "p") == (0, 0)


def test_a_pool_that_grows_lets_waiting_steps_in(harness: Harness) -> None:
    pools.set_slots(harness.engine, "g", 0, "admin")
    run_id = harness.start(_fan("grow", 2, "g"))
    assert harness.statuses(run_id) == {"s0": "WAITING", "s1": "WAITING"}
    pools.set_slots(harness.engine, "g", 5, "admin")
    assert harness.statuses(run_id) == {"s0": "QUEUED", "s1": "QUEUED"}
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_never_more_holders_than_slots_with_real_worker_threads(
    db_url: str, tmp_path: Path
) -> None:
    settings = load_settings(
        home=tmp_path, project_dir=tmp_path, database_url=db_url, worker_concurrency=8
    )
    scope: set[int] = set()
    with embedded(settings, scope) as env:
        pools.set_slots(env.engine, "busy", 3, "admin")
        steps = "\n".join(
            f"  - {{id: s{i}, type: shell, pool: busy, shell: {{command: 'sleep 0.05'}}}}"
            for i in range(16)
        )
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                holding, used = _holders(None, env.engine.db, "busy")
                peak[0] = max(peak[0], holding, used)
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            view = _run(env, scope, f"id: race\nowner: t\nmax_active_steps: 16\nsteps:\n{steps}\n")
        finally:
            done.set()
            watcher.join()
    assert view.status == "SUCCEEDED"
    assert 1 <= peak[0] <= 3
