"""Who is looking at the pages, and the CSRF protection of their forms.

Authentication is the API's: with it on (``maestro server``), the login form takes an API
token, checks it and opens a server-side session for it (``maestro.store.web_sessions``); the
HttpOnly, SameSite=Strict cookie (Secure over HTTPS) holds only the session's id, never the
token, and logging out revokes the session in the store. Pages need a live session of a live
token (any scope reads), and action buttons appear only for a token with write scope for the
workflow's owner — the handlers check again, a hidden button is not a permission. With it off
(``maestro standalone`` on 127.0.0.1) everyone is ``anonymous`` and may do everything.

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
from maestro.store.tokens import ANONYMOUS, Principal, Scope
from maestro.store.web_sessions import close_session, open_session, touch_session, verify_session

#: the session id (``maestro.store.web_sessions``); the API token never leaves the login form
SESSION_COOKIE = "maestro_session"
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
    """The caller, or None when authentication is on and no live session came with the
    request (the page then sends them to the login form)."""
    csrf, fresh = _csrf(request)
    if not request.app.state.auth:
        return Visitor(ANONYMOUS, csrf, fresh, auth=False)
    principal = principal_of(request.app.state.engine, request.cookies.get(SESSION_COOKIE))
    return None if principal is None else Visitor(principal, csrf, fresh, auth=True)


def guest(request: Request) -> Visitor:
    """A caller not logged in (the login form's page)."""
    csrf, fresh = _csrf(request)
    return Visitor(None, csrf, fresh, auth=bool(request.app.state.auth))


def principal_of(engine: Engine, session_id: str | None) -> Principal | None:
    """The principal of a live session (its ``last_seen_at`` and its token's
    ``last_used_at`` refreshed at most once a minute)."""
    if not session_id:
        return None
    now = engine.clock.now()
    with engine.db.read() as conn:
        found = verify_session(conn, session_id, now)
    if found is None:
        return None
    principal, stale = found
    if stale:
        with engine.db.tx() as conn:
            touch_session(conn, session_id, now)
    return principal


def start_session(engine: Engine, token: str) -> str | None:
    """A new session for a live API token (its id for the cookie), or None."""
    with engine.db.tx() as conn:
        return open_session(conn, token, engine.clock.now())


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


def log_in(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def log_out(response: Response, request: Request) -> None:
    """End this browser's session in the store (a copy of the cookie opens nothing after
    this) and ask the browser to forget the cookie."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        engine: Engine = request.app.state.engine
        with engine.db.tx() as conn:
            close_session(conn, session_id, engine.clock.now())
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


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
