"""What a process observes of its own work, as Prometheus metrics: step handoffs, attempts
ended, scheduler passes, and its database connection pools.

The store's gauges (runs and steps by status, queue depth, the alert outbox) are read from the
database by whoever is scraped — the API (``api/metrics.py``). These are different: only the
process doing the work sees them, so each process keeps them in ``REGISTRY``. The API's
``/metrics`` includes its own process's (everything, in ``maestro standalone``); a
``maestro scheduler`` or ``maestro worker`` of the distributed mode serves its own on
``--metrics-port`` (``serve``). A prefork worker's child processes keep theirs to themselves:
use the threads pool (the default) where these metrics matter.

Recording costs no statement: the handoff is measured from the attempt row the claim reads
anyway, and the attempts ended from the unit's status changes after it commits.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from maestro.states import ATTEMPT_TERMINAL

logger = logging.getLogger(__name__)

#: every process metric lives here (the API's registry includes it)
REGISTRY = CollectorRegistry(auto_describe=False)
#: from the millisecond handoffs of the hot path to steps that waited minutes for a slot
HANDOFF_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
LOOP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HANDOFF = Histogram(
    "maestro_step_handoff_seconds",
    "From an attempt's creation (its step became ready: upstreams done, a retry's backoff "
    "over, a slot free) to a worker claiming it",
    ["queue"],
    buckets=HANDOFF_BUCKETS,
    registry=REGISTRY,
)
ATTEMPTS_ENDED = Counter(
    "maestro_attempts_ended",
    "Attempts ended, per final status (SUCCEEDED, FAILED, TIMED_OUT, STOPPED, LOST)",
    ["status"],
    registry=REGISTRY,
)
SCHEDULER_LOOP = Histogram(
    "maestro_scheduler_loop_seconds",
    "Duration of one scheduler pass (timers, admission, retries, timeouts, lost workers)",
    buckets=LOOP_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_FAILURES = Counter(
    "maestro_scheduler_loop_failures",
    "Scheduler passes that failed (the database out of reach, most often)",
    registry=REGISTRY,
)


def observe_handoff(queue: str, seconds: float) -> None:
    _labelled(HANDOFF, queue).observe(max(0.0, seconds))


@functools.cache
def _labelled(metric: Any, value: str) -> Any:
    """``metric.labels(value)``, looked up once (the lookup, a lock and the labels' checks,
    was 3 % of a no-op step's time)."""
    return metric.labels(value)


def count_attempt_ends(changes: Iterable[dict[str, Any]]) -> list[str]:
    """The final statuses of the attempts in a unit's changes (read before it commits)."""
    return [
        c["to_status"]
        for c in changes
        if c.get("entity") == "attempt" and c["to_status"] in ATTEMPT_TERMINAL
    ]


def attempts_ended(statuses: Iterable[str]) -> None:
    """Count what :func:`count_attempt_ends` found, once the unit committed."""
    for status in statuses:
        _labelled(ATTEMPTS_ENDED, status).inc()


# -- connection pools -------------------------------------------------------------------


class PoolCollector(Collector):
    """The connections of each database pool this process opened: checked out (in use),
    idle in the pool, and the pool's size. A pool that stays fully checked out means work waits
    for a connection."""

    def __init__(self) -> None:
        #: a disposed database's pool leaves with it
        self._pools: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def watch(self, name: str, pool: Any) -> None:
        """Report ``pool`` as ``name`` (``name#2``… when another live pool has the name)."""
        with self._lock:
            label, n = name, 1
            while self._pools.get(label) not in (None, pool):
                n += 1
                label = f"{name}#{n}"
            self._pools[label] = pool

    def collect(self) -> Iterator[Metric]:
        used = GaugeMetricFamily(
            "maestro_db_pool_connections",
            "Database connections of this process, by pool and state (in_use, idle)",
            labels=["pool", "state"],
        )
        size = GaugeMetricFamily(
            "maestro_db_pool_size",
            "Connections a pool keeps (overflow comes on top)",
            labels=["pool"],
        )
        with self._lock:
            pools = dict(self._pools)
        for name, pool in pools.items():
            checked_out = getattr(pool, "checkedout", None)
            if checked_out is None:  # SQLite's pools keep no counts
                continue
            used.add_metric([name, "in_use"], float(pool.checkedout()))
            used.add_metric([name, "idle"], float(pool.checkedin()))
            size.add_metric([name], float(pool.size()))
        yield used
        yield size


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Serve this process's metrics at ``http://ADDRESS:PORT/metrics`` (a daemon thread)."""
    start_http_server(port, addr=address, registry=REGISTRY)
    logger.info("metrics on http://%s:%d/metrics", address, port)
