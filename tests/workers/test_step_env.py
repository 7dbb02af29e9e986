"""What a step can see: run by the real attempt executor with a worker full of secrets.

The worker's environment holds the platform's database and broker URLs and a connection with a
password. A shell and a python step that print their whole environment must log none of them,
but their declared ``env`` and the attempt's ``MAESTRO_*`` variables; a step naming the
connection (``connections: [dw]``) gets it as ``MAESTRO_CONN_DW``, its password masked in the
log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from maestro.connections import ScrubbingStream
from maestro.definition import load_definition
from maestro.errors import DefinitionError
from tests.engine.harness import Harness

DB_URL = "postgresql://maestro:db-secret-1@db.internal/maestro"
BROKER_URL = "redis://:broker-secret-2@redis.internal:6379/0"
CONN_URL = "postgresql://u:secret@h/db"
ATTEMPT_VARS = (
    "MAESTRO_WORKFLOW_ID=env_wf",
    "MAESTRO_RUN_ID=",
    "MAESTRO_RUN_NUMBER=1",
    "MAESTRO_STEP_ID=",
    "MAESTRO_ATTEMPT=1",
    "MAESTRO_LOGICAL_DATE=",
    "MAESTRO_OUTPUT=",
)

WORKFLOW = """
id: env_wf
owner: t
steps:
  - id: sh
    type: shell
    env: {DECLARED: declared-value}
    shell: {command: env}
  - id: py
    type: python
    env: {DECLARED: declared-value}
    python: {callable: "envdump:dump"}
  - id: sh_conn
    type: shell
    connections: [dw]
    shell: {command: 'env; echo "url is $MAESTRO_CONN_DW"'}
  - id: py_conn
    type: python
    connections: dw
    python: {callable: "envdump:dump"}
"""

ENVDUMP = """\
import os


def dump():
    for key, value in sorted(os.environ.items()):
        print(f"{key}={value}")
"""


@pytest.fixture
def harness(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("MAESTRO_DATABASE_URL", DB_URL)
    monkeypatch.setenv("MAESTRO_BROKER_URL", BROKER_URL)
    monkeypatch.setenv("MAESTRO_CONN_DW", CONN_URL)
    monkeypatch.setenv("WORKER_ONLY", "worker-only-value")
    (tmp_path / "envdump.py").write_text(ENVDUMP)
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5)
    yield h
    h.close()


def step_log(home: Path, run_id: int, step: str) -> str:
    return (home / "logs" / str(run_id) / step / "1.log").read_text()


def test_steps_see_their_environment_and_no_secret_of_the_worker(
    harness: Harness, tmp_path: Path
) -> None:
    run_id = harness.start(WORKFLOW)
    view = harness.drain(run_id)
    assert harness.statuses(run_id) == dict.fromkeys(
        ["sh", "py", "sh_conn", "py_conn"], "SUCCEEDED"
    ), view
    for step in ("sh", "py", "sh_conn", "py_conn"):
        log = step_log(tmp_path, run_id, step)
        for secret in ("db-secret-1", "broker-secret-2", "secret@", ":secret"):
            assert secret not in log, (step, log)
        assert "MAESTRO_DATABASE_URL" not in log and "MAESTRO_BROKER_URL" not in log
        assert "WORKER_ONLY" not in log
        assert all(var in log for var in ATTEMPT_VARS), (step, log)
        assert "PATH=" in log
    for step in ("sh", "py"):
        log = step_log(tmp_path, run_id, step)
        assert "DECLARED=declared-value" in log
        assert "MAESTRO_CONN_DW" not in log
    for step in ("sh_conn", "py_conn"):
        log = step_log(tmp_path, run_id, step)
        assert "MAESTRO_CONN_DW=postgresql://u:***@h/db" in log, log
        assert "MAESTRO_CONNECTIONS=dw" in log
    assert "url is postgresql://u:***@h/db" in step_log(tmp_path, run_id, "sh_conn")


def test_an_unknown_connection_fails_the_step_for_good(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: env_unknown
        owner: t
        steps:
          - id: sh
            type: shell
            connections: [nowhere]
            shell: {command: env}
        """
    )
    view = harness.drain(run_id)
    step = view.steps[0]
    assert step.status.value == "FAILED"
    assert step.error is not None and "unknown connection 'nowhere'" in step.error


def test_connections_are_only_for_steps_that_run_a_process() -> None:
    with pytest.raises(DefinitionError, match="takes no 'connections'"):
        load_definition(
            "id: w\nowner: t\nsteps:\n  - {id: a, type: sql, connections: [dw],"
            " sql: {connection: dw, query: select 1}}\n"
        )
    with pytest.raises(DefinitionError, match="invalid connection name"):
        load_definition(
            "id: w\nowner: t\nsteps:\n"
            "  - {id: a, type: shell, connections: ['a b'], shell: {command: x}}\n"
        )


def test_a_secret_cut_by_chunks_is_still_masked() -> None:
    scrubber = ScrubbingStream(["s3cr3t"])
    out = (
        scrubber.feed(b"line one s3c") + scrubber.feed(b"r3t and\nmore s3") + scrubber.feed(b"cr3t")
    )
    out += scrubber.flush()
    assert out == b"line one *** and\nmore ***"
