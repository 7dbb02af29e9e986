"""The embedded runtime as ``maestro run`` wires it: real worker threads, real scheduler loop,
real processes, wall-clock time."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from maestro.cli import Embedded, embedded
from maestro.definition import load_definition
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.reads import RunView, run_view
from maestro.settings import load_settings
from maestro.states import RUN_TERMINAL


def _run(env: Embedded, scope: set[int], text: str, timeout: float = 30) -> RunView:
    definition = load_definition(textwrap.dedent(text))
    eng = env.engine
    with eng.unit() as u:
        submit(u, definition)
        run_id = create_run(u, eng.versions, definition.id)
        start_run(u, eng.versions, run_id)
    scope.add(run_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with eng.db.read() as conn:
            view = run_view(conn, run_id)
        if view.status in RUN_TERMINAL:
            return view
        time.sleep(0.05)
    raise AssertionError(f"run did not end: {view}")


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def _settings(db_url: str, home: Path, **extra: object):  # type: ignore[no-untyped-def]
    return load_settings(
        home=home,
        project_dir=home,
        database_url=db_url,
        heartbeat_interval=0.2,
        kill_grace=0.5,
        **extra,
    )


def test_run_timeout_kills_running_processes(db_url: str, tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    scope: set[int] = set()
    with embedded(_settings(db_url, tmp_path), scope) as env:
        view = _run(
            env,
            scope,
            f"""
            id: rt
            owner: t
            timeout: 1s
            steps:
              - {{id: hang, type: shell, shell: {{command: "echo $$ > {pid}; exec sleep 60"}}}}
              - {{id: after, type: noop, depends_on: [hang]}}
            """,
        )
    assert view.status == "TIMED_OUT"
    assert {s.step_id: s.status.value for s in view.steps} == {
        "hang": "TIMED_OUT",
        "after": "STOPPED",
    }
    assert _gone(int(pid.read_text()))


def test_fail_run_kills_the_other_running_step(db_url: str, tmp_path: Path) -> None:
    pid = tmp_path / "pid"
    scope: set[int] = set()
    with embedded(_settings(db_url, tmp_path), scope) as env:
        started = time.monotonic()
        view = _run(
            env,
            scope,
            f"""
            id: fr
            owner: t
            steps:
              - {{id: long, type: shell, shell: {{command: "echo $$ > {pid}; exec sleep 60"}}}}
              - id: boom
                type: shell
                on_failure: fail_run
                shell: {{command: "while [ ! -s {pid} ]; do sleep 0.05; done; exit 1"}}
            """,
        )
        elapsed = time.monotonic() - started
    assert view.status == "FAILED"
    assert {s.step_id: s.status.value for s in view.steps} == {"long": "STOPPED", "boom": "FAILED"}
    assert _gone(int(pid.read_text()))
    assert elapsed < 20


def test_a_retry_with_backoff_is_picked_up_by_the_loop(db_url: str, tmp_path: Path) -> None:
    scope: set[int] = set()
    with embedded(_settings(db_url, tmp_path, poll_interval=5.0), scope) as env:
        started = time.monotonic()
        view = _run(
            env,
            scope,
            """
            id: rb
            owner: t
            steps:
              - id: f
                type: shell
                retries: {limit: 1, delay: 0.3s}
                shell: {command: '[ "$MAESTRO_ATTEMPT" = 2 ]'}
            """,
        )
        elapsed = time.monotonic() - started
    assert view.status == "SUCCEEDED"
    assert view.steps[0].attempt_count == 2
    # woken by the retry's due time, not by the 5 s poll interval
    assert elapsed < 4
