"""Wake-ups across processes: PostgreSQL LISTEN/NOTIFY.

A unit of work that asks for a scheduler pass (a run was queued, a retry was scheduled, a run
ended) sends ``NOTIFY maestro_wake`` inside its own transaction, so the notification is
delivered only if the transaction commits. Schedulers listen and run a pass at once. NOTIFY
only wakes things up: every scheduler still polls, so a lost notification delays nothing by
more than the poll interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)
CHANNEL = "maestro_wake"


def notify(conn: Connection) -> None:
    """Queue a wake-up, delivered when ``conn``'s transaction commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {CHANNEL}"))


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql://…`` for a plain psycopg connection."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class Listener(threading.Thread):
    """Calls ``on_wake`` for every notification on the channel; reconnects after failures."""

    def __init__(self, url: str, on_wake: Callable[[], None]) -> None:
        super().__init__(name="maestro-listen", daemon=True)
        self.url = libpq_url(url)
        self.on_wake = on_wake
        self.stopped = threading.Event()
        self.listening = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        backoff = 0.1
        while not self.stopped.is_set():
            try:
                self._listen()
                backoff = 0.1
            except Exception as exc:  # the server restarts: listen again when it is back
                self.listening.clear()
                logger.warning("LISTEN connection lost (%s); reconnecting", exc.__class__.__name__)
                self.on_wake()  # we may have missed notifications: look now
                self.stopped.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _listen(self) -> None:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            while not self.stopped.is_set():
                for _ in conn.notifies(timeout=1.0, stop_after=1):
                    self.on_wake()
