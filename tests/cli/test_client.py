"""The client commands against a real ``maestro standalone`` over a real socket: tokens,
submit, start and wait, logs, runs, stop and restart, and readable errors (never a
traceback) with exit code 2 for bad input and 1 for the rest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

SLOW = """
id: slow
owner: demo
steps:
  - id: first
    type: shell
    shell: {command: "echo started; sleep 60"}
  - id: second
    type: noop
    depends_on: [first]
"""

#: a failing workflow whose alerts go to a callable that cannot be imported: the sender of
#: ``maestro standalone`` marks them FAILED on their first try (a permanent failure)
ALERTING = """
id: alerting
owner: demo
alerts:
  - on: [run_failed]
    python: {callable: "no_such_module_xyz.hooks:page"}
steps:
  - id: load
    type: shell
    shell: {command: "exit 3"}
    alerts: [{on: step_failed, python: {callable: "no_such_module_xyz.hooks:step"}}]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "maestro", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


@dataclass
class Server:
    env: dict[str, str]
    url: str

    def maestro(
        self, *args: str, token: bool = True, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        env = (
            dict(self.env) if token else {k: v for k, v in self.env.items() if k != "MAESTRO_TOKEN"}
        )
        return _run(env, *args, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("standalone")
    port = _free_port()
    env = {
        **os.environ,
        "MAESTRO_HOME": str(home),
        "MAESTRO_PROJECT_DIR": str(EXAMPLES),
        "MAESTRO_AUTH": "true",
        "MAESTRO_API_URL": f"http://127.0.0.1:{port}",
    }
    created = _run(env, "token", "create", "--name", "ops", "--scope", "admin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("mae_") and "not shown again" in created.stderr
    env["MAESTRO_TOKEN"] = token
    process = subprocess.Popen(
        [sys.executable, "-m", "maestro", "standalone", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield Server(env, f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stderr is not None
    with process.stderr:
        stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr


def _wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"standalone exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/api/v1/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("standalone did not come up")


def test_submit_start_wait_logs_and_lists(server: Server) -> None:
    hello = str(EXAMPLES / "hello.yaml")
    submitted = server.maestro("workflow", "submit", hello)
    assert submitted.returncode == 0 and "submitted hello version 1" in submitted.stdout
    again = server.maestro("workflow", "submit", hello)
    assert "unchanged" in again.stdout
    assert server.maestro("workflow", "validate", hello).returncode == 0
    started = server.maestro("start", "hello", "--param", "who=Ada", "--wait", "--json")
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    assert run["status"] == "SUCCEEDED"
    assert run["outputs"] == {"greeting": "hello Ada", "letters": 8}
    logs = server.maestro("runs", "logs", str(run["id"]), "greet")
    assert logs.returncode == 0 and "hello, Ada" in logs.stdout
    followed = server.maestro("runs", "logs", str(run["id"]), "report", "--follow")
    assert "has 8 letters" in followed.stdout
    shown = server.maestro("runs", "show", str(run["id"]))
    assert "SUCCEEDED" in shown.stdout and "count" in shown.stdout
    listed = json.loads(server.maestro("runs", "list", "hello", "--json").stdout)
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    every = server.maestro("runs", "list", "--status", "succeeded", "--params-text", "ADA")
    assert every.returncode == 0 and "hello" in every.stdout and "SUCCEEDED" in every.stdout
    none = json.loads(server.maestro("runs", "list", "--params-text", "Grace", "--json").stdout)
    assert none["items"] == []
    bad = server.maestro("runs", "list", "--since", "2026-02-01", "--until", "2026-01-01")
    assert bad.returncode != 0 and "until" in bad.stderr
    workflows = json.loads(server.maestro("workflow", "list", "--json").stdout)
    assert workflows["items"][0]["last_run"]["status"] == "SUCCEEDED"
    assert "hello" in server.maestro("workflow", "show", "hello").stdout
    table = server.maestro("start", "hello", "--wait")
    assert table.returncode == 0 and "run SUCCEEDED" in table.stdout


def test_stop_and_restart_a_running_workflow(server: Server, tmp_path: Path) -> None:
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)
    assert server.maestro("workflow", "submit", str(slow)).returncode == 0
    run = json.loads(server.maestro("start", "slow", "--json").stdout)
    _until(server, run["id"], lambda r: r["step_counts"].get("RUNNING") == 1)
    logs = server.maestro("runs", "logs", str(run["id"]), "first")
    assert "started" in logs.stdout  # readable while the step runs
    stopped = server.maestro("runs", "stop", str(run["id"]))
    assert stopped.returncode == 0 and "STOPPED" in stopped.stdout
    again = server.maestro("runs", "stop", str(run["id"]))
    assert again.returncode == 1 and "409" in again.stderr and "STOPPED" in again.stderr
    restarted = server.maestro("runs", "restart", str(run["id"]), "--from", "beginning", "--json")
    assert restarted.returncode == 0, restarted.stderr
    new = json.loads(restarted.stdout)
    assert new["restarted_from"] == run["id"]
    assert server.maestro("runs", "kill", str(new["id"])).returncode == 0
    deleted = server.maestro("workflow", "delete", "slow", "--force")
    assert deleted.returncode == 0, deleted.stderr


def _until(server: Server, run_id: int, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = httpx.get(
            f"{server.url}/api/v1/runs/{run_id}",
            headers={"Authorization": f"Bearer {server.env['MAESTRO_TOKEN']}"},
        ).json()
        if done(run):
            return run  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never got there")


def test_errors_are_readable_with_their_exit_codes(server: Server, tmp_path: Path) -> None:
    missing = server.maestro("start", "nope")
    assert missing.returncode == 1 and "404" in missing.stderr and "nope" in missing.stderr
    bad_param = server.maestro("start", "hello", "--param", "whom=x")
    assert bad_param.returncode == 2 and "params.whom" in bad_param.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nsteps:\n  - {id: a, type: noop, depends_on: [b]}\n")
    invalid = server.maestro("workflow", "submit", str(bad))
    assert invalid.returncode == 2
    assert "steps[0].depends_on[0]" in invalid.stderr and "owner" in invalid.stderr
    unreadable = server.maestro("workflow", "submit", str(tmp_path / "none.yaml"))
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    no_token = server.maestro("workflow", "list", token=False)
    assert no_token.returncode == 1 and "401" in no_token.stderr
    signal = server.maestro("signal", "send", "landed", "--payload", '{"day": 1}')
    assert signal.returncode == 0 and signal.stdout.startswith("signal ")
    bad_payload = server.maestro("signal", "send", "landed", "--payload", "[1")
    assert bad_payload.returncode == 2
    down = _run({**server.env, "MAESTRO_API_URL": "http://127.0.0.1:9"}, "workflow", "list")
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_tokens_list_and_revoke(server: Server) -> None:
    created = server.maestro(
        "token", "create", "--name", "ci", "--scope", "write", "--owner", "demo"
    )
    assert created.returncode == 0
    ci_env = {**server.env, "MAESTRO_TOKEN": created.stdout.strip()}
    assert _run(ci_env, "workflow", "pause", "hello").returncode == 0
    assert _run(ci_env, "workflow", "resume", "hello").returncode == 0
    duplicate = server.maestro("token", "create", "--name", "ci")
    assert duplicate.returncode == 2 and "revoke it first" in duplicate.stderr
    listed = json.loads(server.maestro("token", "list", "--json").stdout)
    assert {(t["name"], t["scope"]) for t in listed} == {("ops", "admin"), ("ci", "write")}
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert server.maestro("token", "revoke", "ci").returncode == 0
    refused = _run(ci_env, "workflow", "list")
    assert refused.returncode == 1 and "401" in refused.stderr
    assert server.maestro("token", "revoke", "ci").returncode == 1
    # the audit trail: the workflow's (by the token's name) and the tokens' (by the system user)
    trail = json.loads(server.maestro("workflow", "events", "hello", "--json").stdout)["items"]
    assert [(e["action"], e["actor"]) for e in trail[:2]] == [("resume", "ci"), ("pause", "ci")]
    history = server.maestro("token", "history")
    assert history.returncode == 0
    lines = [line for line in history.stdout.splitlines() if " ci" in line]
    assert "revoke" in lines[0] and "create" in lines[1] and "cli:" in lines[0]


def test_server_refuses_no_auth_on_a_public_address(tmp_path: Path) -> None:
    env = {**os.environ, "MAESTRO_HOME": str(tmp_path), "MAESTRO_AUTH": "false"}
    refused = _run(env, "server", "--host", "0.0.0.0", "--port", "1")
    assert refused.returncode == 2 and "without authentication" in refused.stderr


def test_backfill_waits_with_a_progress_bar(server: Server, tmp_path: Path) -> None:
    wf = tmp_path / "nightly.yaml"
    wf.write_text(
        "id: nightly\nowner: t\ntriggers: [{cron: '0 3 * * *'}]\n"
        "run_strategy: {kind: parallel, max_concurrency: 4}\n"
        "steps: [{id: a, type: shell, shell: {command: 'echo {{ run.logical_date | ds }}'}}]\n"
    )
    assert server.maestro("workflow", "submit", str(wf)).returncode == 0
    done = server.maestro(
        "backfill",
        "nightly",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-04",  # a date alone: that whole day, its 03:00 tick included
        "--max-concurrency",
        "2",
        "--wait",
    )
    assert done.returncode == 0, done.stderr
    assert "4 runs" in done.stdout
    assert "4/4" in done.stderr  # the bar's last state: every run ended
    runs = json.loads(server.maestro("runs", "list", "nightly", "--json").stdout)["items"]
    assert sorted(r["status"] for r in runs) == ["SUCCEEDED"] * 4
    assert {r["trigger"] for r in runs} == {"backfill"}
    assert sorted(r["logical_date"][:10] for r in runs) == [f"2024-01-0{d}" for d in (1, 2, 3, 4)]
    bad = server.maestro("backfill", "nightly", "--start", "2024-01-01", "--end", "Jan 4")
    assert bad.returncode == 2 and "--end 'Jan 4': expected a date (2024-03-01)" in bad.stderr


def _alerts(server: Server, *args: str) -> dict[str, Any]:
    listed = server.maestro("alerts", "list", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    page: dict[str, Any] = json.loads(listed.stdout)
    return page


def _alerts_until(server: Server, done: Any, *args: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = _alerts(server, *args)["items"]
        if done(items):
            return items
        time.sleep(0.3)
    raise AssertionError(f"the alerts never got there: {_alerts(server, *args)}")


def test_alerts_list_and_retry(server: Server, tmp_path: Path) -> None:
    wf = tmp_path / "alerting.yaml"
    wf.write_text(ALERTING)
    assert server.maestro("workflow", "submit", str(wf)).returncode == 0
    run = json.loads(server.maestro("start", "alerting", "--wait", "--json").stdout)
    assert run["status"] == "FAILED"
    dead = _alerts_until(
        server,
        lambda items: len(items) == 2 and {a["status"] for a in items} == {"FAILED"},
        "--run",
        str(run["id"]),
        "--status",
        "failed",
    )
    assert {a["event"] for a in dead} == {"run_failed", "step_failed"}
    assert all("no_such_module_xyz" in a["last_error"] for a in dead)
    first = server.maestro("alerts", "list", "--workflow", "alerting", "--limit", "1")
    assert first.returncode == 0 and str(dead[0]["id"]) in first.stdout
    assert "FAILED" in first.stdout and "run_failed" in first.stdout
    cursor = first.stderr.split("more: --cursor ", 1)[1].split()[0]
    rest = _alerts(server, "--workflow", "alerting", "--limit", "1", "--cursor", cursor)
    assert [a["id"] for a in rest["items"]] == [dead[1]["id"]] and rest["next_cursor"] is None
    assert "no alerts" in server.maestro("alerts", "list", "--workflow", "nope").stderr

    target = dead[0]
    retried = server.maestro("alerts", "retry", str(target["id"]))
    assert retried.returncode == 0, retried.stderr
    said = f"alert {target['id']} (run_failed, python no_such_module_xyz.hooks:page) sent again"
    assert said in retried.stdout.replace("\n", "")
    # sent again: a second try, which fails the same way
    _alerts_until(
        server,
        lambda items: items[0]["attempts"] == 2 and items[0]["status"] == "FAILED",
        "--run",
        str(run["id"]),
        "--limit",
        "1",
    )
    missing = server.maestro("alerts", "retry", "999999")
    assert missing.returncode == 1 and "404" in missing.stderr and "999999" in missing.stderr
    bad = server.maestro("alerts", "list", "--status", "LOST")
    assert bad.returncode == 2 and "422" in bad.stderr and "status" in bad.stderr
