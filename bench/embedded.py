"""Embedded-mode benchmarks: step handoff on chains, throughput on a fan-out.

    python -m bench.embedded [--chain 100 --chain 1000] [--fanout 1000] [--repeat 3]

Every transition is committed to the SQLite store (WAL, synchronous=NORMAL) as in
``maestro run``. Handoff = downstream attempt started (claimed by a worker) − upstream attempt
ended, read from the recorded timestamps. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from maestro.cli import embedded
from maestro.definition import parse_definition
from maestro.engine.actions import start_run_now
from maestro.engine.workflows import submit
from maestro.settings import load_settings
from maestro.states import RUN_TERMINAL
from maestro.store import tables


def chain(n: int) -> dict[str, Any]:
    steps = [{"id": "s0", "type": "noop"}] + [
        {"id": f"s{i}", "type": "noop", "depends_on": [f"s{i - 1}"]} for i in range(1, n)
    ]
    return {"id": f"chain-{n}", "owner": "bench", "steps": steps}


def fanout(n: int) -> dict[str, Any]:
    steps = [{"id": f"s{i}", "type": "noop"} for i in range(n)]
    return {"id": f"fanout-{n}", "owner": "bench", "max_active_steps": 1000, "steps": steps}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_once(doc: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=Path(home), database_url="")
        scope: set[int] = set()
        with embedded(settings, scope) as env:
            eng = env.engine
            definition = parse_definition(doc)
            with eng.unit() as u:
                submitted = submit(u, definition)
            eng.versions.put(definition.id, submitted.version, definition)
            wall = time.perf_counter()
            # started as the REST API, the CLI and the web view start a run
            run_id = start_run_now(eng, definition.id, "bench").run_id
            scope.add(run_id)
            while True:
                with eng.db.read() as conn:
                    status = conn.execute(
                        select(tables.runs.c.status).where(tables.runs.c.id == run_id)
                    ).scalar()
                if status in RUN_TERMINAL:
                    break
                time.sleep(0.05)  # coarse: the run records its own end time
            wall = time.perf_counter() - wall
            return {"status": status, "wall_seconds": wall, **_timings(eng.db, run_id)}


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The embedded targets of issue "The hot path at the floor", next to what was measured."""
    rows = []
    for r in results:
        if r["scenario"] == "chain-100":
            rows.append(_target("chain-100 handoff p50 (ms)", r["handoff_ms_p50"], 0.5, True))
            rows.append(
                _target(
                    "chain-100 per step incl. run start (ms)",
                    r["per_step_incl_start_ms_median"],
                    1.0,
                    True,
                )
            )
        if r["scenario"] == "fanout-1000":
            rows.append(_target("fan-out-1000 steps/s", r["steps_per_second_median"], 2000, False))
    return rows


def _target(name: str, value: float, bound: float, at_most: bool) -> dict[str, Any]:
    met = value <= bound if at_most else value >= bound
    return {
        "name": name,
        "value": value,
        "target": f"{'<=' if at_most else '>='} {bound}",
        "met": met,
    }


def _timings(db: Any, run_id: int) -> dict[str, Any]:
    a, s, r = tables.attempts, tables.step_runs, tables.runs
    with db.read() as conn:
        rows = conn.execute(
            select(s.c.step_id, a.c.started_at, a.c.ended_at)
            .join(s, s.c.id == a.c.step_run_id)
            .where(a.c.run_id == run_id)
        ).all()
        run = conn.execute(
            select(r.c.created_at, r.c.started_at, r.c.ended_at).where(r.c.id == run_id)
        ).one()
    by_step = {row.step_id: row for row in rows}
    handoffs = []
    for i in range(1, len(by_step)):
        up, down = by_step.get(f"s{i - 1}"), by_step.get(f"s{i}")
        if up is None or down is None:
            break
        handoffs.append((down.started_at - up.ended_at).total_seconds() * 1000)
    return {
        "steps": len(by_step),
        "run_seconds": (run.ended_at - run.started_at).total_seconds(),
        #: from the run's creation: its start is part of the cost
        "created_to_end_seconds": (run.ended_at - run.created_at).total_seconds(),
        "handoffs_ms": handoffs,
    }


def chain_result(n: int, repeat: int) -> dict[str, Any]:
    runs = [run_once(chain(n)) for _ in range(repeat)]
    handoffs = [h for r in runs for h in r["handoffs_ms"]]
    per_step = statistics.median(r["run_seconds"] / n * 1000 for r in runs)
    with_start = statistics.median(r["created_to_end_seconds"] / n * 1000 for r in runs)
    return {
        "scenario": f"chain-{n}",
        "steps": n,
        "repeat": repeat,
        "status": sorted({r["status"] for r in runs}),
        "handoff_ms_p50": round(percentile(handoffs, 0.50), 3),
        "handoff_ms_p99": round(percentile(handoffs, 0.99), 3),
        "per_step_ms_median": round(per_step, 3),
        "per_step_incl_start_ms_median": round(with_start, 3),
        "run_seconds_median": round(statistics.median(r["run_seconds"] for r in runs), 3),
    }


def fanout_result(n: int, repeat: int) -> dict[str, Any]:
    runs = [run_once(fanout(n)) for _ in range(repeat)]
    rates = [n / r["run_seconds"] for r in runs]
    return {
        "scenario": f"fanout-{n}",
        "steps": n,
        "repeat": repeat,
        "status": sorted({r["status"] for r in runs}),
        "steps_per_second_median": round(statistics.median(rates), 1),
        "run_seconds_median": round(statistics.median(r["run_seconds"] for r in runs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, action="append", help="chain length (repeatable)")
    parser.add_argument("--fanout", type=int, action="append", help="fan-out width (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chains = args.chain or [100, 1000]
    fanouts = args.fanout or [1000]
    results = [chain_result(n, args.repeat) for n in chains]
    results += [fanout_result(n, args.repeat) for n in fanouts]
    doc: dict[str, Any] = {
        "benchmark": "embedded",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "results": results,
    }
    small = next((r for r in results if r["scenario"] == f"chain-{min(chains)}"), None)
    large = next((r for r in results if r["scenario"] == f"chain-{max(chains)}"), None)
    if small and large and small is not large:
        doc["per_step_cost_ratio_large_vs_small"] = round(
            large["per_step_ms_median"] / small["per_step_ms_median"], 3
        )
    doc["targets"] = _targets(results)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
