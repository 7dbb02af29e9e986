"""Templates, pages and static files of the web view.

Every page is ``base.html`` around the partial template ``_NAME.html``; a request with
``X-Fragment: 1`` (the auto-refresh poll) gets the partial alone, and ``X-Active`` says
whether something on it is still running (the poll slows down when nothing is). Templates are
autoescaped: a workflow called ``<script>`` renders inert, and the Content-Security-Policy
allows no inline script besides.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from api.errors import STATUS
from api.web import charts, finding, session
from api.web.status import RUN_LEGEND, STEP_LEGEND, is_terminal, legend, look, status_css
from maestro.errors import MaestroError

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Page:
    """What a handler found: the template's name (without ``.html``), its title and values."""

    template: str
    title: str
    context: dict[str, Any] = field(default_factory=dict)
    #: something shown is still running: the page keeps refreshing itself
    active: bool = False
    status: int = 200


#: every page answers HEAD as well as GET, as HTTP wants (link checkers and uptime monitors
#: send HEAD); FastAPI, unlike Starlette, does not add it. The server sends the headers only.
PAGE_METHODS = ["GET", "HEAD"]


def _when_text(value: datetime | None) -> str:
    """A moment as plain text in UTC (for attributes: ``title="…"``)."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _when(value: datetime | None) -> Markup:
    """A moment as ``<time datetime="…Z">… UTC</time>``: UTC without JavaScript, the reader's
    zone with it (``static/times.js``). Text only: never inside an attribute (``when_text``)."""
    if value is None:
        return Markup("—")
    if value.tzinfo is None:  # the store's times are UTC
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    stamp = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup(f'<time datetime="{stamp}">{escape(_when_text(value))}</time>')


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api.web", "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["when_text"] = _when_text
    env.filters["duration"] = charts.human_duration
    env.filters["pretty"] = _json
    env.globals.update(
        look=look,
        is_terminal=is_terminal,
        static=static_url,
        step_legend=legend(STEP_LEGEND),
        run_legend=legend(RUN_LEGEND),
        column=charts.COLUMN,
        csrf_field=session.CSRF_FIELD,
        excerpt=finding.excerpt,
    )
    return env


def render(request: Request, visitor: session.Visitor, page: Page) -> HTMLResponse:
    fragment = request.headers.get("x-fragment") == "1"
    name = f"_{page.template}.html" if fragment else "base.html"
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment()
        .get_template(name)
        .render(**page.context, page=page, visitor=visitor, here=here)
    )
    response = HTMLResponse(
        html,
        status_code=page.status,
        headers={**SECURITY_HEADERS, "X-Active": "1" if page.active else "0"},
    )
    if visitor.fresh_csrf:
        session.keep_csrf(response, request, visitor.csrf)
    return response


def status_of(exc: MaestroError) -> int:
    """The HTTP status the API answers for ``exc`` (500 for one with no client meaning)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_page(message: str, status: int, back: str | None = None) -> Page:
    titles = {
        400: "Bad request",
        403: "Not allowed",
        404: "Not found",
        405: "Not allowed here",
        409: "Not now",
        422: "Not valid",
    }
    return Page(
        "error",
        titles.get(status, "Something went wrong"),
        {"message": message, "back": back},
        status=status,
    )


# -- static files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def assets() -> Mapping[str, Asset]:
    """The files of ``static/`` and the generated ``status.css``, read once."""
    found: dict[str, bytes] = {
        item.name: item.read_bytes()
        for item in resources.files("api.web").joinpath("static").iterdir()
        if item.is_file()
    }
    found["status.css"] = status_css().encode()
    return {
        name: Asset(
            body,
            mimetypes.guess_type(name)[0] or "application/octet-stream",
            hashlib.sha256(body).hexdigest()[:16],
        )
        for name, body in found.items()
    }


def static_url(name: str) -> str:
    """``/static/NAME?v=HASH``: cached for long, and a new version gets a new URL."""
    asset = assets().get(name)
    return f"/static/{name}" + (f"?v={asset.etag}" if asset else "")


def static_response(name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={
            "Cache-Control": "public, max-age=86400",
            "ETag": f'"{asset.etag}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
