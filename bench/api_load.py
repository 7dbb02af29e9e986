"""The API under load and under database loss: N run starts through REST from T threads
against a real ``maestro server`` (uvicorn, PostgreSQL, Redis), with PostgreSQL restarted in
the middle. Each start carries an ``Idempotency-Key``; a 503 (the database is out of reach)
is retried after its ``Retry-After``, as a client should. Prints JSON: answers by status,
latency p50/p99 of the starts (the successful answer's own time), how long the API answered
503, and the runs in the store — exactly N when nothing was lost or doubled. Exits 1 on any
5xx but 503, a 503 without ``Retry-After``, or a run count other than N.

    python -m bench.api_load [--starts 500] [--threads 8] [--no-restart]

Needs ``MAESTRO_TEST_DATABASE_URL`` and ``MAESTRO_PG_CTL`` (``source scripts/pg.sh``) and
redis-server; a database of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import scratch
from maestro.clock import SystemClock
from maestro.store import tables
from maestro.store.db import Database
from maestro.store.tokens import Scope, create_token
from tests.support.cluster import ROOT, RedisServer, free_port

R = tables.runs
WORKFLOW = "id: load\nowner: bench\nsteps:\n  - {id: a, type: noop}\n"


@dataclass
class Tally:
    answers: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    first_503: float | None = None
    last_503: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_server(url: str, broker: str, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAESTRO_DATABASE_URL": url,
        "MAESTRO_BROKER_URL": broker,
        "MAESTRO_HOME": str(home),
        "MAESTRO_PROJECT_DIR": str(home),
        "PYTHONPATH": str(ROOT),
    }
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "maestro", "server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"maestro server did not start: {(home / 'server.log').read_text()}")


def _start_one(client: httpx.Client, tally: Tally) -> None:
    """One run start, retried on 503 after Retry-After with the same Idempotency-Key."""
    key = uuid.uuid4().hex
    for _ in range(200):
        began = time.perf_counter()
        try:
            answer = client.post(
                "/api/v1/workflows/load/runs", json={}, headers={"Idempotency-Key": key}
            )
        except httpx.TransportError as exc:  # the server itself never went away
            with tally.lock:
                tally.bad.append(f"transport error: {exc}")
            return
        elapsed = (time.perf_counter() - began) * 1000
        with tally.lock:
            tally.answers[answer.status_code] += 1
            if answer.status_code == 503:
                now = time.monotonic()
                tally.first_503 = tally.first_503 or now
                tally.last_503 = now
                if not answer.headers.get("Retry-After", "").isdigit():
                    tally.bad.append("503 without Retry-After")
            elif answer.status_code in (200, 201):
                tally.latencies_ms.append(elapsed)
            else:
                tally.bad.append(f"{answer.status_code}: {answer.text[:200]}")
        if answer.status_code in (200, 201):
            return
        if answer.status_code != 503:
            return
        time.sleep(min(1.0, float(answer.headers.get("Retry-After", "1"))))
    with tally.lock:
        tally.bad.append("a start never succeeded")


def load(base_url: str, token: str, starts: int, threads: int, restart: bool) -> dict[str, Any]:
    tally = Tally()
    jobs = list(range(starts))
    jobs_lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            while True:
                with jobs_lock:
                    if not jobs:
                        return
                    jobs.pop()
                _start_one(client, tally)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.monotonic()
    for t in pool:
        t.start()
    restarted_at = None
    if restart:
        while len(tally.latencies_ms) < starts // 3 and any(t.is_alive() for t in pool):
            time.sleep(0.01)
        ctl = shlex.split(os.environ["MAESTRO_PG_CTL"])
        restarted_at = time.monotonic()
        subprocess.run([*ctl, "stop", "-m", "fast", "-w"], check=True, capture_output=True)
        time.sleep(2)  # the database stays down a moment: the API answers 503 meanwhile
        subprocess.run([*ctl, "start", "-w"], check=True, capture_output=True)
    for t in pool:
        t.join()
    ordered = sorted(tally.latencies_ms)
    return {
        "starts": starts,
        "threads": threads,
        "seconds": round(time.monotonic() - began, 2),
        "answers": {str(k): v for k, v in sorted(tally.answers.items())},
        "latency_ms": {
            "p50": round(statistics.median(ordered), 1) if ordered else None,
            "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
            "max": round(ordered[-1], 1) if ordered else None,
        },
        "database_down_at_s": round(restarted_at - began, 2) if restarted_at else None,
        "answered_503_for_s": (
            round(tally.last_503 - tally.first_503, 2)
            if tally.first_503 is not None and tally.last_503 is not None
            else 0.0
        ),
        "problems": tally.bad[:20],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--starts", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-restart", action="store_true", help="Keep the database up.")
    args = parser.parse_args()
    base = os.environ.get("MAESTRO_TEST_DATABASE_URL")
    if not base or not os.environ.get("MAESTRO_PG_CTL"):
        print("source scripts/pg.sh first: it sets MAESTRO_TEST_DATABASE_URL and MAESTRO_PG_CTL")
        return 2
    work = Path(tempfile.mkdtemp(prefix="maestro-api-load-"))
    name, url = scratch.create_database(base, "maestro_api_load")
    redis = RedisServer(work)
    redis.start()
    db = Database(url, pre_ping=True)  # its connections outlive the restart
    server = None
    try:
        with db.tx() as conn:
            token = create_token(conn, "load", Scope.admin, [], SystemClock().now())
        port = free_port()
        server = start_server(url, redis.url, work, port)
        base_url = f"http://127.0.0.1:{port}"
        created = httpx.post(
            f"{base_url}/api/v1/workflows",
            content=WORKFLOW,
            headers={"Content-Type": "application/yaml", "Authorization": f"Bearer {token}"},
            timeout=30,
        )
        created.raise_for_status()
        report = load(base_url, token, args.starts, args.threads, not args.no_restart)
        runs = _runs(db)
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        redis.stop()
        db.dispose()
        scratch.drop_database(base, name)
    report["runs_in_the_store"] = runs
    print(json.dumps(report, indent=2))
    ok = not report["problems"] and runs == args.starts
    other_5xx = [k for k in report["answers"] if k.startswith("5") and k != "503"]
    return 0 if ok and not other_5xx else 1


def _runs(db: Database) -> int:
    with db.read() as conn:
        n: int = conn.execute(
            select(func.count()).select_from(R).where(R.c.workflow_id == "load")
        ).scalar_one()
    return n


if __name__ == "__main__":
    sys.exit(main())
