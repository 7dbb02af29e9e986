"""Errors of the pages as pages: a browser that asks for ``/runs/abc``, ``?limit=0`` or a path
that does not exist gets an HTML error page (with the same status), not the API's
``application/problem+json``. Paths under ``/api/``, the probes and ``/docs/static`` keep the
API's answers (``install`` wraps the handlers ``api.errors`` registered)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.web import session
from api.web.render import error_page, render

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
#: paths whose errors stay the API's problem+json
NOT_PAGES = ("/api/", "/docs/static/")
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(NOT_PAGES) and path not in PROBES


def _name(loc: Any) -> str:
    """The parameter an error is about (``("query", "trigger", 0)``: ``trigger``)."""
    return next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")


def _describe(exc: RequestValidationError) -> tuple[int, str]:
    """404 for a path that names nothing (``/runs/abc``), 400 for a bad query value."""
    errors = exc.errors()
    if any(e.get("loc", ("",))[0] == "path" for e in errors):
        return 404, "There is no such page: check the address."
    problems = [f"{_name(e['loc'])}: {e.get('msg', 'invalid')}" for e in errors if e.get("loc")]
    return 400, "This address has a bad value: " + "; ".join(problems or ["invalid request"])


def _page_error(request: Request, status: int, message: str) -> Response:
    return render(request, session.guest(request), error_page(message, status))


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return await answer if inspect.isawaitable(answer) else answer


def install(app: FastAPI) -> None:
    """Answer pages' validation and HTTP errors (404 of an unknown path, 405) with HTML."""
    api_validation: Handler = app.exception_handlers[RequestValidationError]
    api_http: Handler = app.exception_handlers[HTTPException]

    async def validation(request: Request, exc: Exception) -> Response:
        if not is_page(request) or not isinstance(exc, RequestValidationError):
            return await _call(api_validation, request, exc)
        return _page_error(request, *_describe(exc))

    async def http(request: Request, exc: Exception) -> Response:
        if not is_page(request) or not isinstance(exc, HTTPException):
            return await _call(api_http, request, exc)
        if exc.status_code == 404:
            message = f"There is no page at {request.url.path}."
        elif exc.status_code == 405:
            message = f"{request.method} is not something this page answers."
        else:
            message = exc.detail if isinstance(exc.detail, str) else "This request failed."
        response = _page_error(request, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
