"""The distributed transport: Celery on Redis.

The broker is only a transport. Messages carry an attempt id and nothing else; the worker
claims the attempt in the database with a compare-and-set, so a lost message (the scheduler
re-sends QUEUED attempts nobody claimed) or a duplicate one (the claim finds nothing) is
harmless. Steps are routed to the Celery queue named by their ``queue``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from billiard.process import active_children  # type: ignore[import-untyped]
from celery import Celery
from celery.concurrency.thread import TaskPool as CeleryThreadPool
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutting_down
from celery.worker import state as worker_state
from celery.worker.control import control_command

from maestro import lineage, traces
from maestro.dispatch import Dispatch
from maestro.settings import Settings
from workers import redis_transport
from workers.executor import AttemptExecutor

logger = logging.getLogger(__name__)
TASK_NAME = "maestro.execute_attempt"
CANCEL_COMMAND = "maestro_cancel"
#: a send that fails this fast leaves the attempt QUEUED for the scheduler to re-send
PUBLISH_RETRY = {
    "max_retries": 2,
    "interval_start": 0.05,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

_executors: list[AttemptExecutor] = []

#: how long a task may follow on to successors (``QueueFollow``) from the attempt it was sent
FOLLOW_SECONDS = 10.0


class QueueFollow:
    """How a worker follows on (``maestro.dispatch.Follow``): a step's report claims one of
    the successors it made ready — in a queue this worker consumes — and the same task runs
    it next: no broker hop, one transaction for both transitions. The others are sent as
    usual. Nothing is taken once the worker drains (``stop``), and a task follows for at
    most ``FOLLOW_SECONDS`` (``AttemptExecutor.follow_for``): a draining prefork worker's
    children, which do not hear the drain, stop taking successors by then."""

    def __init__(self, queues: Sequence[str]) -> None:
        self.queues = frozenset(queues)
        self.stopped = threading.Event()

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        if self.stopped.is_set():
            return None
        mine = [i for i, d in enumerate(dispatches) if d.queue in self.queues]
        if not mine:
            return None
        best = max(mine, key=lambda i: dispatches[i].priority)
        return dispatches.pop(best), True

    def give_back(self, taken: Dispatch) -> None:
        """Never called: it takes only from the report's own dispatches."""

    def stop(self) -> None:
        self.stopped.set()


def create_celery_app(settings: Settings) -> Celery:
    app = Celery("maestro", broker=settings.broker_url, set_as_current=False)
    if settings.broker_url.split("://", 1)[0] in redis_transport.SCHEMES:
        app.conf.broker_transport = redis_transport.NAME  # one Redis client, not one a message
    app.conf.update(
        task_ignore_result=True,
        task_default_queue="default",
        task_acks_late=False,  # duplicates are harmless, but a long step should not be re-sent
        worker_prefetch_multiplier=1,
        # a worker takes a message only when a slot is free: a busy worker must not hold
        # steps that an idle one could start (nor take them down with it when killed).
        # MAESTRO_WORKER_PREFETCH=true trades that for ~1.5x the fan-out of no-op steps.
        worker_disable_prefetch=not settings.worker_prefetch,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # no acknowledgement emulation on Redis: kombu keeps each delivered message in an
        # "unacked" hash until its ack — two Redis transactions per message in the worker's
        # main process (a third of its time in a fan-out), to restore a message a crashed
        # worker held after an hour. The QUEUED attempt row is the outbox here: the
        # scheduler re-sends what nobody claimed within seconds (and a warm shutdown still
        # hands back the messages it reserved).
        broker_transport_options={
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
            "ack_emulation": False,
        },
        broker_pool_limit=32,
    )
    return app


class CeleryDispatcher:
    """Sends attempts to their Celery queues; never raises (the scheduler re-sends)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, dispatches: Sequence[Dispatch]) -> None:
        """One message per attempt. Several go as one batch: on Redis, one pipeline — one
        round trip instead of one per message (a run start of a 1,000-step fan-out sends
        1,000). A batch that fails is lost whole, and re-sent by the scheduler like a
        message that failed alone."""
        if len(dispatches) <= 1:
            self._send(dispatches, None)
            return
        try:
            with self.app.producer_or_acquire() as producer, producer.batch():
                self._send(dispatches, producer)
        except Exception as exc:
            logger.warning(
                "could not send %d attempts (%s); the scheduler will re-send them",
                len(dispatches),
                exc.__class__.__name__,
            )

    def _send(self, dispatches: Sequence[Dispatch], producer: Any) -> None:
        for d in dispatches:
            try:
                self.app.send_task(
                    TASK_NAME,
                    args=[d.attempt_id],
                    queue=d.queue,
                    retry=True,
                    retry_policy=PUBLISH_RETRY,
                    producer=producer,
                )
            except Exception as exc:
                logger.warning(
                    "could not send attempt %s to queue %s (%s); the scheduler will re-send it",
                    d.attempt_id,
                    d.queue,
                    exc.__class__.__name__,
                )

    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (all its priority levels; not those a worker took)."""
        with self.app.connection_for_read() as conn:
            size: int = conn.default_channel._size(queue)
        return size

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        """Tell every worker to stop these attempts now (they also learn it by heartbeat)."""
        try:
            self.app.control.broadcast(CANCEL_COMMAND, arguments={"attempt_ids": list(attempt_ids)})
        except Exception as exc:
            logger.warning(
                "could not broadcast a cancel (%s); workers will notice at their next heartbeat",
                exc.__class__.__name__,
            )


def register_worker(
    app: Celery, make_executor: Callable[[], AttemptExecutor], queues: Sequence[str] = ()
) -> None:
    """Bind the task (a one-line wrapper around the shared executor) in a worker.

    The executor — its engine, database pool and heartbeat thread — is made on first use in
    each process, so that a prefork pool's children never share connections with the parent.
    ``queues``: those the worker consumes; its executors follow on to successors in them
    (``QueueFollow``; none given: they do not follow).
    """
    lock = threading.Lock()

    def executor() -> AttemptExecutor:
        with lock:
            if not _executors or _executors[0].pid != os.getpid():
                made = make_executor()
                if queues:
                    made.follow = QueueFollow(queues)
                    made.follow_for = FOLLOW_SECONDS
                _executors[:] = [made]
            return _executors[0]

    @app.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
    def execute_attempt(attempt_id: int) -> None:
        executor().execute(attempt_id)

    # a prefork pool's child ends without the exit handlers that send the spans it holds
    worker_process_shutdown.connect(_flush_spans, weak=False)
    worker_process_init.connect(_listen_for_stop, weak=False)


#: what a prefork worker sends its pool's children when their running steps must stop now
#: (the drain timeout, a second SIGTERM): each stops its steps and reports them LOST
STOP_SIGNAL = signal.SIGUSR2


def _listen_for_stop(**_: Any) -> None:
    """In a prefork pool's child: :data:`STOP_SIGNAL` stops this child's running steps (on a
    thread: the handler runs in the main thread, which is the one executing the task)."""

    def on_stop(signum: int, frame: object) -> None:
        threading.Thread(target=_stop_running, args=("stop",), daemon=True).start()

    signal.signal(STOP_SIGNAL, on_stop)


def _flush_spans(**_: Any) -> None:
    traces.flush()
    lineage.flush()


class ThreadPool(CeleryThreadPool):  # type: ignore[misc]  # celery ships no type hints
    """Celery's thread pool, able to end its jobs on a cold shutdown (a second Ctrl-C): Celery
    then terminates each active task, which its thread pool cannot do (NotImplementedError).
    Here the steps' processes are killed and their attempts reported LOST."""

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        for executor in _executors:
            executor.shutdown(wait=executor.eng.settings.kill_grace + 2)


def enable_drain(drain_timeout: float) -> None:
    """A warm shutdown (SIGTERM, a first Ctrl-C) drains the worker: Celery stops taking
    messages and waits for the running attempts; those still running ``drain_timeout``
    seconds later are stopped and handed back LOST — retried elsewhere at once, as a platform
    failure, not one of the step's ``retries``. A second signal stops them at once.

    With the threads pool the running attempts are this process's; a prefork pool's children
    are sent :data:`STOP_SIGNAL` instead, and each stops its own."""
    signals = 0
    lock = threading.Lock()

    def on_shutdown(sig: str = "", how: str = "", **_kwargs: Any) -> None:
        nonlocal signals
        with lock:
            signals += 1
            first = signals == 1
        running = _running_here()
        for executor in _executors:  # a threads pool's: no successor is taken from now on
            if isinstance(executor.follow, QueueFollow):
                executor.follow.stop()
        if first:
            logger.warning(
                "%s: draining %d running step(s) for up to %gs (a second signal stops them now)",
                sig or how,
                running,
                drain_timeout,
            )
            timer = threading.Timer(drain_timeout, _stop_running, args=("drain timeout",))
            timer.daemon = True
            timer.start()
        else:
            threading.Thread(target=_stop_running, args=(sig,), daemon=True).start()

    worker_shutting_down.connect(on_shutdown, weak=False)


def _running_here() -> int:
    """The steps running in this worker: its own executors' (threads pool), else the tasks
    its prefork children are executing."""
    if _executors:
        return sum(e.heartbeats.watched() for e in _executors)
    return len(worker_state.active_requests)


def _stop_running(why: str) -> None:
    running = _running_here()
    if running:
        logger.warning("%s: stopping %d running step(s); they run again elsewhere", why, running)
    for executor in _executors:
        executor.shutdown(wait=executor.eng.settings.kill_grace + 2)
    for child in active_children():  # a prefork pool's processes: each stops its own
        try:
            os.kill(child.pid, STOP_SIGNAL)
        except (OSError, TypeError):  # gone already, or not started
            continue


#: ``worker_pool`` setting of a ``--pool threads`` worker
THREAD_POOL = f"{__name__}:ThreadPool"


@control_command(args=[("attempt_ids", list)])  # type: ignore[untyped-decorator]
def maestro_cancel(state: Any, attempt_ids: list[int]) -> dict[str, Any]:
    """Remote control command: cancel attempts running in this worker process."""
    for executor in _executors:
        for attempt_id in attempt_ids:
            executor.cancel(int(attempt_id))
    return {"ok": "cancelled"}
