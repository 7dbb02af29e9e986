"""One thread per worker process that keeps every running attempt alive and enforces timeouts.

Each pass refreshes ``heartbeat_at`` of all watched attempts in one UPDATE. An attempt the
store no longer calls RUNNING (stopped, declared LOST, timed out by the scheduler) is cancelled
here, so its process dies even if this worker was partitioned away for a while.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from maestro.engine.attempts import heartbeat
from maestro.engine.core import Engine

logger = logging.getLogger(__name__)
TICK_SECONDS = 0.05


@dataclass
class Watch:
    """A running attempt as seen by its worker."""

    attempt_id: int
    deadline: float | None  # time.monotonic() when the step timeout elapses
    cancel: threading.Event = field(default_factory=threading.Event)
    #: why ``cancel`` was set: "timeout", "stopped" (store says it is over), "shutdown" (the
    #: worker is going away) or None
    reason: str | None = None

    def stop(self, reason: str) -> None:
        if not self.cancel.is_set():
            self.reason = reason
            self.cancel.set()


class Heartbeater:
    def __init__(self, eng: Engine) -> None:
        self.eng = eng
        self._watches: dict[int, Watch] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, attempt_id: int, timeout: float | None) -> Watch:
        deadline = time.monotonic() + timeout if timeout else None
        w = Watch(attempt_id, deadline)
        with self._lock:
            self._watches[attempt_id] = w
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="maestro-heartbeat", daemon=True
                )
                self._thread.start()
        return w

    def unwatch(self, attempt_id: int) -> None:
        with self._lock:
            self._watches.pop(attempt_id, None)

    def cancel(self, attempt_id: int, reason: str = "stopped") -> None:
        with self._lock:
            w = self._watches.get(attempt_id)
        if w is not None:
            w.stop(reason)

    def cancel_all(self, reason: str) -> list[int]:
        """Cancel every watched attempt; their ids."""
        with self._lock:
            watches = list(self._watches.values())
        for w in watches:
            w.stop(reason)
        return [w.attempt_id for w in watches]

    def watched(self) -> int:
        with self._lock:
            return len(self._watches)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        interval = self.eng.settings.heartbeat_interval
        next_beat = time.monotonic() + interval
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            with self._lock:
                watches = list(self._watches.values())
            for w in watches:
                if w.deadline is not None and now >= w.deadline:
                    w.stop("timeout")
            if now >= next_beat and watches:
                next_beat = now + interval
                self._beat(watches)

    def _beat(self, watches: list[Watch]) -> None:
        try:
            alive = heartbeat(self.eng, [w.attempt_id for w in watches])
        except Exception:  # a database hiccup: try again next interval
            logger.exception("heartbeat failed")
            return
        for w in watches:
            if w.attempt_id not in alive:
                w.stop("stopped")
