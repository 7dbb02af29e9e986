"""A web page on another origin must not run anything through ``maestro standalone`` (no tokens
there): in real Chromium, a page served from a second local server tries what a malicious page
would — a no-cors ``text/plain`` POST of a definition with a shell step, a body-less POST that
starts it, and an auto-submitted form — and nothing is stored or run. DNS rebinding (a foreign
``Host``) is refused too."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server

ATTACK = """<!doctype html><html><head><title>cat pictures</title></head><body>
<form id="f" method="POST" enctype="text/plain" target="sink"
      action="{api}/api/v1/workflows/pwn/runs"><input name="x" value="y"></form>
<iframe name="sink"></iframe>
<script>
const api = "{api}";
const yaml = "id: pwn\\nowner: x\\nsteps:\\n  - id: s\\n    type: shell\\n" +
             "    shell: {{command: 'echo pwned > {marker}'}}\\n";
async function attack() {{
  const tries = [
    fetch(api + "/api/v1/workflows", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: yaml}}),
    fetch(api + "/api/v1/workflows", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "application/x-www-form-urlencoded"}}, body: yaml}}),
  ];
  for (const t of tries) {{ try {{ await t; }} catch (e) {{}} }}
  try {{ await fetch(api + "/api/v1/workflows/pwn/runs", {{method: "POST", mode: "no-cors"}}); }}
  catch (e) {{}}
  // a CORS request with a JSON body: the preflight gets no CORS headers, so it is never sent
  try {{ await fetch(api + "/api/v1/workflows/pwn/runs", {{method: "POST",
      headers: {{"Content-Type": "application/json"}}, body: "{{}}"}}); }} catch (e) {{}}
  document.getElementById("f").submit();
  setTimeout(() => {{ document.title = "done"; }}, 1500);
}}
attack();
</script></body></html>"""


class _Page(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker(standalone: Server, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An origin of its own (``localhost`` on another port) serving the attack page."""
    marker = tmp_path / "pwned"
    page_html = ATTACK.format(api=standalone.url, marker=marker).encode()
    handler = type("Attack", (_Page,), {"body": page_html})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}/", marker
    httpd.shutdown()
    httpd.server_close()


def test_a_page_on_another_origin_cannot_submit_or_start_anything(
    page: Any, standalone: Server, attacker: tuple[str, Path]
) -> None:
    url, marker = attacker
    standalone.api(
        "POST",
        "/workflows",
        content="id: pwn\nowner: x\nsteps:\n  - {id: s, type: noop}\n",
        headers={"Content-Type": "application/yaml"},
    )  # the attack's second half must not start even an existing workflow
    page.goto(url)
    page.wait_for_function("document.title === 'done'", timeout=15_000)
    time.sleep(1.5)  # what a started run would need to write the marker
    assert not marker.exists()
    runs = standalone.api("GET", "/workflows/pwn/runs").json()
    assert runs["items"] == [], runs
    versions = standalone.api("GET", "/workflows/pwn/versions").json()
    assert [v["version"] for v in versions["items"]] == [1]  # the page's YAML was not stored


def test_foreign_hosts_origins_and_untyped_posts_are_refused(standalone: Server) -> None:
    base = f"{standalone.url}/api/v1"
    rebound = httpx.get(f"{base}/workflows", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 400 and "attacker.example" in rebound.json()["detail"]
    for host in ("localhost", f"127.0.0.1:{standalone.url.rsplit(':', 1)[1]}", "[::1]:9"):
        assert httpx.get(f"{base}/workflows", headers={"Host": host}, timeout=10).status_code == 200
    yaml = {"Content-Type": "application/yaml"}
    body = "id: w\nowner: o\nsteps: [{id: a, type: noop}]\n"
    foreign = {**yaml, "Origin": "http://evil.example"}
    assert httpx.post(f"{base}/workflows", content=body, headers=foreign).status_code == 403
    cross = {**yaml, "Sec-Fetch-Site": "cross-site"}
    assert httpx.post(f"{base}/workflows", content=body, headers=cross).status_code == 403
    plain = {"Content-Type": "text/plain"}
    refused = httpx.post(f"{base}/workflows", content=body, headers=plain)
    assert refused.status_code == 415 and "application/json" in refused.json()["detail"]
    assert httpx.post(f"{base}/workflows/w/runs").status_code in (404, 415)
    own = {**yaml, "Origin": standalone.url}
    assert httpx.post(f"{base}/workflows", content=body, headers=own).status_code == 201
    assert httpx.post(f"{base}/workflows/w/runs").status_code == 415  # no type, no run
    started = httpx.post(f"{base}/workflows/w/runs", json={})
    assert started.status_code == 201
    preflight = httpx.options(
        f"{base}/workflows",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
