"""The Dispatcher protocol: the only seam between the control plane and the workers.

The engine hands attempts to a dispatcher after the transaction that created them commits.
Sending is a transport, not the truth: a QUEUED attempt that no worker claims is sent again
by the scheduler, and a worker claims with a compare-and-set, so a lost or duplicated message
is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from maestro.ids import AttemptId

#: the environment variable through which an attempt tells its worker which named connections
#: its step may use (the step's ``connections``; the worker resolves them)
CONNECTIONS_VAR = "MAESTRO_CONNECTIONS"


@dataclass(frozen=True)
class Dispatch:
    """The message of the seam: an attempt to send to a worker queue, after commit."""

    attempt_id: AttemptId
    queue: str
    priority: int = 0


class Dispatcher(Protocol):
    def send(self, dispatches: Sequence[Dispatch]) -> None:
        """Hand attempts to workers (never blocks on their execution)."""

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        """Best effort: tell workers running these attempts to stop now.

        The store already says the attempts are over; workers also learn it from their
        next heartbeat, so a dispatcher that cannot reach them may do nothing.
        """


class Follow(Protocol):
    """How a worker that has just finished an attempt picks the next one it runs itself,
    claimed in the same transaction as the report (``maestro.engine.attempts.report``): no
    message, no wait for a free worker, one commit for both transitions.

    ``take`` chooses among the attempts the report is about to dispatch (removing the one it
    takes from ``dispatches``), or from elsewhere — a local queue — and returns it, or None
    to take nothing. ``give_back`` is called if the report's transaction rolled back after a
    ``take`` from elsewhere (one taken from ``dispatches`` rolled back with it)."""

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        """(the attempt, True when it came from ``dispatches``), or None."""

    def give_back(self, taken: Dispatch) -> None:
        """Hand an attempt taken from elsewhere back (its claim rolled back)."""


def waiting(dispatcher: Dispatcher, queue: str) -> int | None:
    """Messages waiting in ``queue`` at the broker, when the dispatcher can tell (its optional
    ``depth``), else None. The scheduler re-sends unclaimed attempts only when their messages
    may be gone: re-sending behind a long queue would only lengthen it."""
    depth = getattr(dispatcher, "depth", None)
    if depth is None:
        return None
    try:
        found = depth(queue)
    except Exception:  # the broker is out of reach: nothing to learn from it
        return None
    return found if isinstance(found, int) else None


class NullDispatcher:
    """Sends nothing (a process that only schedules, or tests that drive attempts by hand)."""

    def __init__(self) -> None:
        self.sent: list[Dispatch] = []
        self.cancelled: list[int] = []

    def send(self, dispatches: Sequence[Dispatch]) -> None:
        self.sent.extend(dispatches)

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        self.cancelled.extend(attempt_ids)
