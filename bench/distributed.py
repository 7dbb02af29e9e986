"""Distributed-mode benchmarks: PostgreSQL + Redis + one ``maestro scheduler`` + one
``maestro worker`` process.

    MAESTRO_TEST_DATABASE_URL=postgresql+psycopg://… python -m bench.distributed

(`make bench-distributed` starts a throwaway PostgreSQL first.) A fresh database is created
next to the given one; a Redis server is started on loopback. Prints one JSON document:
step handoff on a 100-step chain (downstream attempt claimed − upstream attempt ended), run
start latency (run created → first step RUNNING), fan-out of 1,000 no-op steps (steps/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import scratch
from bench.embedded import chain, fanout, percentile
from maestro.definition import parse_definition
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.store import tables
from tests.support.cluster import Cluster, RedisServer


def _run(cluster: Cluster, doc: dict[str, Any]) -> int:
    eng = cluster.engine
    definition = parse_definition(doc)
    with eng.unit() as u:
        submitted = submit(u, definition)
    eng.versions.put(definition.id, submitted.version, definition)
    with eng.unit() as u:
        run_id = create_run(u, eng.versions, definition.id, version=submitted.version)
        start_run(u, eng.versions, run_id)
    cluster.wait(run_id, timeout=600, poll=0.25)  # the run records its own times
    return run_id


def _attempt_times(cluster: Cluster, run_id: int) -> dict[str, Any]:
    a, s = tables.attempts, tables.step_runs
    with cluster.engine.db.read() as conn:
        rows = conn.execute(
            select(s.c.step_id, a.c.started_at, a.c.ended_at)
            .join(s, s.c.id == a.c.step_run_id)
            .where(a.c.run_id == run_id)
        ).all()
    return {r.step_id: r for r in rows}


def chain_handoffs(cluster: Cluster, n: int) -> list[float]:
    by_step = _attempt_times(cluster, _run(cluster, chain(n)))
    return [
        (by_step[f"s{i}"].started_at - by_step[f"s{i - 1}"].ended_at).total_seconds() * 1000
        for i in range(1, n)
    ]


def run_start_ms(cluster: Cluster) -> float:
    run_id = _run(
        cluster, {"id": "start", "owner": "bench", "steps": [{"id": "s0", "type": "noop"}]}
    )
    r = tables.runs
    with cluster.engine.db.read() as conn:
        created = conn.execute(select(r.c.created_at).where(r.c.id == run_id)).scalar_one()
    started = _attempt_times(cluster, run_id)["s0"].started_at
    return float((started - created).total_seconds() * 1000)


def fanout_rate(cluster: Cluster, n: int) -> float:
    run_id = _run(cluster, fanout(n))
    r = tables.runs
    with cluster.engine.db.read() as conn:
        row = conn.execute(select(r.c.started_at, r.c.ended_at).where(r.c.id == run_id)).one()
    return n / (row.ended_at - row.started_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads")
    args = parser.parse_args()
    base = os.environ.get("MAESTRO_BENCH_DATABASE_URL") or os.environ["MAESTRO_TEST_DATABASE_URL"]
    name, url = scratch.create_database(base)
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp))
        redis_server.start()
        home = Path(tmp) / "home"
        home.mkdir()
        cluster = Cluster(url, redis_server.url, home)
        try:
            cluster.scheduler()
            cluster.worker(concurrency=args.concurrency, pool=args.pool)
            _run(cluster, chain(3))  # warm up: the worker is consuming
            handoffs = [h for _ in range(args.repeat) for h in chain_handoffs(cluster, 100)]
            starts = [run_start_ms(cluster) for _ in range(20 * args.repeat)]
            rates = [fanout_rate(cluster, 1000) for _ in range(args.repeat)]
        finally:
            cluster.close()
            redis_server.stop()
            scratch.drop_database(base, name)
    print(
        json.dumps(
            {
                "benchmark": "distributed",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "worker": {"pool": args.pool, "concurrency": args.concurrency},
                "results": [
                    {
                        "scenario": "chain-100",
                        "handoff_ms_p50": round(percentile(handoffs, 0.5), 3),
                        "handoff_ms_p99": round(percentile(handoffs, 0.99), 3),
                        "samples": len(handoffs),
                    },
                    {
                        "scenario": "run-start",
                        "ms_p50": round(statistics.median(starts), 3),
                        "ms_p99": round(percentile(starts, 0.99), 3),
                        "samples": len(starts),
                    },
                    {
                        "scenario": "fanout-1000",
                        "steps_per_second_median": round(statistics.median(rates), 1),
                    },
                ],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
