"""The ``http`` step type: sends one HTTP request with httpx and checks the answer's status.

``http: {method: GET, url, headers, params, json | body, expect_status: [200], timeout: 30s}``,
every setting rendered like any step's (``url: "https://api/{{ params.ds }}"``).

* ``json`` sends a JSON body (and ``Content-Type: application/json``), ``body`` sends text as
  is; they are exclusive. ``params`` are the query string. Redirects are not followed: a 3xx
  is a status like any other (list it in ``expect_status`` to accept it).
* Outputs: ``status`` (int), ``headers`` (a map, names lowercased, repeated headers joined by
  ``", "``) and ``body``: the parsed JSON when the response says it is JSON
  (``application/json`` or ``+json``) and parses, else the text. At most 1 MiB of body is read;
  a longer one gives its first 1 MiB as text and ``truncated: true``.
* A status outside ``expect_status`` fails the attempt (retries apply) naming the status and
  the first 1 KiB of the body: ``HTTP GET http://… answered 500 (expected 200): boom``.
* ``timeout`` (default 30s; a duration, or a template rendering to one) bounds the whole
  request, from connecting to the last byte: past it the attempt fails with ``… timed out after
  2s``. Stop, the step's own timeout and a lost worker cancel the request at once: it runs in
  an event loop of the attempt's own, whose task is cancelled when ``ctx.cancel`` is set.
* A URL that is not http(s), or settings of the wrong shape, fail permanently; a connection
  error fails the attempt (retries apply). Request headers are not logged (they often hold
  credentials); the request line and the answer's status are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx

from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.sleep import duration_seconds

_T = TypeVar("_T")

#: the most bytes of the response body read into the outputs
MAX_BODY_BYTES = 1024 * 1024
#: how much of an unexpected answer's body its error quotes
ERROR_BODY_BYTES = 1024
DEFAULT_TIMEOUT = 30.0
_CANCEL_POLL = 0.05


class _SettingsError(ValueError):
    """The request cannot be made as configured (a permanent failure)."""


class _Request:
    """The rendered settings, checked."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.method = str(settings.get("method") or "GET").upper()
        url = settings.get("url")
        if not isinstance(url, str) or not url.strip():
            raise _SettingsError("http.url must be a non-empty string")
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise _SettingsError(f"http.url {url!r} is not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise _SettingsError(f"http.url must be an http:// or https:// URL, got {url!r}")
        self.url = parsed
        self.headers = {str(k): str(v) for k, v in _mapping(settings, "headers").items()}
        self.params = {str(k): _param(k, v) for k, v in _mapping(settings, "params").items()}
        self.json = settings.get("json")
        body = settings.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body) if isinstance(body, dict | list) else str(body)
        if body is not None and self.json is not None:
            raise _SettingsError("give at most one of http.json or http.body")
        self.body = body
        expect = settings.get("expect_status") or [200]
        if not isinstance(expect, list) or not all(_is_status(s) for s in expect):
            raise _SettingsError(f"http.expect_status must be a list of statuses, got {expect!r}")
        self.expect = [int(s) for s in expect]
        raw_timeout = settings.get("timeout")
        try:
            self.timeout = (
                DEFAULT_TIMEOUT
                if raw_timeout is None
                else duration_seconds(raw_timeout, "http.timeout")
            )
        except ValueError as exc:
            raise _SettingsError(str(exc)) from None
        if self.timeout <= 0:
            raise _SettingsError(f"http.timeout must be longer than 0s, got {raw_timeout!r}")

    @property
    def line(self) -> str:
        return f"HTTP {self.method} {self.url}"


def _mapping(settings: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = settings.get(key) or {}
    if not isinstance(value, Mapping):
        raise _SettingsError(f"http.{key} must be a map, got {value!r}")
    return value


def _param(name: Any, value: Any) -> Any:
    if isinstance(value, list):
        return [_param(name, v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str | int | float):
        return value
    raise _SettingsError(f"http.params.{name} must be a value or a list, got {value!r}")


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


class _Answer:
    def __init__(self, status: int, headers: httpx.Headers, body: bytes, truncated: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.truncated = truncated


class HttpRuntime:
    """Sends the step's request; succeeds when the answer's status is expected."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            request = _Request(ctx.settings)
        except _SettingsError as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        _log(ctx, f"[maestro] {request.line}\n")
        try:
            answer = _run_isolated(lambda: _send_or_cancel(request, ctx.cancel))
        except (TimeoutError, httpx.TimeoutException):
            message = f"{request.line} timed out after {request.timeout:g}s"
            _log(ctx, f"[maestro] {message}\n")
            return Outcome.fail(message)
        except asyncio.CancelledError:
            _log(ctx, "[maestro] cancelled\n")
            return Outcome.fail("cancelled")
        except httpx.HTTPError as exc:
            message = f"{request.line} failed: {type(exc).__name__}: {exc}"
            _log(ctx, f"[maestro] {message}\n")
            return Outcome.fail(message)
        _log(ctx, f"[maestro] answered {answer.status}, {len(answer.body)} bytes\n")
        if answer.status not in request.expect:
            return Outcome.fail(_unexpected(request, answer))
        return Outcome.ok(_outputs(answer))


def _run_isolated(make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """``asyncio.run(make())``, also when the calling thread already runs an event loop (an
    application embedding the worker, a test runner): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="http-step", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: _T = box["value"]
    return result


async def _send_or_cancel(request: _Request, cancel: threading.Event) -> _Answer:
    """The request, as a task cancelled when ``cancel`` is set (raises CancelledError)."""
    task = asyncio.create_task(_send(request))
    while not task.done():
        if cancel.is_set():
            task.cancel()
            break
        await asyncio.wait({task}, timeout=_CANCEL_POLL)
    return await task


async def _send(request: _Request) -> _Answer:
    async with (
        asyncio.timeout(request.timeout),
        httpx.AsyncClient(timeout=request.timeout, follow_redirects=False) as client,
    ):
        built = client.build_request(
            request.method,
            request.url,
            headers=request.headers,
            params=request.params,
            json=request.json,
            content=request.body.encode() if request.body is not None else None,
        )
        response = await client.send(built, stream=True)
        try:
            body, truncated = await _read_capped(response)
        finally:
            await response.aclose()
        return _Answer(response.status_code, response.headers, body, truncated)


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


def _text(answer: _Answer, data: bytes) -> str:
    charset = answer.headers.get("content-type", "")
    encoding = "utf-8"
    for part in charset.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            encoding = value.strip('"')
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _is_json(answer: _Answer) -> bool:
    kind = str(answer.headers.get("content-type", "")).split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _outputs(answer: _Answer) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in answer.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    body: Any = _text(answer, answer.body)
    if _is_json(answer) and not answer.truncated:
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    outputs: dict[str, Any] = {"status": answer.status, "headers": headers, "body": body}
    if answer.truncated:
        outputs["truncated"] = True
    return outputs


def _unexpected(request: _Request, answer: _Answer) -> str:
    expected = ", ".join(str(s) for s in request.expect)
    start = _text(answer, answer.body[:ERROR_BODY_BYTES]).strip()
    more = "…" if len(answer.body) > ERROR_BODY_BYTES or answer.truncated else ""
    message = f"{request.line} answered {answer.status} (expected {expected})"
    return f"{message}: {start}{more}" if start else f"{message}, with an empty body"


def _log(ctx: RuntimeContext, text: str) -> None:
    ctx.log.write(text.encode("utf-8", "backslashreplace"))
    ctx.log.flush()
