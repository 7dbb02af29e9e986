"""MAESTRO_LOG_FORMAT=json: one JSON object per line, with the ids a call site passes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from maestro.log_format import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def test_a_record_becomes_one_json_line_with_its_extras() -> None:
    logger = logging.getLogger("maestro.test")
    record = logger.makeRecord(
        "maestro.test",
        logging.WARNING,
        __file__,
        1,
        "step %s failed",
        ("load",),
        None,
        extra={"run_id": 42, "attempt_id": 7},
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["level"] == "WARNING" and doc["logger"] == "maestro.test"
    assert doc["message"] == "step load failed"
    assert (doc["run_id"], doc["attempt_id"]) == (42, 7)
    assert doc["ts"].endswith("+00:00")


def test_an_exception_is_kept_in_the_line() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    doc = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in doc["exc"]


def test_a_process_logs_json_lines_on_stderr(tmp_path: Path) -> None:
    """``maestro run`` with an alert that cannot be delivered: its warning is a JSON line."""
    workflow = tmp_path / "w.yaml"
    workflow.write_text(
        "id: w\nowner: t\n"
        "alerts: [{on: run_failed, webhook: {url: 'http://127.0.0.1:9/x'}}]\n"
        "steps: [{id: a, type: shell, shell: {command: 'exit 1'}}]\n"
    )
    env = {
        **os.environ,
        "MAESTRO_HOME": str(tmp_path / "home"),
        "MAESTRO_DATABASE_URL": "",
        "MAESTRO_LOG_FORMAT": "json",
        "MAESTRO_ALERT_TIMEOUT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "maestro", "run", str(workflow), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    (warning,) = [doc for doc in lines if doc["logger"] == "maestro.alerts.sender"]
    assert warning["level"] == "WARNING" and warning["event"] == "run_failed"
    assert warning["channel"] == "webhook" and isinstance(warning["alert_id"], int)
