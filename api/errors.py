"""Every error the API answers, as ``application/problem+json`` (RFC 9457), in one place.

Domain exceptions (``maestro.errors``) map to their status here; request validation becomes
422 with one ``{loc, msg}`` per problem (400 for a body that is not JSON at all); a body over
the limit is 413. Anything unexpected is logged with its traceback and answered as a bare 500:
no client mistake may produce one, and no response ever carries a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro.errors import (
    ConcurrentChange,
    Conflict,
    DefinitionError,
    ExpressionError,
    InvalidRequest,
    MaestroError,
    NotFound,
    ParamError,
    Problem,
)
from maestro.reads import InvalidCursor
from maestro.store.retry import is_transient
from maestro.wording import plural

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class Unauthorized(MaestroError):
    """A valid bearer token is required."""


class Forbidden(MaestroError):
    """This token may not do that."""


class BadRequest(MaestroError):
    """The request is malformed."""


class Unprocessable(MaestroError):
    """The request is well-formed but its values are invalid."""


class TooManyRequests(MaestroError):
    """Too many bad credentials from this client: it is backed off (``api.throttle``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many bad tokens or logins from this address: try again in {retry_after} s"
        )
        self.retry_after = retry_after


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


#: status of each domain error (the most specific class wins: see ``_status_of``)
STATUS: Mapping[type[MaestroError], int] = {
    BadRequest: 400,
    InvalidCursor: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    ConcurrentChange: 409,
    DefinitionError: 422,
    ParamError: 422,
    ExpressionError: 422,
    Unprocessable: 422,
    InvalidRequest: 422,
    TooManyRequests: 429,
}


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of(exc: MaestroError) -> int | None:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return None


def _problems(items: Sequence[Problem]) -> list[dict[str, Any]]:
    return [{"loc": list(p.loc), "msg": p.msg} for p in items]


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


async def _maestro_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MaestroError)
    status = _status_of(exc)
    if status is None:  # a domain error with no client meaning: a bug, not a client mistake
        return await _unexpected(request, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, DefinitionError):
        return problem(status, _first_line(exc.message), errors=_problems(exc.problems))
    if isinstance(exc, ParamError):
        detail = f"invalid run params ({plural(len(exc.problems), 'problem')})"
        return problem(status, detail, errors=_problems(exc.problems))
    return problem(status, exc.message, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [p for p in e.get("loc", ()) if isinstance(p, str | int)], "msg": e.get("msg", "")}
        for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(400, "the request body is not valid JSON", errors=errors)
    return problem(422, f"invalid request ({plural(len(errors), 'problem')})", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, detail, headers=exc.headers)


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # the database refused a value the request carried (NUL characters, a number out of
    # range): the client's input, not a server fault
    assert isinstance(exc, DataError)
    logger.info("database refused a request value", extra={"error": str(exc.orig)[:200]})
    return problem(400, "a value in the request cannot be stored (out of range or NUL bytes)")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if is_transient(exc):  # the database is restarting or out of reach: ask to come back
        logger.warning(
            "database unavailable while answering a request",
            extra={"method": request.method, "path": request.url.path, "error": str(exc)[:200]},
        )
        return problem(
            503, "the database is unavailable; try again shortly", headers={"Retry-After": "2"}
        )
    logger.error(
        "unexpected error answering a request",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return problem(500, "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers and the body-size limit on ``app``."""
    app.add_exception_handler(MaestroError, _maestro_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)


class CatchAll:
    """ASGI middleware: an exception that escaped every handler becomes a problem+json 500
    (logged with its traceback) instead of reaching the server's plain-text error page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, whether they
    announce their length or stream it.

    The body is read and discarded (up to ``drain`` bytes) before the answer: a client that
    sends its whole body before reading (Python's urllib, many SDKs) would otherwise meet a
    closed connection — ``Broken pipe`` — instead of the 413. Past ``drain`` the answer goes
    out at once and the connection is closed."""

    def __init__(self, app: ASGIApp, limit: int, drain: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.drain = drain if drain is not None else max(16 * limit, 16 * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await problem(400, "invalid Content-Length header")(scope, receive, send)
            return
        if declared is not None and int(declared) > self.limit:
            if int(declared) <= self.drain:
                await self._discard(receive, 0)
            await self._too_large(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if message.get("more_body", False):
                        await self._discard(receive, received)
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)

    async def _discard(self, receive: Receive, received: int) -> None:
        """Read the rest of the body and drop it, ``drain`` bytes at most."""
        while received <= self.drain:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.limit} bytes"
        await problem(413, detail, headers={"Connection": "close"})(scope, receive, send)


# -- OpenAPI -----------------------------------------------------------------------------------

_DESCRIPTIONS = {
    400: "Malformed request (body, cursor or value)",
    401: "No bearer token, or an unknown or revoked one",
    403: "The token lacks the scope, or may not act for the workflow's owner",
    404: "Unknown resource",
    409: "The action is not valid in the current state (detail names the status)",
    413: "Request body too large",
    422: "Invalid definition, params or request values (errors lists each problem)",
    429: "Too many bad tokens from this client: backed off for Retry-After seconds",
    500: "Internal error (logged; no details are returned)",
    503: "Not ready",
}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until this client may present a token again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses to document on a route (their schema is set by ``document_problems``).
    Where a token is checked (401), a client backed off for bad tokens gets 429 too."""
    documented: dict[int | str, dict[str, Any]] = {
        code: {"description": _DESCRIPTIONS[code]} for code in codes
    }
    if 401 in codes:
        documented[429] = {"description": _DESCRIPTIONS[429], "headers": _RETRY_AFTER}
    return documented


def document_problems(schema: dict[str, Any], problem_schema: dict[str, Any]) -> dict[str, Any]:
    """Make every error response of the OpenAPI document a problem+json ``Problem``, including
    the 422 FastAPI adds by itself, and drop FastAPI's own validation-error schemas."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    defs = problem_schema.pop("$defs", {})
    components.update(defs)
    components["Problem"] = problem_schema
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = content
                    response["description"] = _DESCRIPTIONS.get(
                        int(code), response.get("description", "")
                    )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
