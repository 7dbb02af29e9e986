"""Group commit: the write units of one process's threads share a SQLite transaction.

On SQLite the writers of a process queue on its write lock (``Database.tx``). With eight
embedded worker threads finishing no-op steps, a fan-out ran a quarter slower than on one
thread: the holder of the lock gives up the GIL at every statement (sqlite3 releases it), and
the time between units went to waking threads and switching between them. Here a thread that
finds another writing hands its work over and sleeps; the writer runs its own work and every
work handed over meanwhile in one transaction, each in a savepoint of its own when there are
several, commits once and wakes them.

What each thread gets is what a transaction of its own would give it: its work's result, or
its work's exception — a work that raises is rolled back alone (``ROLLBACK TO`` its savepoint)
and the others commit; a commit that fails raises in every thread whose work it held. The work
runs in the caller's ``contextvars`` context (its log's trace ids). What is done after the
commit (the engine's dispatches, spans) is the caller's, in its own thread.

PostgreSQL has no process-wide write lock and many connections: ``run`` is a transaction of
the caller's own there.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from maestro.store import direct
from maestro.store.db import Database

T = TypeVar("T")


class _Work(Generic[T]):
    __slots__ = ("context", "done", "error", "result", "thread", "wake", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.context = contextvars.copy_context()
        self.thread = threading.get_ident()
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None
        #: released when the work is done, or when its thread is to write next
        self.wake = threading.Lock()
        self.wake.acquire()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set when done without error


class GroupCommit:
    """``run(work)``: ``work(conn)`` in a write transaction, shared with other threads' work
    on SQLite (see the module)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._shared = db.is_sqlite
        self._mutex = threading.Lock()
        #: work handed over while a thread writes, oldest first
        self._handed: list[_Work[Any]] = []
        self._writing = False
        self._writer = 0  # the ident of the thread that writes (or is woken to write) now
        #: how many transactions committed the work of how many (the tests read it)
        self.transactions = 0
        self.works = 0

    @property
    def waiting(self) -> int:
        """How many works are handed over and not begun."""
        return len(self._handed)

    def run(self, work: Callable[[Connection], T]) -> T:
        if not self._shared:
            with self._db.tx() as conn:
                return work(conn)
        if self._writer == threading.get_ident():
            # a work that runs a work: it would wait for itself for ever
            raise RuntimeError("GroupCommit.run called from inside a work it runs")
        mine = _Work(work)
        with self._mutex:
            waits = self._writing
            if waits:
                self._handed.append(mine)
            else:
                self._writer = mine.thread
            self._writing = True
        if waits:
            mine.wake.acquire()  # sleeps without the GIL; only its own wake-up wakes it
            if mine.done:
                return mine.outcome()
        # this thread writes: its work and what is handed over until it begins
        with self._mutex:
            batch, self._handed = [mine, *self._handed], []
        try:
            self._write(batch)
        finally:
            # the oldest work handed over meanwhile: its thread writes next (still writing)
            with self._mutex:
                following = self._handed.pop(0) if self._handed else None
                self._writing = following is not None
                self._writer = following.thread if following is not None else 0
            if following is not None:
                following.wake.release()
            for one in batch[1:]:
                one.wake.release()
        return mine.outcome()

    def _write(self, batch: list[_Work[Any]]) -> None:
        try:
            with self._db.tx() as conn:
                if len(batch) == 1:  # alone: its exception rolls the transaction back
                    batch[0].result = batch[0].context.run(batch[0].work, conn)
                else:
                    for one in batch:
                        _in_savepoint(conn, one)
        except BaseException as exc:  # the transaction rolled back: nothing of it is kept
            for one in batch:
                if one.error is None:
                    one.error, one.result = exc, None
        finally:
            self.transactions += 1
            self.works += len(batch)
            for one in batch:
                one.done = True


def _in_savepoint(conn: Connection, one: _Work[Any]) -> None:
    direct.driver_sql(conn, "SAVEPOINT maestro_work")
    try:
        one.result = one.context.run(one.work, conn)
    except Exception as exc:
        direct.driver_sql(conn, "ROLLBACK TO maestro_work")
        one.error = exc
    direct.driver_sql(conn, "RELEASE maestro_work")
