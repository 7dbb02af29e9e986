"""The API under load and database loss (issue 17, item 4), with a real ``maestro server``:
500 run starts through REST from 8 threads while PostgreSQL stops for 2 s and comes back. The
API answers 503 with Retry-After meanwhile (never another 5xx), recovers by itself, and the
clients' retries with their Idempotency-Key leave exactly 500 runs (``bench/api_load.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import needs_services
from tests.support.cluster import ROOT

pytestmark = [
    needs_services,
    pytest.mark.skipif(not os.environ.get("MAESTRO_PG_CTL"), reason="needs MAESTRO_PG_CTL (pg.sh)"),
    pytest.mark.timeout(300),
]


def test_500_starts_from_8_threads_through_a_database_restart() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.api_load", "--starts", "500", "--threads", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(report, indent=2)
    assert report["runs_in_the_store"] == 500 and not report["problems"]
    # 201: created; 200: a retry whose first try had committed before the outage cut its
    # answer off, answered with that run (the Idempotency-Key) — never a second run
    assert report["answers"].get("201", 0) + report["answers"].get("200", 0) == 500
    assert report["answers"].get("503", 0) > 0, "the restart was not seen: no 503 at all"
    assert {k for k in report["answers"] if k.startswith("5")} <= {"503"}
