"""The raw Celery floor: Celery alone, with no bookkeeping at all, on the same Redis server and
with the same pool and concurrency as the Maestro worker it is compared with (issue "The hot
path at the floor"; the same workloads as ``../shared/peers/floor.sh``).

- hop: a ``celery.chain`` of N tasks, each stamping ``time.time()`` in its body; the hop is
  the next body's stamp minus the previous one's (Celery records no start times of its own);
- fan-out: ``chain(start, group(N no-ops), join)`` (a chord, results in Redis); tasks/s from the
  client's send to the join's result — with Celery's default reservation of messages ahead,
  or, like a Maestro worker's default, without.

``Floor`` starts ``celery worker`` on this module in a subprocess, on its own Redis databases
and queue, so no Maestro worker ever takes its tasks.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from celery import Celery, chain, group
from redis.connection import parse_url

QUEUE = "floor"
STAMPS_VAR = "MAESTRO_FLOOR_STAMPS"

app = Celery(
    "floor",
    broker=os.environ.get("MAESTRO_FLOOR_BROKER", "redis://127.0.0.1:6379/2"),
    backend=os.environ.get("MAESTRO_FLOOR_BACKEND", "redis://127.0.0.1:6379/3"),
    set_as_current=False,
)
app.conf.update(task_default_queue=QUEUE, worker_hijack_root_logger=False)
NO_PREFETCH_VAR = "MAESTRO_FLOOR_NO_PREFETCH"
if os.environ.get(NO_PREFETCH_VAR):  # as a Maestro worker by default: a message per free slot
    app.conf.update(worker_prefetch_multiplier=1, worker_disable_prefetch=True)


@app.task(name="floor.step")  # type: ignore[untyped-decorator]
def step(_previous: int, k: int, tag: str) -> int:
    with open(Path(os.environ[STAMPS_VAR]) / f"{tag}.log", "a") as f:
        f.write(f"{k} {time.time():.6f}\n")
    return k


@app.task(name="floor.start")  # type: ignore[untyped-decorator]
def start() -> int:
    return 0


@app.task(name="floor.noop")  # type: ignore[untyped-decorator]
def noop(_previous: int, i: int) -> int:
    return i


@app.task(name="floor.join")  # type: ignore[untyped-decorator]
def join(values: list[int]) -> int:
    return len(values)


def _database(url: str, number: int) -> str:
    parts = parse_url(url)
    return f"redis://{parts.get('host', '127.0.0.1')}:{parts.get('port', 6379)}/{number}"


class Floor:
    """A raw Celery worker (``pool`` × ``concurrency``) on the Redis server of ``redis_url``
    (databases 2 and 3), and the client calls that measure it. ``prefetch``: Celery's
    default (each process reserves 4 messages ahead); False: a message only per free slot,
    as a Maestro worker takes them unless started with ``--prefetch``."""

    def __init__(self, redis_url: str, pool: str, concurrency: int, prefetch: bool = True) -> None:
        self.broker = _database(redis_url, 2)
        self.backend = _database(redis_url, 3)
        self.pool = pool
        self.concurrency = concurrency
        self.prefetch = prefetch
        self._stamps = tempfile.TemporaryDirectory(prefix="maestro-floor-")
        self._worker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Floor:
        env = {
            **os.environ,
            "MAESTRO_FLOOR_BROKER": self.broker,
            "MAESTRO_FLOOR_BACKEND": self.backend,
            STAMPS_VAR: self._stamps.name,
            NO_PREFETCH_VAR: "" if self.prefetch else "1",
        }
        os.environ[STAMPS_VAR] = self._stamps.name
        app.conf.update(broker_url=self.broker, result_backend=self.backend)
        self._worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_floor",
                "worker",
                "--pool",
                self.pool,
                "--concurrency",
                str(self.concurrency),
                "--queues",
                QUEUE,
                "--loglevel",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
        )
        noop.delay(0, 0).get(timeout=60)  # the worker consumes
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._worker is not None and self._worker.poll() is None:
            self._worker.send_signal(signal.SIGTERM)
            try:
                self._worker.wait(20)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait(5)
        self._stamps.cleanup()

    def chain_hops(self, n: int) -> list[float]:
        """Milliseconds from each task body of an n-task chain to the next one's."""
        tag = uuid.uuid4().hex[:12]
        signature: Any = chain(step.s(0, 1, tag), *[step.s(k, tag) for k in range(2, n + 1)])
        assert signature.apply_async().get(timeout=600) == n
        stamps: dict[int, float] = {}
        for line in (Path(self._stamps.name) / f"{tag}.log").read_text().splitlines():
            k, at = line.split()
            stamps[int(k)] = float(at)
        ordered = [stamps[k] for k in sorted(stamps)]
        return [(b - a) * 1000 for a, b in itertools.pairwise(ordered)]

    def fanout_rate(self, n: int) -> float:
        """Tasks per second of a chord of n no-ops between a start and a join task."""
        signature: Any = chain(start.s(), group(noop.s(i) for i in range(n)), join.s())
        began = time.perf_counter()
        assert signature.apply_async().get(timeout=600) == n
        return (n + 2) / (time.perf_counter() - began)
