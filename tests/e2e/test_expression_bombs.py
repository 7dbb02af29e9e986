"""Expressions that would exhaust memory fail their step, in real processes whose peak RSS is
measured: ``maestro run`` of a workflow with a ``~``-doubling command and a ``when`` of 1,000
``~`` terms of 1 MiB each, and the API server answering ``POST /workflows/{id}/runs`` for it
(root-step conditions are evaluated in the request).

Without the bounds the command's string reaches 2 GiB and the condition's operands 1 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, start_server, stop_server

LIMIT_MIB = 500
WHEN_BOMB = " ~ ".join(["('a' * 1000000)"] * 1000)
WORKFLOW = textwrap.dedent(
    """\
    id: bomb
    owner: t
    steps:
      - id: doubling
        type: shell
        shell:
          command: >-
            {% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s
            %}{% endfor %}echo {{ ns.s | length }}
      - id: guarded
        type: shell
        when: "WHEN"
        shell: {command: echo never}
    """
).replace("WHEN", WHEN_BOMB)
LIMIT_ERROR = "too large (over the 1048576-byte limit)"

MAESTRO_RUN = [sys.executable, "-m", "maestro", "run", "bomb.yaml", "--json"]
#: runs ``maestro run`` as its only child, then prints that child's peak RSS in KiB
MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout)
"""


def test_a_tilde_bomb_fails_its_steps_and_the_process_stays_small(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(WORKFLOW)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *MAESTRO_RUN],
        cwd=tmp_path,
        env={"MAESTRO_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    peak_kib, _, out = done.stdout.partition("\n")
    result = json.loads(out)
    assert result["status"] == "FAILED"
    steps = result["steps"]
    assert steps["doubling"]["status"] == "FAILED"
    assert "the result of '~' is " + LIMIT_ERROR in steps["doubling"]["error"]
    assert steps["guarded"]["status"] == "FAILED"
    assert steps["guarded"]["error"].startswith("when: ")
    assert "the result of '~' is " + LIMIT_ERROR in steps["guarded"]["error"]
    assert int(peak_kib) < LIMIT_MIB * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"
    assert time.monotonic() - started < 60


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    running = start_server(home, MAESTRO_AUTH="false")
    yield running
    stop_server(running)


def peak_rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


def test_starting_a_run_with_a_bomb_condition_answers_quickly_and_stays_small(
    server: Server,
) -> None:
    submitted = server.api(
        "POST", "/workflows", content=WORKFLOW, headers={"Content-Type": "application/yaml"}
    )
    assert submitted.status_code in (200, 201), submitted.text
    started = time.monotonic()
    response = server.api("POST", "/workflows/bomb/runs", json={})
    assert time.monotonic() - started < 5
    assert response.status_code in (200, 201, 422), response.text
    assert peak_rss_mib(server.process.pid) < LIMIT_MIB
    assert server.api("GET", "/healthz").status_code == 200
