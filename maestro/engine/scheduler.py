"""The scheduler loop: timers and safety nets around the hot path.

The hot path (a step ends → its successors are queued and dispatched) runs in the worker's
own unit of work and never waits for this loop. The loop handles what is due by time or what
fell through the cracks: admitting queued runs, retries whose backoff elapsed, attempt and
run timeouts, attempts whose heartbeat lapsed (LOST), attempts no worker claimed, and alert
timers (run_overdue, deadline_missed). Alerts are sent by the alert sender, a thread beside it.

``tick()`` runs one pass and returns how long the loop may sleep; tests call it directly.
Every item is handled in its own unit of work, and a failing item is logged and skipped —
one bad workflow never stops the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from maestro import metrics
from maestro.dispatch import Dispatch, waiting
from maestro.engine import alert_timers, pools, retention, signals
from maestro.engine.admission import admit_workflow, workflows_with_queued_runs
from maestro.engine.advance import RunAdvance
from maestro.engine.attempts import AttemptResult, end_attempt
from maestro.engine.core import Engine
from maestro.engine.cron_firing import fire_due
from maestro.engine.triggers import earliest_fire_at
from maestro.ids import AttemptId
from maestro.states import RUN_ACTIVE, AlertStatus, AttemptStatus, RunStatus, StepStatus
from maestro.store import alerts as alert_rows
from maestro.store import attempts as attempt_rows
from maestro.store import tables
from maestro.store.records import STEP_COLUMNS, StepRow, load_run
from maestro.store.tables import status_is
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)
R, S, A = tables.runs, tables.step_runs, tables.attempts

#: how often a scheduler runs its retention pass (when ``retention_days`` is set)
_DAY = timedelta(days=1)


class Scheduler:
    def __init__(self, eng: Engine, *, scope: Collection[int] | None = None) -> None:
        """``scope``: only handle these runs (``maestro run`` drives its own run only)."""
        self.eng = eng
        self.scope = scope
        self._wake = threading.Event()
        #: admission pages through the workflows with queued runs, a batch per pass
        self._admit_after = ""
        #: since when this scheduler has reached the database without a failed pass (None:
        #: its last pass failed). Heartbeats that could not be written while the database was
        #: out of reach are no worker's death: lapses count from here at the earliest.
        self._in_contact_since: datetime | None = eng.clock.now()
        #: when this scheduler's retention pass last caught up (None: not yet)
        self._pruned_at: datetime | None = None
        eng.on_wake(self.wake)

    def wake(self) -> None:
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; sleep until the earliest timer or a wake-up."""
        while not stop.is_set():
            self._wake.clear()
            started = time.perf_counter()
            try:
                delay = self.tick()
            except Exception:  # the database may be restarting: keep going
                logger.exception("scheduler pass failed")
                metrics.SCHEDULER_FAILURES.inc()
                delay = self.eng.settings.poll_interval
            metrics.SCHEDULER_LOOP.observe(time.perf_counter() - started)
            self._wake.wait(delay)

    def tick(self) -> float:
        """One pass over everything due; returns the seconds until the next due timer."""
        if self._in_contact_since is None:
            self._in_contact_since = self.eng.clock.now()
        try:
            if self.scope is None:  # ``maestro run`` drives its own run, and fires no trigger
                fire_due(self.eng, self.eng.clock.now())
            self._admit_runs()
            self._retries_due()
            self._attempt_timeouts()
            self._lost_attempts()
            self._run_timeouts()
            self._redispatch()
            self._signals()
            alert_timers.fire_due(self.eng, self.eng.clock.now(), self.eng.settings.batch_size)
            if self.scope is None:
                self._retention()
            return self._next_due()
        except Exception:
            self._in_contact_since = None  # the database is out of reach (or failing)
            raise

    def recover_orphans(self) -> None:
        """At start-up of the only worker process (embedded): attempts left RUNNING by a dead
        process are LOST now, and QUEUED ones are sent again."""
        now = self.eng.clock.now()
        for attempt_id in self._ids(
            A, status_is(A.c.status, AttemptStatus.RUNNING), A.c.heartbeat_at
        ):
            self._each(
                attempt_id, lambda i: self._end(i, AttemptStatus.LOST, "worker process ended")
            )
        for attempt_id in self._ids(
            A, status_is(A.c.status, AttemptStatus.QUEUED), A.c.dispatched_at
        ):
            self._each(attempt_id, lambda i: self._resend(i, now))

    # -- passes -------------------------------------------------------------------------

    def _admit_runs(self) -> None:
        """Each workflow with queued runs: its run strategy admits what it allows."""
        with self.eng.db.read() as conn:
            batch = workflows_with_queued_runs(
                conn,
                after=self._admit_after,
                limit=self.eng.settings.batch_size,
                scope=self.scope,
            )
        # a full batch: the next pass continues after it; otherwise it starts over
        full = len(batch) == self.eng.settings.batch_size
        self._admit_after = batch[-1] if full else ""
        for workflow_id in batch:
            try:
                self._admit(workflow_id)
            except Exception:
                logger.exception("could not admit runs", extra={"workflow_id": workflow_id})

    def _retries_due(self) -> None:
        now = self.eng.clock.now()
        due = status_is(S.c.status, StepStatus.RETRYING) & (S.c.next_attempt_at <= now)
        for step_run_id in self._ids(S, due, S.c.next_attempt_at):
            self._each(step_run_id, self._retry)

    def _attempt_timeouts(self) -> None:
        settings = self.eng.settings
        grace = timedelta(seconds=settings.kill_grace + 2 * settings.heartbeat_interval)
        late = status_is(A.c.status, AttemptStatus.RUNNING) & (
            A.c.timeout_at <= self.eng.clock.now() - grace
        )
        for attempt_id in self._ids(A, late, A.c.timeout_at):
            self._each(
                attempt_id, lambda i: self._end(i, AttemptStatus.TIMED_OUT, "step timeout elapsed")
            )

    def _lost_attempts(self) -> None:
        """RUNNING attempts whose heartbeat lapsed — measured from the later of their last
        heartbeat and the moment this scheduler last regained the database: after an outage
        the workers get a whole timeout to heartbeat again before anyone is declared LOST."""
        limit = self.eng.clock.now() - timedelta(seconds=self.eng.settings.heartbeat_timeout)
        if self._in_contact_since is None or self._in_contact_since > limit:
            return
        stale = status_is(A.c.status, AttemptStatus.RUNNING) & (A.c.heartbeat_at < limit)
        for attempt_id in self._ids(A, stale, A.c.heartbeat_at):
            self._each(
                attempt_id,
                lambda i: self._end(i, AttemptStatus.LOST, "heartbeat lapsed: worker lost"),
            )

    def _run_timeouts(self) -> None:
        due = R.c.status.in_(tuple(RUN_ACTIVE)) & (R.c.timeout_at <= self.eng.clock.now())
        for run_id in self._ids(R, due, R.c.timeout_at):
            self._each(run_id, self._time_out_run)

    def _redispatch(self) -> None:
        """Send again the attempts no worker claimed within ``redispatch_after`` — their
        message may be lost (the broker restarted empty) — except in a queue whose broker
        holds at least as many messages as it has such attempts: there the messages are
        waiting behind others, and sending copies would lengthen the queue the workers are
        behind on, every pass, until it collapses (found by ``bench/soak.py``)."""
        now = self.eng.clock.now()
        limit = now - timedelta(seconds=self.eng.settings.redispatch_after)
        unclaimed = status_is(A.c.status, AttemptStatus.QUEUED) & (A.c.dispatched_at <= limit)
        query = select(A.c.queue, func.count()).where(self._scoped(A, unclaimed))
        with self.eng.db.read() as conn:
            due: dict[str, int] = {q: n for q, n in conn.execute(query.group_by(A.c.queue))}
        behind = {
            queue
            for queue, n in due.items()
            if (depth := waiting(self.eng.dispatcher, queue)) is not None and depth >= n
        }
        if behind:
            unclaimed = unclaimed & A.c.queue.not_in(sorted(behind))
            if len(behind) == len(due):
                return
        for attempt_id in self._ids(A, unclaimed, A.c.dispatched_at):
            self._each(attempt_id, lambda i: self._resend(i, now))

    def _signals(self) -> None:
        """Apply signals whose publisher died before applying them; time out signal waits; let
        steps into pools that have free slots (after a resize)."""
        try:
            signals.process_pending(self.eng, self.eng.settings.batch_size)
            signals.time_out_waits(self.eng, self.eng.clock.now(), self.eng.settings.batch_size)
            pools.wake_all(self.eng)
        except Exception:
            logger.exception("signal and pool pass failed")

    def _retention(self) -> None:
        """With ``retention_days`` set: once a day, delete the runs that ended before then
        (bounded passes: a backlog is worked off over the next passes, not in one)."""
        days = self.eng.settings.retention_days
        now = self.eng.clock.now()
        if days is None or (self._pruned_at is not None and now - self._pruned_at < _DAY):
            return
        most = self.eng.settings.batch_size * 5
        try:
            done = retention.prune(
                self.eng,
                timedelta(days=days),
                keep_last=self.eng.settings.retention_keep_last,
                max_runs=most,
            )
        except Exception:
            logger.exception("retention pass failed")
            return
        if done.runs < most:  # caught up: the next pass is a day from now
            self._pruned_at = now

    def _next_due(self) -> float:
        now = self.eng.clock.now()
        poll = self.eng.settings.poll_interval
        with self.eng.db.read() as conn:
            candidates = [
                conn.execute(
                    select(func.min(S.c.next_attempt_at)).where(
                        self._scoped(S, status_is(S.c.status, StepStatus.RETRYING))
                    )
                ).scalar(),
                conn.execute(
                    select(func.min(R.c.timeout_at)).where(
                        self._scoped(R, R.c.status.in_(tuple(RUN_ACTIVE)))
                    )
                ).scalar(),
                conn.execute(
                    select(func.min(tables.signal_waits.c.deadline)).where(
                        tables.signal_waits.c.signal_id.is_(None)
                    )
                ).scalar(),
            ]
            candidates.append(alert_rows.next_due(conn, AlertStatus.SCHEDULED))
            if self.scope is None:
                candidates.append(earliest_fire_at(conn))
        times = [t for t in candidates if isinstance(t, datetime)]
        if not times:
            return poll
        return max(0.0, min(poll, (min(times) - now).total_seconds()))

    # -- one item each ------------------------------------------------------------------

    def _admit(self, workflow_id: str) -> None:
        with self.eng.unit() as u:
            admit_workflow(u, self.eng.versions, workflow_id)

    def _retry(self, step_run_id: int) -> None:
        with self.eng.unit() as u:
            if not _claim(u, S, step_run_id):
                return
            row = u.conn.execute(
                select(*STEP_COLUMNS).where(
                    S.c.id == step_run_id, S.c.status == StepStatus.RETRYING
                )
            ).first()
            if row is None:
                return
            step = StepRow.of(row)
            run = load_run(u.conn, step.run_id)
            compiled = self.eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)
            RunAdvance(u, run, compiled).queue(step, StepStatus.RETRYING)

    def _end(self, attempt_id: int, status: AttemptStatus, error: str) -> None:
        with self.eng.unit() as u:
            if _claim(u, A, attempt_id) and end_attempt(
                u, self.eng, attempt_id, AttemptResult(status, error=error)
            ):
                u.cancels.append(attempt_id)

    def _time_out_run(self, run_id: int) -> None:
        with self.eng.unit() as u:
            if not _claim(u, R, run_id):
                return
            run = load_run(u.conn, run_id)
            compiled = self.eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)
            RunAdvance(u, run, compiled).end_run(
                RunStatus.TIMED_OUT,
                "run timeout elapsed",
                action="timeout",
                active_steps_to=StepStatus.TIMED_OUT,
            )

    def _resend(self, attempt_id: int, now: datetime) -> None:
        with self.eng.unit() as u:
            if not _claim(u, A, attempt_id):
                return
            queue = attempt_rows.redispatched(u.conn, attempt_id, now)
            if queue is not None:
                u.dispatches.append(Dispatch(AttemptId(attempt_id), queue))

    # -- helpers ------------------------------------------------------------------------

    def _scoped(self, table: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """Only the runs in scope and their child runs (foreach iterations, subworkflows)."""
        if self.scope is None:
            return condition
        roots = list(self.scope)
        tree = select(R.c.id).where(R.c.id.in_(roots) | R.c.root_run_id.in_(roots))
        column = table.c.id if table is R else table.c.run_id
        return condition & column.in_(tree.scalar_subquery())

    def _ids(self, table: Any, condition: ColumnElement[bool], order: Any) -> list[int]:
        """Ids of rows due, oldest first by the column the condition's index is sorted on."""
        query = select(table.c.id).where(self._scoped(table, condition)).order_by(order)
        with self.eng.db.read() as conn:
            return list(conn.execute(query.limit(self.eng.settings.batch_size)).scalars())

    def _each(self, item_id: int, handle: Callable[[int], None]) -> None:
        try:
            handle(item_id)
        except Exception:
            logger.exception("scheduler could not handle item", extra={"item_id": item_id})


def _claim(u: Unit, table: Any, item_id: int) -> bool:
    """Lock a due row for this unit, or learn that another transaction holds it — a second
    scheduler handling it, a worker reporting — and leave it to them (SKIP LOCKED) instead of
    waiting to redo their work. The lock comes first in the unit, on the row the handler
    changes first, so it adds no new lock order. (SQLite has one writer: nothing to skip.)"""
    locked = u.conn.execute(
        select(table.c.id).where(table.c.id == item_id).with_for_update(skip_locked=True)
    ).first()
    return locked is not None
