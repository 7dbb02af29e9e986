"""Engine and transaction factory for SQLite (embedded) and PostgreSQL (distributed).

SQLite runs in WAL mode and every write transaction starts with ``BEGIN IMMEDIATE``: writers
queue on the database lock up front (``busy_timeout``) instead of failing half-way when a read
transaction tries to upgrade. With ``synchronous=NORMAL`` a committed transition survives a
crash of the process; ``FULL`` also survives power loss, at an fsync per commit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from maestro import metrics
from maestro.store import direct

SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """One SQLAlchemy engine and the ways to open transactions on it."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "NORMAL",
        echo: bool = False,
        pre_ping: bool = False,
    ):
        """``pre_ping``: test each pooled connection before use, so that one the server dropped
        (a restart) is replaced instead of failing a request — for the API server, whose
        requests cannot be retried wholesale; the hot path saves the round trip and retries
        its units instead (``maestro.store.retry``)."""
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._write_lock: threading.Lock | None = None
        #: SQLite: the connection of the process's write transactions (``tx``)
        self._writer: Connection | None = None
        self._writer_pid = 0
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(url, sqlite_synchronous, echo)
            self._write_lock = threading.Lock()
        else:
            self.engine = create_engine(
                url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=pre_ping
            )
        metrics.POOLS.watch(f"{self.dialect}:{parsed.database or ''}", self.engine.pool)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction: commits on success, rolls back on any exception.

        On SQLite, writers of this process queue on a lock of their own first: SQLite's busy
        handler sleeps for milliseconds between retries, which would dominate the hot path
        when several worker threads finish steps at once. Holding that lock, they share one
        connection, kept open: checking one out of the pool and resetting it on return was a
        tenth of an embedded no-op step.
        """
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock:
            conn = self._writer_connection()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self._close_writer()  # whatever failed, the next unit starts on a fresh one
                raise

    def _writer_connection(self) -> Connection:
        if self._writer is None or self._writer_pid != os.getpid():
            self._writer = self.engine.connect()  # a forked child opens its own
            self._writer_pid = os.getpid()
        return self._writer

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and self._writer_pid == os.getpid():
            writer.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work (rolled back at the end)."""
        with self.engine.connect() as conn:
            conn.execution_options(maestro_read_only=True)
            yield conn

    def dispose(self) -> None:
        if self._write_lock is not None:
            with self._write_lock:
                self._close_writer()
        self.engine.dispose()


def _sqlite_engine(url: str, synchronous: str, echo: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        poolclass=QueuePool,
        pool_size=16,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Readers take no lock in WAL mode; writers take the write lock before their first read.
        read_only = conn.get_execution_options().get("maestro_read_only", False)
        direct.driver_sql(conn, "BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
