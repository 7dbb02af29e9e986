"""foreach at scale, embedded: a foreach of N no-op bodies completes, and memory stays flat.

    python -m bench.foreach [--items 1000 --items 10000 --items 25000]

Each size runs in a fresh subprocess so that its peak RSS is its own. Prints one JSON
document: seconds, iterations per second and peak RSS per size, and ``targets``: the
iterations/s of the 10,000-item foreach and the peak RSS of the largest size over the
smallest's, next to their targets. ``make bench`` runs it after ``bench.embedded``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select


def foreach_doc(items: int) -> dict[str, Any]:
    """A workflow of one foreach over ``items`` no-op bodies, 64 at a time."""
    return {
        "id": f"foreach-{items}",
        "owner": "bench",
        "steps": [
            {
                "id": "fan",
                "type": "foreach",
                "foreach": {
                    "items": f"range({items}) | list",
                    "concurrency": 64,
                    "steps": [{"id": "body", "type": "noop"}],
                },
            }
        ],
    }


def one(items: int) -> dict[str, Any]:
    """Run one foreach of ``items`` no-op bodies in this process; report time and memory."""
    from maestro.cli import embedded
    from maestro.definition import parse_definition
    from maestro.engine.actions import start_run_now
    from maestro.engine.workflows import submit
    from maestro.settings import load_settings
    from maestro.states import RUN_TERMINAL
    from maestro.store import tables

    doc = foreach_doc(items)
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=Path(home), database_url="")
        scope: set[int] = set()
        with embedded(settings, scope) as env:
            eng = env.engine
            definition = parse_definition(doc)
            with eng.unit() as u:
                submit(u, definition)
            started = time.perf_counter()
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
                time.sleep(0.2)
            seconds = time.perf_counter() - started
    return {
        "items": items,
        "status": status,
        "seconds": round(seconds, 2),
        "iterations_per_second": round(items / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


#: issue "The hot path at the floor": embedded iterations per second of a 10,000-item foreach
TARGET_ITERATIONS_PER_SECOND = 1000.0


def measure(sizes: list[int]) -> list[dict[str, Any]]:
    """Each size in a fresh subprocess, so that its peak RSS is its own."""
    results = []
    for items in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.foreach", "--one", str(items)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The foreach targets next to what was measured: iterations/s of the largest size up to
    10,000, and memory: the peak RSS of the largest size over that of the smallest."""
    rows: list[dict[str, Any]] = []
    rated = [r for r in results if r["items"] <= 10_000] or results
    if rated:
        best = max(rated, key=lambda r: r["items"])
        rate = best["iterations_per_second"]
        rows.append(
            {
                "name": f"foreach of {best['items']} no-op bodies: iterations/s",
                "value": rate,
                "target": f">= {TARGET_ITERATIONS_PER_SECOND:g}",
                "met": rate >= TARGET_ITERATIONS_PER_SECOND,
            }
        )
    if len(results) > 1:
        small = min(results, key=lambda r: r["items"])
        large = max(results, key=lambda r: r["items"])
        growth = large["peak_rss_mb"] / small["peak_rss_mb"]
        rows.append(
            {
                "name": f"peak RSS, {large['items']} items / {small['items']} items",
                "value": round(growth, 3),
                "target": "<= 1.2 (flat)",
                "met": growth <= 1.2,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, action="append")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    results = measure(args.items or [1000, 10000, 25000])
    print(
        json.dumps(
            {
                "benchmark": "foreach",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "results": results,
                "targets": targets(results),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
