"""Import our Maestro-format fixtures and RUN them embedded, asserting Maestro's outcome."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from maestro.cli import app
from maestro.compat.maestro_json import translate

FIXTURES = Path(__file__).parent / "fixtures"


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    monkeypatch.setenv("MAESTRO_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["run", *args, "--json"])
    assert result.exit_code in (0, 1), result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _statuses(result: dict[str, Any]) -> dict[str, str]:
    return {sid: step["status"] for sid, step in result["steps"].items()}


def test_plain_dag_runs_as_in_maestro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(tmp_path, monkeypatch, str(FIXTURES / "plain-dag.json"))
    assert result["status"] == "SUCCEEDED"
    assert set(_statuses(result).values()) == {"SUCCEEDED"}


def test_conditional_branches_skip_as_in_maestro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(tmp_path, monkeypatch, str(FIXTURES / "branching.json"))
    statuses = _statuses(result)
    assert statuses["job.4"] == statuses["job.5"] == "SKIPPED"
    assert statuses["job.6"] == statuses["job.7"] == "SUCCEEDED"
    assert result["status"] == "SUCCEEDED"


def test_loops_iterate_as_in_maestro(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(tmp_path, monkeypatch, str(FIXTURES / "loops.json"))
    assert result["status"] == "SUCCEEDED"
    # 3 dates (20240304 excluded) x 2 names; the while body runs for k = 1, 2, 3
    assert result["steps"]["days"]["outputs"]["count"] == 6
    assert result["steps"]["count-up"]["outputs"]["count"] == 3


def test_subworkflow_with_the_child_given_by_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(
        tmp_path,
        monkeypatch,
        str(FIXTURES / "parent.json"),
        "--with",
        str(FIXTURES / "plain-dag.json"),
    )
    assert result["status"] == "SUCCEEDED"
    assert result["steps"]["call-child"]["status"] == "SUCCEEDED"


@pytest.mark.skipif(
    not os.environ.get("MAESTRO_TEST_MAESTRO_SAMPLES"),
    reason="MAESTRO_TEST_MAESTRO_SAMPLES names no folder of Maestro definitions",
)
@pytest.mark.timeout(3600)  # the samples really sleep (one step sleeps 100 s)
def test_real_maestro_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import every sample; run each importable one (with all the importable samples as
    --with, for their subworkflows)."""
    folder = Path(os.environ["MAESTRO_TEST_MAESTRO_SAMPLES"])
    files = sorted(folder.glob("*.json"))
    importable = []
    for path in files:
        _, report = translate(json.loads(path.read_text()), path.name)
        if not report.reasons:
            importable.append(path)
    assert importable, "no importable sample"
    failures = {}
    for path in importable:
        others = [x for p in importable if p != path for x in ("--with", str(p))]
        monkeypatch.setenv("MAESTRO_HOME", str(tmp_path / path.stem))
        result = CliRunner().invoke(app, ["run", str(path), *others, "--json"])
        if result.exit_code != 0:
            failures[path.name] = (result.stdout or result.output)[-300:]
    assert not failures, failures


def test_an_http_step_calls_a_real_server_as_in_maestro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maestro's Http step (params.http: url, method, headers, body) against a real local
    server: a 2xx succeeds (Maestro's default state_expr) with the JSON body as outputs; a 500
    fails the step."""
    seen: list[tuple[str, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"] or 0)).decode()
            seen.append((self.command, self.path, body))
            code = 500 if self.path == "/broken" else 200
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def step(step_id: str, path: str) -> dict[str, Any]:
        request = {
            "url": {"type": "STRING", "value": base + path},
            "method": {"type": "STRING", "value": "PUT"},
            "body": {"type": "STRING", "value": "${payload}"},
        }
        return {
            "step": {
                "id": step_id,
                "type": "Http",
                "params": {"http": {"type": "MAP", "value": request}},
                "retry_policy": {"error_retry_limit": 0},
            }
        }

    definition = {
        "workflow": {
            "id": "http-wf",
            "params": {"payload": {"type": "STRING", "value": "hello"}},
            "steps": [step("call", "/ok"), step("broken", "/broken")],
        }
    }
    source = tmp_path / "http-wf.json"
    source.write_text(json.dumps(definition))
    try:
        result = _run(tmp_path, monkeypatch, str(source))
    finally:
        server.shutdown()
        server.server_close()
    assert result["steps"]["call"]["status"] == "SUCCEEDED"
    assert result["steps"]["call"]["outputs"]["body"] == {"ok": True}
    assert result["steps"]["broken"]["status"] == "FAILED"
    assert ("PUT", "/ok", "hello") in seen
