"""Back-off for clients that keep presenting bad credentials (bearer tokens, the web login).

Tokens are 32 random bytes, so guessing one is hopeless, but nothing stopped a client from
trying as fast as the server answers — and a short, hand-made token pasted in the login form
is not 32 random bytes. After ``failures`` bad credentials within ``window`` seconds a client
(by IP: ``request.client.host``) is refused with 429 and ``Retry-After`` for ``first_delay``
seconds, doubling each time it trips again, up to ``max_delay``. While it is backed off even a
right token is refused without being checked (otherwise the back-off would not slow a guesser
down at all). A success resets the client.

The state is in memory, per process, behind a lock (the routes run in a thread pool), and
bounded: at most ``max_clients`` addresses are remembered, the least recently seen forgotten
first, so an attacker cycling addresses costs a fixed amount of memory (at worst it makes the
server forget an earlier client's strikes). Behind a reverse proxy every client has the
proxy's address: run uvicorn with ``--forwarded-allow-ips`` for the proxy so that
``request.client`` is the real client.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request


@dataclass
class _Client:
    #: when each recent failure happened (those older than the window are dropped)
    failures: list[float] = field(default_factory=list)
    #: how many times this client was backed off (the next back-off is 2**strikes longer)
    strikes: int = 0
    #: refused until then
    blocked_until: float = 0.0
    #: last failure or block, for forgetting idle clients
    seen: float = 0.0


class Throttle:
    """Per-client failure counting and back-off; ``clock`` is injectable for tests."""

    def __init__(
        self,
        *,
        failures: int = 5,
        window: float = 60.0,
        first_delay: float = 30.0,
        max_delay: float = 300.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.window = window
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None when it may now."""
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                return None
            left = state.blocked_until - self.clock()
            return math.ceil(left) if left > 0 else None

    def failed(self, client: str) -> None:
        """Count a bad credential from ``client``; back it off after too many."""
        now = self.clock()
        with self._lock:
            state = self._clients.pop(client, None)
            if state is None or now - state.seen > self.window + self.max_delay:
                state = _Client()  # new, or quiet long enough to start over (strikes too)
            state.failures = [t for t in state.failures if now - t < self.window]
            state.failures.append(now)
            state.seen = now
            if len(state.failures) >= self.failures:
                delay = min(self.first_delay * 2**state.strikes, self.max_delay)
                state.blocked_until = now + delay
                state.strikes += 1
                state.failures.clear()
            self._clients[client] = state  # the most recently seen last
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """A right credential: forget the client's failures and strikes."""
        with self._lock:
            self._clients.pop(client, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)


def client_of(request: Request) -> str:
    """The address a request's failures are counted under."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> Throttle:
    """The app's throttle (``create_app`` makes one per app)."""
    throttle: Throttle = request.app.state.throttle
    return throttle
