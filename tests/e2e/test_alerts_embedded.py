"""Alerts in the embedded modes, as a user meets them: ``maestro standalone`` sends a failing
run's alert as soon as the run fails, and ``maestro run`` sends its run's alerts before it
exits. A real receiver on loopback; real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import Server
from tests.support.receiver import Receiver


def workflow(url: str) -> str:
    return f"""
id: alerting
owner: t
alerts: [{{on: run_failed, webhook: {{url: "{url}"}}}}]
steps:
  - {{id: load, type: shell, shell: {{command: "echo loading; exit 3"}}}}
"""


def test_standalone_posts_one_alert_when_a_run_fails(standalone: Server) -> None:
    receiver = Receiver().start()
    try:
        submitted = standalone.api(
            "POST",
            "/workflows",
            content=workflow(receiver.url),
            headers={"Content-Type": "application/yaml"},
        )
        assert submitted.status_code in (200, 201), submitted.text
        started = standalone.api("POST", "/workflows/alerting/runs", json={})
        assert started.status_code in (200, 201, 202), started.text
        run_id = started.json()["id"]
        deadline = time.monotonic() + 30
        while standalone.api("GET", f"/runs/{run_id}").json()["status"] != "FAILED":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        failed_at = time.monotonic()
        (got,) = receiver.wait_for(1)
        latency = time.monotonic() - failed_at
        print(f"alert received {latency * 1000:.0f} ms after the run was seen FAILED")
        assert latency < 5  # within one poll interval or so; measured, not a benchmark
        assert got.body["run_id"] == run_id and got.body["error"]
        time.sleep(1)
        assert len(receiver.received) == 1
    finally:
        receiver.stop()


def test_maestro_run_delivers_its_alert_before_it_exits(tmp_path: Path) -> None:
    receiver = Receiver().start()
    try:
        path = tmp_path / "alerting.yaml"
        path.write_text(workflow(receiver.url))
        env = {**os.environ, "MAESTRO_HOME": str(tmp_path / "home"), "MAESTRO_DATABASE_URL": ""}
        done = subprocess.run(
            [sys.executable, "-m", "maestro", "run", str(path), "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert len(receiver.received) == 1  # already there when the process has exited
        assert receiver.received[0].body["event"] == "run_failed"
    finally:
        receiver.stop()


def test_maestro_run_says_when_an_alert_could_not_be_delivered(tmp_path: Path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(workflow(Receiver().url))  # nothing listens there
    env = {
        **os.environ,
        "MAESTRO_HOME": str(tmp_path / "home"),
        "MAESTRO_DATABASE_URL": "",
        "MAESTRO_ALERT_TIMEOUT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "maestro", "run", str(path), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "1 alert not delivered yet" in done.stderr, done.stderr
