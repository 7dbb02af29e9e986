"""``maestro.store.direct``: a statement run on the driver's cursor gives what SQLAlchemy's
``Connection.execute`` gives — the same rows, types, row counts, errors and events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from maestro.store import direct, tables
from maestro.store.db import Database
from maestro.store.migrate import upgrade

W, R = tables.workflows, tables.runs
AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)

_NEW_RUN = insert(R).returning(R.c.id, R.c.created_at, R.c.params)
_RUN = select(R.c.id.label("run_id"), R.c.status, R.c.params, R.c.created_at).where(
    R.c.id == bindparam("p_run")
)
_BUMP = (
    update(R)
    .where(R.c.workflow_id == bindparam("p_workflow"), R.c.status == "QUEUED")
    .values(steps_unfinished=R.c.steps_unfinished + bindparam("p_n"))
)
_NEW_WORKFLOW = insert(W).values(
    id="w",
    name="w",
    owner="o",
    tags=[],
    created_at=AT,
    updated_at=AT,
    active_version=1,
    latest_version=1,
)
_IN = select(R.c.id).where(R.c.id.in_(bindparam("p_ids", expanding=True))).order_by(R.c.id)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    with database.tx() as conn:
        conn.execute(_NEW_WORKFLOW)
    yield database
    database.dispose()


def _run_row(number: int) -> dict[str, object]:
    return {
        "workflow_id": "w",
        "number": number,
        "version": 1,
        "status": "QUEUED",
        "params": {"n": number, "nested": [1, {"a": None}]},
        "trigger": "manual",
        "logical_date": AT,
        "max_active_steps": 10,
        "created_at": AT,
    }


def _both(conn: Connection, statement: object, params: object) -> tuple[object, object]:
    """The rows of ``statement`` run directly and by SQLAlchemy, as plain tuples."""
    fast = [tuple(r) for r in direct.execute(conn, statement, params)]  # type: ignore[arg-type]
    slow = [tuple(r) for r in conn.execute(statement, params)]  # type: ignore[call-overload]
    return fast, slow


def test_rows_types_and_counts_match_sqlalchemy(db: Database) -> None:
    with db.tx() as conn:
        created = direct.execute(conn, _NEW_RUN, _run_row(1)).one()
        assert created.created_at == AT  # aware UTC in, aware UTC out
        assert created.params == {"n": 1, "nested": [1, {"a": None}]}
        conn.execute(_NEW_RUN, _run_row(2))
        fast, slow = _both(conn, _RUN, {"p_run": created.id})
        assert fast == slow and fast[0][1] == "QUEUED"  # type: ignore[index]
        row = direct.execute(conn, _RUN, {"p_run": created.id}).first()
        assert row.run_id == created.id and row._mapping["status"] == "QUEUED"
        assert direct.execute(conn, _RUN, {"p_run": -1}).first() is None
        assert direct.execute(conn, _BUMP, {"p_workflow": "w", "p_n": 3}).rowcount == 2
        steps = conn.execute(select(R.c.steps_unfinished).order_by(R.c.id)).scalars().all()
        assert steps == [3, 3]
        # a column default the INSERT leaves out is written as SQLAlchemy would write it
        assert steps == [3, 3] and conn.execute(select(R.c.steps_failed)).scalars().all() == [0, 0]


def test_executemany_and_the_fallbacks(db: Database) -> None:
    with db.tx() as conn:
        direct.execute(conn, insert(R), [_run_row(n) for n in range(1, 4)])
        ids = conn.execute(select(R.c.id).order_by(R.c.id)).scalars().all()
        assert len(ids) == 3
        # an expanding IN list is not run directly, and still gives its rows
        assert direct.execute(conn, _IN, {"p_ids": ids[:2]}).scalars().all() == ids[:2]


def test_errors_are_sqlalchemy_errors_and_listeners_see_each_statement(db: Database) -> None:
    seen: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement.split()[0])

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with pytest.raises(IntegrityError), db.tx() as conn:
            direct.execute(conn, _NEW_RUN, _run_row(1))
            direct.execute(conn, _NEW_RUN, _run_row(1))  # (workflow, number) is unique
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert seen[-2:] == ["INSERT", "INSERT"]
    with db.read() as conn:  # the failed unit rolled back
        assert conn.execute(select(R.c.id)).first() is None


def test_sqlite_write_units_share_one_connection_and_a_failed_one_starts_the_next_afresh(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(database)
    try:
        with database.tx() as conn:
            first = conn
        with database.tx() as conn:
            assert conn is first  # kept, not checked out of the pool again
        with pytest.raises(RuntimeError), database.tx() as conn:
            conn.execute(_NEW_WORKFLOW)
            raise RuntimeError("the unit fails after its first write")
        with database.tx() as conn:  # checked out anew, and the failed unit left nothing
            assert conn is not first
            assert conn.execute(select(W.c.id)).first() is None
    finally:
        database.dispose()
