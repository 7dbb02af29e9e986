"""The chaos soak (``bench/soak.py``) for 90 seconds, as CI runs it: two schedulers and two
workers killed at random, Redis restarted empty, PostgreSQL restarted, runs flowing all along;
then every run ended, no step succeeded twice, no work completed twice without a crash."""

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
    pytest.mark.timeout(900),
]
SECONDS = os.environ.get("MAESTRO_SOAK_SECONDS", "90")


def test_ninety_seconds_of_chaos_lose_nothing() -> None:
    done = subprocess.run(
        # faults a little more often than the default, so that 90 s see every kind
        [sys.executable, "-m", "bench.soak", "--seconds", SECONDS, "--rate", "60",
         "--faults-every", "2", "6", "--seed", "11"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )  # fmt: skip
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(report, indent=2)
    assert report["runs"] >= 30
    assert sum(report["faults"].values()) >= 10
    assert report["stuck_runs"] == 0 and report["duplicates"] == 0
    assert report["steps_succeeded_twice"] == 0
    assert report["unfinished_steps_of_ended_runs"] == 0
