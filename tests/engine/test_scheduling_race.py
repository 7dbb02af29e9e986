"""Two schedulers racing on one PostgreSQL database (PostgreSQL only: SQLite has one writer).

Two Engine + Scheduler pairs share the database and a fake clock, and tick at the same moment
from two threads (a third thread creates runs meanwhile). Every cron tick must be fired once,
and replaying the run events in commit order must never show more active runs than the run
strategy allows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from maestro.engine import actions
from maestro.engine.attempts import claim
from maestro.engine.runs import create_run
from maestro.states import RunStatus
from maestro.store import tables
from tests.conftest import PG_URL, drop_pg_database, fresh_pg_database
from tests.engine.harness import Harness
from tests.engine.scheduling import new_run, runs, submit_yaml, utc

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="MAESTRO_TEST_DATABASE_URL is not set"),
]


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Harness, Harness]]:
    """Two engines and schedulers on one fresh PostgreSQL database, one shared fake clock."""
    name, url = fresh_pg_database(request.getfixturevalue("pg_template"))
    first = Harness(url, tmp_path / "one")
    second = Harness(url, tmp_path / "two")
    second.clock = first.clock
    second.engine.clock = first.clock
    yield first, second
    first.close()
    second.close()
    drop_pg_database(name)


def _at_once(*calls: Callable[[], object]) -> None:
    """Run the calls in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # reported to the test thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_two_schedulers_fire_each_cron_tick_once(
    pair: tuple[Harness, Harness], caplog: pytest.LogCaptureFixture
) -> None:
    one, two = pair
    workflows = [f"cron{i}" for i in range(4)]
    for wid in workflows:
        submit_yaml(
            one,
            f"""
            id: {wid}
            owner: t
            triggers: [{{cron: "* * * * *", catchup: true}}]
            steps: [{{id: a, type: noop}}]
            """,
        )
    with caplog.at_level(logging.ERROR):
        for step in range(30):
            one.clock.advance(60 * (1 + step % 3))
            _at_once(one.scheduler.tick, two.scheduler.tick)
    _no_errors_logged(caplog)
    minutes = int((one.clock.now() - utc(2026, 1, 1)) / timedelta(minutes=1))
    expected = [utc(2026, 1, 1) + timedelta(minutes=m) for m in range(1, minutes + 1)]
    for wid in workflows:
        assert [r.logical_date for r in runs(one, wid)] == expected


def _max_active(h: Harness, workflow_id: str) -> int:
    """Replay the workflow's run events in commit order: the most runs active at once."""
    e, r = tables.events, tables.runs
    active = {RunStatus.RUNNING.value, RunStatus.PAUSED.value}
    with h.db.read() as conn:
        rows = conn.execute(
            select(e.c.from_status, e.c.to_status)
            .select_from(e.join(r, r.c.id == e.c.run_id))
            .where(r.c.workflow_id == workflow_id, e.c.entity == "run")
            .order_by(e.c.id)
        ).all()
    count = most = 0
    for before, after in rows:
        count += (after in active) - (before in active)
        most = max(most, count)
    return most


@pytest.mark.parametrize(
    ("strategy", "limit"),
    [
        ("{kind: parallel, max_concurrency: 3}", 3),
        ("sequential", 1),
        ("first_only", 1),
        ("last_only", 1),
    ],
)
def test_two_schedulers_and_a_creator_never_exceed_the_strategy(
    pair: tuple[Harness, Harness], caplog: pytest.LogCaptureFixture, strategy: str, limit: int
) -> None:
    one, two = pair
    submit_yaml(
        one, f"id: wf\nowner: t\nrun_strategy: {strategy}\nsteps: [{{id: a, type: noop}}]\n"
    )
    with one.engine.unit() as u:  # queued, left for the schedulers to admit
        for _ in range(12):
            create_run(u, one.engine.versions, "wf")
    with caplog.at_level(logging.ERROR):
        for _ in range(15):
            _at_once(
                one.scheduler.tick,
                two.scheduler.tick,
                lambda: new_run(two, "wf"),
                lambda: new_run(one, "wf"),
            )
            running = [r.id for r in runs(one, "wf") if r.status == RunStatus.RUNNING]
            assert len(running) <= limit
            for run_id in running[:1]:  # one ends each round: the queue moves
                actions.stop_run(one.engine, run_id, "test")
    _no_errors_logged(caplog)
    assert _max_active(one, "wf") == limit
    final = [r.status for r in runs(one, "wf")]
    assert len(final) == 12 + 15 * 2
    if strategy != "sequential" and "parallel" not in strategy:
        assert "QUEUED" not in final  # first_only and last_only never keep a queue


def test_a_due_row_another_transaction_holds_is_skipped_not_waited_for(
    pair: tuple[Harness, Harness],
) -> None:
    """A scheduler does not queue behind another one (or a worker) handling the same due row:
    it skips the row (SKIP LOCKED) and finds it again on a later pass if it is still due."""
    one, _ = pair
    run_id = one.start("id: lapse\nowner: t\nsteps: [{id: a, type: noop}]\n")
    attempt_id = one.dispatcher.pending.pop(0).attempt_id
    assert claim(one.engine, attempt_id, "a-worker") is not None  # RUNNING, heartbeating
    one.clock.advance(one.settings.heartbeat_timeout + 5)  # its heartbeat lapsed
    attempts = tables.attempts
    with one.db.engine.connect() as holder:
        holder.execute(select(attempts.c.id).where(attempts.c.id == attempt_id).with_for_update())
        done = threading.Event()
        ticking = threading.Thread(target=lambda: (one.scheduler.tick(), done.set()))
        ticking.start()
        assert done.wait(5), "the scheduler waited for the locked row"
        ticking.join()
        holder.rollback()
    assert one.statuses(run_id) == {"a": "RUNNING"}  # left to the holder this pass
    one.scheduler.tick()
    with one.db.read() as conn:
        status = conn.execute(
            select(attempts.c.status).where(attempts.c.id == attempt_id)
        ).scalar_one()
    assert status == "LOST"  # the next pass took it
