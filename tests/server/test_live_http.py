"""A live ``maestro standalone`` over real HTTP, as clients other than a browser meet it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path, MAESTRO_AUTH="false")
    yield running
    stop_server(running)


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_answered_413_not_a_broken_pipe(server: Server, chunked: bool) -> None:
    """urllib sends the whole body before it reads the answer: the server must read (and
    drop) it, then answer 413, instead of closing the connection mid-upload."""
    body = b"x" * (8 * 1024 * 1024)  # past what the socket buffers absorb on loopback
    data: bytes | Iterator[bytes] = body
    if chunked:  # no Content-Length: the limit is found while streaming
        data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    request = urllib.request.Request(
        f"{server.url}/api/v1/workflows",
        data=data,  # type: ignore[arg-type]  # urllib accepts an iterable of bytes
        method="POST",
        headers={"Content-Type": "application/yaml"},
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 413
    problem = json.loads(answer.value.read())
    assert problem["status"] == 413 and "larger than" in problem["detail"]
    # the server still serves the next request
    assert server.api("GET", "/healthz").status_code == 200
