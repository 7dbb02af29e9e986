"""The store: migrations match the models; the transition function guards every change."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from maestro.clock import FakeClock
from maestro.errors import InvalidTransition
from maestro.states import BackfillStatus, RunStatus, WaitingFor
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
def db_with_run(db_url: str) -> Iterator[tuple[Database, int]]:
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
    yield db, run_id
    db.dispose()  # a pooled connection left to the garbage collector warns (an error here)


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


def test_a_units_events_are_written_in_their_order_with_every_field(
    db_with_run: tuple[Database, int],
) -> None:
    """Several buffered events go in one statement (on PostgreSQL, one array per column):
    each row keeps its fields, nulls included, and the ids follow the order they were added."""
    db, run_id = db_with_run
    clock = FakeClock()
    later = clock.now() + timedelta(seconds=5)
    wanted = [
        {"run_id": run_id, "entity": "run", "to_status": "QUEUED", "message": "trigger: x"},
        {"run_id": run_id, "step_run_id": 7, "entity": "step", "from_status": "PENDING"},
        {"workflow_id": "w", "entity": "workflow", "action": "pause", "actor": "bob", "at": later},
        {"run_id": run_id, "attempt_id": 9, "entity": "attempt", "to_status": "QUEUED"},
    ]
    with unit_of_work(db, clock, actor="alice") as u:
        for row in wanted:
            u.add_event(**row)
    columns = ("run_id", "step_run_id", "attempt_id", "workflow_id", "entity", "from_status")
    columns += ("to_status", "action", "actor", "message", "at")
    with db.read() as conn:
        rows = conn.execute(select(tables.events).order_by(tables.events.c.id)).all()
    assert [r.id for r in rows] == sorted({r.id for r in rows})
    defaults = {c: None for c in columns} | {"actor": "alice", "at": clock.now()}
    assert [{c: getattr(r, c) for c in columns} for r in rows] == [
        {**defaults, **w} for w in wanted
    ]
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


def test_the_check_constraints_name_every_member_of_the_enums() -> None:
    """Migration 0003 spells the enums out in SQL: it must keep up with states.py."""
    checks = importlib.import_module("migrations.versions.0003_status_checks")
    for member in BackfillStatus:
        assert f"'{member.value}'" in checks.BACKFILL
    for reason in WaitingFor:
        assert f"'{reason.value}'" in checks.WAITING
    assert checks.BACKFILL.count("'") == 2 * len(BackfillStatus)
    assert checks.WAITING.count("'") == 2 * len(WaitingFor)


def test_the_database_refuses_an_unknown_waiting_reason(db_with_run: tuple[Database, int]) -> None:
    db, run_id = db_with_run
    if db.is_sqlite:
        pytest.skip("SQLite cannot add the constraint to an existing table (migration 0003)")
    with pytest.raises(IntegrityError), db.tx() as conn:
        conn.execute(
            insert(tables.step_runs).values(
                run_id=run_id,
                step_id="x",
                step_type="noop",
                position=0,
                status="WAITING",
                waiting_for="coffee",
                created_at=FakeClock().now(),
            )
        )
