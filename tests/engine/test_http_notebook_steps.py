"""http and notebook steps end to end through the engine: settings rendered from params and
upstream outputs, outputs passed downstream, the executed notebook kept beside the log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.engine.harness import Harness


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/fail") else 200
        body = json.dumps({"path": self.path, "count": 21}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _notebook(path: Path) -> None:
    params = new_code_cell("count = 0")
    params.metadata["tags"] = ["parameters"]
    notebook = new_notebook(
        cells=[
            params,
            new_code_cell(
                "import os\n"
                "with open(os.environ['MAESTRO_OUTPUT'], 'w') as out:\n"
                "    out.write(f'doubled={count * 2}\\n')\n"
            ),
        ]
    )
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
    nbformat.write(notebook, path)


FLOW = """
id: api-report
owner: t
params: {ds: {type: string, default: "2024-05-01"}, route: {type: string, default: data}}
steps:
  - id: fetch.1
    type: http
    http:
      url: "SERVER/{{ params.route }}/{{ params.ds }}"
      timeout: 30 seconds
  - id: report-nb
    type: notebook
    depends_on: [fetch.1]
    timeout: 5 minutes
    notebook:
      path: report.ipynb
      parameters: {count: "{{ steps['fetch.1'].outputs.body.count }}"}
      timeout: "{{ '2 minutes' }}"
outputs:
  doubled: "{{ steps['report-nb'].outputs.doubled }}"
"""


@pytest.mark.timeout(180)
def test_http_then_notebook_end_to_end(harness: Harness, server: str) -> None:
    _notebook(harness.settings.project_dir / "report.ipynb")
    run_id = harness.start(FLOW.replace("SERVER", server))
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED", view
    steps = {s.step_id: s for s in view.steps}
    assert steps["fetch.1"].outputs["status"] == 200
    assert steps["fetch.1"].outputs["body"] == {"path": "/data/2024-05-01", "count": 21}
    executed = harness.settings.logs_dir / str(run_id) / "report-nb" / "1.ipynb"
    assert steps["report-nb"].outputs == {"doubled": 42, "output_path": str(executed.absolute())}
    assert executed.is_file()
    assert view.outputs == {"doubled": 42}


def test_an_unexpected_status_fails_the_step(harness: Harness, server: str) -> None:
    _notebook(harness.settings.project_dir / "report.ipynb")
    run_id = harness.start(FLOW.replace("SERVER", server), params={"route": "fail"})
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    fetch = next(s for s in view.steps if s.step_id == "fetch.1")
    assert fetch.error is not None
    assert fetch.error.startswith(f"HTTP GET {server}/fail/2024-05-01 answered 500 (expected 200)")
