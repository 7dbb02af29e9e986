"""Real processes for integration tests and distributed benchmarks: a Redis server, and
``maestro scheduler`` / ``maestro worker`` subprocesses on a shared PostgreSQL database.

Everything listens on 127.0.0.1; everything started here is stopped by ``close()``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy.exc import OperationalError

from maestro.definition import load_definition
from maestro.engine.core import Engine
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.reads import RunView, run_status, run_view
from maestro.settings import load_settings
from maestro.states import RUN_TERMINAL
from maestro.store.db import Database
from workers.celery_app import CeleryDispatcher, create_celery_app

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on loopback that keeps nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart_empty(self) -> None:
        """Crash and come back with nothing in it (messages in flight are gone)."""
        self.stop()
        self.start()


@dataclass
class Cluster:
    """Maestro processes on one database and one broker, plus a client engine."""

    db_url: str
    broker_url: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _engine: Engine | None = None

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MAESTRO_DATABASE_URL": self.db_url,
            "MAESTRO_BROKER_URL": self.broker_url,
            "MAESTRO_HOME": str(self.home),
            "MAESTRO_PROJECT_DIR": str(self.home),
            "PYTHONPATH": str(ROOT),
            **self.env,
        }

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with open(self.home / log, "ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "maestro", *args],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
            )
        self.procs.append(proc)
        return proc

    def scheduler(self, name: str = "scheduler") -> subprocess.Popen[bytes]:
        return self._spawn("scheduler", log=f"{name}.log")

    def worker(
        self,
        name: str = "worker",
        queues: str = "default",
        concurrency: int = 4,
        pool: str = "threads",
        *extra: str,
    ) -> subprocess.Popen[bytes]:
        return self._spawn(
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            "--pool",
            pool,
            *extra,
            log=f"{name}.log",
        )

    @property
    def engine(self) -> Engine:
        """The client side: creates runs and reads them, sending attempts through Redis."""
        if self._engine is None:
            settings = load_settings(
                database_url=self.db_url,
                broker_url=self.broker_url,
                home=self.home,
                project_dir=self.home,
            )
            self._engine = Engine(
                Database(self.db_url),
                settings,
                dispatcher=CeleryDispatcher(create_celery_app(settings)),
            )
        return self._engine

    def start_run(self, yaml_text: str, **kwargs: Any) -> int:
        definition = load_definition(textwrap.dedent(yaml_text))
        eng = self.engine
        with eng.unit() as u:
            submitted = submit(u, definition)
            run_id = create_run(u, eng.versions, definition.id, version=submitted.version, **kwargs)
            start_run(u, eng.versions, run_id)
        return run_id

    def view(self, run_id: int) -> RunView:
        with self.engine.db.read() as conn:
            return run_view(conn, run_id)

    def wait(self, run_id: int, timeout: float = 60, poll: float = 0.05) -> RunView:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.engine.db.read() as conn:
                    status = run_status(conn, run_id)  # cheap: the whole view only at the end
            except OperationalError:  # the database is restarting
                time.sleep(0.2)
                continue
            if status in RUN_TERMINAL:
                return self.view(run_id)
            time.sleep(poll)
        raise AssertionError(
            f"run {run_id} did not end in {timeout}s: {self.view(run_id)}\n{self.logs()}"
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.home.glob("*.log"))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._engine is not None:
            self._engine.db.dispose()
