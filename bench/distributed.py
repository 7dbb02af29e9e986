"""Distributed-mode benchmarks: PostgreSQL + Redis + one ``maestro scheduler`` + one
``maestro worker`` process (prefork x 2 by default: the machine's two cores), then a second
worker, then the raw Celery floor (``bench/celery_floor.py``) on the same Redis server, pool
and concurrency.

    MAESTRO_TEST_DATABASE_URL=postgresql+psycopg://… python -m bench.distributed

(`make bench-distributed` starts a throwaway PostgreSQL first.) A fresh database is created
next to the given one; a Redis server is started on loopback. Prints one JSON document:
step handoff on a 100-step chain (downstream attempt claimed − upstream attempt ended), run
start latency (run created → first step RUNNING), fan-out of 1,000 no-op steps (steps/s) with
one worker and with two, a foreach of 10,000 no-op bodies (iterations/s, one worker), the
floor's chain hop and chord throughput, and ``targets``: the ratios of issue "The hot path at
the floor" next to their targets.
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
from bench.celery_floor import Floor
from bench.embedded import chain, fanout, percentile
from bench.foreach import foreach_doc
from maestro.definition import parse_definition
from maestro.engine.actions import start_run_now
from maestro.engine.workflows import submit
from maestro.store import tables
from tests.support.cluster import Cluster, RedisServer


def _run(cluster: Cluster, doc: dict[str, Any]) -> int:
    eng = cluster.engine
    definition = parse_definition(doc)
    with eng.unit() as u:
        submitted = submit(u, definition)
    eng.versions.put(definition.id, submitted.version, definition)
    # started as the REST API, the CLI and the web view start a run (the run strategy admits it)
    run_id = start_run_now(eng, definition.id, "bench", version=submitted.version).run_id
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


def analyze(cluster: Cluster) -> None:
    """Bring the planner's statistics up to date, as autovacuum does in service.

    A scratch database's tables grow from nothing during the bench, faster than autovacuum
    (a pass a minute) analyzes them: the plans the workers' connections prepared while a
    table was a few pages stay cached — sequential scans of ``step_runs`` that grow with it
    (a 10,000-item foreach slowed from 340 to 235 iterations/s over its 40 s; with current
    statistics it holds 330). Measured scenarios start from current statistics."""
    with cluster.engine.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def fanout_rate(cluster: Cluster, n: int) -> float:
    """Steps per second of a fan-out of n no-ops, from the run's own start and end."""
    run_id = _run(cluster, fanout(n))
    r = tables.runs
    with cluster.engine.db.read() as conn:
        row = conn.execute(select(r.c.started_at, r.c.ended_at).where(r.c.id == run_id)).one()
    return n / (row.ended_at - row.started_at).total_seconds()


def foreach_rate(cluster: Cluster, items: int) -> float:
    """Iterations per second of a foreach of ``items`` no-op bodies (concurrency 64), from
    the run's own start and end."""
    run_id = _run(cluster, foreach_doc(items))
    r = tables.runs
    with cluster.engine.db.read() as conn:
        row = conn.execute(select(r.c.started_at, r.c.ended_at).where(r.c.id == run_id)).one()
    return float(items / (row.ended_at - row.started_at).total_seconds())


def _warm(cluster: Cluster) -> None:
    _run(cluster, chain(3))  # the workers consume


def _targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's ratios next to their targets (each measured in this invocation)."""
    rows: list[dict[str, Any]] = []

    def target(name: str, value: float | None, bound: float, at_most: bool) -> None:
        if value is None:
            return
        met = value <= bound if at_most else value >= bound
        sign = "<=" if at_most else ">="
        rows.append(
            {"name": name, "value": round(value, 3), "target": f"{sign} {bound}", "met": met}
        )

    floor = result.get("floor") or {}
    ours = {r["scenario"]: r for r in result["results"]}
    hop = floor.get("chain_hop_ms_p50")
    rate = floor.get("fanout_tasks_per_second_median")
    target(
        "handoff p50 / raw Celery hop p50",
        ours["chain-100"]["handoff_ms_p50"] / hop if hop else None,
        1.3,
        at_most=True,
    )
    target(
        "fan-out steps/s / raw Celery chord tasks/s",
        ours["fanout-1000"]["steps_per_second_median"] / rate if rate else None,
        1.5,
        at_most=False,
    )
    # like for like: both reserving messages ahead, or neither
    reserving, unreserved = (
        ours.get("fanout-1000-prefetch"),
        floor.get("fanout_no_prefetch_tasks_per_second_median"),
    )
    target(
        "fan-out, both reserving ahead: ours --prefetch / raw Celery's default",
        reserving["steps_per_second_median"] / rate if reserving and rate else None,
        1.5,
        at_most=False,
    )
    target(
        "fan-out, neither reserving ahead: ours / raw Celery without prefetch",
        ours["fanout-1000"]["steps_per_second_median"] / unreserved if unreserved else None,
        1.5,
        at_most=False,
    )
    two = ours.get("fanout-1000-two-workers")
    target(
        "fan-out, two workers / one",
        two["steps_per_second_median"] / ours["fanout-1000"]["steps_per_second_median"]
        if two
        else None,
        1.7,
        at_most=False,
    )
    target("run start -> first step RUNNING p50 (ms)", ours["run-start"]["ms_p50"], 5.0, True)
    each = ours.get("foreach")
    target("foreach iterations/s", each["iterations_per_second"] if each else None, 300, False)
    return rows


def _floor(redis_url: str, pool: str, concurrency: int, repeat: int, width: int) -> dict[str, Any]:
    with Floor(redis_url, pool, concurrency) as floor:
        hops = [h for _ in range(repeat) for h in floor.chain_hops(100)]
        rates = [floor.fanout_rate(width) for _ in range(repeat)]
    with Floor(redis_url, pool, concurrency, prefetch=False) as floor:
        unreserved = [floor.fanout_rate(width) for _ in range(repeat)]
    return {
        "system": "celery (raw, no bookkeeping)",
        "pool": pool,
        "concurrency": concurrency,
        "chain_hop_ms_p50": round(percentile(hops, 0.5), 3),
        "chain_hop_ms_p99": round(percentile(hops, 0.99), 3),
        "hop_samples": len(hops),
        "fanout_tasks": width + 2,
        "fanout_tasks_per_second_median": round(statistics.median(rates), 1),
        "fanout_no_prefetch_tasks_per_second_median": round(statistics.median(unreserved), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool", choices=["threads", "prefork"], default="prefork")
    parser.add_argument("--width", type=int, default=1000, help="fan-out width")
    parser.add_argument("--no-floor", action="store_true", help="skip the raw Celery floor")
    parser.add_argument("--one-worker", action="store_true", help="skip the two-worker fan-out")
    parser.add_argument(
        "--no-prefetch", action="store_true", help="skip the fan-out of a --prefetch worker"
    )
    parser.add_argument(
        "--foreach", type=int, default=10_000, help="foreach size (0: skip); one worker"
    )
    args = parser.parse_args()
    base = os.environ.get("MAESTRO_BENCH_DATABASE_URL") or os.environ["MAESTRO_TEST_DATABASE_URL"]
    name, url = scratch.create_database(base)
    results: list[dict[str, Any]] = []
    floor: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp))
        redis_server.start()
        home = Path(tmp) / "home"
        home.mkdir()
        cluster = Cluster(url, redis_server.url, home)
        try:
            cluster.scheduler()
            workers = [cluster.worker(concurrency=args.concurrency, pool=args.pool)]
            _warm(cluster)
            handoffs = [h for _ in range(args.repeat) for h in chain_handoffs(cluster, 100)]
            starts = [run_start_ms(cluster) for _ in range(20 * args.repeat)]
            analyze(cluster)
            rates = [fanout_rate(cluster, args.width) for _ in range(args.repeat)]
            results += [
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
                    "steps": args.width,
                    "steps_per_second_median": round(statistics.median(rates), 1),
                },
            ]
            if args.foreach:
                analyze(cluster)  # the tables have grown thousands of rows since the start
                results.append(
                    {
                        "scenario": "foreach",
                        "items": args.foreach,
                        "iterations_per_second": round(foreach_rate(cluster, args.foreach), 1),
                    }
                )
            if not args.one_worker:
                workers.append(
                    cluster.worker("worker2", concurrency=args.concurrency, pool=args.pool)
                )
                for _ in range(3):
                    _warm(cluster)
                analyze(cluster)
                two = [fanout_rate(cluster, args.width) for _ in range(args.repeat)]
                results.append(
                    {
                        "scenario": "fanout-1000-two-workers",
                        "steps": args.width,
                        "steps_per_second_median": round(statistics.median(two), 1),
                    }
                )
            if not args.no_prefetch:
                # one worker that reserves messages ahead, as raw Celery does by default
                for proc in workers:
                    proc.terminate()
                    proc.wait(30)
                cluster.worker(
                    "worker-prefetch", "default", args.concurrency, args.pool, "--prefetch"
                )
                _warm(cluster)
                analyze(cluster)
                reserving = [fanout_rate(cluster, args.width) for _ in range(args.repeat)]
                results.append(
                    {
                        "scenario": "fanout-1000-prefetch",
                        "steps": args.width,
                        "steps_per_second_median": round(statistics.median(reserving), 1),
                    }
                )
        finally:
            cluster.close()
            scratch.drop_database(base, name)
        try:
            if not args.no_floor:  # after ours: the two never share the CPUs
                floor = _floor(
                    redis_server.url, args.pool, args.concurrency, args.repeat, args.width
                )
        finally:
            redis_server.stop()
    doc: dict[str, Any] = {
        "benchmark": "distributed",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "worker": {"pool": args.pool, "concurrency": args.concurrency},
        "results": results,
        "floor": floor,
    }
    doc["targets"] = _targets(doc)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
