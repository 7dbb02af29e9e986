"""``maestro.store.group_commit``: threads that write while another writes hand their work over
and it commits in one transaction — each work's result and error its own."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert, select
from sqlalchemy.exc import IntegrityError

from maestro.store import tables
from maestro.store.db import Database
from maestro.store.group_commit import GroupCommit
from maestro.store.migrate import upgrade

W = tables.workflows
AT = datetime(2026, 3, 4, tzinfo=UTC)
WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """Only SQLite shares transactions (PostgreSQL units have transactions of their own)."""
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _add(conn: Connection, workflow_id: str) -> None:
    conn.execute(
        insert(W).values(
            id=workflow_id,
            name=workflow_id,
            owner="o",
            tags=[],
            created_at=AT,
            updated_at=AT,
            active_version=1,
            latest_version=1,
        )
    )


def _stored(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(W.c.id).order_by(W.c.id)).scalars())


class _Abort(BaseException):
    pass


class _Caller(threading.Thread):
    """``group.run(work)`` on a thread of its own, with ``WHO`` set to its name."""

    def __init__(self, group: GroupCommit, name: str, work: Callable[[Connection], Any]) -> None:
        super().__init__(name=name, daemon=True)
        self.group, self.work = group, work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        WHO.set(self.name)
        try:
            self.result = self.group.run(self.work)
        except BaseException as exc:
            self.error = exc


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _writing(group: GroupCommit, first: Callable[[Connection], Any]) -> tuple[_Caller, Any]:
    """A caller whose work is in its transaction and waits there until ``go`` is set."""
    inside, go = threading.Event(), threading.Event()

    def blocking(conn: Connection) -> str:
        first(conn)
        inside.set()
        assert go.wait(10)
        return "first"

    caller = _Caller(group, "first", blocking)
    caller.start()
    assert inside.wait(10)
    return caller, go


def _hand_over(group: GroupCommit, callers: list[_Caller]) -> None:
    for n, caller in enumerate(callers, start=1):
        caller.start()
        _until(lambda n=n: group.waiting == n)  # type: ignore[misc]  # handed in this order


def test_work_handed_over_commits_together_and_a_failed_one_rolls_back_alone(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    group = GroupCommit(db)
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda _conn: commits.append(1))

    def failing(conn: Connection) -> None:
        _add(conn, "c")
        _add(conn, "b")  # written by the work before it: the id is taken

    first, go = _writing(group, lambda conn: _add(conn, "a"))
    handed = [
        _Caller(group, "b", lambda conn: _add(conn, "b") or "b"),
        _Caller(group, "c", failing),
        _Caller(group, "d", lambda conn: (_add(conn, "d"), WHO.get(), threading.get_ident())),
    ]
    _hand_over(group, handed)
    go.set()
    for caller in (first, *handed):
        caller.join(10)
    b, c, d = handed
    assert first.result == "first" and b.result == "b"
    assert isinstance(c.error, IntegrityError)
    # d's work ran on the thread that wrote the second transaction (b's), in d's context
    assert d.result[1:] == ("d", b.ident)
    assert _stored(db) == ["a", "b", "d"]  # c's first insert was rolled back with it
    assert (group.transactions, group.works, len(commits)) == (2, 4, 2)


def test_a_transaction_that_does_not_commit_fails_every_work_in_it(sqlite_db: Database) -> None:
    db = sqlite_db
    group = GroupCommit(db)

    def aborting(conn: Connection) -> None:
        _add(conn, "c")
        raise _Abort  # not an Exception: the whole transaction rolls back

    first, go = _writing(group, lambda conn: _add(conn, "a"))
    handed = [_Caller(group, "b", lambda conn: _add(conn, "b")), _Caller(group, "c", aborting)]
    _hand_over(group, handed)
    go.set()
    for caller in (first, *handed):
        caller.join(10)
    assert first.error is None
    assert isinstance(handed[0].error, _Abort) and isinstance(handed[1].error, _Abort)
    assert _stored(db) == ["a"]
    # and the next work writes on: nothing was left held
    assert group.run(lambda conn: _add(conn, "e") or "e") == "e"
    assert _stored(db) == ["a", "e"]


def test_work_alone_is_a_transaction_of_its_own_on_both_stores(db: Database) -> None:
    group = GroupCommit(db)
    assert group.run(lambda conn: _add(conn, "a") or 1) == 1
    with pytest.raises(IntegrityError):
        group.run(lambda conn: (_add(conn, "b"), _add(conn, "a")))
    assert _stored(db) == ["a"]


def test_a_work_that_runs_a_work_is_refused_not_left_waiting_for_itself(
    sqlite_db: Database,
) -> None:
    group = GroupCommit(sqlite_db)

    def nested(conn: Connection) -> None:
        _add(conn, "a")
        group.run(lambda inner: _add(inner, "b"))

    with pytest.raises(RuntimeError, match="inside a work"):
        group.run(nested)
    assert _stored(sqlite_db) == []  # the outer work rolled back
    assert group.run(lambda conn: _add(conn, "c") or "c") == "c"
