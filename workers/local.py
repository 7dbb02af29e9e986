"""The embedded dispatcher: a pool of threads in this process, highest priority first."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Sequence

from maestro.dispatch import Dispatch
from maestro.ids import AttemptId
from workers.executor import AttemptExecutor

logger = logging.getLogger(__name__)
_STOP = object()


class LocalDispatcher:
    """Runs attempts on ``concurrency`` threads of this process (no broker).

    A thread that reports an attempt claims its next one in the same transaction
    (``maestro.dispatch.Follow``): a successor the report made ready, else the head of the
    queue — so a chain runs on one thread without a queue hop, and a fan-out costs one
    transaction per step instead of two."""

    def __init__(self, executor: AttemptExecutor, concurrency: int) -> None:
        self.executor = executor
        executor.follow = self
        self._queue: queue.PriorityQueue[tuple[int, int, object]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"maestro-worker-{i}", daemon=True)
            for i in range(concurrency)
        ]
        for t in self._threads:
            t.start()

    def send(self, dispatches: Sequence[Dispatch]) -> None:
        for d in dispatches:
            self._queue.put((-d.priority, next(self._seq), d.attempt_id))

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        """The next attempt for a thread that is reporting one (``Follow``): the first of the
        highest priority among those its report is about to send, else the queue's head."""
        if dispatches:
            best = max(range(len(dispatches)), key=lambda i: dispatches[i].priority)
            return dispatches.pop(best), True
        try:
            priority, seq, item = self._queue.get_nowait()
        except queue.Empty:
            return None
        if item is _STOP:  # closing: leave it for a thread to stop on
            self._queue.put((priority, seq, item))
            return None
        assert isinstance(item, int)
        return Dispatch(AttemptId(item), "local", -priority), False

    def give_back(self, taken: Dispatch) -> None:
        self.send([taken])

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        for attempt_id in attempt_ids:
            self.executor.cancel(attempt_id)

    def close(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._queue.put((1 << 62, next(self._seq), _STOP))
        for t in self._threads:
            t.join(timeout=timeout)
        self.executor.close()

    def _work(self) -> None:
        while True:
            _, _, item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, int)
            self.executor.execute(item)
