"""The Engine: the database, the clock, settings and compiled versions, and what happens after
a unit of work commits (export its spans, dispatch new attempts, cancel stopped ones, wake the
scheduler).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Connection

from maestro import lineage as lineage_switch
from maestro import metrics, traces
from maestro.clock import Clock, SystemClock
from maestro.dispatch import Dispatcher, NullDispatcher
from maestro.engine import alerting, lineage, signal_apply, tracing
from maestro.engine.compiled import VersionCache
from maestro.engine.settle import settle
from maestro.settings import Settings
from maestro.store.db import Database
from maestro.store.group_commit import GroupCommit
from maestro.store.unit import Unit, unit_of_work

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Engine:
    """Shared by the scheduler and the workers of one process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Clock | None = None,
        dispatcher: Dispatcher | None = None,
        spans: traces.SpanSink | None = None,
        lineage_sink: lineage_switch.LineageSink | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or SystemClock()
        self.dispatcher: Dispatcher = dispatcher or NullDispatcher()
        self.versions = VersionCache()
        #: where the spans of ended runs, steps and attempts go; None: traces are off
        self.spans = spans if spans is not None else traces.sink()
        #: where the OpenLineage events of started and ended runs and steps go; None: off
        self.lineage = lineage_sink if lineage_sink is not None else lineage_switch.sink()
        self._wake_listeners: list[Callable[[], None]] = []
        #: the worker threads' units share transactions on SQLite (``run_unit``)
        self.group = GroupCommit(db)

    def on_wake(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a commit asks the scheduler for a pass."""
        self._wake_listeners.append(listener)

    @contextmanager
    def unit(self, actor: str = "system") -> Iterator[Unit]:
        """A unit of work; its follow-ups for other runs are applied before it commits, its
        side effects (spans and lineage events of what it started or ended, dispatch, cancel,
        wake, signals) after."""
        with unit_of_work(self.db, self.clock, actor, self._horizon) as u:
            yield u
            after = self._before_commit(u)
        after()

    def run_unit(self, work: Callable[[Unit], T], actor: str = "system") -> T:
        """``work`` in a unit of work, as ``unit`` runs it — on SQLite in a transaction it may
        share with other threads' units (``maestro.store.group_commit``): the worker threads'
        reports take this way."""

        def in_transaction(conn: Connection) -> tuple[T, Callable[[], None]]:
            u = Unit(conn=conn, now=self.clock.now(), actor=actor, timer_horizon=self._horizon)
            result = work(u)
            after = self._before_commit(u)
            u.flush()
            return result, after

        result, after = self.group.run(in_transaction)
        after()
        return result

    @property
    def _horizon(self) -> timedelta:
        return timedelta(seconds=self.settings.poll_interval)

    def _before_commit(self, u: Unit) -> Callable[[], None]:
        """The end of a unit's transaction (follow-ups, hooks, what reads its changes);
        returns what is done once it committed."""
        settle(u, self.versions)
        for hook in u.before_commit:
            hook()
        sink, spans = self.spans, None
        lineage_sink, events = self.lineage, None
        if sink is not None:
            spans = tracing.collect(u)  # before alerting takes the changes
        if lineage_sink is not None:
            events = lineage.collect(u, self.versions, self.settings)
        ended = metrics.count_attempt_ends(u.changes)
        alerting.record(u, self.versions, self.settings)

        def after() -> None:
            if sink is not None and spans:
                sink.export(spans)
            if lineage_sink is not None and events:
                lineage_sink.emit(events)
            metrics.attempts_ended(ended)
            self.after_commit(u)

        return after

    def apply_signal(self, signal_id: int) -> tuple[list[int], list[int]]:
        """Apply a recorded signal in a unit of its own: (runs started, steps released)."""
        with self.unit() as u:
            return signal_apply.apply(u, self.versions, signal_id)

    def after_commit(self, u: Unit) -> None:
        if u.signals:
            self._process_signals(list(u.signals))
        if u.cancels:
            self.dispatcher.cancel(u.cancels)
        if u.dispatches:
            self.dispatcher.send(u.dispatches)
        if u.wake_scheduler:
            for listener in self._wake_listeners:
                listener()

    def _process_signals(self, signal_ids: list[int]) -> None:
        for signal_id in signal_ids:
            try:
                self.apply_signal(signal_id)
            except Exception:  # the scheduler applies unprocessed signals on its next pass
                logger.exception("could not apply signal", extra={"signal_id": signal_id})
