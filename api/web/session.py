"""Who is looking at the pages, and the CSRF protection of their forms.

Authentication is the API's: with it on (``maestro server``), the login form takes an API
token, checks it like a bearer token (``verify_token``) and keeps it in an HttpOnly,
SameSite=Strict cookie (Secure over HTTPS); pages need a live token (any scope reads), and
action buttons appear only for a token with write scope for the workflow's owner — the
handlers check again, a hidden button is not a permission. With it off (``maestro
standalone`` on 127.0.0.1) everyone is ``anonymous`` and may do everything.

Forms are CSRF-safe whether or not authentication is on (a page on another site could
otherwise make a local browser stop runs): double-submit — a random value in its own
SameSite=Strict cookie, repeated in a hidden field of every form, compared on every POST — and
a POST whose ``Origin`` names another host is refused outright.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request, Response

from maestro.engine.core import Engine
from maestro.tokens import ANONYMOUS, Principal, Scope, touch_token, verify_token

TOKEN_COOKIE = "maestro_token"
CSRF_COOKIE = "maestro_csrf"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Visitor:
    """The caller of a page: their principal (None on the login page) and this browser's
    CSRF value."""

    principal: Principal | None
    csrf: str
    #: the CSRF cookie is new and must be set on the response
    fresh_csrf: bool
    #: authentication is on (the header offers to log out)
    auth: bool

    def may_write(self, owner: str) -> bool:
        """Whether the action buttons of a workflow of ``owner`` are for this caller."""
        p = self.principal
        return p is not None and p.scope.allows(Scope.write) and p.may_act_for(owner)


def _csrf(request: Request) -> tuple[str, bool]:
    value = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


def visitor(request: Request) -> Visitor | None:
    """The caller, or None when authentication is on and no live token came with the
    request (the page then sends them to the login form)."""
    csrf, fresh = _csrf(request)
    if not request.app.state.auth:
        return Visitor(ANONYMOUS, csrf, fresh, auth=False)
    principal = principal_of(request.app.state.engine, request.cookies.get(TOKEN_COOKIE))
    return None if principal is None else Visitor(principal, csrf, fresh, auth=True)


def guest(request: Request) -> Visitor:
    """A caller not logged in (the login form's page)."""
    csrf, fresh = _csrf(request)
    return Visitor(None, csrf, fresh, auth=bool(request.app.state.auth))


def principal_of(engine: Engine, token: str | None) -> Principal | None:
    """The principal of a live token (its ``last_used_at`` refreshed as the API does)."""
    if not token:
        return None
    now = engine.clock.now()
    with engine.db.read() as conn:
        found = verify_token(conn, token, now)
    if found is None:
        return None
    principal, stale = found
    if stale:
        with engine.db.tx() as conn:
            touch_token(conn, token, now)
    return principal


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def keep_csrf(response: Response, request: Request, csrf: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def log_in(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def log_out(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another host (``Origin``)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """The form's CSRF field matches this browser's cookie, and the request is same-origin."""
    cookie = request.cookies.get(CSRF_COOKIE)
    return (
        bool(cookie and submitted)
        and secrets.compare_digest(str(cookie).encode(), str(submitted).encode())
        and same_origin(request)
    )


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
