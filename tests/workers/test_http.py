"""The http step type against a real HTTP server on 127.0.0.1 (the standard library's, in a
thread): JSON and text answers, what was sent, an unexpected 500, a timeout, a cancel."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.workers.conftest import NewCtx
from workers.runtimes import get_runtime
from workers.runtimes.http import MAX_BODY_BYTES, HttpRuntime

#: released at teardown, so that slow handlers end with the test
RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "test")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            echo = {
                "method": self.command,
                "query": parse_qs(url.query),
                "body": sent.decode(),
                "content_type": self.headers.get("Content-Type"),
                "token": self.headers.get("X-Token"),
            }
            self._answer(201, json.dumps(echo).encode(), "application/json; charset=utf-8")
        elif url.path == "/text":
            self._answer(200, "plain text, é".encode(), "text/plain; charset=utf-8")
        elif url.path == "/boom":
            self._answer(500, b"internal error: the database is down" + b"x" * 5000, "text/plain")
        elif url.path == "/big":
            self._answer(200, b"y" * (MAX_BODY_BYTES + 10), "application/json")
        elif url.path == "/slow":
            RELEASE.wait(30)
            self._answer(200, b"late", "text/plain")
        else:
            self._answer(404, b"no such page", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _route


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    RELEASE.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    RELEASE.set()
    httpd.shutdown()
    httpd.server_close()


def log_of(ctx: Any) -> str:
    ctx.log.flush()
    return Path(ctx.log.name).read_text()


def test_registered() -> None:
    assert isinstance(get_runtime("http"), HttpRuntime)


def test_json_answer_is_parsed_and_the_request_carries_everything(
    new_ctx: NewCtx, server: str
) -> None:
    ctx, _ = new_ctx(
        "http",
        {
            "method": "POST",
            "url": f"{server}/echo",
            "params": {"ds": "2024-05-01", "n": 3, "tags": ["a", "b"]},
            "headers": {"X-Token": "secret-token"},
            "json": {"rows": [1, 2]},
            "expect_status": [200, 201],
            "timeout": timedelta(seconds=10),
        },
    )
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["status"] == 201
    assert outcome.outputs["headers"]["x-served-by"] == "test"
    assert outcome.outputs["body"] == {
        "method": "POST",
        "query": {"ds": ["2024-05-01"], "n": ["3"], "tags": ["a", "b"]},
        "body": '{"rows":[1,2]}',
        "content_type": "application/json",
        "token": "secret-token",
    }
    log = log_of(ctx)
    assert "POST" in log and "answered 201" in log
    assert "secret-token" not in log  # request headers are not logged


def test_text_body_and_a_spelled_timeout(new_ctx: NewCtx, server: str) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/text", "timeout": "10 seconds", "body": "hi"})
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["body"] == "plain text, é"
    assert outcome.outputs["status"] == 200


def test_a_500_fails_naming_the_status_and_the_start_of_the_body(
    new_ctx: NewCtx, server: str
) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/boom"})
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "failed"
    assert not outcome.permanent  # retries apply
    assert outcome.error is not None
    assert outcome.error.startswith(
        f"HTTP GET {server}/boom answered 500 (expected 200): internal error: the database is down"
    )
    assert outcome.error.endswith("…")
    assert len(outcome.error) < 1200  # the first 1 KiB of the body, not all of it


def test_a_404_is_unexpected_unless_listed(new_ctx: NewCtx, server: str) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/nope"})
    assert HttpRuntime().run(ctx).error == (
        f"HTTP GET {server}/nope answered 404 (expected 200): no such page"
    )
    ctx, _ = new_ctx("http", {"url": f"{server}/nope", "expect_status": [404]})
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "succeeded"
    assert outcome.outputs["body"] == "no such page"


def test_a_timeout_fails_saying_so(new_ctx: NewCtx, server: str) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/slow", "timeout": "0.5s"})
    started = time.monotonic()
    outcome = HttpRuntime().run(ctx)
    assert time.monotonic() - started < 5
    assert outcome.status == "failed"
    assert outcome.error == f"HTTP GET {server}/slow timed out after 0.5s"


def test_cancel_aborts_the_request(new_ctx: NewCtx, server: str) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/slow", "timeout": "60s"})
    threading.Timer(0.3, ctx.cancel.set).start()
    started = time.monotonic()
    outcome = HttpRuntime().run(ctx)
    assert time.monotonic() - started < 5
    assert outcome.status == "failed"
    assert outcome.error == "cancelled"


def test_a_large_body_is_capped(new_ctx: NewCtx, server: str) -> None:
    ctx, _ = new_ctx("http", {"url": f"{server}/big"})
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "succeeded"
    assert outcome.outputs["truncated"] is True
    assert len(outcome.outputs["body"]) == MAX_BODY_BYTES


def test_connection_refused_is_a_retryable_failure(new_ctx: NewCtx) -> None:
    ctx, _ = new_ctx("http", {"url": "http://127.0.0.1:9/", "timeout": "5s"})
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "failed"
    assert not outcome.permanent
    assert outcome.error is not None
    assert outcome.error.startswith("HTTP GET http://127.0.0.1:9/ failed: ConnectError")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ftp://example/x"}, "http.url must be an http:// or https:// URL"),
        ({"url": ""}, "http.url must be a non-empty string"),
        ({"url": "http://h/", "timeout": "soon"}, "http.timeout: invalid duration 'soon'"),
        ({"url": "http://h/", "params": {"a": {"b": 1}}}, "http.params.a must be a value"),
    ],
)
def test_bad_settings_fail_permanently(
    new_ctx: NewCtx, settings: dict[str, Any], message: str
) -> None:
    ctx, _ = new_ctx("http", settings)
    outcome = HttpRuntime().run(ctx)
    assert outcome.status == "failed"
    assert outcome.permanent
    assert outcome.error is not None and outcome.error.startswith(message)


def test_it_runs_in_a_thread_that_already_runs_an_event_loop(new_ctx: NewCtx, server: str) -> None:
    """An application embedding the worker (or a browser test driver) may run an event loop
    in the calling thread; the step still runs (seen in CI after the Playwright tests)."""
    settings = {"url": f"{server}/echo", "expect_status": [201], "timeout": timedelta(seconds=10)}
    ctx, _ = new_ctx("http", settings)

    async def inside_a_loop() -> Any:
        return HttpRuntime().run(ctx)

    box: dict[str, Any] = {}  # a thread of its own: the test runner's may run a loop already
    looping = threading.Thread(target=lambda: box.update(outcome=asyncio.run(inside_a_loop())))
    looping.start()
    looping.join(30)
    outcome = box["outcome"]
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["body"]["method"] == "GET"
