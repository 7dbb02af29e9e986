"""Retention (``maestro db prune``): old ended runs go with everything they own, in batches;
recent, active and each workflow's newest runs stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Table, func, select

from maestro.engine.retention import prune
from maestro.store import tables
from tests.engine.harness import Harness

DAY = 86_400
SHELL = """
id: logs
owner: t
steps:
  - {id: a, type: shell, shell: {command: "echo hello"}}
  - {id: b, type: noop, depends_on: [a]}
"""
FOREACH = """
id: loop
owner: t
steps:
  - id: each
    type: foreach
    foreach:
      items: [1, 2, 3]
      steps:
        - {id: inner, type: noop}
"""


def _count(h: Harness, table: Table, run_ids: list[int]) -> int:
    with h.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.run_id.in_(run_ids))
            ).scalar_one()
        )


def _runs(h: Harness) -> set[int]:
    with h.db.read() as conn:
        return set(conn.execute(select(tables.runs.c.id)).scalars())


def test_prune_deletes_old_runs_with_their_rows_and_logs_and_keeps_the_rest(
    harness: Harness,
) -> None:
    old = [harness.start(SHELL) for _ in range(3)]
    for run_id in old:
        assert harness.drain(run_id).status == "SUCCEEDED"
    loop = harness.start(FOREACH)
    assert harness.drain(loop).status == "SUCCEEDED"
    iterations = _runs(harness) - {*old, loop}
    assert len(iterations) == 3
    logs = harness.settings.logs_dir
    assert all((logs / str(r)).is_dir() for r in old)
    harness.clock.advance(40 * DAY)
    recent = harness.start(SHELL)
    assert harness.drain(recent).status == "SUCCEEDED"
    active = harness.start(SHELL)  # RUNNING: its step waits in the dispatcher, never run

    done = prune(harness.engine, timedelta(days=30), batch=2)

    assert (done.runs, done.child_runs) == (4, 3)
    assert _runs(harness) == {recent, active}
    gone = [*old, loop, *iterations]
    for table in (tables.step_runs, tables.attempts, tables.events):
        assert _count(harness, table, gone) == 0
    assert not any((logs / str(r)).exists() for r in old)
    assert (logs / str(recent)).is_dir()


def test_keep_last_keeps_each_workflows_newest_runs_whatever_their_age(
    harness: Harness,
) -> None:
    runs = [harness.start(SHELL) for _ in range(5)]
    for run_id in runs:
        harness.drain(run_id)
    harness.clock.advance(100 * DAY)
    done = prune(harness.engine, timedelta(days=30), keep_last=2)
    assert done.runs == 3
    assert _runs(harness) == set(runs[-2:])
    assert prune(harness.engine, timedelta(days=30), keep_last=2).runs == 0


def test_a_scheduler_with_retention_days_prunes_once_a_day(db_url: str, tmp_path: Path) -> None:
    h = Harness(db_url, tmp_path, retention_days=30, retention_keep_last=1)
    try:
        runs = [h.start(SHELL) for _ in range(3)]
        for run_id in runs:
            h.drain(run_id)
        h.scheduler.tick()
        assert _runs(h) == set(runs)  # nothing is 30 days old yet
        h.clock.advance(31 * DAY)
        h.scheduler.tick()  # the first pass of the day: the old runs go, the newest stays
        assert _runs(h) == {runs[-1]}
        another = h.start(SHELL)
        h.drain(another)
        h.clock.advance(31 * DAY)
        h.scheduler.tick()
        assert _runs(h) == {another}
    finally:
        h.close()
