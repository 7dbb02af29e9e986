"""Run history at scale: GET /workflows/{id}/runs over 1,000,000 runs of one workflow.

Seeds the runs on PostgreSQL (``MAESTRO_TEST_DATABASE_URL``; a database of its own, dropped
at the end) with one ``INSERT … SELECT generate_series``, then times the endpoint through the
real app in-process: the first page, pages followed by their cursors, and deep pages (cursors
anywhere down to the oldest run). Prints one JSON document; exits 1 if a p95 is over the
target or the plan is not the index's (no OFFSET, no COUNT(*), no sort, no sequential scan).

    python -m bench.history [--runs 1000000] [--samples 200] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from api.app import create_app
from bench import scratch
from maestro.definition import load_definition
from maestro.engine.core import Engine
from maestro.engine.workflows import submit
from maestro.reads import encode_cursor, run_history_query
from maestro.settings import load_settings
from maestro.store.db import Database

TARGET_P95_MS = 50.0
WORKFLOW = """
id: {id}
owner: bench
steps:
  - {{id: a, type: noop}}
"""
SEED = """
INSERT INTO runs (workflow_id, number, version, status, params, trigger, logical_date,
                  max_active_steps, steps_total, steps_unfinished, steps_failed, active_steps,
                  steps_waiting, created_at, started_at, ended_at)
SELECT :workflow, g, 1,
       CASE WHEN g % 10 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END,
       '{}'::jsonb,
       CASE WHEN g % 4 = 0 THEN 'manual' ELSE 'cron' END,
       t, 20, 1, 0, (g % 10 = 0)::int, 0, 0, t, t, t + interval '1 second'
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT timestamptz '2020-01-01' + g * interval '1 minute' AS t) AS times
"""


def _seed(db: Database, runs: int) -> float:
    """``runs`` runs of ``bench``, and a tenth as many of another workflow after them (so
    that the planner must pick the workflow's index, not just walk the primary key)."""
    started = time.perf_counter()
    with db.tx() as conn:
        for workflow, n in (("bench", runs), ("other", max(1, runs // 10))):
            conn.execute(text(SEED), {"n": n, "workflow": workflow})
            conn.execute(
                text("UPDATE workflows SET run_counter = :n WHERE id = :workflow"),
                {"n": n, "workflow": workflow},
            )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE runs"))
    return time.perf_counter() - started


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def _measure(client: TestClient, runs: int, samples: int, min_id: int) -> dict[str, Any]:
    url = "/api/v1/workflows/bench/runs"

    def page(**params: Any) -> Any:
        response = client.get(url, params={"limit": 50, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) == 50 or body["next_cursor"] is None
        return body

    for _ in range(20):  # warm up connections, caches and the plan
        page()
    first = [_timed(page)[0] for _ in range(samples)]
    followed, cursor = [], None
    for _ in range(samples):
        elapsed, body = _timed(lambda c=cursor: page(**({"cursor": c} if c else {})))
        followed.append(elapsed)
        cursor = body["next_cursor"]
    rng = random.Random(7)
    deep = []
    for _ in range(samples):
        before = min_id + rng.randrange(50, runs)
        deep.append(_timed(lambda b=before: page(cursor=encode_cursor(b)))[0])
    oldest = [_timed(lambda: page(cursor=encode_cursor(min_id + 60)))[0] for _ in range(samples)]
    failed = [_timed(lambda: page(status="FAILED"))[0] for _ in range(samples // 4)]
    return {
        "first_page": _percentiles(first),
        "pages_by_cursor": _percentiles(followed),
        "deep_pages": _percentiles(deep),
        "oldest_page": _percentiles(oldest),
        "status_filter_first_page": _percentiles(failed),
    }


def _plan(db: Database, before: int) -> dict[str, Any]:
    query = run_history_query("bench", before=before, limit=50)
    compiled = query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    sql = str(compiled)
    with db.read() as conn:
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")))
    index = next(
        (
            line.split(" using ")[1].split()[0]
            for line in plan.splitlines()
            if "Index" in line and " using " in line
        ),
        None,
    )
    uses_index = index is not None
    bad = [word for word in ("Seq Scan", "Sort") if word in plan]
    no_offset = "OFFSET" not in sql.upper() and "COUNT(" not in sql.upper()
    return {
        "sql": " ".join(sql.split()),
        "plan": plan.splitlines(),
        "index": index,
        "uses_index": uses_index,
        "no_offset_no_count": no_offset,
        "ok": uses_index and not bad and no_offset,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="Do not drop the database.")
    args = parser.parse_args()
    base = os.environ.get("MAESTRO_TEST_DATABASE_URL")
    if not base:
        print("set MAESTRO_TEST_DATABASE_URL to a PostgreSQL server", file=sys.stderr)
        return 2
    name, url = scratch.create_database(base)
    db = Database(url)
    try:
        home = Path(mkdtemp(prefix="maestro-bench-"))
        engine = Engine(db, load_settings(home=home, project_dir=home, database_url=url))
        with engine.unit() as u:
            for workflow in ("bench", "other"):
                submit(u, load_definition(WORKFLOW.format(id=workflow)))
        seconds = _seed(db, args.runs)
        with db.read() as conn:
            min_id = conn.execute(text("SELECT min(id) FROM runs")).scalar_one()
        with TestClient(create_app(engine, auth=False)) as client:
            timings = _measure(client, args.runs, args.samples, min_id)
        plan = _plan(db, before=min_id + args.runs // 2)
    finally:
        db.dispose()
        if not args.keep:
            scratch.drop_database(base, name)
    report = {
        "runs": args.runs,
        "seed_seconds": round(seconds, 1),
        "page_size": 50,
        "target_p95_ms": TARGET_P95_MS,
        **timings,
        "query_plan": plan,
    }
    print(json.dumps(report, indent=2))
    slow = [k for k, v in timings.items() if isinstance(v, dict) and v["p95_ms"] > TARGET_P95_MS]
    ok = plan["ok"] and not [k for k in slow if k != "status_filter_first_page"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
