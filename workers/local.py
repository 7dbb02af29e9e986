"""The embedded dispatcher: a pool of threads in this process, highest priority first."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Sequence

from maestro.dispatch import Dispatch
from workers.executor import AttemptExecutor

logger = logging.getLogger(__name__)
_STOP = object()


class LocalDispatcher:
    """Runs attempts on ``concurrency`` threads of this process (no broker)."""

    def __init__(self, executor: AttemptExecutor, concurrency: int) -> None:
        self.executor = executor
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
