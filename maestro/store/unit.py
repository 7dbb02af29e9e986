"""A unit of work: one transaction plus what must happen around it.

Engine functions take a ``Unit`` instead of a bare connection: it carries the transaction's
``now`` and actor, buffers event rows (written in one batch before commit), and collects the
attempts to hand to the dispatcher once the transaction has committed — never before, so a
worker can never see an attempt that might still roll back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from maestro.clock import Clock
from maestro.dispatch import Dispatch
from maestro.store import event_rows
from maestro.store.db import Database
from maestro.store.notify import notify

#: what a caller may leave out of an event row (``entity`` it gives; ``actor`` and ``at`` are
#: the unit's)
_OPTIONAL_EVENT_KEYS = tuple(c for c in event_rows.COLUMNS if c not in ("entity", "actor", "at"))


@dataclass
class Unit:
    conn: Connection
    now: datetime
    actor: str = "system"
    events: list[dict[str, Any]] = field(default_factory=list)
    dispatches: list[Dispatch] = field(default_factory=list)
    #: attempts stopped in this transaction whose processes should be told at once
    cancels: list[int] = field(default_factory=list)
    #: set when the scheduler should run a pass soon (a timer moved earlier, a run ended…)
    wake_scheduler: bool = False
    #: how long a scheduler may sleep between passes (its poll interval): a new timer due
    #: later than this is found by a regular pass and needs no wake-up (``timer``)
    timer_horizon: timedelta = timedelta(0)
    #: signals recorded in this unit, whose consequences are applied after commit
    signals: list[int] = field(default_factory=list)
    #: consequences for other runs, applied by the engine before commit
    #: (``maestro.engine.followups``; the store does not read them)
    followups: deque[Any] = field(default_factory=deque)
    #: the status changes of runs, steps and attempts in this unit, kept after the event rows
    #: are written: alerts (``maestro.engine.alerting``) and, when traces are on, spans
    #: (``maestro.engine.tracing``) are derived from them before commit
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: runs this unit advanced, with their compiled DAG (run id → (RunRow, CompiledWorkflow)),
    #: so that what reads the changes afterwards need not load them again
    runs: dict[int, Any] = field(default_factory=dict)
    #: runs this unit created, as inserted (``RunRow``): starting one reads no row again
    new_runs: dict[int, Any] = field(default_factory=dict)
    #: workflows whose row this unit locked by counting a new run (``next_run_number``): id →
    #: the row as locked (``active_version``, ``blocked_by_run_id``); admitting the new run
    #: reads it from here instead of locking it again
    counted_workflows: dict[str, Any] = field(default_factory=dict)
    #: attempts this unit queued, with their rows as written (``handoff.Loaded``): claiming
    #: one in the same unit — a worker following on to it — reads nothing again (SQLite)
    queued_here: dict[int, Any] = field(default_factory=dict)
    #: called once the follow-ups are settled, before what reads the changes: the last
    #: writes of the unit (a worker claiming its next attempt, ``engine.attempts.report``)
    before_commit: list[Callable[[], None]] = field(default_factory=list)

    def timer(self, at: datetime) -> None:
        """A new timer falls due at ``at``: wake the scheduler only if it could otherwise sleep
        past it. Waking it for every new run's timeout cost a whole scheduler pass per run —
        a third of the embedded process's time in a foreach of no-op bodies."""
        if at - self.now < self.timer_horizon:
            self.wake_scheduler = True

    def add_event(self, *, record: bool = True, **row: Any) -> None:
        """An event row, written with the others before commit; a status change is also
        kept in ``changes`` unless ``record`` is False (a row's first status, which alerts
        and spans do not follow)."""
        self.events.append(self._complete(row, record))

    def record_change(self, **row: Any) -> None:
        """A status change whose event row a fused statement of the store already wrote
        (``maestro.store.handoff``): kept in ``changes`` only."""
        self._complete(row)

    def _complete(self, row: dict[str, Any], record: bool = True) -> dict[str, Any]:
        row.setdefault("actor", self.actor)
        row.setdefault("at", self.now)
        for key in _OPTIONAL_EVENT_KEYS:
            row.setdefault(key, None)
        if (
            record
            and row["to_status"] is not None
            and row.get("entity") in ("run", "step", "attempt")
        ):
            self.changes.append(row)
        return row

    def flush_events(self) -> None:
        """Write the buffered event rows now (a statement that writes events of its own
        comes next, and the order of the events is the order of the changes)."""
        if self.events:
            event_rows.insert_events(self.conn, self.events)
            self.events.clear()

    def flush(self) -> None:
        self.flush_events()
        if self.wake_scheduler:
            notify(self.conn)


@contextmanager
def unit_of_work(
    db: Database, clock: Clock, actor: str = "system", timer_horizon: timedelta = timedelta(0)
) -> Iterator[Unit]:
    """Open a write transaction as a Unit; events are flushed before the commit."""
    with db.tx() as conn:
        unit = Unit(conn=conn, now=clock.now(), actor=actor, timer_horizon=timer_horizon)
        yield unit
        unit.flush()
