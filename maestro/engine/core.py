"""The Engine: the database, the clock, settings and compiled versions, and what happens after
a unit of work commits (export its spans, dispatch new attempts, cancel stopped ones, wake the
scheduler).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from maestro import lineage as lineage_switch
from maestro import metrics, traces
from maestro.clock import Clock, SystemClock
from maestro.dispatch import Dispatcher, NullDispatcher
from maestro.engine import alerting, lineage, signal_apply, tracing
from maestro.engine.compiled import VersionCache
from maestro.engine.settle import settle
from maestro.settings import Settings
from maestro.store.db import Database
from maestro.store.unit import Unit, unit_of_work

logger = logging.getLogger(__name__)


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

    def on_wake(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a commit asks the scheduler for a pass."""
        self._wake_listeners.append(listener)

    @contextmanager
    def unit(self, actor: str = "system") -> Iterator[Unit]:
        """A unit of work; its follow-ups for other runs are applied before it commits, its
        side effects (spans and lineage events of what it started or ended, dispatch, cancel,
        wake, signals) after."""
        sink, spans = self.spans, None
        lineage_sink, events = self.lineage, None
        horizon = timedelta(seconds=self.settings.poll_interval)
        with unit_of_work(self.db, self.clock, actor, horizon) as u:
            yield u
            settle(u, self.versions)
            for hook in u.before_commit:
                hook()
            if sink is not None:
                spans = tracing.collect(u)  # before alerting takes the changes
            if lineage_sink is not None:
                events = lineage.collect(u, self.versions, self.settings)
            ended = metrics.count_attempt_ends(u.changes)
            alerting.record(u, self.versions, self.settings)
        if sink is not None and spans:
            sink.export(spans)
        if lineage_sink is not None and events:
            lineage_sink.emit(events)
        metrics.attempts_ended(ended)
        self.after_commit(u)

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
