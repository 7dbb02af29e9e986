"""Retrying units of work over transient database failures.

A deadlock victim, a serialization failure, a connection dropped by a restarting server, a
SQLite file locked by another process: the unit rolled back, so running it again is safe —
every status change in it is a conditional UPDATE that a winner elsewhere turns into a no-op.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from maestro.errors import ConcurrentChange

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: serialization_failure, deadlock_detected; class 08 = connection exceptions;
#: 57P01-57P03 = the server is shutting down or starting up
_TRANSIENT_STATES = ("40001", "40P01", "08", "57P01", "57P02", "57P03")
#: what a connection attempt that never reached a session says when the server will be back:
#: refused while it restarts, "shutting down" / "starting up" around it (no SQLSTATE then)
_TRANSIENT_MESSAGES = (
    "database is locked",
    "server closed the connection",
    "connection refused",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
    "could not connect",
    "connection timeout expired",
    "consuming input failed",
    "connection is lost",
    "connection is closed",
)
#: connection failures that no retry mends
_PERMANENT_MESSAGES = ("password authentication", "does not exist", "no pg_hba.conf entry")


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConcurrentChange):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    if any(state.startswith(prefix) for prefix in _TRANSIENT_STATES):
        return True
    message = str(exc.orig).lower()
    if any(marker in message for marker in _PERMANENT_MESSAGES):
        return False
    return any(marker in message for marker in _TRANSIENT_MESSAGES)


def retrying(fn: Callable[[], T], *, deadline: float = 60.0, what: str = "unit of work") -> T:
    """Call ``fn`` until it succeeds, retrying transient failures with backoff until
    ``deadline`` seconds have passed; other exceptions propagate at once."""
    give_up = time.monotonic() + deadline
    delay = 0.01
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > give_up:
                raise
            logger.warning("%s failed transiently, retrying: %s", what, exc.__class__.__name__)
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
