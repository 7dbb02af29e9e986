"""Run strategies: sequential, strict_sequential, first_only, last_only, parallel — decisions
as pure functions, then several overlapping runs from manual starts and cron triggers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from maestro.definition.models import RunStrategy
from maestro.engine import actions
from maestro.engine.catalog import unblock
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.strategies import Decision, Lane, decide, decide_backfill
from maestro.errors import Conflict
from maestro.store import tables
from tests.engine.harness import Harness
from tests.engine.scheduling import (
    advance_to,
    blocked_by,
    complete,
    new_run,
    runs,
    status,
    statuses,
    submit_yaml,
    utc,
)


def _strategy(kind: str, max_concurrency: int | None = None) -> RunStrategy:
    data: dict[str, object] = {"kind": kind}
    if max_concurrency is not None:
        data["max_concurrency"] = max_concurrency
    return RunStrategy.model_validate(data)


# -- decisions ------------------------------------------------------------------------------


def test_sequential_starts_the_oldest_queued_run_when_none_is_active() -> None:
    sequential = _strategy("sequential")
    assert decide(sequential, Lane(active=(1,), queued=(2, 3))) == Decision()
    assert decide(sequential, Lane(queued=(2, 3))) == Decision(start=(2,))


def test_parallel_fills_up_to_max_concurrency_in_order() -> None:
    parallel = _strategy("parallel", 3)
    assert decide(parallel, Lane(active=(1,), queued=(2, 3, 4, 5))) == Decision(start=(2, 3))
    assert decide(parallel, Lane(active=(1, 2, 3), queued=(4,))) == Decision()


def test_strict_sequential_when_blocked_admits_only_restarts_of_the_blocker() -> None:
    strict = _strategy("strict_sequential")
    assert decide(strict, Lane(queued=(2, 3))) == Decision(start=(2,))
    blocked = decide(strict, Lane(queued=(2, 3, 4)), blocked_by=1, restarts_of_blocker={4})
    assert blocked == Decision(start=(4,))
    assert decide(strict, Lane(queued=(2, 3)), blocked_by=1) == Decision()
    busy = decide(strict, Lane(active=(5,), queued=(4,)), blocked_by=1, restarts_of_blocker={4})
    assert busy == Decision()


def test_first_only_stops_what_comes_while_a_run_is_active() -> None:
    first_only = _strategy("first_only")
    assert decide(first_only, Lane(active=(1,), queued=(2,))) == Decision(
        stop=((2, "first_only: run 1 is active"),)
    )
    assert decide(first_only, Lane(queued=(2, 3))) == Decision(
        start=(2,), stop=((3, "first_only: run 2 is active"),)
    )


def test_last_only_stops_every_other_run_and_starts_the_newest() -> None:
    last_only = _strategy("last_only")
    why = "last_only: superseded by run 3"
    assert decide(last_only, Lane(active=(1,), queued=(2, 3))) == Decision(
        start=(3,), stop=((1, why), (2, why))
    )
    assert decide(last_only, Lane(active=(1,))) == Decision()


def test_a_backfill_lane_fills_up_to_its_own_limit() -> None:
    assert decide_backfill(2, Lane(active=(1,), queued=(2, 3))) == Decision(start=(2,))
    assert decide_backfill(2, Lane(active=(1, 2), queued=(3,))) == Decision()


# -- with runs ----------------------------------------------------------------------------


def _workflow(h: Harness, strategy: str, workflow_id: str = "wf") -> str:
    """A workflow whose run fails when its ``code`` param is not 0, with an hourly cron."""
    submit_yaml(
        h,
        """
        id: WID
        owner: t
        params: {code: {type: int, default: 0}}
        triggers: [{cron: "0 * * * *"}]
        run_strategy: STRATEGY
        steps:
          - {id: a, type: shell, shell: {command: "exit {{ params.code }}"}}
        """.replace("WID", workflow_id).replace("STRATEGY", strategy),
    )
    return workflow_id


def _cron_tick(h: Harness, hour: int) -> int:
    """Move the clock to the hour's tick; the scheduler fires it. Returns the new run's id."""
    before = {r.id for r in runs(h, "wf")}
    advance_to(h, utc(2026, 1, 1, hour))
    h.scheduler.tick()
    (new,) = [r for r in runs(h, "wf") if r.id not in before]
    assert new.trigger == "cron"
    return int(new.id)


def _active(h: Harness, workflow_id: str = "wf") -> list[int]:
    return [r.id for r in runs(h, workflow_id) if r.status in ("RUNNING", "PAUSED")]


def test_sequential_runs_manual_and_cron_runs_one_at_a_time_in_creation_order(
    harness: Harness,
) -> None:
    _workflow(harness, "sequential")
    r1 = new_run(harness, "wf")
    r2 = new_run(harness, "wf")
    r3 = _cron_tick(harness, 1)
    r4 = new_run(harness, "wf")
    assert statuses(harness, "wf") == ["RUNNING", "QUEUED", "QUEUED", "QUEUED"]
    started = []
    for _ in range(4):
        (running,) = _active(harness)
        started.append(running)
        assert complete(harness, running) == "SUCCEEDED"
        harness.scheduler.tick()
        assert len(_active(harness)) <= 1
    assert started == [r1, r2, r3, r4]


def test_the_scheduler_admits_runs_created_without_admission(harness: Harness) -> None:
    _workflow(harness, "sequential")
    with harness.engine.unit() as u:
        ids = [create_run(u, harness.engine.versions, "wf") for _ in range(3)]
    harness.scheduler.tick()
    assert [status(harness, i) for i in ids] == ["RUNNING", "QUEUED", "QUEUED"]


def test_a_run_started_directly_counts_as_active(harness: Harness) -> None:
    """``maestro run`` starts its run at once (no queue); the strategy still sees it."""
    _workflow(harness, "sequential")
    with harness.engine.unit() as u:
        direct = create_run(u, harness.engine.versions, "wf")
        assert start_run(u, harness.engine.versions, direct)
    queued = new_run(harness, "wf")
    assert (status(harness, direct), status(harness, queued)) == ("RUNNING", "QUEUED")


def test_strict_sequential_blocks_after_a_failure_until_a_restart_succeeds(
    harness: Harness,
) -> None:
    _workflow(harness, "strict_sequential")
    r1 = new_run(harness, "wf", params={"code": 1})
    r2 = new_run(harness, "wf")
    assert complete(harness, r1) == "FAILED"
    assert blocked_by(harness, "wf") == r1
    r3 = _cron_tick(harness, 1)
    harness.scheduler.tick()
    assert (status(harness, r2), status(harness, r3)) == ("QUEUED", "QUEUED")
    retry = actions.restart_run(harness.engine, r1, "ops", params={"code": 1})
    assert complete(harness, retry) == "FAILED"  # the restart failed too: still blocked
    harness.scheduler.tick()
    assert blocked_by(harness, "wf") == r1 and status(harness, r2) == "QUEUED"
    fixed = actions.restart_run(harness.engine, retry, "ops", params={"code": 0})
    assert complete(harness, fixed) == "SUCCEEDED"  # a restart of a restart of r1
    assert blocked_by(harness, "wf") is None
    harness.scheduler.tick()
    assert _active(harness) == [r2]
    complete(harness, r2)
    harness.scheduler.tick()
    assert _active(harness) == [r3]


def test_a_queued_restart_of_the_blocking_run_goes_before_older_runs(harness: Harness) -> None:
    _workflow(harness, "strict_sequential")
    r1 = new_run(harness, "wf", params={"code": 1})
    r2 = new_run(harness, "wf")
    complete(harness, r1)
    restart = new_run(harness, "wf", trigger="restart", restarted_from=r1)
    assert (status(harness, restart), status(harness, r2)) == ("RUNNING", "QUEUED")


def test_unblock_releases_a_blocked_workflow(harness: Harness) -> None:
    _workflow(harness, "strict_sequential")
    r1 = new_run(harness, "wf", params={"code": 1})
    r2 = new_run(harness, "wf")
    complete(harness, r1)
    harness.scheduler.tick()
    assert status(harness, r2) == "QUEUED"
    assert unblock(harness.engine, "wf", "alice") == r1
    with pytest.raises(Conflict, match="not blocked"):
        unblock(harness.engine, "wf", "alice")
    harness.scheduler.tick()
    assert (status(harness, r1), status(harness, r2)) == ("FAILED", "RUNNING")
    e = tables.events
    with harness.db.read() as conn:
        actions_on_r1 = conn.execute(
            select(e.c.action, e.c.actor).where(e.c.run_id == r1, e.c.action.is_not(None))
        ).all()
    assert [a for a, _ in actions_on_r1] == ["block", "unblock"]
    assert actions_on_r1[-1].actor == "alice"


def test_a_failure_under_another_strategy_blocks_nothing(harness: Harness) -> None:
    _workflow(harness, "sequential")
    r1 = new_run(harness, "wf", params={"code": 1})
    r2 = new_run(harness, "wf")
    complete(harness, r1)
    harness.scheduler.tick()
    assert blocked_by(harness, "wf") is None and status(harness, r2) == "RUNNING"


def test_first_only_stops_manual_and_cron_runs_while_one_is_active(harness: Harness) -> None:
    _workflow(harness, "first_only")
    r1 = new_run(harness, "wf")
    r2 = new_run(harness, "wf")
    r3 = _cron_tick(harness, 1)
    with harness.engine.unit() as u:  # a caller that starts runs itself cannot get round it
        direct = create_run(u, harness.engine.versions, "wf")
        assert not start_run(u, harness.engine.versions, direct)
    assert [status(harness, r) for r in (r1, r2, r3, direct)] == [
        "RUNNING",
        "STOPPED",
        "STOPPED",
        "STOPPED",
    ]
    assert runs(harness, "wf")[1].error == f"first_only: run {r1} is active"
    complete(harness, r1)
    assert status(harness, new_run(harness, "wf")) == "RUNNING"


def test_last_only_stops_the_active_run_then_starts_the_new_one(harness: Harness) -> None:
    _workflow(harness, "last_only")
    r1 = new_run(harness, "wf")
    (r1_attempt,) = harness.dispatcher.pending
    r2 = new_run(harness, "wf")
    assert (status(harness, r1), status(harness, r2)) == ("STOPPED", "RUNNING")
    assert runs(harness, "wf")[0].error == f"last_only: superseded by run {r2}"
    assert r1_attempt.attempt_id in harness.dispatcher.cancelled
    r3 = _cron_tick(harness, 1)
    assert (status(harness, r2), status(harness, r3)) == ("STOPPED", "RUNNING")
    assert _active(harness) == [r3]
    assert complete(harness, r3) == "SUCCEEDED"


def test_parallel_runs_up_to_max_concurrency_and_queues_the_rest_in_order(
    harness: Harness,
) -> None:
    _workflow(harness, "{kind: parallel, max_concurrency: 2}")
    ids = [new_run(harness, "wf") for _ in range(4)]
    ids.append(_cron_tick(harness, 1))
    assert statuses(harness, "wf") == ["RUNNING", "RUNNING", "QUEUED", "QUEUED", "QUEUED"]
    complete(harness, ids[1])
    harness.scheduler.tick()
    assert _active(harness) == [ids[0], ids[2]]
    complete(harness, ids[0])
    complete(harness, ids[2])
    harness.scheduler.tick()
    assert _active(harness) == [ids[3], ids[4]]


def test_admission_reads_through_indexes_however_long_the_history(harness: Harness) -> None:
    from maestro.engine.admission import admit_workflow
    from maestro.engine.backfills import create_backfill
    from tests.engine.test_query_plans import _captured_selects, _plans

    _workflow(harness, "strict_sequential")
    for _ in range(3):
        complete(harness, new_run(harness, "wf"))
    new_run(harness, "wf")
    new_run(harness, "wf")
    _, (first, _second) = create_backfill(
        harness.engine, "wf", utc(2025, 12, 1), utc(2025, 12, 1, 1), 1
    )
    complete(harness, first)  # the backfill's lane has room for its queued run

    def admit() -> None:
        with harness.engine.unit() as u:
            admit_workflow(u, harness.engine.versions, "wf")

    selects = [s for s in _captured_selects(harness, admit) if "FROM runs" in s[0]]
    assert len(selects) >= 3  # the regular lane (one statement), the backfill lane's two
    plans = _plans(harness, selects)
    for (statement, _), plan in zip(selects, plans, strict=True):
        # (SQLite's "SCAN anon_1" reads a subquery's rows, not a table)
        full_scan = (
            re.search(r" SCAN (?!anon_)", f" {plan}") is not None
            if harness.db.is_sqlite
            else "Seq Scan" in plan
        )
        assert not full_scan, f"{statement}\n→ {plan}"
    assert "ix_runs_open" in " ".join(plans) and "ix_runs_backfill" in " ".join(plans)


def test_a_restart_waits_its_turn_under_sequential_and_keeps_what_it_reuses(
    harness: Harness,
) -> None:
    submit_yaml(
        harness,
        """
        id: seq
        owner: t
        params: {code: {type: int, default: 0}}
        run_strategy: sequential
        steps:
          - {id: a, type: noop}
          - {id: b, type: shell, depends_on: [a], shell: {command: "exit {{ params.code }}"}}
        """,
    )
    failed = new_run(harness, "seq", params={"code": 1})
    assert complete(harness, failed) == "FAILED"
    busy = new_run(harness, "seq")
    restart = actions.restart_run(harness.engine, failed, "ops", params={"code": 0})
    assert (status(harness, busy), status(harness, restart)) == ("RUNNING", "QUEUED")
    assert complete(harness, busy) == "SUCCEEDED"
    harness.scheduler.tick()
    assert status(harness, restart) == "RUNNING"
    assert complete(harness, restart) == "SUCCEEDED"
    s = tables.step_runs
    with harness.db.read() as conn:
        attempts = dict(
            conn.execute(select(s.c.step_id, s.c.attempts).where(s.c.run_id == restart)).all()
        )
    assert attempts == {"a": 0, "b": 1}  # a's success was reused, b ran again
