"""A chaos soak of the distributed mode: runs of mixed workflows keep flowing through two
``maestro scheduler`` and two ``maestro worker`` processes (PostgreSQL, Redis, all on loopback)
while workers and schedulers are SIGKILLed at random, Redis is restarted empty and PostgreSQL is
restarted. Then the faults stop and the soak checks that

- every run ended (none stuck), and no step of an ended run was left unfinished;
- no step has two SUCCEEDED attempts;
- no step's work completed twice without a crash in between: each shell step writes
  ``start``/``end`` lines with times to a ledger; a second ``end`` for the same step counts as a
  duplicate unless a worker was killed (or the database restarted) between the first end and
  the second start — at-least-once across a crash is the contract, twice without one is a bug.

It prints one JSON document (runs, faults by kind, duplicates, reruns after a crash, stuck,
recovery times: from each fault to the next attempt that succeeded, p50/p99/max) and exits 1
when anything is stuck or duplicated.

    python -m bench.soak [--minutes 10 | --seconds 90] [--rate 100] [--seed 7]

Needs ``MAESTRO_TEST_DATABASE_URL`` and ``MAESTRO_PG_CTL`` (``source scripts/pg.sh``) and
redis-server. A database of its own is created next to the given one and dropped at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bench import scratch
from maestro.states import RUN_TERMINAL, STEP_TERMINAL, AttemptStatus
from maestro.store import tables
from tests.support.cluster import Cluster, RedisServer

#: quick fault detection at this scale (the integration tests' settings)
FAST = {
    "MAESTRO_HEARTBEAT_INTERVAL": "0.3",
    "MAESTRO_HEARTBEAT_TIMEOUT": "3",
    "MAESTRO_REDISPATCH_AFTER": "3",
    "MAESTRO_POLL_INTERVAL": "0.5",
    "MAESTRO_KILL_GRACE": "1",
}
#: how long the runs may take to end once the faults stop, at most
SETTLE_SECONDS = 900
#: a run that has not ended when no run ended for this long is stuck
STALL_SECONDS = 90
#: the faults, and how often each is chosen
FAULTS = {"kill_worker": 5, "kill_scheduler": 3, "restart_redis": 1, "restart_postgres": 1}


def _shell(ledger: Path, seconds: float, gate: str = "") -> str:
    """A shell step that logs its work to the ledger: start, and end when it succeeds (after
    ``gate``, a command that may fail the attempt), with times."""
    tag = "$MAESTRO_RUN_ID/$MAESTRO_STEP_ID"
    return (
        f'echo "start {tag} $MAESTRO_ATTEMPT $(date +%s.%N)" >> {ledger}; sleep {seconds}; '
        f"{gate}"
        f'echo "end {tag} $MAESTRO_ATTEMPT $(date +%s.%N)" >> {ledger}'
    )


def workflows(ledger: Path) -> dict[str, str]:
    """Mixed shapes: a chain, a fan-out and join, a foreach, a step that fails once, a slow
    step (the one most often caught by a kill)."""
    step = _shell(ledger, 0.2)
    slow = _shell(ledger, 3)
    flaky = _shell(ledger, 0.1, gate='test "$MAESTRO_ATTEMPT" -gt 1 || exit 1; ')
    fan = "\n".join(f"  - {{id: f{i}, type: noop, depends_on: [root]}}" for i in range(10))
    joins = ", ".join(f"f{i}" for i in range(10))
    return {
        "soak-chain": f"""
id: soak-chain
owner: soak
steps:
  - {{id: a, type: shell, shell: {{command: '{step}'}}}}
  - {{id: b, type: shell, depends_on: [a], shell: {{command: '{step}'}}}}
  - {{id: c, type: noop, depends_on: [b]}}
  - {{id: d, type: shell, depends_on: [c], shell: {{command: '{step}'}}}}
""",
        "soak-fan": f"""
id: soak-fan
owner: soak
steps:
  - {{id: root, type: shell, shell: {{command: '{step}'}}}}
{fan}
  - {{id: join, type: shell, depends_on: [{joins}], shell: {{command: '{step}'}}}}
""",
        "soak-foreach": f"""
id: soak-foreach
owner: soak
steps:
  - id: each
    type: foreach
    foreach:
      items: "[1, 2, 3, 4, 5]"
      as: n
      concurrency: 3
      steps:
        - {{id: body, type: shell, shell: {{command: '{step}'}}}}
""",
        "soak-retry": f"""
id: soak-retry
owner: soak
steps:
  - id: flaky
    type: shell
    retries: {{limit: 2, delay: 1s}}
    shell: {{command: '{flaky}'}}
  - {{id: after, type: noop, depends_on: [flaky]}}
""",
        "soak-slow": f"""
id: soak-slow
owner: soak
steps:
  - {{id: slow, type: shell, shell: {{command: '{slow}'}}}}
  - {{id: then, type: shell, depends_on: [slow], shell: {{command: '{step}'}}}}
""",
    }


@dataclass
class Soak:
    cluster: Cluster
    redis: RedisServer
    ledger: Path
    rng: random.Random
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    runs: list[int] = field(default_factory=list)
    #: (time.time(), kind) of every fault
    faults: list[tuple[float, str]] = field(default_factory=list)
    start_failures: int = 0
    #: the workflows' YAML by id
    texts: dict[str, str] = field(default_factory=dict)

    # -- processes ---------------------------------------------------------------------

    def spawn(self, name: str) -> None:
        if name.startswith("scheduler"):
            self.procs[name] = self.cluster.scheduler(name)
        else:
            self.procs[name] = self.cluster.worker(name, "default", 4, "threads")

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def restart_postgres(self) -> None:
        ctl = shlex.split(os.environ["MAESTRO_PG_CTL"])
        subprocess.run(
            [*ctl, "restart", "-m", "fast", "-w"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    # -- the load ----------------------------------------------------------------------

    def feed(self, stop: threading.Event, rate_per_minute: float, names: list[str]) -> None:
        """Start runs at a steady rate until ``stop``; a start that meets a restart is
        tried again later (counted)."""
        interval = 60.0 / rate_per_minute
        while not stop.is_set():
            name = self.rng.choice(names)
            try:
                self.runs.append(self.cluster.start_run(self.texts[name]))
            except OperationalError:
                self.start_failures += 1
            stop.wait(interval)

    # -- the chaos ---------------------------------------------------------------------

    def chaos(self, stop: threading.Event, every: tuple[float, float]) -> None:
        kinds = list(FAULTS)
        weights = [FAULTS[k] for k in kinds]
        first = self.rng.sample(kinds, len(kinds))  # every kind once, then as weighted
        while not stop.wait(self.rng.uniform(*every)):
            kind = first.pop() if first else self.rng.choices(kinds, weights)[0]
            if kind == "kill_worker":
                name = self.rng.choice(["worker-1", "worker-2"])
                self.faults.append((time.time(), kind))
                self.kill(name)
                stop.wait(self.rng.uniform(0.5, 3))
                self.spawn(name)
            elif kind == "kill_scheduler":
                name = self.rng.choice(["scheduler-1", "scheduler-2"])
                self.faults.append((time.time(), kind))
                self.kill(name)
                stop.wait(self.rng.uniform(0.5, 5))
                self.spawn(name)
            elif kind == "restart_redis":
                self.faults.append((time.time(), kind))
                self.redis.stop()
                time.sleep(self.rng.uniform(0.2, 2))
                self.redis.start()  # the same port, nothing in it
            else:
                self.faults.append((time.time(), kind))
                self.restart_postgres()


# -- the checks ------------------------------------------------------------------------------


def _settle(soak: Soak, timeout: float) -> list[int]:
    """Wait for every run to end while runs keep ending (a backlog being worked off is not
    stuck): the ids of those that did not end once ``STALL_SECONDS`` passed without any run
    ending, or after ``timeout`` in all."""
    deadline = time.monotonic() + timeout
    progress = time.monotonic()
    pending = list(soak.runs)
    R = tables.runs
    while pending and time.monotonic() < deadline and time.monotonic() - progress < STALL_SECONDS:
        try:
            with soak.cluster.engine.db.read() as conn:
                ended = {
                    r.id
                    for r in conn.execute(
                        select(R.c.id).where(
                            R.c.id.in_(pending), R.c.status.in_([s.value for s in RUN_TERMINAL])
                        )
                    )
                }
        except OperationalError:
            ended = set()
        if ended:
            progress = time.monotonic()
        pending = [r for r in pending if r not in ended]
        if pending:
            time.sleep(1)
    return pending


def _ledger(path: Path) -> dict[str, list[tuple[str, float]]]:
    """Per step (``run/step``): its ``start``/``end`` marks in order of time."""
    marks: dict[str, list[tuple[str, float]]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                marks[parts[1]].append((parts[0], float(parts[3])))
    for entries in marks.values():
        entries.sort(key=lambda e: e[1])
    return marks


def duplicates(marks: dict[str, list[tuple[str, float]]], crashes: list[float]) -> tuple[int, int]:
    """(work completed twice with no crash between, reruns after a crash)."""
    bad = rerun = 0
    for entries in marks.values():
        ends = [t for kind, t in entries if kind == "end"]
        for first, second_end in itertools.pairwise(ends):
            starts = [t for kind, t in entries if kind == "start" and first < t <= second_end]
            second_start = starts[0] if starts else second_end
            if any(first - 1.0 <= c <= second_start for c in crashes):
                rerun += 1
            else:
                bad += 1
    return bad, rerun


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _store_checks(soak: Soak) -> dict[str, Any]:
    A, S, R = tables.attempts, tables.step_runs, tables.runs
    with soak.cluster.engine.db.read() as conn:
        twice = conn.execute(
            select(func.count()).select_from(
                select(A.c.step_run_id)
                .where(A.c.status == AttemptStatus.SUCCEEDED.value)
                .group_by(A.c.step_run_id)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
        unfinished = conn.execute(
            select(func.count())
            .select_from(S.join(R, R.c.id == S.c.run_id))
            .where(
                R.c.status.in_([s.value for s in RUN_TERMINAL]),
                S.c.status.not_in([s.value for s in STEP_TERMINAL]),
            )
        ).scalar_one()
        statuses = Counter(
            {
                row.status: row.n
                for row in conn.execute(
                    select(R.c.status, func.count().label("n"))
                    .where(R.c.id.in_(soak.runs))
                    .group_by(R.c.status)
                )
            }
        )
        ends = sorted(
            t.timestamp()
            for (t,) in conn.execute(
                select(A.c.ended_at).where(
                    A.c.status == AttemptStatus.SUCCEEDED.value, A.c.ended_at.is_not(None)
                )
            )
        )
        attempts = Counter(
            {
                row.status: row.n
                for row in conn.execute(
                    select(A.c.status, func.count().label("n")).group_by(A.c.status)
                )
            }
        )
        lost = conn.execute(
            select(A.c.step_run_id, A.c.ended_at).where(
                A.c.status == AttemptStatus.LOST.value, A.c.ended_at.is_not(None)
            )
        ).all()
        done = {
            row.step_run_id: row.ended_at.timestamp()
            for row in conn.execute(
                select(A.c.step_run_id, A.c.ended_at).where(
                    A.c.status == AttemptStatus.SUCCEEDED.value,
                    A.c.step_run_id.in_({r.step_run_id for r in lost}),
                )
            )
        }
    recovery = []
    for at, _ in soak.faults:
        later = next((e for e in ends if e > at), None)
        if later is not None:
            recovery.append(later - at)
    # a step whose worker was killed under it: from the kill to the step's success elsewhere
    kills = sorted(t for t, kind in soak.faults if kind == "kill_worker")
    lost_recovery = []
    for row in lost:
        before = [k for k in kills if k <= row.ended_at.timestamp()]
        if before and row.step_run_id in done:
            lost_recovery.append(done[row.step_run_id] - before[-1])
    return {
        "steps_succeeded_twice": twice,
        "unfinished_steps_of_ended_runs": unfinished,
        "runs_by_status": dict(statuses),
        "attempts_by_status": dict(attempts),
        # from each fault to the next attempt that succeeded anywhere (the cluster works again)
        "recovery_seconds": {
            "p50": _percentile(recovery, 0.5),
            "p99": _percentile(recovery, 0.99),
            "max": _percentile(recovery, 1.0),
        },
        # from a worker's kill to the success elsewhere of each step it was running
        "lost_step_recovery_seconds": {
            "steps": len(lost_recovery),
            "p50": _percentile(lost_recovery, 0.5),
            "p99": _percentile(lost_recovery, 0.99),
            "max": _percentile(lost_recovery, 1.0),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10.0)
    length.add_argument("--seconds", type=float)
    parser.add_argument("--rate", type=float, default=100.0, help="Runs started per minute.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--faults-every",
        type=float,
        nargs=2,
        default=(3.0, 8.0),
        metavar=("MIN", "MAX"),
        help="Seconds between faults, drawn uniformly.",
    )
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    base = os.environ.get("MAESTRO_TEST_DATABASE_URL")
    if not base or not os.environ.get("MAESTRO_PG_CTL"):
        print(
            "source scripts/pg.sh first (MAESTRO_TEST_DATABASE_URL, MAESTRO_PG_CTL)",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="maestro-soak-"))
    (work / "home").mkdir()
    name, url = scratch.create_database(base, "maestro_soak")
    redis = RedisServer(work)
    redis.start()
    cluster = Cluster(url, redis.url, work / "home", env=FAST)
    soak = Soak(cluster, redis, work / "ledger", random.Random(args.seed))
    soak.texts = workflows(soak.ledger)
    started = time.monotonic()
    try:
        for proc in ("scheduler-1", "scheduler-2", "worker-1", "worker-2"):
            soak.spawn(proc)
        stop = threading.Event()
        feeder = threading.Thread(
            target=soak.feed, args=(stop, args.rate, sorted(soak.texts)), daemon=True
        )
        chaos = threading.Thread(
            target=soak.chaos, args=(stop, tuple(args.faults_every)), daemon=True
        )
        feeder.start()
        chaos.start()
        stop.wait(seconds)
        stop.set()
        feeder.join(30)
        chaos.join(120)
        for proc_name, proc in soak.procs.items():  # every process back for the settling
            if proc.poll() is not None:
                soak.spawn(proc_name)
        settling = time.monotonic()
        stuck = _settle(soak, SETTLE_SECONDS)
        settled_in = time.monotonic() - settling
        store = _store_checks(soak)
        crashes = [t for t, kind in soak.faults if kind in ("kill_worker", "restart_postgres")]
        duplicated, reruns = duplicates(_ledger(soak.ledger), crashes)
    finally:
        cluster.close()
        redis.stop()
        if cluster._engine is not None:
            cluster._engine.db.dispose()
        scratch.drop_database(base, name)
    report = {
        "seconds_of_faults": round(seconds, 1),
        "seconds_total": round(time.monotonic() - started, 1),
        "seconds_to_finish_after_the_faults": round(settled_in, 1),
        "runs": len(soak.runs),
        "run_starts_refused_by_a_restart": soak.start_failures,
        "faults": dict(Counter(kind for _, kind in soak.faults)),
        "duplicates": duplicated,
        "reruns_after_a_crash": reruns,
        "stuck_runs": len(stuck),
        "stuck_run_ids": stuck[:20],
        **store,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    healthy = (
        not stuck
        and duplicated == 0
        and store["steps_succeeded_twice"] == 0
        and store["unfinished_steps_of_ended_runs"] == 0
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
