"""Backfills: one run per cron tick in a range, their own concurrency, progress, cancel."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from maestro.engine.backfills import (
    MAX_BACKFILL_RUNS,
    backfill_progress,
    cancel_backfill,
    create_backfill,
)
from maestro.errors import Conflict, InvalidRequest, NotFound, ParamError
from maestro.store import tables
from tests.engine.harness import Harness
from tests.engine.scheduling import blocked_by, complete, new_run, runs, status, submit_yaml, utc

DAILY = """
id: daily
owner: t
params:
  ds: {type: date}
  code: {type: int, default: 0}
triggers:
  - cron: "0 3 * * *"
    params: {ds: "{{ run.logical_date | ds }}"}
run_strategy: STRATEGY
steps:
  # fails for one day of the backfills below, and when asked to
  - id: a
    type: shell
    shell: {command: "test {{ params.ds }} != 2025-12-02 && exit {{ params.code }}"}
"""


def _daily(h: Harness, strategy: str = "sequential") -> None:
    submit_yaml(h, DAILY.replace("STRATEGY", strategy))


def _progress(h: Harness, backfill_id: int) -> dict[str, object]:
    with h.db.read() as conn:
        return backfill_progress(conn, backfill_id)


def test_a_backfill_runs_each_tick_in_its_own_lane_beside_the_workflows_runs(
    harness: Harness,
) -> None:
    _daily(harness)
    manual = new_run(harness, "daily", params={"ds": "2026-01-01"})
    backfill_id, ids = create_backfill(
        harness.engine, "daily", utc(2025, 12, 3, 3), utc(2025, 12, 7, 3), 2, "alice"
    )
    created = [r for r in runs(harness, "daily") if r.backfill_id == backfill_id]
    assert [r.id for r in created] == ids
    assert [r.logical_date for r in created] == [utc(2025, 12, d, 3) for d in range(3, 8)]
    assert [r.params["ds"] for r in created] == [f"2025-12-0{d}" for d in range(3, 8)]
    assert {r.trigger for r in created} == {"backfill"}
    # two at once although the workflow is sequential and its manual run is active
    assert [status(harness, i) for i in ids] == ["RUNNING", "RUNNING", "QUEUED", "QUEUED", "QUEUED"]
    assert status(harness, manual) == "RUNNING"
    assert _progress(harness, backfill_id) == {
        "status": "RUNNING",
        "total": 5,
        "done": 0,
        "succeeded": 0,
        "failed": 0,
        "stopped": 0,
        "running": 2,
        "queued": 3,
    }
    # and the workflow's own queue ignores the backfill's runs
    assert status(harness, new_run(harness, "daily", params={"ds": "2026-01-02"})) == "QUEUED"
    complete(harness, ids[1])
    harness.scheduler.tick()
    assert [status(harness, i) for i in ids[2:]] == ["RUNNING", "QUEUED", "QUEUED"]
    for run_id in (ids[0], ids[2]):
        complete(harness, run_id)
    harness.scheduler.tick()
    for run_id in ids[3:]:
        complete(harness, run_id)
    progress = _progress(harness, backfill_id)
    assert (progress["status"], progress["done"], progress["succeeded"]) == ("DONE", 5, 5)


def test_the_range_includes_both_ends_and_naive_times_are_utc(harness: Harness) -> None:
    _daily(harness, "parallel")
    _, ids = create_backfill(
        harness.engine, "daily", datetime(2025, 12, 1, 3), datetime(2025, 12, 3, 3)
    )
    assert [r.logical_date for r in runs(harness, "daily")] == [
        utc(2025, 12, 1, 3),
        utc(2025, 12, 2, 3),
        utc(2025, 12, 3, 3),
    ]
    # without a max_concurrency of its own, a backfill takes the strategy's (parallel: 20)
    assert [status(harness, i) for i in ids] == ["RUNNING"] * 3


def test_without_max_concurrency_a_sequential_workflows_backfill_runs_one_at_a_time(
    harness: Harness,
) -> None:
    _daily(harness)
    _, ids = create_backfill(harness.engine, "daily", utc(2025, 12, 3), utc(2025, 12, 6))
    assert [status(harness, i) for i in ids] == ["RUNNING", "QUEUED", "QUEUED"]


def test_cancel_stops_the_queued_runs_and_lets_the_running_one_finish(harness: Harness) -> None:
    _daily(harness)
    backfill_id, ids = create_backfill(
        harness.engine, "daily", utc(2025, 12, 3), utc(2025, 12, 6), 1, "alice"
    )
    assert cancel_backfill(harness.engine, backfill_id, "bob") == ids[1:]
    assert [status(harness, i) for i in ids] == ["RUNNING", "STOPPED", "STOPPED"]
    assert runs(harness, "daily")[1].error == f"backfill {backfill_id} cancelled by bob"
    progress = _progress(harness, backfill_id)
    assert (progress["status"], progress["stopped"], progress["running"]) == ("CANCELLED", 2, 1)
    assert complete(harness, ids[0]) == "SUCCEEDED"
    harness.scheduler.tick()
    assert _progress(harness, backfill_id)["status"] == "CANCELLED"
    with pytest.raises(Conflict, match="CANCELLED"):
        cancel_backfill(harness.engine, backfill_id, "bob")
    with pytest.raises(NotFound):
        cancel_backfill(harness.engine, 999, "bob")


def test_a_failed_backfill_run_counts_as_failed_and_blocks_nothing(harness: Harness) -> None:
    _daily(harness, "strict_sequential")
    backfill_id, ids = create_backfill(
        harness.engine, "daily", utc(2025, 12, 1, 3), utc(2025, 12, 2, 3), 2
    )
    assert [complete(harness, i) for i in ids] == ["SUCCEEDED", "FAILED"]
    progress = _progress(harness, backfill_id)
    assert (progress["failed"], progress["done"], progress["status"]) == (1, 2, "DONE")
    assert blocked_by(harness, "daily") is None
    assert status(harness, new_run(harness, "daily", params={"ds": "2026-01-01"})) == "RUNNING"


def test_backfills_that_cannot_be_made_are_refused_with_the_reason(harness: Harness) -> None:
    _daily(harness)
    submit_yaml(harness, "id: manual-only\nowner: t\nsteps: [{id: a, type: noop}]\n")
    eng = harness.engine
    with pytest.raises(Conflict, match="has no cron trigger"):
        create_backfill(eng, "manual-only", utc(2025, 12, 1), utc(2025, 12, 2))
    with pytest.raises(NotFound):
        create_backfill(eng, "nope", utc(2025, 12, 1), utc(2025, 12, 2))
    with pytest.raises(InvalidRequest, match="before it starts"):
        create_backfill(eng, "daily", utc(2025, 12, 2), utc(2025, 12, 1))
    with pytest.raises(InvalidRequest, match="no tick"):
        create_backfill(eng, "daily", utc(2025, 12, 1, 4), utc(2025, 12, 2, 2))
    with pytest.raises(InvalidRequest, match="max_concurrency"):
        create_backfill(eng, "daily", utc(2025, 12, 1), utc(2025, 12, 2), 0)
    with pytest.raises(InvalidRequest, match=str(MAX_BACKFILL_RUNS)):
        create_backfill(eng, "daily", utc(1990, 1, 1), utc(2025, 12, 2))
    assert runs(harness, "daily") == []
    with harness.db.read() as conn, pytest.raises(NotFound):
        backfill_progress(conn, 999)


def _backfill_events(h: Harness, backfill_id: int) -> list[tuple[str | None, str, str | None]]:
    e = tables.events
    with h.db.read() as conn:
        rows = conn.execute(
            select(e.c.from_status, e.c.to_status, e.c.actor, e.c.entity, e.c.run_id)
            .where(e.c.backfill_id == backfill_id)
            .order_by(e.c.id)
        ).all()
    assert all(r.entity == "backfill" and r.run_id is None for r in rows)
    return [(r.from_status, r.to_status, r.actor) for r in rows]


def test_a_backfills_status_changes_are_events_with_their_actor(harness: Harness) -> None:
    _daily(harness)
    done_id, ids = create_backfill(
        harness.engine, "daily", utc(2025, 12, 3), utc(2025, 12, 4), 1, "alice"
    )
    assert complete(harness, ids[0]) == "SUCCEEDED"
    assert _backfill_events(harness, done_id) == [
        (None, "RUNNING", "alice"),
        ("RUNNING", "DONE", "test-worker"),  # its last run ended in the worker's unit
    ]
    cancelled_id, _ = create_backfill(
        harness.engine, "daily", utc(2025, 12, 5), utc(2025, 12, 7), 1, "alice"
    )
    cancel_backfill(harness.engine, cancelled_id, "bob")
    assert _backfill_events(harness, cancelled_id) == [
        (None, "RUNNING", "alice"),
        ("RUNNING", "CANCELLED", "bob"),
    ]


def test_a_backfills_params_override_the_triggers_for_every_tick(harness: Harness) -> None:
    _daily(harness, "parallel")
    _, ids = create_backfill(
        harness.engine, "daily", utc(2025, 12, 3), utc(2025, 12, 5), params={"code": 7}
    )
    created = [r for r in runs(harness, "daily") if r.id in ids]
    # the trigger still renders each tick's ds; the backfill's own params win over both
    assert [(r.params["ds"], r.params["code"]) for r in created] == [
        ("2025-12-03", 7),
        ("2025-12-04", 7),
    ]
    with pytest.raises(ParamError, match="nope"):
        create_backfill(
            harness.engine, "daily", utc(2025, 12, 6), utc(2025, 12, 8), params={"nope": 1}
        )
    with pytest.raises(ParamError):
        create_backfill(
            harness.engine, "daily", utc(2025, 12, 6), utc(2025, 12, 8), params={"code": "x"}
        )
    assert len(runs(harness, "daily")) == 2  # a refused backfill creates nothing
