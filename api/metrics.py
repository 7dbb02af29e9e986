"""Prometheus metrics of one API process, in a registry of its own (no global state).

Gauges are read from the store when scraped, each on a partial or leading-status index:
runs per non-terminal status, steps waiting, retrying, queued and running, the queue
depth (QUEUED attempts per worker queue), and the alerts of the outbox per status with the age
of the oldest PENDING one. The API's own requests are counted and timed
per route.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro import metrics as process_metrics
from maestro import reads
from maestro.engine.core import Engine


class StoreCollector(Collector):
    """Gauges computed from the store on each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Metric]:
        with self.engine.db.read() as conn:
            runs = reads.run_gauges(conn)
            steps = reads.step_gauges(conn)
            depths = reads.queue_depths(conn)
            alerts = reads.alert_gauges(conn)
            oldest = reads.oldest_pending_alert(conn)
        now = self.engine.clock.now()
        run_family = GaugeMetricFamily(
            "maestro_runs", "Runs per non-terminal status", labels=["status"]
        )
        for status, n in runs.items():
            run_family.add_metric([status], n)
        step_family = GaugeMetricFamily(
            "maestro_steps", "Steps waiting, retrying, queued and running", labels=["status"]
        )
        for status, n in steps.items():
            step_family.add_metric([status], n)
        depth_family = GaugeMetricFamily(
            "maestro_queue_depth",
            "Attempts handed to a worker queue and not claimed yet",
            labels=["queue"],
        )
        for queue, n in depths.items():
            depth_family.add_metric([queue], n)
        return [run_family, step_family, depth_family, *_alert_families(alerts, oldest, now)]


def _alert_families(counts: dict[str, int], oldest: datetime | None, now: datetime) -> list[Metric]:
    # gauges, not counters: rows leave the table with their runs (retention) and a FAILED
    # alert sent again is PENDING anew, so none of these counts only ever grows
    family = GaugeMetricFamily(
        "maestro_alerts",
        "Alerts in the store per status, read from the alerts table at scrape "
        "(SCHEDULED timers, PENDING to send, DELIVERED, FAILED dead letters)",
        labels=["status"],
    )
    for status, n in counts.items():
        family.add_metric([status], n)
    age = GaugeMetricFamily(
        "maestro_alerts_oldest_pending_seconds",
        "Age of the oldest PENDING alert (0 when none): grows while no sender delivers",
    )
    age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return [family, age]


class ProcessCollector(Collector):
    """This process's own metrics (``maestro.metrics``: handoffs, attempts ended, scheduler
    passes, database pools): in ``maestro standalone`` the scheduler and the workers run here."""

    def collect(self) -> Iterable[Metric]:
        return process_metrics.REGISTRY.collect()


class Metrics:
    """The registry of one app: store gauges, this process's metrics and request metrics."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(engine))
        self.registry.register(ProcessCollector())
        self.requests = Counter(
            "maestro_http_requests",
            "API requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "maestro_http_request_duration_seconds",
            "API request latency",
            ["method", "route"],
            registry=self.registry,
        )


class RequestMetrics:
    """ASGI middleware counting and timing requests per route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics, prefix: str) -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = self._route(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        """The route template (``/api/v1/runs/{run_id}``), never the raw path: labels stay few."""
        path = getattr(scope.get("route"), "path", None)
        if not isinstance(path, str):
            return "unmatched"
        # routers included with a prefix may report their own path only
        if scope["path"].startswith(self.prefix) and not path.startswith(self.prefix):
            return self.prefix + path
        return path
