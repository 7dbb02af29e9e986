"""End-to-end tests in a real browser: Debian's Chromium driven by Playwright (its plain sync
API, with ``executable_path``; Playwright's own browser downloads are never used) against a
live ``python -m maestro standalone`` on 127.0.0.1.

Screenshots of every page go to ``$MAESTRO_SCREENSHOTS`` (default: a ``maestro-screenshots``
folder in the temporary directory); the folder is printed at the end of the session. Without
Chromium or Playwright the tests are skipped on a developer's machine and fail in CI
(``CI=true``), where ``scripts/test.sh`` installs both.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

CHROMIUM = os.environ.get("MAESTRO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("MAESTRO_SCREENSHOTS") or Path(tempfile.gettempdir()) / "maestro-screenshots"
)
_saved: list[Path] = []


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run the browser tests: scripts/test.sh installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``NAME.png`` in the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    _saved.append(path)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _saved:
        terminalreporter.write_line(f"screenshots ({len(_saved)}): {SCREENSHOTS}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}/api/v1{path}", timeout=10, **kwargs)

    def maestro(self, *args: str) -> str:
        """Run a ``maestro`` command on this server's store; its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "maestro", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


def start_server(home: Path, **env: str) -> Server:
    port = _free_port()
    environment = {
        **os.environ,
        "MAESTRO_HOME": str(home),
        "MAESTRO_PROJECT_DIR": str(home),
        "MAESTRO_DATABASE_URL": "",
        **env,
    }
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "maestro", "standalone", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", home, environment, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"maestro standalone exited: {(home / 'server.log').read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError("maestro standalone did not answer within 30 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log.close()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def standalone(home: Path) -> Iterator[Server]:
    """``maestro standalone`` without tokens, as a new user starts it."""
    server = start_server(home, MAESTRO_AUTH="false")
    yield server
    stop_server(server)


@pytest.fixture
def standalone_with_auth(home: Path) -> Iterator[Server]:
    server = start_server(home, MAESTRO_AUTH="true")
    yield server
    stop_server(server)
