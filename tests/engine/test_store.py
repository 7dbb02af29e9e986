"""The store: migrations match the models; the transition function guards every change."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from maestro.clock import FakeClock
from maestro.errors import InvalidTransition
from maestro.states import RunStatus
from maestro.store import tables
from maestro.store.db import Database
from maestro.store.transitions import transition
from maestro.store.unit import unit_of_work


def test_migrations_produce_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, tables.metadata) == []
    finally:
        db.dispose()


@pytest.fixture
def db_with_run(db_url: str) -> tuple[Database, int]:
    db = Database(db_url)
    clock = FakeClock()
    with unit_of_work(db, clock) as u:
        u.conn.execute(
            insert(tables.workflows).values(
                id="w",
                name="w",
                description="",
                owner="o",
                tags=[],
                paused=False,
                active_version=1,
                latest_version=1,
                run_counter=1,
                created_at=u.now,
                updated_at=u.now,
            )
        )
        run_id = u.conn.execute(
            insert(tables.runs)
            .values(
                workflow_id="w",
                number=1,
                version=1,
                status="QUEUED",
                params={},
                trigger="manual",
                logical_date=u.now,
                max_active_steps=1,
                created_at=u.now,
            )
            .returning(tables.runs.c.id)
        ).scalar_one()
    return db, run_id


def test_transition_is_conditional_and_writes_one_event(db_with_run: tuple[Database, int]) -> None:
    db, run_id = db_with_run
    clock = FakeClock()
    with unit_of_work(db, clock, actor="alice") as u:
        assert transition(
            u, "run", run_id, RunStatus.RUNNING, RunStatus.QUEUED, run_id=run_id, action="start"
        )
        # the second mover loses: the row is no longer QUEUED
        assert not transition(u, "run", run_id, RunStatus.STOPPED, RunStatus.QUEUED, run_id=run_id)
    with db.read() as conn:
        assert conn.execute(select(tables.runs.c.status)).scalar() == "RUNNING"
        events = conn.execute(select(tables.events)).all()
    assert len(events) == 1
    assert (events[0].from_status, events[0].to_status, events[0].actor, events[0].action) == (
        "QUEUED",
        "RUNNING",
        "alice",
        "start",
    )
    db.dispose()


def test_transition_with_several_expected_statuses_records_the_real_one(
    db_with_run: tuple[Database, int],
) -> None:
    db, run_id = db_with_run
    with unit_of_work(db, FakeClock()) as u:
        assert transition(
            u,
            "run",
            run_id,
            RunStatus.STOPPED,
            (RunStatus.RUNNING, RunStatus.QUEUED),
            run_id=run_id,
        )
    with db.read() as conn:
        assert conn.execute(select(tables.events.c.from_status)).scalar() == "QUEUED"
    db.dispose()


def test_a_transition_the_table_forbids_raises(db_with_run: tuple[Database, int]) -> None:
    db, run_id = db_with_run
    with (
        pytest.raises(InvalidTransition, match="SUCCEEDED → RUNNING"),
        unit_of_work(db, FakeClock()) as u,
    ):
        transition(u, "run", run_id, RunStatus.RUNNING, RunStatus.SUCCEEDED, run_id=run_id)
    db.dispose()


def test_naive_datetimes_are_refused(db_with_run: tuple[Database, int]) -> None:
    from datetime import datetime

    db, _ = db_with_run
    with pytest.raises(Exception, match="naive datetime"), db.tx() as conn:
        conn.execute(tables.runs.update().values(started_at=datetime(2024, 1, 1)))
    db.dispose()
