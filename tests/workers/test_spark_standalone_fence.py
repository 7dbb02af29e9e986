"""A lost attempt's cluster-mode Spark driver is killed before the step runs again — on a real
standalone cluster (the Master and Worker that pyspark ships, on loopback).

The "worker" is a process running a spark step in cluster mode; it is SIGKILLed while the
driver runs. Its ``spark-submit`` client dies with it (the warden), but the driver lives on
the standalone Worker — the orphan. The retry's fence, given the submission id the lost
attempt recorded, kills it: the Master then reports the driver KILLED.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workers.conftest import NewCtx
from workers.runtimes.spark import SparkRuntime

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK (javac) for the driver"),
    pytest.mark.timeout(180),
]
SPARK_HOME = Path(pyspark.__file__).parent
SLEEPER = "public class Sleeper { public static void main(String[] a) throws Exception "
SLEEPER += "{ Thread.sleep(120000); } }"

WORKER = textwrap.dedent(
    """
    import json, sys, threading
    from pathlib import Path
    from workers.runtimes.base import RuntimeContext
    from workers.runtimes.spark import SparkRuntime

    tmp, settings = Path(sys.argv[1]), json.loads(sys.argv[2])
    (tmp / "work").mkdir(exist_ok=True)
    ctx = RuntimeContext(
        attempt_id=1, run_id=1, step_id="step", attempt_number=1, step_type="spark",
        settings=settings, env={}, project_dir=tmp, work_dir=tmp / "work",
        log=open(tmp / "lost-attempt.log", "ab"), cancel=threading.Event(),
        set_external_id=lambda ext: (tmp / "external-id").write_text(ext),
    )
    SparkRuntime().run(ctx)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _daemon(cls: str, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the daemon has its own copy
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), cls, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


class Standalone:
    def __init__(self, master: str, ui: int) -> None:
        self.master, self.ui = master, ui

    def drivers(self) -> dict[str, str]:
        """Driver id → state, active and completed, as the Master reports them."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui}/json/", timeout=5) as answer:
            state = json.load(answer)
        listed = state.get("activedrivers", []) + state.get("completeddrivers", [])
        return {d["id"]: d["state"] for d in listed}


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Standalone]:
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }
    master = f"spark://127.0.0.1:{port}"
    logs = tmp_path / "cluster"
    logs.mkdir()
    procs = [
        _daemon(
            "org.apache.spark.deploy.master.Master",
            ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
            logs / "master.log",
            env,
        )
    ]
    try:
        _wait_for(lambda: "elected leader" in (logs / "master.log").read_text(), "the master")
        procs.append(
            _daemon(
                "org.apache.spark.deploy.worker.Worker",
                [
                    master,
                    "--host",
                    "127.0.0.1",
                    "--webui-port",
                    str(worker_ui),
                    "--cores",
                    "1",
                    "--memory",
                    "512m",
                    "--work-dir",
                    str(logs / "work"),
                ],
                logs / "worker.log",
                env,
            )
        )
        _wait_for(
            lambda: "Successfully registered" in (logs / "worker.log").read_text(), "the worker"
        )
        yield Standalone(master, ui)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _sleeper_jar(folder: Path) -> Path:
    (folder / "Sleeper.java").write_text(SLEEPER)
    subprocess.run(["javac", "Sleeper.java"], cwd=folder, check=True)
    subprocess.run(["jar", "cf", "sleeper.jar", "Sleeper.class"], cwd=folder, check=True)
    return folder / "sleeper.jar"


def test_a_lost_attempts_standalone_driver_is_killed_before_the_retry(
    standalone: Standalone, tmp_path: Path, new_ctx: NewCtx
) -> None:
    settings = {
        "application": str(_sleeper_jar(tmp_path)),
        "main_class": "Sleeper",
        "master": standalone.master,
        "deploy_mode": "cluster",
        "driver_memory": "256m",  # the Worker offers 512m
        "conf": {"spark.standalone.submit.waitAppCompletion": "true", "spark.ui.enabled": "false"},
    }
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP="127.0.0.1")
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path), json.dumps(settings)], env=env
    )
    try:
        recorded = tmp_path / "external-id"
        driver = _wait_for(lambda: recorded.exists() and recorded.read_text(), "the driver id")
        assert driver.startswith("driver-"), driver  # the submission id, what --kill takes
        _wait_for(
            lambda: standalone.drivers().get(driver) == "RUNNING",
            f"the driver running (the master says {standalone.drivers()})",
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    time.sleep(1.0)
    assert standalone.drivers()[driver] == "RUNNING"  # the orphan: its client died, not it

    ctx, _ = new_ctx(
        "spark",
        settings,
        env={"SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"},
        attempt=2,
    )
    SparkRuntime().fence(ctx, driver)

    _wait_for(lambda: standalone.drivers().get(driver) == "KILLED", "the driver killed", 60)
    log = ctx.log.name
    text = Path(log).read_text()
    assert f"killing {driver}" in text and "org.apache.spark.deploy.Client kill" in text
